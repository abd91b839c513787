#!/usr/bin/env bash
# Installs everything trainproof runs on, once per machine: Fabric 3.1.5 built from its pinned
# source archive (network/fabric/build.sh), MinIO built from the Go module proxy at a pinned
# version, Redis from Debian, and the Python environment.
# Each step is skipped when its cached result already exists.
source "$(dirname "$0")/env.sh"
mkdir -p "$TRAINPROOF_CACHE"
# One install at a time per machine (CI, make demo and make test may overlap).
exec 9>"$TRAINPROOF_CACHE/install.lock"
flock 9

install_fabric() {
  # Skips itself when $BIN_DIR already has peer, orderer, configtxgen, cryptogen and osnadmin.
  "$REPO_ROOT/network/fabric/build.sh"
}

install_minio() {
  "$MINIO_BIN_DIR/minio" --version >/dev/null 2>&1 && return
  command -v go >/dev/null || die "Go is needed to build MinIO: install Go 1.24+ (https://go.dev/dl), or put a minio binary at $MINIO_BIN_DIR/minio"
  log "building MinIO $MINIO_VERSION from the Go module proxy (a few minutes)"
  # A private build directory: a failed or concurrent build never leaves a half-written binary in place.
  local build
  build=$(mktemp -d "$TRAINPROOF_CACHE/minio-build.XXXXXX")
  if ! GOBIN="$build" go install "github.com/minio/minio@$MINIO_VERSION" || ! "$build/minio" --version >/dev/null; then
    rm -rf "$build"
    die "building MinIO $MINIO_VERSION failed (go's messages are above)"
  fi
  mkdir -p "$MINIO_BIN_DIR" && mv -f "$build/minio" "$MINIO_BIN_DIR/minio" && rmdir "$build"
}

install_redis() {
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null && return
  log "installing redis-server from Debian"
  command -v apt-get >/dev/null || die "redis-server is missing and apt-get is not available: install Redis 7+ yourself"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null \
    || die "apt-get could not install redis-server (is another apt-get running?)"
  # Debian's package may start a system service on 6379; trainproof runs its own on 17379 and leaves it be.
}

install_explorer_deps() {
  # The explorer's tests: Debian's chromium and its driver (headless browser), PostgreSQL (started
  # by the tests in a private directory; Debian's system service is left alone).
  local pg_bin
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  command -v chromium >/dev/null && command -v chromedriver >/dev/null && [ -x "$pg_bin/initdb" ] && return
  log "installing chromium, chromium-driver and postgresql from Debian"
  command -v apt-get >/dev/null || die "chromium, chromium-driver or postgresql is missing and apt-get is not available: install them yourself"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver postgresql >/dev/null \
    || die "apt-get could not install chromium, chromium-driver and postgresql (is another apt-get running?)"
}

write_script() {
  printf '#!%s\nimport sys\n%s\nsys.exit(main())\n' "$VENV/bin/python" "$2" > "$VENV/bin/$1"
  chmod +x "$VENV/bin/$1"
}

# deps_env DIR PINS: the cached environment DIR holding exactly PINS (built once per machine).
deps_env() {
  local dir=$1 pins=$2
  [ -f "$dir/.complete" ] && return
  log "creating the Python environment $dir ($(wc -l <<<"$pins") pinned packages, once per machine; with torch, minutes)"
  rm -rf "$dir"
  python3 -m venv "$dir"
  "$dir/bin/pip" install -q --upgrade pip
  "$dir/bin/pip" install -q -r /dev/stdin <<<"$pins" || die "pip could not install the pinned packages into $dir (its messages are above)"
  touch "$dir/.complete"
}

# clone_env VENV DEPS COMPONENT...: a light per-clone environment over DEPS with this checkout's
# COMPONENTs installed editable (pip sees DEPS' setuptools; nothing is downloaded).
clone_env() {
  local venv=$1 deps=$2; shift 2
  local stamp
  stamp="$deps $(cd "$REPO_ROOT" && cat pyproject.toml "${@/%//pyproject.toml}" | sha256sum | cut -c1-16)"
  [ -f "$venv/.deps" ] && [ "$(cat "$venv/.deps")" = "$stamp" ] && return
  log "installing ${*} (editable) into $venv"
  rm -rf "$venv"
  "$deps/bin/python" -m venv --without-pip "$venv"
  local site deps_site
  site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  deps_site=$("$deps/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  printf "import site; site.addsitedir('%s')\n" "$deps_site" > "$site/_trainproof_deps.pth"
  (cd "$REPO_ROOT" && PYTHONWARNINGS=ignore "$venv/bin/python" -m pip install -q --no-deps --no-build-isolation \
      --no-index ${@/#/-e ./}) || die "installing ${*} into $venv failed (pip's messages are above)"
  echo "$stamp" > "$venv/.deps"
}

install_python() {
  deps_env "$VENV_DEPS" "$(python3 "$REPO_ROOT/network/scripts/lib/requirements.py" all)"
  deps_env "$CC_VENV_DEPS" "$(python3 "$REPO_ROOT/network/scripts/lib/requirements.py" chaincode)"
  # Order matters for nothing at run time; it is the dependency order, for a reader.
  clone_env "$VENV" "$VENV_DEPS" chaincode storage ml clients verifier
  clone_env "$CC_VENV" "$CC_VENV_DEPS" chaincode
  # The tools the deps environment holds, bound to this clone's environment.
  write_script celery "from celery.__main__ import main"
  write_script pytest "from pytest import main"
}

case "${1:-all}" in
  fabric) install_fabric ;;
  minio) install_minio ;;
  redis) install_redis ;;
  python) install_python ;;
  explorer) install_explorer_deps ;;
  all) install_fabric; install_minio; install_redis; install_explorer_deps; install_python ;;
  *) die "usage: install.sh [fabric|minio|redis|explorer|python|all]" ;;
esac
