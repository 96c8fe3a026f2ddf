#!/usr/bin/env bash
# XBZRLE codec side by side: QEMU 7.2's migration/xbzrle.c (from Debian's qemu 7.2 source, fetched from the
# package archive at run time, never copied into this project) compiled with -O2 as QEMU builds it, and
# livemig's Xbzrle through JMH, on the same kind of pages (4 KiB, 1/10/50 % of bytes changed), in one run.
# Usage: scripts/bench-xbzrle-qemu.sh   (needs gcc and curl; JSON lines, then JMH's table)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/find-jdk.sh"
livemig_find_jdk
cache=${XDG_CACHE_HOME:-$HOME/.cache}/livemig
orig="$cache/qemu_7.2+dfsg.orig.tar.xz"
mkdir -p "$cache"
if [ ! -s "$orig" ]; then
  curl -fsSL -o "$orig.part" "http://deb.debian.org/debian/pool/main/q/qemu/qemu_7.2+dfsg.orig.tar.xz"
  mv "$orig.part" "$orig"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -xJf "$orig" -C "$work" --wildcards '*/migration/xbzrle.c' '*/migration/xbzrle.h'
src=$(dirname "$(find "$work" -name xbzrle.c | head -1)")
gcc -O2 -std=gnu11 -I "$root/scripts/xbzrle-bench/shim" -I "$src" -o "$work/bench" \
    "$root/scripts/xbzrle-bench/bench.c" "$src/xbzrle.c"
"$work/bench" 1 10 50
(cd "$root" && mvn -q -B -ntp -DskipTests package)
"$JAVA_HOME/bin/java" -jar "$root/livemig-bench/target/livemig-bench.jar" XbzrleBenchmark -wi 3 -i 5 -f 1 2>/dev/null \
  | sed -n '/^Benchmark/,$p'
