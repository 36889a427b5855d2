#!/usr/bin/env bash
# One command for a new user on Debian 12: installs the system packages and the models, builds facepipe,
# and runs the main job (the embedded pipeline on the bundled data, scripts/demo.sh).
#   scripts/setup.sh            install + build + demo
#   scripts/setup.sh --no-demo  install + build only
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== 1/4 system packages"
scripts/deps.sh
echo "== 2/4 models"
scripts/models.sh
echo "== 3/4 JavaScript reference (face-api, for parity tests)"
scripts/faceapi-ref.sh
scripts/compreface-sdk.sh
scripts/console-test.sh
echo "== 4/4 build"
scripts/build.sh
if [ "${1:-}" != "--no-demo" ]; then
  scripts/demo.sh
fi
