#!/usr/bin/env bash
# Install the Debian packages shequ needs, if missing. As root on Debian/Ubuntu it installs them;
# otherwise it prints the exact command and fails, so nothing half-works.
set -euo pipefail
missing=()
for pkg in "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# `python3 -m venv` needs ensurepip, which Debian ships separately as python3-venv.
if ! python3 -c 'import ensurepip' 2>/dev/null; then missing+=("python3-venv"); fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "missing system packages: ${missing[*]}"
  echo "run first:  sudo apt-get install ${missing[*]}"
  exit 1
fi
