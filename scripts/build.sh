#!/usr/bin/env bash
# Configures and builds facepipe into build/ (BUILD_DIR to override).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
# Through ccache when it is installed (scripts/deps.sh installs it): its cache is keyed by the preprocessed
# source and the flags, so a fresh clone's build reuses what an earlier build of the same code compiled.
launcher=()
# CCACHE_BASEDIR makes the paths under the checkout relative, so a clone elsewhere hits the same entries.
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR="$PWD"
fi
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
