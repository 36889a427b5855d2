#!/usr/bin/env bash
# Puts the model weights in place in the models directory ($FACEPIPE_MODELS, default ../shared/models).
# Weights are never committed. On a machine with internet the official files are downloaded; the
# face-api descriptor weights come from the npm registry (pinned @vladmandic/face-api@1.7.15).
set -euo pipefail
cd "$(dirname "$0")/.."
MODELS=${FACEPIPE_MODELS:-../shared/models}
echo "facepipe setup: models directory $MODELS"
# The model files, listed once in models.manifest (key, path, required|optional).
model_path() { awk -v k="$1" '$1 == k { print $2 }' models.manifest; }
mapfile -t need < <(awk '/^[a-z]/ && $3 == "required" { print $2 }' models.manifest)
missing=0
for f in "${need[@]}"; do [ -s "$MODELS/$f" ] || missing=1; done
if [ "$missing" = 1 ]; then
  mkdir -p "$MODELS/mtcnn" "$MODELS/faceapi" "$MODELS/inception_resnet_v1"
  base=https://github.com/timesler/facenet-pytorch/raw/master/data
  for n in pnet rnet onet; do
    [ -s "$MODELS/mtcnn/$n.pt" ] || curl -fsSL --retry 3 -o "$MODELS/mtcnn/$n.pt" "$base/$n.pt" ||
      { echo "facepipe setup: cannot download $n.pt; copy facenet-pytorch's data/$n.pt into $MODELS/mtcnn/" >&2; exit 1; }
  done
  if [ ! -s "$MODELS/faceapi/face_recognition_model.bin" ]; then
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent @vladmandic/face-api@1.7.15 >/dev/null && tar xzf vladmandic-face-api-1.7.15.tgz)
    cp "$tmp"/package/model/face_recognition_model* "$MODELS/faceapi/"
    rm -rf "$tmp"
  fi
fi
vgg="$MODELS/$(model_path irv1_vggface2)"
if [ ! -s "$vgg" ]; then
  url=https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9/20180402-114759-vggface2.pt
  if ! curl -fsSL --retry 2 --max-time 600 -o "$vgg.part" "$url" 2>/dev/null; then
    rm -f "$vgg.part"
    echo "facepipe setup: VGGFace2 weights not reachable; the face-api descriptor is the default embedder"
  else
    mv "$vgg.part" "$vgg"
  fi
fi
echo "facepipe setup: models ready"
