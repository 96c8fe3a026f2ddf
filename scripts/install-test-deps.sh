#!/usr/bin/env bash
# Installs what the tests need on a Debian machine: QEMU 7.2 (qemu-system-x86) and socat.
set -euo pipefail
need=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
command -v socat >/dev/null 2>&1 || need+=(socat)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "test: missing ${need[*]}; install them (Debian: apt-get install ${need[*]}) and run again" >&2
  exit 1
fi
echo "test: installing ${need[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
