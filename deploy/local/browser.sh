#!/usr/bin/env bash
# A real browser for the page tests (tests/e2e/test_transparency_page.py): Debian's
# chromium, driven by Playwright from PyPI (Playwright's own browser download cannot
# work without internet). Installs it when /usr/bin/chromium is missing; needs root
# (or sudo) and the Debian mirror.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
echo "installing Debian's chromium for the browser tests" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium
/usr/bin/chromium --version >&2
