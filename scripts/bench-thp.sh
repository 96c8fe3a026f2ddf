#!/usr/bin/env bash
# Huge pages A/B: `livemig bench precopy` with guest RAM advised for transparent huge pages (the default) and
# in 4 KiB pages (-Dlivemig.disable=thp, both ends), alternating, in one run, at the host's own THP settings.
# Usage: scripts/bench-thp.sh [RUNS] [SIZES_MIB] [CONTENT]   (one JSON line per migration on stdout, each
# with "thp_run": "on" or "off" in front; the bench's own "host" member has the THP mode and first-touch speed)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/find-jdk.sh"
livemig_find_jdk
runs=${1:-3}
sizes=${2:-"1024 4096"}
content=${3:-random}
(cd "$root" && mvn -q -B -ntp -DskipTests package >&2)
for size in $sizes; do
  for run in $(seq "$runs"); do
    "$root/livemig" bench precopy --ram "${size}M" --content "$content" | sed 's/^{/{"thp_run": "on", /'
    LIVEMIG_JAVA_OPTS="${LIVEMIG_JAVA_OPTS:-} -Dlivemig.disable=thp" \
      "$root/livemig" bench precopy --ram "${size}M" --content "$content" | sed 's/^{/{"thp_run": "off", /'
  done
done
