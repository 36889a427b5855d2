#!/usr/bin/env bash
# Per-frame speed of facepipe against the Python reference (facenet-pytorch, ../shared/tools/ref-bench.py),
# measured in the same run on the same frames: decode + MTCNN + InceptionResnetV1 240 + nearest person.
# The two alternate for several rounds (the machine is shared: alternating spreads other load over both),
# with the same number of threads; prints each round's medians, then the median of each side and the ratio.
#
#   scripts/compare-reference.sh [--rounds N] [--runs N] [--threads T] FRAME...
#   scripts/compare-reference.sh ../shared/datasets/video_frames/*/frame_00[4-6].jpg
#
# Needs Debian's python3-torch python3-torchvision python3-pil python3-numpy (scripts/deps.sh) and a
# release build (build/facepipe, or FACEPIPE=path). facepipe embeds with the random-weight twin of
# VGGFace2 (irv1-random, the same network and cost) because the reference does.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
shared="${SHARED:-$root/../shared}"
facepipe="${FACEPIPE:-$root/build/facepipe}"
# Debian's interpreter, where python3-torch lives (a pyenv python3 earlier on PATH has no torch).
python="${PYTHON:-/usr/bin/python3}"
rounds=3 runs=2 threads=2
frames=()
while (($#)); do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) echo "compare-reference: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) frames+=("$1"); shift ;;
  esac
done
((${#frames[@]})) || { echo "compare-reference: give the frames to time, e.g. ../shared/datasets/video_frames/*/frame_00[4-6].jpg" >&2; exit 2; }
[[ "$rounds" =~ ^[1-9][0-9]*$ && "$runs" =~ ^[1-9][0-9]*$ && "$threads" =~ ^[1-9][0-9]*$ ]] ||
  { echo "compare-reference: --rounds, --runs and --threads take positive integers" >&2; exit 2; }
ref="$shared/tools/ref-bench.py"
[ -f "$ref" ] || { echo "compare-reference: $ref not found (set SHARED to the shared data folder)" >&2; exit 2; }
[ -x "$facepipe" ] || { echo "compare-reference: $facepipe not built: run scripts/build.sh (or set FACEPIPE)" >&2; exit 2; }
"$python" -c 'import torch, torchvision, PIL, numpy' 2>/dev/null ||
  { echo "compare-reference: the reference needs python3-torch python3-torchvision python3-pil python3-numpy: run scripts/deps.sh" >&2; exit 2; }
for f in "${frames[@]}"; do [ -r "$f" ] || { echo "compare-reference: cannot read $f" >&2; exit 2; }; done

# Both sides get the same threads; facepipe's passes = the reference's runs + its warm-up pass.
run_reference() { "$python" "$ref" --runs "$runs" --threads "$threads" "${frames[@]}" | tail -n 1; }
run_facepipe() {
  OMP_NUM_THREADS="$threads" "$facepipe" --models-dir "$shared/models" bench --embedder irv1-random \
    --runs $((runs + 1)) --json "${frames[@]}" 2>/dev/null | tail -n 1
}
# One field of a JSON line; a run that printed nothing (or an older facepipe without the field) says why.
median_of() {
  "$python" -c 'import json,sys
try: print(json.loads(sys.argv[1])[sys.argv[2]])
except (ValueError, KeyError): sys.exit("compare-reference: no %s in %r" % (sys.argv[2], sys.argv[1][:200]))' "$1" "$2"
}

echo "compare-reference: ${#frames[@]} frames, $rounds rounds of $runs passes each, $threads threads, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
ref_ms=() fp_ms=() ref_det=() fp_det=() ref_emb=() fp_emb=()
for ((r = 1; r <= rounds; r++)); do
  if ((r % 2)); then ref_json=$(run_reference); fp_json=$(run_facepipe)
  else fp_json=$(run_facepipe); ref_json=$(run_reference); fi
  rm=$(median_of "$ref_json" median_ms) fm=$(median_of "$fp_json" frame_ms_median)
  ref_ms+=("$rm") fp_ms+=("$fm")
  # The reference's "detect" includes PIL's decode: compare it with facepipe's decode + detect.
  ref_det+=("$(median_of "$ref_json" detect_median_ms)") fp_det+=("$(median_of "$fp_json" decode_detect_ms_median)")
  ref_emb+=("$(median_of "$ref_json" embed_median_ms)") fp_emb+=("$(median_of "$fp_json" embed_ms_median)")
  printf 'round %d: reference %.1f ms (decode+detect %.1f, embed %.1f)  facepipe %.1f ms (decode+detect %.1f, embed %.1f; p90 %.1f; peak %.0f MB)  ratio %.2fx\n' \
    "$r" "$rm" "${ref_det[-1]}" "${ref_emb[-1]}" "$fm" "${fp_det[-1]}" "${fp_emb[-1]}" \
    "$(median_of "$fp_json" frame_ms_p90)" "$(median_of "$fp_json" peak_rss_mb)" "$("$python" -c "print($rm / $fm)")"
done
"$python" - "${ref_ms[*]}" "${fp_ms[*]}" "${ref_det[*]}" "${fp_det[*]}" "${ref_emb[*]}" "${fp_emb[*]}" \
  "$(cut -d' ' -f1-3 /proc/loadavg)" <<'EOF'
import statistics, sys
ref, fp, ref_det, fp_det, ref_emb, fp_emb = ([float(v) for v in a.split()] for a in sys.argv[1:7])
med = statistics.median
ratios = sorted(r / f for r, f in zip(ref, fp))
print(f"median per frame: reference {med(ref):.1f} ms, facepipe {med(fp):.1f} ms: facepipe {med(ref) / med(fp):.2f}x "
      f"faster (rounds {ratios[0]:.2f}x-{ratios[-1]:.2f}x); decode+detect {med(ref_det) / med(fp_det):.2f}x, "
      f"embed {med(ref_emb) / med(fp_emb):.2f}x; load average at the end: {sys.argv[7]}")
EOF
