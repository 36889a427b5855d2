#!/usr/bin/env bash
# Installs every system package facepipe needs to build, test and run (Debian 12). Idempotent.
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  ccache  # scripts/build.sh compiles through it: a rebuild of unchanged sources (a fresh clone, CI) takes seconds
  libdnnl-dev
  libopencv-core-dev libopencv-imgproc-dev libturbojpeg0-dev libpng-dev libexif-dev
  nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev
  libcpp-httplib-dev libcurl4-openssl-dev libssl-dev libboost-dev
  libsqlite3-dev sqlite3 libzip-dev zlib1g-dev
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev
  libavdevice-dev  # live cameras: V4L2 capture devices (video/live_source.h)
  # the stream tests' RTSP server (tests/stream/rtsp_server.py): GStreamer's RTSP server from Python, ffmpeg to
  # render the bundled clips into one H.264 sequence
  ffmpeg gir1.2-gst-rtsp-server-1.0 python3-gi python3-gst-1.0 gstreamer1.0-tools gstreamer1.0-plugins-base
  gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  libgtest-dev libgmock-dev libbenchmark-dev
  libmosquitto-dev mosquitto mosquitto-clients  # the MQTT event sink; its tests run a real broker
  python3 python3-venv
  clang libclang-rt-14-dev  # libFuzzer + ASan/UBSan for scripts/fuzz.sh
  imagemagick                # CMYK/YCCK JPEG tests: ImageMagick writes them, Pillow is the reference
  chromium      # the web console's browser tests (tests/console, driven by playwright-core)
  librsvg2-bin  # rsvg-convert: the README's PNG of the accuracy report's SVG (scripts/accuracy-report.sh)
  # the Python reference that scripts/compare-reference.sh times facepipe against (facenet-pytorch)
  python3-torch python3-torchvision python3-pil python3-numpy
  # the real AWS clients the SQS endpoint tests drive (moto is not in Debian 12: its tests skip without it)
  awscli python3-boto3
)
missing=()
# Node.js + npm (only for the face-api reference tool): Debian's npm conflicts with a nodejs that
# already bundles npm (NodeSource builds), so ask for the packages only when the commands are absent.
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "facepipe setup: installing ${#missing[@]} Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "facepipe setup: all Debian packages present"
fi
