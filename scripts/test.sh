#!/usr/bin/env bash
# Builds facepipe and runs every test (GoogleTest under CTest). Extra arguments go to ctest,
# e.g. scripts/test.sh -L face
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
scripts/build.sh
cd "$BUILD_DIR"
ctest --output-on-failure -j"$(nproc)" --timeout 900 "$@"
