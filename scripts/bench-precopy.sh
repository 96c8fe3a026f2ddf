#!/usr/bin/env bash
# Precopy side by side: livemig (`livemig bench precopy`) and QEMU 7.2 (two qemu-system-x86_64 processes,
# paused, max-bandwidth 100 GiB/s, downtime-limit 300 ms), same RAM size and content, alternating, in one run.
# Usage: scripts/bench-precopy.sh [RUNS] [SIZES_MIB] [CONTENTS]   (one JSON line per migration on stdout)
# Each size/content starts with one untimed pair (WARMUP=0 to skip it): whichever process first touches
# memory that others just freed pays the host's cost of backing it again, which is not the tool's speed.
# QEMU=10.0 compares with QEMU 10.0 (scripts/install-qemu10.sh) instead of the system QEMU 7.2.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/find-jdk.sh"
livemig_find_jdk
runs=${1:-3}
sizes=${2:-"1024 4096"}
contents=${3:-"random zero half"}
(cd "$root" && mvn -q -B -ntp -DskipTests package)
cp="$root/livemig-core/target/classes:$root/livemig-core/target/test-classes"
"$root/livemig" bench loopback --size 4G   # the ceiling, in the same run
for size in $sizes; do
  for content in $contents; do
    if [ "${WARMUP:-1}" != 0 ]; then
      "$root/livemig" bench precopy --ram "${size}M" --content "$content" | sed 's/^/warmup: /' >&2
      "$JAVA_HOME/bin/java" -Xmx512m -Dlivemig.qemu="${QEMU:-7.2}" -cp "$cp" dev.livemig.qemu.QemuPrecopyBench "$size" "$content" | sed 's/^/warmup: /' >&2
    fi
    for run in $(seq "$runs"); do
      "$root/livemig" bench precopy --ram "${size}M" --content "$content"
      "$JAVA_HOME/bin/java" -Xmx512m -Dlivemig.qemu="${QEMU:-7.2}" -cp "$cp" dev.livemig.qemu.QemuPrecopyBench "$size" "$content"
    done
  done
done
