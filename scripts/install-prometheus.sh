#!/usr/bin/env bash
# Make `promtool` and `prometheus` available for the deploy checks in `make test`
# (tests/contract/test_deploy.py, tests/integration/test_prometheus_scrape.py).
# Installs Debian's `prometheus` package with apt-get when they are missing; needs root
# (CI runs as root). Downloading a release tarball is not an option here (no network
# beyond the Debian/PyPI/npm/Maven mirrors). When the install is impossible: exit 1
# under CI=true (the tests would fail anyway), else a warning and exit 0 (the tests skip).
set -euo pipefail

if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
    exit 0
fi

give_up() {
    echo "install-prometheus: $1" >&2
    case "${CI:-}" in
        1 | true | TRUE | yes) exit 1 ;;
        *) echo "install-prometheus: the Prometheus checks will be skipped" >&2; exit 0 ;;
    esac
}

command -v apt-get >/dev/null 2>&1 || give_up "promtool missing and no apt-get to install it"
if [ "$(id -u)" -ne 0 ]; then
    give_up "promtool missing; run as root or: sudo apt-get install prometheus"
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-prometheus: apt-get install prometheus" >&2
# The package's own service is not started in containers (no systemd); we only need the
# binaries. Retry after an index update when the cached index is stale or missing.
if ! apt-get install -y -q --no-install-recommends prometheus >/dev/null; then
    apt-get update -q >/dev/null || give_up "apt-get update failed"
    apt-get install -y -q --no-install-recommends prometheus >/dev/null \
        || give_up "apt-get install prometheus failed"
fi
command -v promtool >/dev/null 2>&1 || give_up "promtool still missing after the install"
