#!/usr/bin/env bash
# cpr-transfer side by side: a running guest replaced by a new process on the same host, its RAM (a memfd) handed
# over, never copied; 1 and 4 GiB, alternating livemig and QEMU 10.0 in one run. The figure: from the old process's
# stop to the new one's run (wall clock, both ends on this host), beside the old one's query-migrate.
#   livemig: `livemig demo --mode cpr-transfer` (its guest sweeps its RAM at 64 MiB/s and serves TCP clients, which
#            keep sending requests through the switch: failures and latencies are reported too).
#   QEMU:    dev.livemig.qemu.QemuCprTransferBench (memory-backend-memfd, aux-ram-share, a sweeping boot sector, TCG;
#            stop and run read from each QEMU's vm_state_notify trace).
# Usage: scripts/bench-cpr.sh [RUNS] [SIZES_MIB]   (JSON lines on stdout)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/find-jdk.sh"
livemig_find_jdk
runs=${1:-3}
sizes=${2:-"1024 4096"}
(cd "$root" && mvn -q -B -ntp -DskipTests package)
cp="$root/livemig-core/target/classes:$root/livemig-core/target/test-classes"
for size in $sizes; do
  for run in $(seq "$runs"); do
    # the guest runs 5 s first, as QEMU boots and sweeps before its migration: both processes warm their code meanwhile
    "$root/livemig" demo --ram "${size}M" --mode cpr-transfer --run-time 5000 --json 2>/dev/null |
      "$JAVA_HOME/bin/java" -cp "$cp" dev.livemig.qemu.CprDemoFigures "$size"
    "$JAVA_HOME/bin/java" -Xmx512m -cp "$cp" dev.livemig.qemu.QemuCprTransferBench "$size"
  done
done
