#!/usr/bin/env bash
# Opens the web console on the demo's gallery (scripts/demo.sh, which setup.sh runs, leaves it in
# build/demo/gallery.db; without it an empty gallery is made): creates an admin key, prints it once with
# the console's address, and runs `facepipe serve` on loopback until Ctrl-C.
#   scripts/console.sh [PORT]     (default 8080)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${FACEPIPE:-build/facepipe}
DEMO_DIR=${DEMO_DIR:-build/demo}
PORT=${1:-8080}
[ -x "$BIN" ] || { echo "console: $BIN not built; run scripts/build.sh first" >&2; exit 1; }
mkdir -p "$DEMO_DIR/console-data"
GALLERY="$DEMO_DIR/gallery.db"
[ -f "$GALLERY" ] || echo "console: no demo gallery yet ($GALLERY); starting with an empty one (scripts/demo.sh fills it)"
KEY=$("$BIN" keys create --data-dir "$DEMO_DIR/console-data" --name "console-$(date +%Y%m%d-%H%M%S)" --role admin --json |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["key"])')
echo "console: open http://127.0.0.1:$PORT/ui/ and log in with this key (shown once): $KEY"
echo "console: post frames to http://127.0.0.1:$PORT/ (the function URL) to see events; Ctrl-C stops"
exec "$BIN" serve --port "$PORT" --data-dir "$DEMO_DIR/console-data" --gallery "$GALLERY"
