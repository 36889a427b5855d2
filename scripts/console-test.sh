#!/usr/bin/env bash
# Installs what the web console's browser tests (tests/console/console_test.cpp) drive Debian's chromium
# with: npm playwright-core, pinned by tools/console-test/package-lock.json. playwright-core downloads no
# browser; the tests launch /usr/bin/chromium (scripts/deps.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/../tools/console-test"
if [ -f node_modules/playwright-core/package.json ] &&
   [ "$(node -p 'require("./node_modules/playwright-core/package.json").version')" = \
     "$(node -p 'require("./package.json").dependencies["playwright-core"]')" ]; then
  echo "facepipe setup: console test driver (playwright-core) already installed"
  exit 0
fi
echo "facepipe setup: installing the console test driver (npm ci in tools/console-test)"
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
