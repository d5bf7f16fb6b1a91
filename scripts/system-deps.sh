#!/usr/bin/env bash
# Installs the Debian packages the tests need, when running as root and they are missing.
# `system-deps.sh sandbox` installs only the sandbox (bubblewrap), for `make demo`.
set -euo pipefail
need=()
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
if [ "${1:-all}" != sandbox ]; then
  command -v dot   >/dev/null 2>&1 || need+=(graphviz)
  # The viewer's browser tests drive Debian's chromium through Playwright (a Python package in the dev
  # extra, never `playwright install`: the browser comes from apt).
  [ -x /usr/bin/chromium ]        || need+=(chromium)
fi
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: missing ${need[*]}; install them (e.g. apt-get install ${need[*]}) for the full test suite" >&2
  exit 0
fi
echo "system-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
