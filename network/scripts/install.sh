#!/usr/bin/env bash
# Installs everything trainproof runs on, once per machine: Fabric and MinIO built from the
# Go module proxy at pinned versions, Redis from Debian, and the Python environment.
# Each step is skipped when its cached result already exists.
source "$(dirname "$0")/env.sh"
mkdir -p "$TRAINPROOF_CACHE"

install_fabric() {
  local tools=(peer orderer configtxgen cryptogen osnadmin) missing=()
  for t in "${tools[@]}"; do [ -x "$BIN_DIR/$t" ] || missing+=("$t"); done
  [ ${#missing[@]} -eq 0 ] && return
  log "building Fabric ${missing[*]} at $FABRIC_COMMIT (about 2 minutes)"
  for t in "${missing[@]}"; do
    GOBIN="$BIN_DIR.tmp" GOFLAGS=-mod=mod go install "github.com/hyperledger/fabric/cmd/$t@$FABRIC_COMMIT"
  done
  mkdir -p "$BIN_DIR" && mv "$BIN_DIR.tmp"/* "$BIN_DIR"/ && rmdir "$BIN_DIR.tmp"
}

install_minio() {
  [ -x "$MINIO_BIN_DIR/minio" ] && return
  log "building MinIO $MINIO_VERSION (a few minutes)"
  GOBIN="$MINIO_BIN_DIR.tmp" go install "github.com/minio/minio@$MINIO_VERSION"
  mkdir -p "$MINIO_BIN_DIR" && mv "$MINIO_BIN_DIR.tmp/minio" "$MINIO_BIN_DIR/" && rmdir "$MINIO_BIN_DIR.tmp"
}

install_redis() {
  command -v redis-server >/dev/null && return
  log "installing redis-server from Debian"
  command -v apt-get >/dev/null || die "redis-server is missing and apt-get is not available: install Redis 7+ yourself"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  # Debian's package starts a system service on 6379; trainproof runs its own on another port.
}

write_script() {
  printf '#!%s\nimport sys\n%s\nsys.exit(main())\n' "$VENV/bin/python" "$2" > "$VENV/bin/$1"
  chmod +x "$VENV/bin/$1"
}

install_python() {
  if [ ! -f "$VENV_DEPS/.complete" ]; then
    log "creating the Python environment in $VENV_DEPS (torch is large; once per machine)"
    rm -rf "$VENV_DEPS"
    python3 -m venv "$VENV_DEPS"
    "$VENV_DEPS/bin/pip" install -q --upgrade pip
    "$VENV_DEPS/bin/pip" install -q -r "$REPO_ROOT/requirements.txt"
    touch "$VENV_DEPS/.complete"
  fi
  # A light per-clone venv: sees the cached packages and this checkout's code, installs nothing.
  [ -f "$VENV/.deps" ] && [ "$(cat "$VENV/.deps")" = "$VENV_DEPS" ] && return
  rm -rf "$VENV"
  "$VENV_DEPS/bin/python" -m venv --without-pip "$VENV"
  local site deps_site
  site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  deps_site=$("$VENV_DEPS/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  printf "import site; site.addsitedir('%s')\n%s\n%s\n" "$deps_site" "$REPO_ROOT/clients" "$REPO_ROOT" \
    > "$site/trainproof.pth"
  # Console scripts bound to this venv's python, so they see this checkout.
  write_script trainproof "from trainproof.cli.main import main"
  write_script celery "from celery.__main__ import main"
  write_script pytest "from pytest import main"
  echo "$VENV_DEPS" > "$VENV/.deps"
}

case "${1:-all}" in
  fabric) install_fabric ;;
  minio) install_minio ;;
  redis) install_redis ;;
  python) install_python ;;
  all) install_fabric; install_minio; install_redis; install_python ;;
  *) die "usage: install.sh [fabric|minio|redis|python|all]" ;;
esac
