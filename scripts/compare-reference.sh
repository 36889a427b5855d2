#!/usr/bin/env bash
# Per-frame speed of facepipe against the Python reference (facenet-pytorch, ../shared/tools/ref-bench.py),
# measured in the same run on the same frames: decode + MTCNN + InceptionResnetV1 240 + nearest person.
# The two alternate for several rounds (the machine is shared: alternating spreads other load over both),
# with the same number of threads; prints each round's medians, then the median of each side and the ratio.
#
#   scripts/compare-reference.sh [--rounds N] [--runs N] [--threads T] [--precision P[,P...]] FRAME...
#   scripts/compare-reference.sh ../shared/datasets/video_frames/*/frame_00[4-6].jpg
#   scripts/compare-reference.sh --precision fp32,bf16,bf16/bf16 ../shared/datasets/video_frames/*/frame_00[4-6].jpg
# --precision is facepipe's (the reference is PyTorch fp32): EMBEDDER or EMBEDDER/DETECTOR (bf16/bf16 is
# --precision bf16 --detector-precision bf16; a lone one leaves MTCNN at fp32). With several, each round
# times facepipe at each of them beside the same reference run, in an order that rotates, and prints a
# ratio for each.
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
rounds=3 runs=2 threads=2 precisions=fp32
frames=()
while (($#)); do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --precision) precisions="$2"; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    -*) echo "compare-reference: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) frames+=("$1"); shift ;;
  esac
done
((${#frames[@]})) || { echo "compare-reference: give the frames to time, e.g. ../shared/datasets/video_frames/*/frame_00[4-6].jpg" >&2; exit 2; }
[[ "$rounds" =~ ^[1-9][0-9]*$ && "$runs" =~ ^[1-9][0-9]*$ && "$threads" =~ ^[1-9][0-9]*$ ]] ||
  { echo "compare-reference: --rounds, --runs and --threads take positive integers" >&2; exit 2; }
IFS=, read -r -a precs <<<"$precisions"
for p in "${precs[@]}"; do
  [[ "$p" =~ ^(fp32|bf16|int8)(/(fp32|bf16))?$ ]] ||
    { echo "compare-reference: --precision takes a comma-separated list of EMBEDDER[/DETECTOR] precisions, the embedder's fp32, bf16 or int8 and MTCNN's fp32 or bf16 (e.g. fp32,int8/bf16), not '$p'" >&2; exit 2; }
done
ref="$shared/tools/ref-bench.py"
[ -f "$ref" ] || { echo "compare-reference: $ref not found (set SHARED to the shared data folder)" >&2; exit 2; }
[ -x "$facepipe" ] || { echo "compare-reference: $facepipe not built: run scripts/build.sh (or set FACEPIPE)" >&2; exit 2; }
"$python" -c 'import torch, torchvision, PIL, numpy' 2>/dev/null ||
  { echo "compare-reference: the reference needs python3-torch python3-torchvision python3-pil python3-numpy: run scripts/deps.sh" >&2; exit 2; }
for f in "${frames[@]}"; do [ -r "$f" ] || { echo "compare-reference: cannot read $f" >&2; exit 2; }; done

# Both sides get the same threads; facepipe's passes = the reference's runs + its warm-up pass.
run_reference() { "$python" "$ref" --runs "$runs" --threads "$threads" "${frames[@]}" | tail -n 1; }
run_facepipe() {  # $1: EMBEDDER[/DETECTOR] precision
  local embedder_precision=${1%%/*} detector_precision=fp32
  [[ "$1" == */* ]] && detector_precision=${1#*/}
  OMP_NUM_THREADS="$threads" "$facepipe" --models-dir "$shared/models" --precision "$embedder_precision" \
    --detector-precision "$detector_precision" bench --embedder irv1-random \
    --runs $((runs + 1)) --json "${frames[@]}" 2>/dev/null | tail -n 1
}
# One field of a JSON line; a run that printed nothing (or an older facepipe without the field) says why.
median_of() {
  "$python" -c 'import json,sys
try: print(json.loads(sys.argv[1])[sys.argv[2]])
except (ValueError, KeyError): sys.exit("compare-reference: no %s in %r" % (sys.argv[2], sys.argv[1][:200]))' "$1" "$2"
}

echo "compare-reference: ${#frames[@]} frames, $rounds rounds of $runs passes each, $threads threads, facepipe at ${precs[*]}, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
# Per side ("ref" and each precision): each round's medians (whole frame, decode+detect, embed).
declare -A ms det emb
np=${#precs[@]}
for ((r = 1; r <= rounds; r++)); do
  # The reference first on odd rounds, last on even ones; the precisions rotate between rounds.
  order=()
  for ((i = 0; i < np; i++)); do order+=("${precs[$(((i + r - 1) % np))]}"); done
  if ((r % 2)); then order=(ref "${order[@]}"); else order+=(ref); fi
  declare -A json=()
  for side in "${order[@]}"; do
    if [ "$side" = ref ]; then json[$side]=$(run_reference); else json[$side]=$(run_facepipe "$side"); fi
  done
  rj="${json[ref]}" rm=$(median_of "${json[ref]}" median_ms)
  ms[ref]+="$rm " det[ref]+="$(median_of "$rj" detect_median_ms) " emb[ref]+="$(median_of "$rj" embed_median_ms) "
  line=$(printf 'round %d (load %s): reference %.1f ms (decode+detect %.1f, embed %.1f)' "$r" "$(cut -d' ' -f1 /proc/loadavg)" \
    "$rm" "$(median_of "$rj" detect_median_ms)" "$(median_of "$rj" embed_median_ms)")
  for p in "${precs[@]}"; do
    fj="${json[$p]}" fm=$(median_of "${json[$p]}" frame_ms_median)
    # The reference's "detect" includes PIL's decode: compare it with facepipe's decode + detect.
    ms[$p]+="$fm " det[$p]+="$(median_of "$fj" decode_detect_ms_median) " emb[$p]+="$(median_of "$fj" embed_ms_median) "
    line+=$(printf '  facepipe %s %.1f ms (decode+detect %.1f, embed %.1f; p90 %.1f; peak %.0f MB) ratio %.2fx' "$p" "$fm" \
      "$(median_of "$fj" decode_detect_ms_median)" "$(median_of "$fj" embed_ms_median)" "$(median_of "$fj" frame_ms_p90)" \
      "$(median_of "$fj" peak_rss_mb)" "$("$python" -c "print($rm / $fm)")")
  done
  echo "$line"
done
args=("$(cut -d' ' -f1-3 /proc/loadavg)" "${ms[ref]}" "${det[ref]}" "${emb[ref]}")
for p in "${precs[@]}"; do args+=("$p" "${ms[$p]}" "${det[$p]}" "${emb[$p]}"); done
"$python" - "${args[@]}" <<'EOF'
import statistics, sys
load, rest = sys.argv[1], sys.argv[2:]
num = lambda a: [float(v) for v in a.split()]
ref, ref_det, ref_emb = (num(a) for a in rest[:3])
med = statistics.median
for i in range(3, len(rest), 4):
    p, fp, fp_det, fp_emb = rest[i], num(rest[i + 1]), num(rest[i + 2]), num(rest[i + 3])
    ratios = sorted(r / f for r, f in zip(ref, fp))
    print(f"median per frame, facepipe {p}: reference {med(ref):.1f} ms, facepipe {med(fp):.1f} ms: facepipe "
          f"{med(ref) / med(fp):.2f}x faster (rounds {ratios[0]:.2f}x-{ratios[-1]:.2f}x); decode+detect "
          f"{med(ref_det) / med(fp_det):.2f}x, embed {med(ref_emb) / med(fp_emb):.2f}x; load average at the end: {load}")
EOF
