#!/usr/bin/env bash
# Runs the timing-sensitive test classes RUNS times in a row while HOGS busy loops compete for the CPUs,
# stopping at the first failure: flakiness under load shows up here, not in CI.
# Usage: scripts/stress-tests.sh [RUNS=20] [HOGS=2] [TESTS] [ITS]
# TESTS/ITS: surefire/failsafe class lists (comma-separated); the defaults are the suites that once used sleeps
# or wall-clock bounds. Logs: target/stress/run-N.log.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/find-jdk.sh"
livemig_find_jdk
runs=${1:-20}
hogs=${2:-2}
tests=${3:-MigrationTest,MultifdMigrationTest,MigrationCancelRaceTest,HostFallbackMigrationTest,AnalyzeLiveStreamTest,QmpIncomingTest,QmpServerTest,QmpMigrationTest,QmpDirtyRateTest,QmpClientTest,QmpSocatTest,TransportsTest,DirtyRateCalculationTest,DirtyTrackerConcurrencyTest,StatusCommandTest,DemoGuestTest}
its=${4:-DestinationDiesIT,CancelIT,MigrateInterruptIT,QmpMigrationIT}
log="$root/target/stress"
mkdir -p "$log"
pids=()
stop_hogs() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap stop_hogs EXIT
for ((h = 0; h < hogs; h++)); do
    ( while :; do :; done ) &
    pids+=($!)
done
cd "$root"
start=$(date +%s)
for ((i = 1; i <= runs; i++)); do
    t0=$(date +%s)
    if ! mvn -B -ntp -pl livemig-core,livemig-cli verify -Dtest="$tests" -Dit.test="$its" \
            -Dsurefire.failIfNoSpecifiedTests=false -Dfailsafe.failIfNoSpecifiedTests=false >"$log/run-$i.log" 2>&1; then
        echo "run $i of $runs FAILED after $(( $(date +%s) - t0 )) s (log: $log/run-$i.log):"
        grep -E "Tests run:.*(Fail|Err)|FAIL|<<<" "$log/run-$i.log" | head -20
        exit 1
    fi
    counts=$(grep -E "^\[(INFO|WARNING)\] Tests run: [0-9]+, Failures: 0, Errors: 0, Skipped: [0-9]+$" "$log/run-$i.log" \
        | awk '{n += $4; s += $10} END {printf "%d tests, %d skipped", n, s}')
    echo "run $i of $runs passed in $(( $(date +%s) - t0 )) s ($counts; $hogs CPU hogs, load $(cut -d' ' -f1 /proc/loadavg))"
done
echo "$runs runs passed in a row in $(( $(date +%s) - start )) s"
