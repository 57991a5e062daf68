#!/usr/bin/env bash
# What the browser parity test (tests/e2e/test_browser_parity.py) needs beyond Python, each step skipped when done:
# Chromium and Node.js with npm (Debian/Ubuntu packages through apt-get, as root or with sudo), then sdk/js's pinned
# npm packages (npm ci from package-lock.json, rerun only when the lockfile changed). Called by scripts/test.sh.
# Usage: scripts/test_deps.sh        (env: SIAMESE_CHROMIUM=PATH uses that Chromium; SIAMESE_SKIP_BROWSER=1 does nothing)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${SIAMESE_SKIP_BROWSER:-}" = 1 ] && exit 0
CHROMIUM=${SIAMESE_CHROMIUM:-/usr/bin/chromium}

die() { echo "scripts/test_deps.sh: $*" >&2; exit 1; }

apt_install() {  # apt_install PACKAGE...: install Debian packages quietly (apt-get update once)
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || die "$* missing and not root (no sudo): install them (apt-get install -y $*) and rerun"
    sudo="sudo"
  fi
  command -v apt-get >/dev/null || die "$* missing and no apt-get here: install Chromium and Node.js 18+ with npm (SIAMESE_CHROMIUM=PATH for a Chromium elsewhere) and rerun"
  echo "scripts/test_deps.sh: installing $* (apt-get)"
  if [ -z "${APT_UPDATED:-}" ]; then
    $sudo apt-get update -qq
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

[ -x "$CHROMIUM" ] || apt_install chromium
[ -x "$CHROMIUM" ] || die "chromium is still not at $CHROMIUM after apt-get install; set SIAMESE_CHROMIUM=PATH"
# nodesource's nodejs ships npm and conflicts with Debian's npm package: install nodejs first, then npm only if missing
command -v node >/dev/null || apt_install nodejs
command -v npm >/dev/null || apt_install npm
command -v node >/dev/null && command -v npm >/dev/null || die "node or npm is still missing after apt-get install: install Node.js 18+ with npm"

# npm ci only when the lockfile changed since the last install (its sha256 is kept in node_modules)
lock_sum=$(sha256sum sdk/js/package-lock.json | cut -d' ' -f1)
if [ "$(cat sdk/js/node_modules/.lock.sha256 2>/dev/null)" != "$lock_sum" ]; then
  echo "scripts/test_deps.sh: npm ci in sdk/js"
  (cd sdk/js && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$lock_sum" > sdk/js/node_modules/.lock.sha256
fi
