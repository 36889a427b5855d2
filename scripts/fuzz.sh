#!/usr/bin/env bash
# Runs one libFuzzer harness (fuzz/*_fuzz.cpp) for SECONDS, seeded from the bundled data.
#   scripts/fuzz.sh TARGET SECONDS [libFuzzer options...]     e.g. scripts/fuzz.sh sqs_json 60
#   scripts/fuzz.sh all SECONDS                               each harness in turn (what CI runs)
# TARGET: torch_file pickle tfjs image mp4 function_url sqs_json sqs_query sigv4.
# Builds build-fuzz/ (clang++, ASan + UBSan, -DFACEPIPE_FUZZ=ON) when needed. Corpora grow in
# build-fuzz/corpus/TARGET; crashes land in build-fuzz/findings/ and make the script fail.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${FUZZ_BUILD_DIR:-build-fuzz}
SHARED=${FACEPIPE_SHARED:-$ROOT/../shared}
TARGETS=(torch_file pickle tfjs image mp4 function_url sqs_json sqs_query sigv4)
if [ $# -lt 2 ]; then
  echo "usage: scripts/fuzz.sh TARGET|all SECONDS [libFuzzer options]; targets: ${TARGETS[*]}" >&2
  exit 2
fi
target=$1 seconds=$2
shift 2
if [ "$target" = all ]; then
  for t in "${TARGETS[@]}"; do "$0" "$t" "$seconds" "$@"; done
  exit 0
fi
[[ " ${TARGETS[*]} " == *" $target "* ]] || { echo "unknown fuzz target '$target'; choose one of: ${TARGETS[*]}" >&2; exit 2; }
command -v clang++ >/dev/null || { echo "clang++ is missing: run scripts/deps.sh (clang, libclang-rt-14-dev)" >&2; exit 2; }

launcher=()  # through ccache as scripts/build.sh does (a fresh clone's fuzz build reuses earlier objects)
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR="$ROOT"
fi
if [ ! -f "$BUILD/build.ninja" ]; then
  CXX=clang++ cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFACEPIPE_FUZZ=ON "${launcher[@]}" >/dev/null
fi
cmake --build "$BUILD" --target "${target}_fuzz" >/dev/null

corpus=$BUILD/corpus/$target
findings=$BUILD/findings/$target
mkdir -p "$corpus" "$findings"
seed() { [ -e "$1" ] && cp -n "$1" "$corpus/" 2>/dev/null || true; }
if [ -z "$(ls -A "$corpus")" ]; then  # seed corpora from the bundled data
  case $target in
    torch_file) seed "$SHARED/models/mtcnn/pnet.pt"; seed "$SHARED/golden/pnet-zipformat.pt" ;;
    pickle) python3 -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); n = [x for x in z.namelist() if x.endswith("data.pkl")][0]; open(sys.argv[2], "wb").write(z.read(n))' \
              "$SHARED/golden/pnet-zipformat.pt" "$corpus/pnet.pkl" ;;
    tfjs) seed "$SHARED/models/faceapi/face_recognition_model-weights_manifest.json" ;;
    image) for f in "$SHARED"/datasets/face_images_1000/test_00[0-4].jpg "$SHARED"/datasets/misc/*.png; do seed "$f"; done ;;
    mp4) seed "$SHARED/datasets/videos/Freeman.mp4" ;;
    function_url) python3 -c 'import base64, json, sys; print(json.dumps({"request_id": "r1", "filename": "f.jpg", "content": base64.b64encode(open(sys.argv[1], "rb").read()).decode()}))' \
                    "$SHARED/datasets/face_images_1000/test_000.jpg" >"$corpus/frame.json" ;;
    sqs_json)
      printf 'SendMessage\n{"QueueUrl":"http://127.0.0.1:9324/000000000000/fuzz-q","MessageBody":"hi","DelaySeconds":0,"MessageAttributes":{"a":{"DataType":"String","StringValue":"v"}}}' >"$corpus/send"
      printf 'ReceiveMessage\n{"QueueUrl":"http://127.0.0.1:9324/000000000000/fuzz-q","MaxNumberOfMessages":10,"VisibilityTimeout":0,"WaitTimeSeconds":0}' >"$corpus/receive"
      printf 'SendMessageBatch\n{"QueueUrl":"http://127.0.0.1:9324/000000000000/fuzz-q","Entries":[{"Id":"a","MessageBody":"x"},{"Id":"b","MessageBody":"y"}]}' >"$corpus/batch"
      printf 'CreateQueue\n{"QueueName":"fuzz-2","Attributes":{"VisibilityTimeout":"5"}}' >"$corpus/create" ;;
    sqs_query)
      printf '/\nAction=SendMessage&QueueUrl=http%%3A%%2F%%2F127.0.0.1%%3A9324%%2F000000000000%%2Ffuzz-q&MessageBody=hello&Version=2012-11-05' >"$corpus/send"
      printf '/000000000000/fuzz-q\nAction=ReceiveMessage&MaxNumberOfMessages=10&VisibilityTimeout=0' >"$corpus/receive"
      printf '/\nAction=SendMessageBatch&QueueUrl=fuzz-q&SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry.1.MessageBody=x' >"$corpus/batch" ;;
    sigv4)
      printf 'POST\nhttps://sqs.us-east-1.amazonaws.com/000000000000/q?Action=ReceiveMessage&b=2&a=1\nContent-Type: application/x-amz-json-1.0\nX-Amz-Target: AmazonSQS.ReceiveMessage\n\n{"QueueUrl":"q"}' >"$corpus/post"
      printf 'GET\nhttp://127.0.0.1:9000/bucket/a%%20b/c.mp4?list-type=2&prefix=x%%2Fy\nHost: 127.0.0.1:9000\n\n' >"$corpus/get" ;;
  esac
fi

echo "fuzz: $target for ${seconds}s (corpus $corpus)"
log=$BUILD/findings/$target.log
set +e
nice -n 10 "$BUILD/fuzz/${target}_fuzz" -max_total_time="$seconds" -rss_limit_mb=4096 -max_len=1048576 \
  -artifact_prefix="$findings/" -print_final_stats=1 "$@" "$corpus" >"$log" 2>&1
rc=$?
set -e
grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "$log" | sed "s/^/fuzz: $target /"
grep -o "cov: [0-9]*" "$log" | tail -1 | sed "s/^/fuzz: $target /"
if [ $rc -ne 0 ]; then
  echo "fuzz: $target found a problem (exit $rc); the input is in $findings/, the report:" >&2
  grep -A30 -E "ERROR: |runtime error|deadly signal|==ERROR" "$log" | head -60 >&2
  exit 1
fi
