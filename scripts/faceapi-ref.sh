#!/usr/bin/env bash
# Installs the JavaScript reference for the face-api descriptor (npm @vladmandic/face-api 1.7.15 with the
# pure-JS TF.js CPU backend, versions pinned by tools/faceapi-ref/package-lock.json) so the parity test
# can compare facepipe's C++ port with the official implementation. Needs node and npm (scripts/deps.sh).
set -euo pipefail
cd "$(dirname "$0")/../tools/faceapi-ref"
if [ -f node_modules/@vladmandic/face-api/package.json ] && [ -d node_modules/@tensorflow/tfjs ]; then
  echo "facepipe setup: face-api reference already installed"
  exit 0
fi
echo "facepipe setup: installing the face-api reference (npm ci in tools/faceapi-ref)"
npm ci --no-audit --no-fund --loglevel=error
