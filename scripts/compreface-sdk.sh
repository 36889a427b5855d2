#!/usr/bin/env bash
# Installs the real CompreFace clients the API tests run against `facepipe serve` (tests/api/clients_test.cpp):
# CompreFace's JavaScript SDK (npm @exadel/compreface-js-sdk 1.0.0) and axios + form-data, with which the
# Double Take replay makes its requests. Versions pinned by tools/compreface-sdk-test/package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/../tools/compreface-sdk-test"
if [ -f node_modules/@exadel/compreface-js-sdk/package.json ] && [ -f node_modules/form-data/package.json ]; then
  echo "facepipe setup: CompreFace SDK test clients already installed"
  exit 0
fi
echo "facepipe setup: installing the CompreFace SDK test clients (npm ci in tools/compreface-sdk-test)"
npm ci --no-audit --no-fund --loglevel=error
