#!/usr/bin/env bash
# `cargo xtask deploy-test`: deploy/compose.yaml brought up for real and used like a user would.
#
# Needs STOWAGE_BIN (a release `stowage` built on this machine) and GARAGE_BIN (the Garage the
# test tooling installs); xtask passes both. Installs and starts a Docker engine when none runs,
# builds the Debian base image and local stand-ins for the images the compose file names
# (postgres, dxflrs/garage: nothing can be pulled here), builds the stowage image, then:
#   up → namespace and key through `docker compose exec` → `stowage upload` from the host through
#   the published port → download and compare → `docker kill` the API and start it again (the
#   object is still there) → kill the worker while it hashes a large upload (the task is
#   re-delivered and finishes exactly once) → `down -v`, also on failure (EXIT trap).
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${STOWAGE_BIN:?set STOWAGE_BIN to a release stowage binary}" "${GARAGE_BIN:?set GARAGE_BIN to a garage binary}"
. deploy/test/engine.sh

export COMPOSE_PROJECT_NAME=stowage-deploy-test
export STOWAGE_IMAGE=stowage:deploy-test
COMPOSE=(docker-compose -f deploy/compose.yaml -f deploy/test/compose.test.yaml)
LOGS=target/deploy-test
WORK=$(mktemp -d)
UP=""

cleanup() {
  local status=$?
  set +e
  if [ -n "$UP" ]; then
    if [ "$status" -ne 0 ]; then
      "${COMPOSE[@]}" logs --no-color --tail=100 >"$LOGS/compose.log" 2>&1
      echo "deploy-test: FAILED; the services' logs are in $LOGS/compose.log" >&2
    fi
    "${COMPOSE[@]}" down -v -t 1 >/dev/null 2>&1
  fi
  # Images this run replaced (the previous stowage:deploy-test, ...) would pile up in the cache.
  docker image prune -f >/dev/null 2>&1
  engine_stop
  rm -rf "$WORK" deploy/.bin
  exit "$status"
}
trap cleanup EXIT

step() { echo "deploy-test: $*" >&2; }
fail() { echo "deploy-test: FAIL: $*" >&2; exit 1; }
# json FIELD-EXPR < json  → prints d<FIELD-EXPR> (e.g. '["task_id"]')
json() { python3 -c 'import json,sys; v=eval("json.load(sys.stdin)"+sys.argv[1]); print(v if not isinstance(v,(dict,list)) else json.dumps(v))' "$1"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
container() { "${COMPOSE[@]}" ps -q "$1"; }
wait_healthy() {
  local id
  for _ in $(seq 1 120); do
    id=$(container "$1")
    if [ -n "$id" ] && [ "$(docker inspect -f '{{.State.Health.Status}}' "$id" 2>/dev/null)" = healthy ]; then return; fi
    sleep 0.5
  done
  fail "$1 is not healthy after 60 s"
}
api() { # METHOD PATH [JSON BODY]
  curl -sS --fail-with-body -X "$1" -H "Authorization: Bearer $STOWAGE_API_KEY" -H 'Content-Type: application/json' \
    ${3:+--data "$3"} "$STOWAGE_URL$2"
}

mkdir -p "$LOGS"
engine_install
engine_start
base_image

step "building the stand-ins for postgres:17 and dxflrs/garage:v2.5.0"
DOCKER_BUILDKIT=1 "$DOCKER" build -q -t postgres:17 deploy/test/standins/postgres >/dev/null
mkdir -p "$WORK/garage"
cp "$GARAGE_BIN" "$WORK/garage/garage"
DOCKER_BUILDKIT=1 "$DOCKER" build -q -t dxflrs/garage:v2.5.0 -f deploy/test/standins/garage/Dockerfile "$WORK/garage" >/dev/null

step "building the stowage image (deploy/Dockerfile, prebuilt binary)"
mkdir -p deploy/.bin
cp "$STOWAGE_BIN" deploy/.bin/stowage
DOCKER_BUILDKIT=1 "$DOCKER" build -q -f deploy/Dockerfile --build-arg STOWAGE_BINARY=prebuilt -t "$STOWAGE_IMAGE" . >/dev/null
size=$(docker image inspect -f '{{.Size}}' "$STOWAGE_IMAGE")
user=$(docker image inspect -f '{{.Config.User}}' "$STOWAGE_IMAGE")
step "image $STOWAGE_IMAGE: $((size / 1000000)) MB, user $user"
[ "$user" = "10001:10001" ] || fail "the image runs as '$user', not the non-root stowage user"
tools=$(docker run --rm --entrypoint sh "$STOWAGE_IMAGE" -c 'for t in cc gcc ld cargo rustc make curl; do command -v $t; done; true')
[ -z "$tools" ] || fail "build tools in the runtime image: $tools"

export STOWAGE_PORT GARAGE_PORT
STOWAGE_PORT=$(free_port)
GARAGE_PORT=$(free_port)
export STOWAGE_URL="http://127.0.0.1:$STOWAGE_PORT"
step "compose up (API on $STOWAGE_URL, Garage on 127.0.0.1:$GARAGE_PORT)"
UP=1
"${COMPOSE[@]}" up -d --no-build
wait_healthy api
[ "$(docker inspect -f '{{.State.ExitCode}}' "$(container migrate)")" = 0 ] || fail "the migrate one-shot did not exit 0"

step "a namespace and a write key through the API container's CLI"
"${COMPOSE[@]}" exec -T api stowage namespaces create demo >/dev/null
STOWAGE_API_KEY=$("${COMPOSE[@]}" exec -T api stowage keys create --namespace demo --role write | tr -d '\r' | grep -o 'sk_[A-Za-z0-9_-]*' | head -1)
[ -n "$STOWAGE_API_KEY" ] || fail "no key printed by stowage keys create"
export STOWAGE_API_KEY

step "stowage upload from the host, then download through a presigned URL"
"$STOWAGE_BIN" buckets create deploy >/dev/null
head -c 3000000 /dev/urandom >"$WORK/small.bin"
out=$("$STOWAGE_BIN" upload "$WORK/small.bin" --bucket deploy)
echo "  $out" >&2
object=$(grep -oE 'obj_[A-Za-z0-9_-]+' <<<"$out" | head -1)
[ -n "$object" ] || fail "stowage upload printed no object id: $out"
want=$(sha256sum "$WORK/small.bin" | cut -d' ' -f1)
check_object() {
  local got url
  got=$(api GET "/v1/buckets/deploy/objects/$object?return_presigned_urls=true")
  [ "$(json '["blobs"][0]["details"]["hash"]' <<<"$got")" = "$want" ] || fail "object $object has another hash: $got"
  url=$(json '["blobs"][0]["presigned_url"]' <<<"$got")
  [ "$(curl -sS --fail "$url" | sha256sum | cut -d' ' -f1)" = "$want" ] || fail "the download differs from the upload"
}
check_object

step "docker kill the API container, start it again: the object is still there"
docker kill "$(container api)" >/dev/null
"${COMPOSE[@]}" up -d --no-build api
wait_healthy api
check_object

step "kill the worker while it hashes a large upload: the task finishes exactly once"
head -c $((384 << 20)) /dev/urandom >"$WORK/large.bin"
big_want=$(sha256sum "$WORK/large.bin" | cut -d' ' -f1)
created=$(api POST /v1/buckets/deploy/uploads '{"filename":"large.bin","content_type":"application/octet-stream"}')
upload=$(json '["upload_id"]' <<<"$created")
curl -sS --fail -X PUT -H 'Content-Type: application/octet-stream' --upload-file "$WORK/large.bin" "$(json '["presigned_url"]' <<<"$created")" >/dev/null
task=$(json '["task_id"]' <<<"$(api POST "/v1/buckets/deploy/uploads/$upload/confirm?async=true")")
for i in $(seq 1 200); do
  [ "$(json '["status"]' <<<"$(api GET "/v1/tasks/$task")")" = IN_PROGRESS ] && break
  [ "$i" = 200 ] && fail "no worker claimed task $task in 20 s"
  sleep 0.1
done
docker kill "$(container worker)" >/dev/null
state=$(api GET "/v1/tasks/$task")
[ "$(json '["status"]' <<<"$state")" = IN_PROGRESS ] || fail "the task was no longer running when its worker died: $state"
"${COMPOSE[@]}" up -d --no-build worker
done_task=$(api GET "/v1/tasks/$task?wait_seconds=20")
for _ in $(seq 1 10); do
  [ "$(json '["status"]' <<<"$done_task")" = COMPLETED ] && break
  done_task=$(api GET "/v1/tasks/$task?wait_seconds=20")
done
[ "$(json '["status"]' <<<"$done_task")" = COMPLETED ] || fail "task $task did not complete: $done_task"
[ "$(json '["attempts"]' <<<"$done_task")" = 2 ] || fail "task $task was not delivered exactly twice: $done_task"
got=$(api GET "/v1/buckets/deploy/uploads/$upload")
[ "$(json '["status"]' <<<"$got")" = COMPLETED ] || fail "upload $upload is not COMPLETED: $got"
[ "$(json '["file_hash"]' <<<"$got")" = "$big_want" ] || fail "upload $upload has another hash: $got"
[ "$(json '["object_count"]' <<<"$(api GET /v1/buckets/deploy)")" = 2 ] || fail "the bucket does not hold exactly 2 objects"

step "compose down -v"
"${COMPOSE[@]}" down -v -t 1 >/dev/null 2>&1
UP=""
step "passed (image $((size / 1000000)) MB)"
