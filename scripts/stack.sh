#!/usr/bin/env bash
# The container targets of the Makefile (make build / up / push), in plain sh + Docker so
# they work on a machine that has nothing else. scripts/smoke.py reuses `build`.
#
#   scripts/stack.sh build   build wadah-api and wadah-worker, print sizes, enforce the budget
#   scripts/stack.sh up      .env if missing, MySQL if missing, build, start, wait for /readyz
#   scripts/stack.sh push    tag both images for REGISTRY/IMAGE_PREFIX with a git tag, push
#
# Honours DOCKER_HOST like every docker command, WADAH_TAG (local image tag, default
# latest) and COMPOSE (default "docker compose").
set -euo pipefail
cd "$(dirname "$0")/.."

COMPOSE=${COMPOSE:-docker compose}
TAG=${WADAH_TAG:-latest}
SERVICES=(api worker)
# What an image may add on top of its base image (issue: containers).
MAX_ADDED_MB=${MAX_ADDED_MB:-120}
READY_TIMEOUT_SECONDS=${READY_TIMEOUT_SECONDS:-180}

die() { echo "error: $*" >&2; exit 1; }
say() { printf '==> %s\n' "$*"; }
random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1e6 }'; }

# A setting as compose sees it: the environment wins over .env, then the default.
setting() {
  local name=$1 default=$2 value
  value=${!name:-}
  if [ -z "$value" ] && [ -f .env ]; then
    value=$(sed -n "s/^${name}=//p" .env | tail -n 1)
    value=${value%\"}; value=${value#\"}
  fi
  printf '%s' "${value:-$default}"
}

ensure_env() {
  [ -f .env ] && return
  umask 077
  sed -e "s/^JWT_SECRET=\$/JWT_SECRET=$(random_hex 32)/" \
      -e "s/^MYSQL_ROOT_PASSWORD=\$/MYSQL_ROOT_PASSWORD=$(random_hex 16)/" \
      -e "s/^DB_PASS=\$/DB_PASS=$(random_hex 16)/" .env.example >.env
  say "created .env from .env.example with fresh random secrets (keep it; it is git-ignored)"
}

base_image() {  # the runtime stage's base: the last FROM of the Dockerfile
  awk 'toupper($1) == "FROM" { base = $2 } END { print base }' "$1"
}

build() {
  local svc
  for svc in "${SERVICES[@]}"; do
    say "building wadah-$svc:$TAG"
    docker build -f "services/$svc/Dockerfile" -t "wadah-$svc:$TAG" .
  done
  sizes
}

sizes() {
  local svc base image_bytes base_bytes added over=0
  for svc in "${SERVICES[@]}"; do
    base=$(base_image "services/$svc/Dockerfile")
    image_bytes=$(docker image inspect -f '{{.Size}}' "wadah-$svc:$TAG")
    base_bytes=$(docker image inspect -f '{{.Size}}' "$base")
    added=$((image_bytes - base_bytes))
    printf 'wadah-%-7s %7s MB total = %s %s MB + %s MB added by wadah (limit %s MB)\n' \
      "$svc:" "$(mb "$image_bytes")" "$base" "$(mb "$base_bytes")" "$(mb "$added")" "$MAX_ADDED_MB"
    if [ "$added" -gt $((MAX_ADDED_MB * 1000000)) ]; then over=1; fi
  done
  [ "$over" = 0 ] || die "an image adds more than $MAX_ADDED_MB MB to its base"
}

# MySQL comes from compose.mysql.yml unless the network the stack joins already exists
# and belongs to someone else's MySQL. The network of project P is P_default, so the
# project name follows from MYSQL_NETWORK (mysql_default -> project mysql).
ensure_mysql() {
  local network project
  network=$(setting MYSQL_NETWORK mysql_default)
  project=${network%_default}
  if docker network inspect "$network" >/dev/null 2>&1 &&
     [ -z "$($COMPOSE -p "$project" -f compose.mysql.yml ps -aq db 2>/dev/null)" ]; then
    say "using the MySQL already on network $network"
    return
  fi
  [ "$project" != "$network" ] || die "network $network does not exist and is not a compose project's <name>_default"
  say "starting MySQL (compose project $project, network $network)"
  $COMPOSE -p "$project" -f compose.mysql.yml up -d --wait
}

# /readyz through the published port when curl is there, else from inside the container.
ready() {
  local publish=$1
  if command -v curl >/dev/null; then
    curl -fsS -o /dev/null --max-time 3 "http://$publish/readyz"
  else
    $COMPOSE exec -T api python -c \
      "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=3)"
  fi
}

up() {
  local publish host port deadline
  docker info >/dev/null 2>&1 || die "no Docker engine answers (DOCKER_HOST=${DOCKER_HOST:-default})"
  ensure_env
  ensure_mysql
  build
  say "starting the stack"
  $COMPOSE up -d --no-build --remove-orphans
  publish=$(setting API_PUBLISH 8000)
  port=${publish##*:}
  host=${publish%"$port"}; host=${host%:}
  case "$host" in ""|0.0.0.0|"[::]") host=localhost ;; esac
  deadline=$((SECONDS + READY_TIMEOUT_SECONDS))
  until ready "$host:$port" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      $COMPOSE ps -a
      $COMPOSE logs --no-color --tail 50 migrate api worker
      die "the API did not become ready within ${READY_TIMEOUT_SECONDS}s"
    fi
    sleep 2
  done
  $COMPOSE ps
  say "wadah is up: http://$host:$port  (API docs: http://$host:$port/schema; make logs, make down)"
}

push() {
  local registry prefix tag svc target
  registry=${REGISTRY:-docker.io}
  prefix=${IMAGE_PREFIX:-}
  [ -n "$prefix" ] || die "set IMAGE_PREFIX to your Docker Hub user or organisation: make push IMAGE_PREFIX=you"
  tag=$(git describe --always --dirty)
  build
  for svc in "${SERVICES[@]}"; do
    target="$registry/$prefix/wadah-$svc:$tag"
    docker tag "wadah-$svc:$TAG" "$target"
    say "pushing $target"
    docker push "$target"
  done
  # One line per image, for scripts (scripts/smoke.py pulls these back).
  for svc in "${SERVICES[@]}"; do
    echo "pushed wadah-$svc: $registry/$prefix/wadah-$svc:$tag"
  done
}

case "${1:-}" in
  build | sizes | up | push) "$1" ;;
  *) die "usage: $0 build|sizes|up|push" ;;
esac
