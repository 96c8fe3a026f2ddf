#!/usr/bin/env bash
# TLS side by side: livemig (`livemig bench precopy --tls-dir`) and QEMU 7.2 (QemuPrecopyBench -Dlivemig.tls.dir),
# each with and without TLS (x509, the same certificates: a fresh EC P-256 test PKI), one channel and multifd with
# two channels, same RAM size and random content, alternating, in one run. Each line has total time and the CPU
# time of both ends (source_cpu_ms, destination.cpu_ms).
# Usage: scripts/bench-tls.sh [RUNS] [SIZES_MIB]   (one JSON line per migration on stdout)
# QEMU=10.0 compares with QEMU 10.0 instead of the system QEMU 7.2.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/find-jdk.sh"
livemig_find_jdk
runs=${1:-3}
sizes=${2:-"4096"}
(cd "$root" && mvn -q -B -ntp -DskipTests package)
cp="$root/livemig-core/target/test-classes:$root/livemig-cli/target/livemig.jar" # the jar brings BouncyCastle for the test PKI
pki=$(mktemp -d)
trap 'rm -rf "$pki"' EXIT
tls=$("$JAVA_HOME/bin/java" -cp "$cp" dev.livemig.qemu.BenchPki "$pki")
# qemu TLS_DIR|- SIZE CHANNELS
qemu() {
  local tlsopt=()
  if [ "$1" != - ]; then tlsopt=(-Dlivemig.tls.dir="$1"); fi
  "$JAVA_HOME/bin/java" -Xmx512m -Dlivemig.qemu="${QEMU:-7.2}" "${tlsopt[@]}" -cp "$cp" dev.livemig.qemu.QemuPrecopyBench "$2" random "$3"
}
for size in $sizes; do
  for channels in 0 2; do
    multifd=()
    if [ "$channels" != 0 ]; then multifd=(--capability multifd --parameter "multifd-channels=$channels"); fi
    # an untimed pair first: fresh memory's first touch is the host's cost, not the tool's
    "$root/livemig" bench precopy --ram "${size}M" --content random "${multifd[@]}" --tls-dir "$tls" | sed 's/^/warmup: /' >&2
    qemu "$tls" "$size" "$channels" | sed 's/^/warmup: /' >&2
    for run in $(seq "$runs"); do
      "$root/livemig" bench precopy --ram "${size}M" --content random "${multifd[@]}"
      "$root/livemig" bench precopy --ram "${size}M" --content random "${multifd[@]}" --tls-dir "$tls"
      qemu - "$size" "$channels"
      qemu "$tls" "$size" "$channels"
    done
  done
done
