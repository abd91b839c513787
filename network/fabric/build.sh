#!/usr/bin/env bash
# Builds Hyperledger Fabric v2.1.1's peer, orderer, configtxgen and cryptogen into $BIN_DIR,
# from the Go module proxy only, at the dependency versions pinned in go.mod/go.sum beside
# this script. Skips the build when every binary is already there.
#
#   network/fabric/build.sh           # build if missing
#   network/fabric/build.sh --force   # rebuild
#
# How: this directory is a tiny Go module (tools.go imports the four commands) that requires
# github.com/hyperledger/fabric v2.1.1+incompatible plus every dependency at a fixed version.
# Fabric 2.1 itself has no go.mod (it used dep), so its module zip from the proxy is just the
# source; our go.mod supplies the versions. `go build -mod=readonly` never re-resolves
# anything, and go.sum pins every byte. patches/ holds upstream fixes applied on top (see there).
# No osnadmin: the channel participation API arrived in
# Fabric 2.3. See env.sh for why 2.1.1 and not 3.x.
source "$(dirname "$0")/../scripts/env.sh"

TOOLS=(peer orderer configtxgen cryptogen)
HERE="$REPO_ROOT/network/fabric"

if [ "${1:-}" != "--force" ]; then
  missing=0
  for t in "${TOOLS[@]}"; do [ -x "$BIN_DIR/$t" ] || missing=1; done
  if [ "$missing" = 0 ]; then
    log "Fabric $FABRIC_VERSION binaries already built in $BIN_DIR"
    exit 0
  fi
fi

command -v go >/dev/null || die "Go is not installed (any Go >= 1.21 works; it fetches $FABRIC_GO_TOOLCHAIN itself)"

# The 2020 code is built by the Go release it was tested against era-wise; `go` downloads that
# toolchain through the module proxy on first use (GOTOOLCHAIN), whatever `go` is installed.
export GOTOOLCHAIN="$FABRIC_GO_TOOLCHAIN"
export GOFLAGS="-mod=readonly -buildvcs=false -trimpath"
export CGO_ENABLED="${CGO_ENABLED:-1}"

start=$(date +%s)
log "building Fabric $FABRIC_VERSION (${TOOLS[*]}) with $GOTOOLCHAIN into $BIN_DIR"
log "  system go: $(GOTOOLCHAIN=local go version 2>/dev/null || echo none); GOPROXY=$(go env GOPROXY); GOMODCACHE=$(go env GOMODCACHE)"

cd "$HERE"
log "  step 1/2: go mod download (fabric module zip + $(grep -c ' h1:' go.sum) pinned checksums)"
zip=$(go mod download -json github.com/hyperledger/fabric | sed -n 's/.*"Zip": "\(.*\)".*/\1/p')
log "    fabric source: $zip"
go mod download

tmp="$BIN_DIR.tmp.$$"
rm -rf "$tmp" && mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
LDFLAGS="-X github.com/hyperledger/fabric/common/metadata.Version=$FABRIC_VERSION"
LDFLAGS+=" -X github.com/hyperledger/fabric/common/metadata.CommitSHA=v$FABRIC_VERSION+proxy"
# Fixes Fabric 2.1.1 needs under a newer Go (patches/*.patch, upstream backports): each patch is
# applied to copies of the files it touches, and `go build -overlay` compiles those copies in
# place of the module cache's read-only originals.
src=$(go list -m -f '{{.Dir}}' github.com/hyperledger/fabric)
overlay=()
for p in "$HERE"/patches/*.patch; do
  [ -e "$p" ] || continue
  log "  patch: $(basename "$p")"
  for f in $(sed -n 's#^+++ b/\([^[:space:]]*\).*#\1#p' "$p"); do
    [ -f "$tmp/src/$f" ] || { mkdir -p "$(dirname "$tmp/src/$f")"; cp "$src/$f" "$tmp/src/$f"; chmod u+w "$tmp/src/$f"; }
    overlay+=("\"$src/$f\": \"$tmp/src/$f\"")
  done
  if command -v patch >/dev/null; then
    patch -s -d "$tmp/src" -p1 < "$p" || die "patch $(basename "$p") does not apply"
  else
    (cd "$tmp/src" && git apply -p1 "$p") || die "patch $(basename "$p") does not apply (git apply)"
  fi
done
printf '{"Replace": {%s}}\n' "$(IFS=,; echo "${overlay[*]}")" > "$tmp/overlay.json"

pkgs=()
for t in "${TOOLS[@]}"; do pkgs+=("github.com/hyperledger/fabric/cmd/$t"); done
log "  step 2/2: go build ${pkgs[*]}"
go build -overlay "$tmp/overlay.json" -ldflags "$LDFLAGS" -o "$tmp/" "${pkgs[@]}"

mkdir -p "$BIN_DIR"
for t in "${TOOLS[@]}"; do mv -f "$tmp/$t" "$BIN_DIR/$t"; done
log "built Fabric $FABRIC_VERSION in $(( $(date +%s) - start ))s: $("$BIN_DIR/peer" version | sed -n 's/^ Version: //p')"
