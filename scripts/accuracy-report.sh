#!/usr/bin/env bash
# The accuracy report of the README ("Accuracy") on the bundled data:
#   gallery: each person of video_frames enrolled from their 3 best-quality frames (as scripts/demo.sh does);
#   mated probes: every frame of video_frames (the enrolled frames give the zero-distance scores at the left
#     of the genuine distribution; they are few and are not what the thresholds are set by);
#   strangers: the 1000 small faces of face_images_1000 and the 7 faces of misc/.
# Writes REPORT_DIR (default build/accuracy-report): report.json, *.svg, index.html; and with rsvg-convert
# (librsvg2-bin) docs/accuracy-det.png for the README. Extra arguments go to `facepipe eval` (e.g. --answer
# largest, --mirror-probe).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${FACEPIPE:-build/facepipe}
DATA=${FACEPIPE_SHARED:-../shared}/datasets
OUT=${REPORT_DIR:-build/accuracy-report}
[ -x "$BIN" ] || { echo "accuracy-report: $BIN not built; run scripts/build.sh first" >&2; exit 1; }
mkdir -p "$OUT"
GALLERY="$OUT/gallery.db"
rm -f "$GALLERY" "$GALLERY-wal" "$GALLERY-shm"
"$BIN" enroll --gallery "$GALLERY" --folder "$DATA/video_frames" --per-person 3 ${ENROLL_FLAGS:-} >/dev/null
"$BIN" eval --gallery "$GALLERY" --images "$DATA/video_frames" \
  --strangers "$DATA/face_images_1000" --strangers "$DATA/misc" --report "$OUT" "$@"
if command -v rsvg-convert >/dev/null 2>&1 && [ -z "${NO_PNG:-}" ]; then
  mkdir -p docs
  rsvg-convert -f png -o docs/accuracy-det.png "$OUT/det.svg"
  rsvg-convert -f png -o docs/accuracy-distances.png "$OUT/distances.svg"
  echo "accuracy-report: docs/accuracy-det.png, docs/accuracy-distances.png"
fi
echo "accuracy-report: open $OUT/index.html"
