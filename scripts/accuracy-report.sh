#!/usr/bin/env bash
# The accuracy report of the README ("Accuracy") on the bundled data:
#   gallery: each person of video_frames enrolled from their first 3 frames;
#   mated probes: the other 51 frames of video_frames (never enrolled);
#   strangers: the 1000 small faces of face_images_1000 and the 7 faces of misc/.
# Writes REPORT_DIR (default build/accuracy-report): report.json, *.svg, index.html; and with rsvg-convert
# (librsvg2-bin) docs/accuracy-distances.png for the README. Extra arguments go to `facepipe eval` (e.g. --answer
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
rm -rf "$OUT/enrol" "$OUT/probe"
for person in "$DATA"/video_frames/*/; do
  name=$(basename "$person")
  mkdir -p "$OUT/enrol/$name" "$OUT/probe/$name"
  i=0
  for frame in "$person"*.jpg; do
    if [ $i -lt 3 ]; then dest="$OUT/enrol/$name"; else dest="$OUT/probe/$name"; fi
    ln -s "$(realpath "$frame")" "$dest/$(basename "$frame")"
    i=$((i + 1))
  done
done
"$BIN" enroll --gallery "$GALLERY" --folder "$OUT/enrol" ${ENROLL_FLAGS:-} >/dev/null
"$BIN" eval --gallery "$GALLERY" --images "$OUT/probe" \
  --strangers "$DATA/face_images_1000" --strangers "$DATA/misc" --report "$OUT" "$@"
if command -v rsvg-convert >/dev/null 2>&1 && [ -z "${NO_PNG:-}" ]; then
  mkdir -p docs
  rsvg-convert -f png -o docs/accuracy-distances.png "$OUT/distances.svg"
  echo "accuracy-report: docs/accuracy-distances.png"
fi
echo "accuracy-report: open $OUT/index.html"
