#!/usr/bin/env bash
# Builds facepipe and runs every test (GoogleTest under CTest). Extra arguments go to ctest,
# e.g. scripts/test.sh -L face
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
scripts/build.sh
cd "$BUILD_DIR"
# A failing test is run once more before it counts: the browser and stream tests race real servers on a
# shared 2-core machine (a known flake of the console test's stranger step is being chased); a broken test
# still fails twice.
ctest --output-on-failure -j"$(nproc)" --timeout 900 --repeat until-pass:2 "$@"
