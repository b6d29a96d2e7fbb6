#!/usr/bin/env bash
# Make a headless Chromium available for the browser tests in `make test`
# (tests/integration/test_browser.py drives it with Playwright, pointed at this browser:
# Playwright's own browser download is not reachable here). Installs Debian's `chromium`
# package with apt-get when it is missing; needs root (CI runs as root). When the install
# is impossible: exit 1 under CI=true (the tests would fail anyway), else a warning and
# exit 0 (the browser tests skip).
set -euo pipefail

if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
    exit 0
fi

give_up() {
    echo "install-chromium: $1" >&2
    case "${CI:-}" in
        1 | true | TRUE | yes) exit 1 ;;
        *) echo "install-chromium: the browser tests will be skipped" >&2; exit 0 ;;
    esac
}

command -v apt-get >/dev/null 2>&1 || give_up "chromium missing and no apt-get to install it"
if [ "$(id -u)" -ne 0 ]; then
    give_up "chromium missing; run as root or: sudo apt-get install chromium"
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-chromium: apt-get install chromium" >&2
if ! apt-get install -y -q --no-install-recommends chromium >/dev/null; then
    apt-get update -q >/dev/null || give_up "apt-get update failed"
    apt-get install -y -q --no-install-recommends chromium >/dev/null \
        || give_up "apt-get install chromium failed"
fi
command -v chromium >/dev/null 2>&1 || give_up "chromium still missing after the install"
