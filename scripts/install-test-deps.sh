#!/usr/bin/env bash
# Installs what the tests need on a Debian machine: QEMU 7.2 (qemu-system-x86) and socat with apt-get, QEMU 10.0
# from bookworm-backports unpacked beside it (scripts/install-qemu10.sh), and
# QEMU's own python QMP client (qemu.qmp), which only QEMU's source package ships: it is taken from the
# installed QEMU's Debian source package (the orig tarball, python/qemu/qmp only) into a cache,
#   ${LIVEMIG_TEST_DEPS_CACHE:-/var/cache/livemig-test-deps}/qemu-qmp-UPSTREAM_VERSION/qemu/qmp
# with the stable link .../qemu-qmp pointing at it (PYTHONPATH=.../qemu-qmp). A run that finds everything
# in place does nothing and prints nothing.
set -euo pipefail
say() { echo "install-test-deps: $*" >&2; }
is_root() { [ "$(id -u)" -eq 0 ]; }
export DEBIAN_FRONTEND=noninteractive

apt_updated=
apt_update() {
  [ -n "$apt_updated" ] && return 0
  apt-get update -qq
  apt_updated=1
}

# --- packages -----------------------------------------------------------------------------------------------
need=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
command -v socat >/dev/null 2>&1 || need+=(socat)
command -v python3 >/dev/null 2>&1 || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
  if ! is_root || ! command -v apt-get >/dev/null 2>&1; then
    say "missing ${need[*]}; install them (Debian: apt-get install ${need[*]}) and run again"
    exit 1
  fi
  say "installing ${need[*]} with apt-get"
  apt_update
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# --- QEMU 10.0 beside 7.2 (the second dialect the interop tests speak) ----------------------------------------
"$(dirname "$0")/install-qemu10.sh"

# --- qemu.qmp from QEMU's source package ---------------------------------------------------------------------
cache_root=${LIVEMIG_TEST_DEPS_CACHE:-/var/cache/livemig-test-deps}
case "$cache_root" in
  /*) ;;
  *) say "LIVEMIG_TEST_DEPS_CACHE must be an absolute path (the tests run in another directory): $cache_root"; exit 1 ;;
esac
# The orig tarball is the same for every Debian revision of one upstream version, so the cache is keyed by it.
upstream=$(dpkg-query -W -f='${source:Upstream-Version}' qemu-system-x86 2>/dev/null || true)
if [ -z "$upstream" ]; then
  [ -f "$cache_root/qemu-qmp/qemu/qmp/__init__.py" ] && exit 0
  say "qemu-system-x86 is not a Debian package here (dpkg-query knows no source version for it);"
  say "put QEMU's python/qemu/qmp (from QEMU's source of the installed version) at $cache_root/qemu-qmp/qemu/qmp"
  exit 1
fi
cache="$cache_root/qemu-qmp-$upstream"
link="$cache_root/qemu-qmp"
if [ -f "$cache/qemu/qmp/__init__.py" ] && [ "$(readlink "$link" 2>/dev/null || true)" = "qemu-qmp-$upstream" ]; then
  exit 0
fi
if [ -f "$cache/qemu/qmp/__init__.py" ]; then # cached, but the link names another version (or none)
  if ln -sfn "qemu-qmp-$upstream" "$link.tmp" 2>/dev/null && mv -T "$link.tmp" "$link" 2>/dev/null; then
    exit 0
  fi
  say "cannot point $link at $cache; run scripts/install-test-deps.sh as root (sudo) once"
  exit 1
fi

# Where no deb-src entry serves this machine's suite, one of the project's own is added beside the
# machine's deb entries, with the same URIs, suites, components and keys (deb822 and one-line lists).
ours=/etc/apt/sources.list.d/livemig-test-deps-src.sources
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
deb_src_entries() {
  {
    for f in /etc/apt/sources.list.d/*.sources; do
      [ -f "$f" ] && [ "$f" != "$ours" ] && { cat "$f"; echo; }
    done
  } | awk -v suite="$codename" '
    function flush() {
      if (types ~ /(^| )deb( |$)/ && enabled != "no" && uris != "" && suites != "") {
        n = split(suites, s, " "); keep = ""
        for (i = 1; i <= n; i++) if (s[i] == suite || index(s[i], suite "-") == 1) keep = keep (keep == "" ? "" : " ") s[i]
        if (keep != "") {
          printf "Types: deb-src\nURIs: %s\nSuites: %s\nComponents: %s\n", uris, keep, comps
          if (signed != "") printf "Signed-By: %s\n", signed
          print ""
        }
      }
      types = uris = suites = comps = signed = enabled = ""
    }
    /^[ \t]*#/ { next }
    /^[ \t]*$/ { flush(); next }
    {
      key = tolower($1); sub(/:$/, "", key); val = $0; sub(/^[^:]*:[ \t]*/, "", val)
      if (key == "types") types = val; else if (key == "uris") uris = val; else if (key == "suites") suites = val
      else if (key == "components") comps = val; else if (key == "signed-by") signed = val
      else if (key == "enabled") enabled = tolower(val)
    }
    END { flush() }'
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    # deb [options] URI SUITE COMPONENTS...; options other than signed-by are dropped
    awk -v suite="$codename" '
      $1 == "deb" {
        signed = ""; i = 2
        if ($2 ~ /^\[/) {
          for (; i <= NF; i++) { if ($i ~ /^\[?signed-by=/) { signed = $i; sub(/^\[?signed-by=/, "", signed); sub(/\]$/, "", signed) }
                                 if ($i ~ /\]$/) { i++; break } }
        }
        if ($(i + 1) != suite && index($(i + 1), suite "-") != 1) next
        comps = ""; for (j = i + 2; j <= NF; j++) comps = comps (comps == "" ? "" : " ") $j
        printf "Types: deb-src\nURIs: %s\nSuites: %s\nComponents: %s\n", $i, $(i + 1), comps
        if (signed != "") printf "Signed-By: %s\n", signed
        print ""
      }' "$f"
  done
}

# (read whole: grep -q would end the pipe early, and pipefail would take apt-cache's SIGPIPE for a failure)
other_deb_src() { # a deb-src entry that is not ours
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && [ "$f" != "$ours" ] && grep -qE '^[[:space:]]*Types:.*[[:space:]]deb-src([[:space:]]|$)' "$f" && return 0
  done
  grep -qsE '^[[:space:]]*deb-src[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list
}
has_qemu_source() { apt-cache showsrc --only-source qemu 2>/dev/null | grep -c '^Package: qemu$' >/dev/null; }

if ! has_qemu_source; then
  if ! is_root; then
    say "qemu.qmp (QEMU's python QMP client) is not cached at $cache and apt knows no source package qemu;"
    say "run scripts/install-test-deps.sh as root (sudo) once: it adds a deb-src entry ($ours), fetches"
    say "QEMU's source package and caches python/qemu/qmp there for every user (or set LIVEMIG_TEST_DEPS_CACHE)"
    exit 1
  fi
  if [ ! -f "$ours" ] && other_deb_src; then
    apt_update # deb-src entries of the machine's own, perhaps with indexes not fetched yet
  fi
  if [ ! -f "$ours" ] && ! has_qemu_source; then
    entries=$(deb_src_entries)
    if [ -z "$entries" ]; then
      say "no Debian deb entry for suite '${codename:-unknown}' in /etc/apt/sources.list{,.d/*.sources,.d/*.list}"
      say "to base a deb-src entry on; add one for QEMU's source package and run again"
      exit 1
    fi
    printf '# Added by livemig scripts/install-test-deps.sh: QEMU source package (for its python QMP client).\n%s\n' \
      "$entries" >"$ours"
  fi
  if ! has_qemu_source; then
    apt_updated= # the new entry's indexes
    apt_update
  fi
  if ! has_qemu_source; then
    say "apt knows no source package qemu even with $ours; check that file and 'apt-get update'"
    exit 1
  fi
fi

if ! mkdir -p "$cache_root" 2>/dev/null || [ ! -w "$cache_root" ]; then
  say "cannot write the cache $cache_root; run scripts/install-test-deps.sh as root (sudo) once,"
  say "or set LIVEMIG_TEST_DEPS_CACHE to a directory you can write"
  exit 1
fi
work=$(mktemp -d "$cache_root/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
# The installed QEMU's own source version when the archive still has it, else the archive's (same orig
# tarball as long as the upstream version matches, which is checked below).
version=$(dpkg-query -W -f='${source:Version}' qemu-system-x86)
if ! (cd "$work" && apt-get source -qq --download-only "qemu=$version" >/dev/null 2>&1); then
  if ! (cd "$work" && apt-get source -qq --download-only qemu >"$work/apt.log" 2>&1); then
    say "apt-get source --download-only qemu failed:"; cat "$work/apt.log" >&2
    exit 1
  fi
fi
orig=$(find "$work" -maxdepth 1 -name "qemu_${upstream}.orig.tar.*" | head -n 1)
if [ -z "$orig" ]; then
  say "the archive's qemu source package has no orig tarball for upstream version $upstream (the installed"
  say "QEMU's); found: $(cd "$work" && ls | tr '\n' ' ')"
  exit 1
fi
# only python/qemu/qmp, whatever the tarball's top directory is called
member=$(tar -tf "$orig" | grep -m 1 -E '^([^/]+/)?python/qemu/qmp/__init__\.py$' || true)
if [ -z "$member" ]; then
  say "$orig holds no python/qemu/qmp/__init__.py"
  exit 1
fi
prefix=${member%qemu/qmp/__init__.py} # e.g. qemu-7.2.0/python/
strip=$(( $(tr -cd / <<<"$prefix" | wc -c) ))
mkdir -p "$work/out"
(umask 022 && tar -xf "$orig" -C "$work/out" --no-same-owner --no-same-permissions \
  --strip-components="$strip" "${prefix}qemu/qmp")
chmod -R a+rX "$work/out"
rm -rf "$cache"
mv -T "$work/out" "$cache"
ln -sfn "qemu-qmp-$upstream" "$link.tmp"
mv -T "$link.tmp" "$link"
chmod a+rx "$cache_root"
