#!/usr/bin/env bash
# Puts QEMU 10.0 beside the system's QEMU 7.2 for the interop tests: Debian's bookworm-backports build,
# pinned, downloaded with apt-get (a private source list naming the machine's own Debian mirror) and
# unpacked with dpkg-deb into
#   ${LIVEMIG_TEST_DEPS_CACHE:-/var/cache/livemig-test-deps}/qemu-VERSION/
# with the stable link .../qemu-10.0 pointing at it. Run it as:
#   env QEMU_MODULE_DIR=D/usr/lib/x86_64-linux-gnu/qemu D/usr/bin/qemu-system-x86_64 -L D/usr/share/qemu
#       -L /usr/share/seabios ...     (D = the link; the firmware is the system's seabios, as 7.2's)
# Needs the system QEMU 7.2 installed first (its libraries and seabios serve 10.0 too). A run that finds
# the pinned version in place does nothing and prints nothing.
set -euo pipefail
say() { echo "install-qemu10: $*" >&2; }
version='1:10.0.2+ds-2+deb13u1~bpo12+1'
suite=bookworm-backports
packages=(qemu-system-x86 qemu-system-common qemu-system-data)

cache_root=${LIVEMIG_TEST_DEPS_CACHE:-/var/cache/livemig-test-deps}
dir_version=${version#*:}
target="$cache_root/qemu-$dir_version"
link="$cache_root/qemu-10.0"
binary="$target/usr/bin/qemu-system-x86_64"
if [ -x "$binary" ] && [ "$(readlink "$link" 2>/dev/null || true)" = "qemu-$dir_version" ]; then
  exit 0
fi
if ! mkdir -p "$cache_root" 2>/dev/null || [ ! -w "$cache_root" ]; then
  say "cannot write $cache_root; run scripts/install-test-deps.sh as root (sudo) once,"
  say "or set LIVEMIG_TEST_DEPS_CACHE to a directory you can write"
  exit 1
fi
if [ ! -x "$binary" ]; then
  # the machine's own Debian mirror, as its deb822 or one-line lists name it
  mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '
      tolower($1) == "uris:" { uris = $2 } tolower($1) == "suites:" && / bookworm( |$)/ && uris != "" { print uris; exit }')
  [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $0 ~ / bookworm / { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; exit } }' \
      /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -n 1)
  [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
  work=$(mktemp -d "$cache_root/.qemu10.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs" "$work/root"
  printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$mirror" "$suite" >"$work/qemu10.sources"
  apt_opts=(-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=/dev/null -o "Dir::Etc::sourcelist=$work/qemu10.sources"
            -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o APT::Sandbox::User=root)
  if ! apt-get "${apt_opts[@]}" update -qq >"$work/apt.log" 2>&1; then
    say "apt-get update of $mirror $suite failed:"; cat "$work/apt.log" >&2; exit 1
  fi
  specs=()
  for p in "${packages[@]}"; do specs+=("$p=$version"); done
  if ! (cd "$work/debs" && apt-get "${apt_opts[@]}" download -qq "${specs[@]}" >"$work/apt.log" 2>&1); then
    say "apt-get download ${specs[*]} from $suite failed:"; cat "$work/apt.log" >&2; exit 1
  fi
  for deb in "$work"/debs/*.deb; do
    dpkg-deb -x "$deb" "$work/root"
  done
  if ! env QEMU_MODULE_DIR="$work/root/usr/lib/x86_64-linux-gnu/qemu" "$work/root/usr/bin/qemu-system-x86_64" --version \
      | grep -q 'QEMU emulator version 10\.0\.'; then
    say "the unpacked QEMU does not run here:"
    env QEMU_MODULE_DIR="$work/root/usr/lib/x86_64-linux-gnu/qemu" "$work/root/usr/bin/qemu-system-x86_64" --version >&2 || true
    exit 1
  fi
  chmod -R a+rX "$work/root"
  rm -rf "$target"
  mv -T "$work/root" "$target"
fi
ln -sfn "qemu-$dir_version" "$link.tmp"
mv -T "$link.tmp" "$link"
chmod a+rx "$cache_root"
