#!/usr/bin/env bash
# The browser the UI tests drive (tests/browser, docs/ui.md "Browser tests"): headless Chromium
# and its WebDriver from Debian's packages, `chromium` and `chromium-driver`, installed when
# missing (as root; otherwise it says which command to run). Idempotent: a machine that has
# them never touches the network. Selenium is always given the driver's path, so
# selenium-manager never downloads one.
#
#   scripts/browser.sh          install what is missing, print the two paths
#
# Elsewhere (say Ubuntu, where `chromium` is a snap), point the tests at a Chromium-based
# browser and its matching driver instead: DICTAMESH_TEST_CHROMIUM, DICTAMESH_TEST_CHROMEDRIVER.

set -euo pipefail

CHROMIUM=${DICTAMESH_TEST_CHROMIUM:-/usr/bin/chromium}
CHROMEDRIVER=${DICTAMESH_TEST_CHROMEDRIVER:-/usr/bin/chromedriver}

log() { printf '[browser] %s\n' "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

pkg_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# Like scripts/services.sh's apt_install: `apt-get update` only when something is missing.
apt_install() {
  local missing=() pkg
  for pkg in "$@"; do
    pkg_installed "$pkg" || missing+=("$pkg")
  done
  ((${#missing[@]} == 0)) && return 0
  [[ $(id -u) -eq 0 ]] || die "missing packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})"
  command -v apt-get >/dev/null || die "missing packages ${missing[*]} and no apt-get to install them"
  log "installing ${missing[*]} with apt-get (one-time)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -q -o DPkg::Lock::Timeout=300 update >&2
  apt-get -q -y -o DPkg::Lock::Timeout=300 install --no-install-recommends "${missing[@]}" >&2
}

if [[ ! -x $CHROMIUM || ! -x $CHROMEDRIVER ]]; then
  if [[ -n ${DICTAMESH_TEST_CHROMIUM:-}${DICTAMESH_TEST_CHROMEDRIVER:-} ]]; then
    die "DICTAMESH_TEST_CHROMIUM=$CHROMIUM / DICTAMESH_TEST_CHROMEDRIVER=$CHROMEDRIVER: not executable"
  fi
  apt_install chromium chromium-driver
fi
[[ -x $CHROMIUM ]] || die "$CHROMIUM missing after installing chromium"
[[ -x $CHROMEDRIVER ]] || die "$CHROMEDRIVER missing after installing chromium-driver"
log "$("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM"), $("$CHROMEDRIVER" --version 2>/dev/null | cut -d' ' -f1-2)"
printf '%s\n%s\n' "$CHROMIUM" "$CHROMEDRIVER"
