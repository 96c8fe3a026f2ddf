#!/usr/bin/env bash
# multifd side by side: livemig (`livemig bench precopy --capability multifd ...`) and QEMU 7.2 (two
# qemu-system-x86_64 processes, the destination with -incoming defer and the same multifd settings),
# random RAM over loopback tcp, max-bandwidth unlimited, alternating, in one run; the loopback TCP ceiling
# (`livemig bench loopback`) is measured first, in the same run.
# Usage: scripts/bench-multifd.sh [RUNS] [SIZE_MIB] [CHANNELS] [COMPRESSIONS]   (JSON lines on stdout)
# COMPRESSIONS: none, zlib, zstd or none+zc (zero-copy-send). Each case starts with an untimed pair
# (WARMUP=0 to skip it), for the reason given in bench-precopy.sh.
# QEMU=10.0 compares with QEMU 10.0 (scripts/install-qemu10.sh) instead of the system QEMU 7.2.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/find-jdk.sh"
livemig_find_jdk
runs=${1:-2}
size=${2:-4096}
channel_counts=${3:-"1 2 4"}
compressions=${4:-"none zstd"}
(cd "$root" && mvn -q -B -ntp -DskipTests package)
cp="$root/livemig-core/target/classes:$root/livemig-core/target/test-classes:$root/livemig-cli/target/livemig.jar"
"$root/livemig" bench loopback --size 4G
for channels in $channel_counts; do
  for compression in $compressions; do
    method=${compression%+zc}
    livemig_args=(--ram "${size}M" --content random --capability multifd
                  --parameter "multifd-channels=$channels" --parameter "multifd-compression=$method")
    qemu_args=("$size" random "$channels" "$method")
    if [ "$compression" != "$method" ]; then
      livemig_args+=(--capability zero-copy-send)
      qemu_args+=(zero-copy)
    fi
    if [ "${WARMUP:-1}" != 0 ]; then
      "$root/livemig" bench precopy "${livemig_args[@]}" | sed 's/^/warmup: /' >&2
      "$JAVA_HOME/bin/java" -Xmx512m -Dlivemig.qemu="${QEMU:-7.2}" -cp "$cp" dev.livemig.qemu.QemuPrecopyBench "${qemu_args[@]}" | sed 's/^/warmup: /' >&2
    fi
    for run in $(seq "$runs"); do
      "$root/livemig" bench precopy "${livemig_args[@]}"
      "$JAVA_HOME/bin/java" -Xmx512m -Dlivemig.qemu="${QEMU:-7.2}" -cp "$cp" dev.livemig.qemu.QemuPrecopyBench "${qemu_args[@]}"
    done
  done
done
