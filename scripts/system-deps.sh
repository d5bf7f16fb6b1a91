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
# Model-written code runs only in bubblewrap: without a working one, treesearch stops before the first
# model call (unless --sandbox unsafe-rlimit), so say so now rather than after a long setup.
check_bwrap() {
  if ! command -v bwrap >/dev/null 2>&1; then
    echo "system-deps: bubblewrap is missing, and model-written code runs only in it: install it" \
         "(sudo apt-get install bubblewrap); until then treesearch refuses to run a model's code" \
         "(--model sim still works; --sandbox unsafe-rlimit accepts running it without namespaces)" >&2
  elif ! bwrap --unshare-all --ro-bind / / --proc /proc --dev /dev true >/dev/null 2>&1; then
    echo "system-deps: bubblewrap cannot create namespaces here (a container without user namespaces?):" \
         "treesearch will refuse to run a model's code; see README.md, 'The sandbox'" >&2
  fi
}
if [ ${#need[@]} -eq 0 ]; then check_bwrap; exit 0; fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: missing ${need[*]}; install them (e.g. apt-get install ${need[*]})" \
       "$([ "${1:-all}" = sandbox ] && echo "for the sandbox" || echo "for the full test suite")" >&2
  check_bwrap
  exit 0
fi
echo "system-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
check_bwrap
