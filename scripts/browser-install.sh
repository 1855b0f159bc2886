#!/bin/sh
# Install the browser of the browser tests (tests/browser/) from Debian's
# packages, idempotently, as root: Chromium at /usr/bin/chromium, driven by
# the Python playwright package of requirements-dev.txt. Playwright never
# downloads a browser of its own here (PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1, and
# `playwright install` is never run). `make test` runs this.
#
# - apt-get update runs only when a package is missing.
set -eu

PACKAGES="chromium chromium-driver"

if [ "$(id -u)" -ne 0 ]; then
    echo "browser-install: run as root" >&2
    exit 1
fi

missing=""
for package in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null \
        | grep -q "install ok installed"; then
        missing="$missing $package"
    fi
done

if [ -n "$missing" ]; then
    export DEBIAN_FRONTEND=noninteractive
    echo "browser-install: installing$missing"
    apt-get update -q
    # shellcheck disable=SC2086  # word splitting of the package list is wanted
    apt-get install -y -q --no-install-recommends $missing
else
    echo "browser-install: packages already installed"
fi

if ! /usr/bin/chromium --version; then
    echo "browser-install: /usr/bin/chromium does not run" >&2
    exit 1
fi
