#!/usr/bin/env bash
# Fuzzes livemig's parsers of untrusted bytes with Jazzer (docs/robustness.md, "Fuzzing"), one target at a time.
# Usage: scripts/fuzz.sh TARGET|all|list|seeds [SECONDS|-runs=N]   (default: 60 seconds per target;
#        with -runs=N, MAX_SECONDS=S stops a target at S seconds if N executions take longer)
#   list   prints the targets; seeds rewrites the committed seed files after a format change.
# Each target is one @FuzzTest method, run by JUnit with JAZZER_FUZZ=1 in a JVM of its own (Jazzer fuzzes one
# test per JVM). Prints executions and exec/s per target; the full log is target/fuzz/TARGET.log.
# One run per checkout at a time: two Mavens in one target/ delete each other's surefire booter.
# Where inputs land:
#   new corpus entries (coverage the fuzzer found): livemig-core/.cifuzz-corpus/CLASS/METHOD/ (not committed;
#     copy a few small ones into the committed corpus when they reach code the seeds do not)
#   findings: livemig-core/src/test/resources/PACKAGE/CLASSInputs/METHOD/crash-* or timeout-* (replayed by every mvn verify
#     once committed: minimise first, fix the product code, keep the input as a regression test)
# A finding is any Throwable but the parser's documented exception, an input allocating more than
# UntrustedInput.ALLOCATION_BUDGET on the parsing thread, or an input running longer than TIMEOUT seconds
# (environment, default 30).
# Jazzer's hooks (string-compare guidance, sanitizers) are on, but for the sanitizer of sun.misc.Unsafe, which
# livemig does not use and the JDK's memory segments go through: it made the incoming target 4 times slower.
# SANITIZERS=off leaves out every sanitizer (injection, deserialization, path traversal: nothing livemig's
# parsers do), as the build's short runs do; coverage and compare guidance stay. (jazzer.hooks=false is no
# shortcut: it switches off all instrumentation, coverage included.)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/find-jdk.sh"
livemig_find_jdk

declare -A targets=(
    [incoming]=dev.livemig.fuzz.IncomingStreamFuzzTest#loadsAnIncomingStream
    [snapshot]=dev.livemig.fuzz.IncomingStreamFuzzTest#loadsASnapshotFile
    [vmstate]=dev.livemig.vmstate.VmStateFuzzTest#loadsADescribedDevice
    [multifd]=dev.livemig.multifd.MultifdFuzzTest#readsAMultifdChannel
    [return-path]=dev.livemig.wire.ReturnPathFuzzTest#readsReturnPathMessages
    [qmp]=dev.livemig.qmp.QmpFuzzTest#framesAndDispatchesMessages
    [json]=dev.livemig.fuzz.VmDescriptionFuzzTest#parsesStrictJson
    [vmdescription]=dev.livemig.fuzz.VmDescriptionFuzzTest#walksSectionsByTheirDescription
    [analyze]=dev.livemig.analyze.AnalyzeFuzzTest#dumpsAStreamFile
    [analyze-vmsd]=dev.livemig.analyze.AnalyzeFuzzTest#dumpsSectionsByTheirDescription
)
order=(incoming snapshot vmstate multifd return-path qmp json vmdescription analyze analyze-vmsd)

what=${1:-}
budget=${2:-60}
timeout=${TIMEOUT:-30}
offline=${MVN_OFFLINE:--o}
if [[ ${SANITIZERS:-on} == off ]]; then
    s=com.code_intelligence.jazzer.sanitizers
    list=$(printf "$s.%s:" BigDecimal ClojureLangHooks Deserialization \
        ExpressionLanguageInjection FilePathTraversal LdapInjection NamingContextLookup OsCommandInjection \
        ReflectiveCall RegexInjection RegexRoadblocks ScriptEngineInjection ServerSideRequestForgery SqlInjection \
        TemplateInjection UnsafeSanitizer XPathInjection XmlParserSsrfGuidance)
    hooks=(-Djazzer.disabled_hooks="${list%:}")
else
    hooks=(-Djazzer.disabled_hooks=com.code_intelligence.jazzer.sanitizers.UnsafeSanitizer)
fi
cd "$root"

case "$what" in
    list)
        for t in "${order[@]}"; do echo "$t ${targets[$t]}"; done
        exit 0 ;;
    seeds)
        exec mvn -B -ntp $offline -q -pl livemig-core test -Dtest='*FuzzTest#corpusHoldsTheSeeds' \
            -Dlivemig.fuzz.writeSeeds=true -Dsurefire.failIfNoSpecifiedTests=false ;;
    all) selected=("${order[@]}") ;;
    "") echo "usage: $0 TARGET|all|list|seeds [SECONDS|-runs=N]" >&2; exit 2 ;;
    *)
        if [[ -z ${targets[$what]+x} ]]; then
            echo "unknown target: $what (targets: ${order[*]})" >&2
            exit 2
        fi
        selected=("$what") ;;
esac

if [[ $budget == -runs=* ]]; then
    # MAX_SECONDS (environment) bounds a run by executions in time as well
    limit=(-Djazzer.max_executions="${budget#-runs=}" -Djazzer.max_duration="${MAX_SECONDS:-2592000}s")
    wall=$(( ${MAX_SECONDS:-86400} + 600 ))
else
    limit=(-Djazzer.max_duration="${budget}s")
    wall=$((budget + 600))
fi

mkdir -p target/fuzz
mvn -B -ntp $offline -q -pl livemig-core test-compile
status=0
for t in "${selected[@]}"; do
    log="target/fuzz/$t.log"
    echo "== $t (${targets[$t]}): $budget, sanitizers ${SANITIZERS:-on}"
    # jazzer.internal.arg.N are libFuzzer's arguments (0 is argv[0]); they come after jazzer-junit's own, so
    # this -timeout wins over the one it derives from JUnit's default timeout. JUnit's and surefire's own
    # limits are lifted past the run's length.
    if JAZZER_FUZZ=1 mvn -B -ntp $offline -pl livemig-core surefire:test -Dtest="${targets[$t]}" \
            -Dsurefire.failIfNoSpecifiedTests=false "${limit[@]}" "${hooks[@]}" \
            -Djazzer.internal.arg.0=fuzz -Djazzer.internal.arg.1=-timeout="$timeout" \
            -Dlivemig.test.timeout="$wall s" -Dlivemig.test.forkTimeoutSeconds=$((wall + 600)) >"$log" 2>&1; then
        result=passed
    else
        result=FAILED
        status=1
    fi
    runs=$(grep -oE '^Done [0-9]+ runs in [0-9]+ second' "$log" | tail -1 || true)
    rate=$(grep -oE 'exec/s: [0-9]+' "$log" | tail -1 || true)
    echo "   $result: ${runs:-no libFuzzer summary} (${rate:-exec/s unknown}); log: $log"
    if [[ $result == FAILED ]]; then
        grep -E '^== Java Exception|^java\.|^Caused by|ERROR: libFuzzer|(crash|timeout)-[0-9a-f]+' "$log" | head -8 | sed 's/^/   /' || true
    fi
done
exit $status
