#!/usr/bin/env bash
# Deploys facepipe to AWS Lambda (deploy/aws/README.md): builds the container image (deploy/aws/Dockerfile)
# with the models and a gallery baked in, pushes it to ECR, and creates or updates the CloudFormation stack
# (deploy/aws/template.yaml): face-detection with a Function URL, <id>-req-queue, face-recognition,
# <id>-resp-queue, a dead-letter queue and, unless --no-video, the clips bucket, the people table and
# video-recognition. Prints the Function URL and the response-queue URL.
#
#   scripts/deploy-aws.sh --id 1234567890 --gallery var/gallery.db [--people people.csv]
#   scripts/deploy-aws.sh --id 1234567890 --gallery var/gallery.db --dry-run   # print the commands only
#   scripts/deploy-aws.sh --id 1234567890 --delete                             # remove everything again
#   scripts/deploy-aws.sh --id 1234567890 --outputs                            # print the stack's URLs again
set -euo pipefail
invoked_from=$PWD  # paths given on the command line are relative to where the user is, not to the checkout
cd "$(dirname "$0")/.."
root=$PWD

usage() {
  cat <<'EOF'
usage: scripts/deploy-aws.sh [options]
  --id ID             name prefix: queues ID-req-queue / ID-resp-queue, table ID-people (default: facepipe)
  --region REGION     AWS region (default: $AWS_REGION, $AWS_DEFAULT_REGION, `aws configure get region`, us-east-1)
  --stack-name NAME   CloudFormation stack (default: facepipe-ID, or facepipe for the default ID)
  --repository NAME   ECR repository (default: the stack's default name)
  --tag TAG           image tag (default: UTC time + git commit, new on every deploy so the functions update)
  --gallery PATH      gallery database to bake into the image (required unless --delete)
  --models DIR        models directory (default: $FACEPIPE_MODELS or ../shared/models)
  --people CSV        people's records (header with a 'name' column) to put into the DynamoDB table, read as
                      `facepipe people import` reads them (quoted cells; numbers stay numbers)
  --no-video          leave out the video variant (clips bucket, people table, video-recognition)
  --grading-user      also create the course's read-only grading IAM user (cse546-AutoGrader)
  --param KEY=VALUE   any other template parameter, e.g. --param DetectionMemorySize=2048 (repeatable)
  --profile NAME      AWS CLI profile (default: $AWS_PROFILE, else the CLI's default)
  --dry-run           print every command ("+ ..."), run none; needs neither AWS credentials nor docker
                      (the gallery, models and --people are checked as for a real deploy)
  --delete            delete the stack (emptying the clips bucket first) and the ECR repository; asks you to
                      type the stack name unless --yes
  --yes               do not ask before --delete
  --outputs           print the deployed stack's Function URL, response-queue URL and clips bucket again
  -h, --help          this help
EOF
}

die() {
  echo "deploy-aws.sh: $*" >&2
  exit 1
}

id=facepipe region="" stack="" repo="" tag="" gallery="" models="${FACEPIPE_MODELS:-../shared/models}"
people="" video=true grading=false dry_run=false delete=false yes=false outputs_only=false profile=""
models_given=false
extra_params=()
need_value() { if [ $# -lt 2 ] || [ -z "$2" ]; then die "option $1 needs a value (see --help)"; fi; }
while [ $# -gt 0 ]; do
  case "$1" in
    --id) need_value "$@"; id=$2; shift 2 ;;
    --region) need_value "$@"; region=$2; shift 2 ;;
    --stack-name) need_value "$@"; stack=$2; shift 2 ;;
    --repository) need_value "$@"; repo=$2; shift 2 ;;
    --tag) need_value "$@"; tag=$2; shift 2 ;;
    --gallery) need_value "$@"; gallery=$2; shift 2 ;;
    --models) need_value "$@"; models=$2; models_given=true; shift 2 ;;
    --profile) need_value "$@"; profile=$2; shift 2 ;;
    --people) need_value "$@"; people=$2; shift 2 ;;
    --param) need_value "$@"; [[ $2 == *=* ]] || die "--param takes KEY=VALUE, got '$2'"; extra_params+=("$2"); shift 2 ;;
    --no-video) video=false; shift ;;
    --grading-user) grading=true; shift ;;
    --dry-run) dry_run=true; shift ;;
    --delete) delete=true; shift ;;
    --yes) yes=true; shift ;;
    --outputs) outputs_only=true; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option '$1'" ;;
  esac
done

# Relative paths from the command line (or $FACEPIPE_MODELS) are the user's; the default models directory is
# the checkout's ../shared/models.
from_caller() { case $1 in /*) printf '%s' "$1" ;; *) printf '%s' "$invoked_from/$1" ;; esac; }
[ -z "$gallery" ] || gallery=$(from_caller "$gallery")
[ -z "$people" ] || people=$(from_caller "$people")
if $models_given || [ -n "${FACEPIPE_MODELS:-}" ]; then models=$(from_caller "$models"); fi
if [ -n "$profile" ]; then export AWS_PROFILE=$profile; fi

[[ $id =~ ^[a-z0-9][a-z0-9-]{0,24}$ ]] ||
  die "--id '$id': use 1-25 lower-case letters, digits or '-' (it names the queues, the table and the bucket)"
default_name=facepipe-$id
[ "$id" = facepipe ] && default_name=facepipe
stack=${stack:-$default_name}
repo=${repo:-$default_name}
if [ -z "$region" ]; then
  region=${AWS_REGION:-${AWS_DEFAULT_REGION:-}}
  if [ -z "$region" ] && ! $dry_run && command -v aws >/dev/null 2>&1; then
    region=$(aws configure get region 2>/dev/null || true)
  fi
  region=${region:-us-east-1}
fi
template=deploy/aws/template.yaml
dockerfile=deploy/aws/Dockerfile
context=deploy/aws/context
local_image=facepipe-lambda

# ---- printing and running commands: every command is shown as "+ cmd args" (quoted where needed, like
# `set -x`); with --dry-run that is all that happens.
quote() {
  local out="" a
  for a in "$@"; do
    if [[ $a =~ ^[A-Za-z0-9_@%+=:,./-]+$ ]]; then out+="$a "; else out+="'${a//\'/\'\\\'\'}' "; fi
  done
  printf '%s' "${out% }"
}
# fd 3: where the "+ cmd" lines go (stdout in a dry run, also from inside $(...); stderr otherwise).
if $dry_run; then exec 3>&1; else exec 3>&2; fi
show() { echo "+ $*" >&3; }
run() {  # run CMD ARGS...
  show "$(quote "$@")"
  $dry_run || "$@"
}
run_quiet() {  # run_quiet CMD ARGS...: as run, without the command's stdout
  show "$(quote "$@")"
  $dry_run || "$@" >/dev/null
}
capture() {  # capture CMD ARGS...: prints the command's stdout (nothing in a dry run)
  show "$(quote "$@")"
  $dry_run || "$@"
}
step() { echo "== $*" >&2; }

stack_output() {  # stack_output KEY
  capture aws cloudformation describe-stacks --region "$region" --stack-name "$stack" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}

# ---- tools and credentials
account=ACCOUNT_ID
if $dry_run; then
  echo "# dry run: nothing is executed; ACCOUNT_ID stands for your AWS account id"
  [ -z "${AWS_PROFILE:-}" ] || echo "# AWS profile: $AWS_PROFILE"
else
  command -v aws >/dev/null 2>&1 ||
    die "aws CLI not found: install awscli (apt-get install awscli, or https://aws.amazon.com/cli/) and run aws configure"
  if ! $delete && ! $outputs_only; then
    command -v docker >/dev/null 2>&1 || die "docker not found: install docker (apt-get install docker.io)"
    docker info >/dev/null 2>&1 ||
      die "the Docker daemon is not reachable: start it (sudo systemctl start docker) or add yourself to the docker group"
  fi
  account=$(aws sts get-caller-identity --region "$region" --query Account --output text 2>/dev/null) ||
    die "no AWS credentials: run aws configure (or set AWS_PROFILE / AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
fi
registry=$account.dkr.ecr.$region.amazonaws.com
echo "deploy-aws.sh: stack $stack, region $region, account $account, repository $repo${AWS_PROFILE:+, profile $AWS_PROFILE}" >&2

print_outputs() {
  local url resp bucket
  url=$(stack_output FunctionUrl)
  resp=$(stack_output ResponseQueueUrl)
  if $dry_run; then
    url="https://<url-id>.lambda-url.$region.on.aws/"
    resp="https://sqs.$region.amazonaws.com/$account/$id-resp-queue"
  fi
  echo "Function URL:       $url"
  echo "Response queue URL: $resp"
  if $video; then
    bucket=$(stack_output ClipsBucket)
    $dry_run && bucket="$id-clips-$account-$region"
    if [ -n "$bucket" ] && [ "$bucket" != None ]; then echo "Clips bucket:       s3://$bucket (upload <request-id>.mp4)"; fi
  fi
  return 0
}

if $outputs_only; then
  $dry_run || aws cloudformation describe-stacks --region "$region" --stack-name "$stack" >/dev/null 2>&1 ||
    die "no stack $stack in $region: deploy it first, or pass the --id / --stack-name / --region it was deployed with"
  print_outputs
  exit 0
fi

# ---- the cleanup path
if $delete; then
  if ! $dry_run && ! $yes; then
    echo "deploy-aws.sh: this deletes stack $stack (its queues, functions, clips bucket and people table) and" \
      "repository $repo in $region. Type the stack name to confirm (or pass --yes):" >&2
    answer=""
    read -r answer || true
    [ "$answer" = "$stack" ] || die "not confirmed ('$answer' is not '$stack'): nothing was deleted"
  fi
  step "1/3 empty the clips bucket (CloudFormation cannot delete a bucket that holds objects)"
  bucket=$(stack_output ClipsBucket 2>/dev/null || true)
  if $dry_run; then bucket="$id-clips-$account-$region"; fi
  if [ -n "$bucket" ] && [ "$bucket" != None ]; then run aws s3 rm "s3://$bucket" --recursive --region "$region"; fi
  step "2/3 delete the stack $stack"
  run aws cloudformation delete-stack --region "$region" --stack-name "$stack"
  run aws cloudformation wait stack-delete-complete --region "$region" --stack-name "$stack" ||
    die "the stack did not delete cleanly: see aws cloudformation describe-stack-events --stack-name $stack --region $region"
  step "3/3 delete the ECR repository $repo and its images"
  show "$(quote aws ecr delete-repository --region "$region" --repository-name "$repo" --force)"
  if ! $dry_run; then
    aws ecr delete-repository --region "$region" --repository-name "$repo" --force >/dev/null 2>&1 ||
      echo "deploy-aws.sh: no ECR repository $repo to delete" >&2
  fi
  if $dry_run; then
    echo "# dry run: would delete stack $stack and repository $repo (nothing was deleted)"
  else
    echo "deploy-aws.sh: deleted stack $stack and repository $repo"
  fi
  exit 0
fi

# ---- inputs
[ -n "$gallery" ] || die "--gallery PATH is required: the gallery database to bake into the image (make one with \`facepipe enroll --gallery PATH ...\` or \`facepipe gallery import\`)"
[ -f "$gallery" ] || die "gallery '$gallery' not found"
if [ -n "$people" ]; then
  [ -f "$people" ] || die "people CSV '$people' not found"
  $video || die "--people loads the video variant's DynamoDB table: drop --no-video"
fi
required_models=(mtcnn/pnet.pt mtcnn/rnet.pt mtcnn/onet.pt
                 faceapi/face_recognition_model-weights_manifest.json faceapi/face_recognition_model.bin)
vggface2=inception_resnet_v1/20180402-114759-vggface2.pt
for f in "${required_models[@]}"; do
  if [ ! -s "$models/$f" ]; then
    if $dry_run; then echo "# warning: $models/$f is missing (run scripts/models.sh or pass --models DIR)"; else
      die "model file $models/$f is missing: run scripts/models.sh or pass --models DIR"
    fi
  fi
done


# The gallery checks a real deploy depends on, made in a dry run too: a SQLite file, made by an embedder whose
# weights go into the image.
[ "$(head -c 15 "$gallery" 2>/dev/null)" = "SQLite format 3" ] ||
  die "'$gallery' is not a facepipe gallery database (make one with \`facepipe enroll --gallery PATH ...\`)"
if command -v sqlite3 >/dev/null 2>&1; then
  embedder=$(sqlite3 -readonly "$gallery" "SELECT value FROM meta WHERE key='embedder_id'" 2>/dev/null) ||
    die "'$gallery' is not a facepipe gallery database (make one with \`facepipe enroll --gallery PATH ...\`)"
  case "$embedder" in
    "") die "gallery '$gallery' names no embedder: enroll people into it first (facepipe enroll)" ;;
    irv1-random*) die "gallery '$gallery' holds embeddings of the random-weight test network: enroll with the real embedder" ;;
    irv1-*) [ -s "$models/$vggface2" ] ||
      die "gallery '$gallery' was made with InceptionResnetV1/VGGFace2 ($embedder) but $models/$vggface2 is missing: run scripts/models.sh or pass --models DIR" ;;
  esac
else
  echo "deploy-aws.sh: warning: sqlite3 not found: the gallery's embedder is not checked (apt-get install sqlite3)" >&2
fi

# --people through facepipe's own CSV reader (quoted cells, numbers stay numbers), before anything is built.
people_items=()
if [ -n "$people" ]; then
  facepipe_bin=${FACEPIPE_BIN:-$root/build/facepipe}
  [ -x "$facepipe_bin" ] || facepipe_bin=$(command -v facepipe || true)
  [ -n "$facepipe_bin" ] ||
    die "--people needs the facepipe binary to read the CSV: build it (scripts/build.sh) or set FACEPIPE_BIN"
  items=$("$facepipe_bin" people to-dynamodb "$people") || die "people CSV '$people' cannot be read (see above)"
  while IFS= read -r item; do [ -z "$item" ] || people_items+=("$item"); done <<<"$items"
fi

if [ -z "$tag" ]; then
  tag=$(date -u +%Y%m%d%H%M%S)
  if sha=$(git rev-parse --short HEAD 2>/dev/null); then tag+="-$sha"; fi
fi
image_uri=$registry/$repo:$tag

# ---- 1. build context: the models (laid out as scripts/models.sh does) and the gallery
step "1/6 stage the build context in $context (models + gallery)"
run rm -rf "$context"
run mkdir -p "$context/models/mtcnn" "$context/models/faceapi"
run cp "$models/mtcnn/pnet.pt" "$models/mtcnn/rnet.pt" "$models/mtcnn/onet.pt" "$context/models/mtcnn/"
run cp "$models/faceapi/face_recognition_model-weights_manifest.json" "$models/faceapi/face_recognition_model.bin" \
  "$context/models/faceapi/"
if [ -s "$models/$vggface2" ]; then
  run mkdir -p "$context/models/inception_resnet_v1"
  run cp "$models/$vggface2" "$context/models/$vggface2"
fi
if command -v sqlite3 >/dev/null 2>&1; then
  # A consistent single-file copy (a live gallery may have its latest writes in gallery.db-wal), in rollback
  # journal mode: the function opens it read-only on a read-only file system.
  run sqlite3 "$gallery" ".backup \"$context/gallery.db\""
  run_quiet sqlite3 "$context/gallery.db" "PRAGMA journal_mode=DELETE;"
else
  [ -e "$gallery-wal" ] && echo "deploy-aws.sh: warning: $gallery-wal exists; install sqlite3 for a consistent copy" >&2
  run cp "$gallery" "$context/gallery.db"
fi

# ---- 2. ECR repository (outside the stack: the image must exist before the functions are created)
step "2/6 ECR repository $repo"
show "$(quote aws ecr describe-repositories --region "$region" --repository-names "$repo") || $(quote aws ecr create-repository --region "$region" --repository-name "$repo" --image-scanning-configuration scanOnPush=true)"
if ! $dry_run; then
  aws ecr describe-repositories --region "$region" --repository-names "$repo" >/dev/null 2>&1 ||
    aws ecr create-repository --region "$region" --repository-name "$repo" \
      --image-scanning-configuration scanOnPush=true >/dev/null
fi
# Every deploy pushes a new tag; keep the last 3 images so ECR storage (billed per GB-month) stays bounded.
lifecycle='{"rules":[{"rulePriority":1,"description":"keep the last 3 images","selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":3},"action":{"type":"expire"}}]}'
run_quiet aws ecr put-lifecycle-policy --region "$region" --repository-name "$repo" --lifecycle-policy-text "$lifecycle"

# ---- 3. docker login, 4. build, tag and push
step "3/6 docker login to $registry"
show "$(quote aws ecr get-login-password --region "$region") | $(quote docker login --username AWS --password-stdin "$registry")"
if ! $dry_run; then
  aws ecr get-login-password --region "$region" | docker login --username AWS --password-stdin "$registry" >/dev/null
fi

step "4/6 docker build ($dockerfile; the first build compiles facepipe, several minutes)"
build_flags=(--platform linux/amd64)
# BuildKit (docker >= 23 or buildx) adds provenance attestations, making a manifest list that Lambda refuses.
if $dry_run || docker buildx version >/dev/null 2>&1; then build_flags+=(--provenance=false); fi
show "DOCKER_BUILDKIT=1 $(quote docker build "${build_flags[@]}" -f "$dockerfile" -t "$local_image:$tag" .)"
$dry_run || DOCKER_BUILDKIT=1 docker build "${build_flags[@]}" -f "$dockerfile" -t "$local_image:$tag" .
run docker tag "$local_image:$tag" "$image_uri"
run docker push "$image_uri"

# ---- 5. the stack
step "5/6 CloudFormation stack $stack"
status=$(capture aws cloudformation describe-stacks --region "$region" --stack-name "$stack" \
  --query "Stacks[0].StackStatus" --output text 2>/dev/null || true)
if [ "$status" = ROLLBACK_COMPLETE ]; then
  die "stack $stack is in ROLLBACK_COMPLETE (its first creation failed) and cannot be updated: see why with
  aws cloudformation describe-stack-events --stack-name $stack --region $region
then remove it with scripts/deploy-aws.sh --id $id --region $region --stack-name $stack --delete, and deploy again"
fi
params=("Id=$id" "ImageUri=$image_uri" "EnableVideo=$video" "CreateGradingUser=$grading" "${extra_params[@]}")
run aws cloudformation deploy --region "$region" --stack-name "$stack" --template-file "$template" \
  --capabilities CAPABILITY_NAMED_IAM --no-fail-on-empty-changeset --parameter-overrides "${params[@]}" ||
  die "the stack deploy failed: see aws cloudformation describe-stack-events --stack-name $stack --region $region"

# ---- 6. people's records, then what the client needs
if [ -n "$people" ]; then
  step "6/6 people's records into DynamoDB"
  table=$(stack_output PeopleTable)
  $dry_run && table="$id-people"
  for item in "${people_items[@]}"; do
    run_quiet aws dynamodb put-item --region "$region" --table-name "$table" --item "$item"
  done
else
  $video && step "6/6 (no --people: the people table starts empty; see deploy/aws/README.md to fill it)"
fi

print_outputs
