#!/usr/bin/env bash
# Load and fault test (issue 14): replays each attack against a real `facepipe serve` on loopback and prints
# per attack: alive, probe answered correctly, RSS before/after, p99 latency of a well-behaved client.
#   scripts/fault-test.sh [--markdown] [--only 1,3] [--facepipe build/facepipe]
# Bounded (a few minutes in all); exits non-zero when an attack leaves the service dead.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 scripts/fault_test.py "$@"
