#!/usr/bin/env bash
# Runs N back-to-back migrations (default 1000) of a small guest (16 MiB, multifd with 2 channels and
# return-path) in one process pair: a `livemig guest --qmp` source migrated again and again, and one
# destination process that receives them one after another (SoakIT, see docs/robustness.md "Soak").
# Prints threads, file descriptors and RSS of both processes every K migrations (default 100), the first and
# last figures, and the duration; fails when threads or descriptors do not come back to their baseline or
# RSS grows past the bound.
# Usage: scripts/soak.sh [N=1000] [K=100]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/find-jdk.sh"
livemig_find_jdk
n=${1:-1000}
every=${2:-100}
log="$root/livemig-cli/target/soak-$n.log"
mkdir -p "$root/livemig-cli/target"
: >"$log"
cd "$root"
start=$(date +%s)
# a generous per-test timeout: 1000 migrations take minutes, more on a busy machine
mvn -B -ntp -o -q -pl livemig-core,livemig-cli verify -Dtest=NONE -Dsurefire.failIfNoSpecifiedTests=false \
    -Dit.test=SoakIT -Dlivemig.soak.migrations="$n" -Dlivemig.soak.every="$every" -Dlivemig.soak.log="$log" \
    -Dlivemig.it.timeout="180 m" -Dlivemig.it.forkTimeoutSeconds=12000 >"$log.mvn" 2>&1 &
mvn_pid=$!
tail -n +1 -f --pid="$mvn_pid" "$log" # the figures as they come; ends when maven does
status=0
wait "$mvn_pid" || status=$?
echo "soak of $n migrations: $( [ $status -eq 0 ] && echo passed || echo "FAILED (maven log: $log.mvn)" ) in $(( $(date +%s) - start )) s"
exit $status
