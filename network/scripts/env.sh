#!/usr/bin/env bash
# Shared paths and pinned versions; sourced by every network script.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export REPO_ROOT
export TRAINPROOF_HOME="${TRAINPROOF_HOME:-$REPO_ROOT/.network}"
export TRAINPROOF_CACHE="${TRAINPROOF_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/trainproof}"
# Fabric v2.1.1, built from the Go module proxy by network/fabric/build.sh.
# Not v3.1.5 (the design's target): this workplace's module proxy answers 403 for every
# github.com/hyperledger/* version published after about June 2020 (fabric v2.2.0+, v3.x, the
# v3.1.5 commit, fabric-protos-go/fabric-lib-go lists), so v2.1.1 (2020-06-01) is the newest
# Fabric it serves. 2.1 has no Gateway service (client uses Endorser/Broadcast/Deliver), no
# channel participation API/osnadmin (a system channel bootstraps the orderers), no BFT.
export FABRIC_VERSION=2.1.1
export FABRIC_MODULE="github.com/hyperledger/fabric@v2.1.1+incompatible"
export FABRIC_GO_TOOLCHAIN=go1.21.13   # 2020 code; fetched through the proxy via GOTOOLCHAIN
# The binaries' cache key: the version plus the exact dependency pins and source patches.
FABRIC_PINS="$(cat "$REPO_ROOT"/network/fabric/{go.mod,go.sum,patches/*.patch} 2>/dev/null | sha256sum | cut -c1-12)"
export FABRIC_BUILD_ID="v$FABRIC_VERSION-$FABRIC_PINS"
export MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
export BIN_DIR="$TRAINPROOF_CACHE/bin/fabric-$FABRIC_BUILD_ID"
export MINIO_BIN_DIR="$TRAINPROOF_CACHE/bin/minio-$MINIO_VERSION"
REQ_HASH="$(cat "$REPO_ROOT/requirements.txt" | sha256sum | cut -c1-16)"
export VENV_DEPS="$TRAINPROOF_CACHE/venv-$REQ_HASH"
export VENV="$REPO_ROOT/.venv"
export PATH="$BIN_DIR:$MINIO_BIN_DIR:$VENV/bin:$PATH"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# The local network's names, ports and paths, and peer_env ORG [USER] (the peer CLI acting as an
# org's Admin, User1 or verifierN): see network/scripts/lib/nodes.sh.
source "$REPO_ROOT/network/scripts/lib/nodes.sh"
