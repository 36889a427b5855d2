#!/usr/bin/env bash
# The main job on the embedded default, on the bundled data (../shared/datasets):
#   1. enrol each person of video_frames from 3 frames into a gallery, with made-up records;
#   2. start `facepipe serve` (function URL + queues + recognition, one process) on loopback;
#   3. the course's reference workload: 100 frames at one per second, every answer checked;
#   4. the camera variant: a clip uploaded by `facepipe camera`, its result read by `facepipe results`;
#   5. stop the server.
# Options: --quick (40 frames, 4 in flight, no pause), DEMO_DIR (default build/demo).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${FACEPIPE:-build/facepipe}
DATA=${FACEPIPE_SHARED:-../shared}/datasets
DEMO_DIR=${DEMO_DIR:-build/demo}
REQUESTS=100 INTERVAL=1s CONCURRENCY=8
if [ "${1:-}" = "--quick" ]; then REQUESTS=40 INTERVAL=0s CONCURRENCY=4; fi
[ -x "$BIN" ] || { echo "demo: $BIN not built; run scripts/build.sh first" >&2; exit 1; }
[ -d "$DATA/video_frames" ] || { echo "demo: $DATA/video_frames missing; put the shared data beside the project (see README)" >&2; exit 1; }

rm -rf "$DEMO_DIR" && mkdir -p "$DEMO_DIR"
echo "== demo 1/4: enrol 3 frames per person of $DATA/video_frames"
"$BIN" enroll --gallery "$DEMO_DIR/gallery.db" --folder "$DATA/video_frames" --per-person 3
"$BIN" people import --gallery "$DEMO_DIR/gallery.db" examples/people.csv

echo "== demo 2/4: facepipe serve (embedded: HTTP function URL, SQLite queues, recognition workers)"
"$BIN" serve --port 0 --data-dir "$DEMO_DIR/data" --gallery "$DEMO_DIR/gallery.db" --id demo >"$DEMO_DIR/serve.log" 2>&1 &
SERVE_PID=$!
trap 'kill $SERVE_PID 2>/dev/null || true; wait $SERVE_PID 2>/dev/null || true' EXIT
URL=""
for _ in $(seq 1 300); do
  URL=$(grep -o 'listening on http://[0-9.:]*' "$DEMO_DIR/serve.log" | head -1 | cut -d' ' -f3 || true)
  [ -n "$URL" ] && break
  kill -0 $SERVE_PID 2>/dev/null || { cat "$DEMO_DIR/serve.log" >&2; echo "demo: serve exited" >&2; exit 1; }
  sleep 0.1
done
[ -n "$URL" ] || { cat "$DEMO_DIR/serve.log" >&2; echo "demo: serve did not start" >&2; exit 1; }
QUEUE="$URL/000000000000/demo-resp-queue"
echo "   function URL $URL/   response queue $QUEUE"

echo "== demo 3/4: workload, $REQUESTS frames every $INTERVAL (the course's workload generator)"
"$BIN" workload --url "$URL/" --queue-url "$QUEUE" --images "$DATA/video_frames" \
  --requests "$REQUESTS" --interval "$INTERVAL" --concurrency "$CONCURRENCY" | tee "$DEMO_DIR/workload.txt"

echo "== demo 4/4: camera variant: a clip uploaded, the retriever prints the result with its record"
"$BIN" camera --source "$DATA/videos/Obama.mp4" --mode clips --url "$URL/" --no-realtime
"$BIN" results --queue-url "$QUEUE" --expect 1 --idle-seconds 60

echo "== demo done: files in $DEMO_DIR (serve.log, workload.txt); metrics were at $URL/metrics"
