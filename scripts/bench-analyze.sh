#!/usr/bin/env bash
# livemig analyze beside QEMU 7.2's scripts/analyze-migration.py (from Debian's qemu 7.2 source, fetched
# from the package archive at run time, never copied into this project) on one QEMU 7.2 stream of a
# SIZE_MIB guest whose RAM above 1 MiB is random: the state dump (-f) and the extraction (-x), each timed
# end to end (process start included), RUNS times, alternating. Needs python3, socat, qemu-system-x86_64.
# Usage: scripts/bench-analyze.sh [RUNS] [SIZE_MIB]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/find-jdk.sh"
livemig_find_jdk
runs=${1:-3}
size=${2:-1024}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/livemig
orig="$cache/qemu_7.2+dfsg.orig.tar.xz"
mkdir -p "$cache"
if [ ! -s "$orig" ]; then
  curl -fsSL -o "$orig.part" "http://deb.debian.org/debian/pool/main/q/qemu/qemu_7.2+dfsg.orig.tar.xz"
  mv "$orig.part" "$orig"
fi
work=$(mktemp -d /var/tmp/livemig-analyze-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
tar -xJf "$orig" -C "$work" --wildcards '*/scripts/analyze-migration.py'
script=$(find "$work" -name analyze-migration.py | head -1)
(cd "$root" && mvn -q -B -ntp -DskipTests package)

head -c $(( (size - 1) << 20 )) /dev/urandom > "$work/image"
qemu-system-x86_64 -accel tcg -nodefaults -no-user-config -display none -S -machine pc -m "${size}M" \
    -device loader,file="$work/image",addr=0x100000,force-raw=on \
    -qmp unix:"$work/qmp",server=on,wait=off &
qemu=$!
for _ in $(seq 50); do [ -S "$work/qmp" ] && break; sleep 0.1; done
printf '{"execute":"qmp_capabilities"}\n{"execute":"migrate","arguments":{"uri":"exec:cat > %s"}}\n' "$work/stream" \
  | socat -t2 - UNIX-CONNECT:"$work/qmp" > /dev/null
while ! printf '{"execute":"qmp_capabilities"}\n{"execute":"query-migrate"}\n' | socat -t1 - UNIX-CONNECT:"$work/qmp" | grep -q completed; do
  sleep 0.2
done
kill "$qemu"; wait "$qemu" 2>/dev/null || true
rm -f "$work/image"
bytes=$(stat -c %s "$work/stream")

timed() { # name, command...: one JSON line with the wall time
  local name=$1; shift
  local t0 t1
  t0=$(date +%s%N)
  "$@" > /dev/null
  t1=$(date +%s%N)
  printf '{"tool": "%s", "stream_bytes": %d, "ms": %d}\n' "$name" "$bytes" $(( (t1 - t0) / 1000000 ))
}
mkdir -p "$work/x-script" "$work/x-livemig"
for _ in $(seq "$runs"); do
  timed "analyze-migration.py -f" python3 "$script" -f "$work/stream"
  timed "livemig analyze -f" "$root/livemig" analyze -f "$work/stream"
  timed "analyze-migration.py -x" sh -c "cd '$work/x-script' && python3 '$script' -f '$work/stream' -x"
  timed "livemig analyze -x" sh -c "cd '$work/x-livemig' && '$root/livemig' analyze -f '$work/stream' -x"
done
cmp "$work/x-script/pc.ram" "$work/x-livemig/pc.ram" && echo '{"extracted pc.ram": "identical"}'
