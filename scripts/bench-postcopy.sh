#!/usr/bin/env bash
# Postcopy side by side: a guest that dirties every page far faster than the link sends them (precopy never
# converges), 1 and 4 GiB, migrated over loopback tcp with postcopy-ram (and with postcopy-preempt), alternating
# livemig and QEMU 7.2 in one run. Both are told to switch when dirty-sync-count reaches 4 (migrate-start-postcopy;
# livemig's --postcopy-at-sync 4): where livemig's guest slows under dirty tracking enough for precopy to converge
# (hosts whose write faults are slow), its own rule would never switch, and the runs would not compare.
#   livemig: `livemig demo --dirty-rate 0` (its guest thread increments the first byte of every page, as fast
#            as it can), max-bandwidth 100 GiB/s; figures from the demo's --json (source query-migrate, the
#            destination page server's fault latency and blocktime); the destination's guest runs from the switch.
#   QEMU:    dev.livemig.qemu.QemuPostcopyBench (a boot sector doing the same below 4 GiB, TCG).
# Usage: scripts/bench-postcopy.sh [RUNS] [SIZES_MIB] [MODES]   (MODES: plain, preempt; JSON lines on stdout)
# QEMU=10.0 compares with QEMU 10.0 (scripts/install-qemu10.sh) instead of the system QEMU 7.2.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/find-jdk.sh"
livemig_find_jdk
runs=${1:-2}
sizes=${2:-"1024 4096"}
modes=${3:-"plain preempt"}
(cd "$root" && mvn -q -B -ntp -DskipTests package)
cp="$root/livemig-core/target/classes:$root/livemig-core/target/test-classes"
livemig_case() { # size mode
  local extra=()
  [ "$2" = preempt ] && extra=(--capability postcopy-preempt)
  # the guest runs 3 s (6 s at 4 GiB) before it migrates, as QEMU's boots and is measured before it does:
  # time for the waiting destination to fault its RAM in (QEMU's does not; its first touch stays in the migration)
  "$root/livemig" demo --ram "$1M" --run-time $(( $1 >= 4096 ? 6000 : 3000 )) --dirty-rate 0 --capability postcopy-ram --postcopy-at-sync 4 "${extra[@]}" \
      --parameter max-bandwidth=100G --json 2>/dev/null |
    "$JAVA_HOME/bin/java" -cp "$cp" dev.livemig.qemu.PostcopyDemoFigures "$1" "$2"
}
qemu_case() { # size mode
  local extra=()
  [ "$2" = preempt ] && extra=(preempt)
  "$JAVA_HOME/bin/java" -Xmx512m -Dlivemig.qemu="${QEMU:-7.2}" -cp "$cp" dev.livemig.qemu.QemuPostcopyBench "$1" "${extra[@]}"
}
for size in $sizes; do
  for mode in $modes; do
    for run in $(seq "$runs"); do
      livemig_case "$size" "$mode"
      qemu_case "$size" "$mode"
    done
  done
done
