#!/usr/bin/env bash
# Shared paths and pinned versions; sourced by every network script.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export REPO_ROOT
export TRAINPROOF_HOME="${TRAINPROOF_HOME:-$REPO_ROOT/.network}"
export TRAINPROOF_CACHE="${TRAINPROOF_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/trainproof}"
# v3.1.5 tag; the module path has no /v3 suffix, so install by commit.
export FABRIC_COMMIT=86c1172bec37e6590c6b1ae6f847833df48d65fc
export MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
export BIN_DIR="$TRAINPROOF_CACHE/bin/fabric-$FABRIC_COMMIT"
export MINIO_BIN_DIR="$TRAINPROOF_CACHE/bin/minio-$MINIO_VERSION"
REQ_HASH="$(cat "$REPO_ROOT/requirements.txt" | sha256sum | cut -c1-16)"
export VENV_DEPS="$TRAINPROOF_CACHE/venv-$REQ_HASH"
export VENV="$REPO_ROOT/.venv"
export PATH="$BIN_DIR:$MINIO_BIN_DIR:$VENV/bin:$PATH"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
