#!/usr/bin/env bash
# livemig analyze beside QEMU 7.2's scripts/analyze-migration.py (from Debian's qemu 7.2 source, fetched
# from the package archive at run time, never copied into this project) on one QEMU 7.2 stream of a
# SIZE_MIB guest whose RAM above 1 MiB is random: the state dump (-f) and the extraction (-x), each timed
# end to end (process start included), RUNS times, alternating. Needs python3, socat, qemu-system-x86_64.
# With MEMORY=1, -m is timed too, against the script with its Python 3 fix applied (7.2's fails with
# TypeError at the first normal page; `"{0:02x}".format(c)` is how later QEMU versions read the bytes).
# Usage: [MEMORY=1] scripts/bench-analyze.sh [RUNS] [SIZE_MIB]
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
sed -i 's/"{0:02x}".format(ord(c)) for c in data/"{0:02x}".format(c) for c in data/' "$script" # only -m reads it
(cd "$root" && mvn -q -B -ntp -DskipTests package)

head -c $(( (size - 1) << 20 )) /dev/urandom > "$work/image"
qemu-system-x86_64 -accel tcg -nodefaults -no-user-config -display none -S -machine pc -m "${size}M" \
    -device loader,file="$work/image",addr=0x100000,force-raw=on \
    -qmp unix:"$work/qmp",server=on,wait=off &
qemu=$!
for _ in $(seq 50); do [ -S "$work/qmp" ] && break; sleep 0.1; done
qmp() { printf '{"execute":"qmp_capabilities"}\n%s\n' "$1" | socat -t2 - UNIX-CONNECT:"$work/qmp"; }
# QEMU may still be loading the image when its socket appears: ask until the migration is under way
until qmp '{"execute":"query-migrate"}' | grep -q '"status"'; do
  qmp "{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"exec:cat > $work/stream\"}}" > /dev/null
  sleep 0.5
done
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
  if [ "${MEMORY:-0}" = 1 ]; then
    timed "analyze-migration.py -m" python3 "$script" -f "$work/stream" -m
    timed "livemig analyze -m" "$root/livemig" analyze -f "$work/stream" -m
  fi
done
cmp "$work/x-script/pc.ram" "$work/x-livemig/pc.ram" && echo '{"extracted pc.ram": "identical"}'
