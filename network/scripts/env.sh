#!/usr/bin/env bash
# Shared paths and pinned versions; sourced by every network script.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export REPO_ROOT
export TRAINPROOF_HOME="${TRAINPROOF_HOME:-$REPO_ROOT/.network}"
export TRAINPROOF_CACHE="${TRAINPROOF_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/trainproof}"
# Fabric v3.1.5, built from its source archive by network/fabric/build.sh (pinned by SHA-256:
# the `git archive --prefix=fabric-3.1.5/` of tag v3.1.5, with its vendor/ tree).
export FABRIC_VERSION=3.1.5
export FABRIC_COMMIT=86c1172bec37e6590c6b1ae6f847833df48d65fc
export FABRIC_SOURCE_SHA256=b5c70d9b438587c7f069171c356d82f2dcd101014d2c6e9191cd4c1a17332c9b
export FABRIC_SOURCE_URL="https://github.com/hyperledger/fabric/archive/refs/tags/v$FABRIC_VERSION.tar.gz"
export MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
# The binaries' cache key is the source archive's hash; TRAINPROOF_FABRIC_BIN points at release binaries instead.
export BIN_DIR="${TRAINPROOF_FABRIC_BIN:-$TRAINPROOF_CACHE/bin/fabric-v$FABRIC_VERSION-${FABRIC_SOURCE_SHA256:0:12}}"
export MINIO_BIN_DIR="$TRAINPROOF_CACHE/bin/minio-$MINIO_VERSION"
# Python: every component installed (editable) into .venv; the chaincode alone into
# .venv-chaincode (the peers' chaincode server needs no torch). Each sits over a cached
# environment of third-party packages keyed by the pins the components' pyproject.toml declare.
_pins() { python3 "$REPO_ROOT/network/scripts/lib/requirements.py" "$@" | sha256sum | cut -c1-16; }
export VENV_DEPS="$TRAINPROOF_CACHE/venv-$(_pins all)"
export CC_VENV_DEPS="$TRAINPROOF_CACHE/venv-chaincode-$(_pins chaincode)"
export VENV="$REPO_ROOT/.venv"
export CC_VENV="$REPO_ROOT/.venv-chaincode"
export PATH="$BIN_DIR:$MINIO_BIN_DIR:$VENV/bin:$PATH"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# The local network's names, ports and paths, and peer_env ORG [USER] (the peer CLI acting as an
# org's Admin, User1 or verifierN): see network/scripts/lib/nodes.sh.
source "$REPO_ROOT/network/scripts/lib/nodes.sh"
