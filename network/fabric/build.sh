#!/usr/bin/env bash
# Builds Hyperledger Fabric v3.1.5's peer, orderer, configtxgen, cryptogen and osnadmin into
# $BIN_DIR from the release's source archive, checked against its pinned SHA-256 first.
# Needs only Go (>= 1.24) and no network when the archive is at hand: the archive carries its
# vendor/ tree, so the build runs with GOFLAGS=-mod=vendor GOPROXY=off.
#
#   network/fabric/build.sh           # build if missing
#   network/fabric/build.sh --force   # rebuild
#
# Where the source comes from, first found wins:
#   1. $TRAINPROOF_FABRIC_SRC                         a path to fabric-3.1.5.tar.gz
#   2. shared/third_party/fabric-3.1.5.tar.gz         beside the clone, or beside a folder above it
#   3. the tag's source archive from GitHub            $FABRIC_SOURCE_URL (needs the internet)
# A user with official 3.1.5 release binaries skips all this with TRAINPROOF_FABRIC_BIN=DIR
# (env.sh then uses that directory and this script only checks the versions).
source "$(dirname "$0")/../scripts/env.sh"

TOOLS=(peer orderer configtxgen cryptogen osnadmin)

have_all() { local t; for t in "${TOOLS[@]}"; do [ -x "$1/$t" ] || return 1; done; }

if [ -n "${TRAINPROOF_FABRIC_BIN:-}" ]; then
  have_all "$TRAINPROOF_FABRIC_BIN" || die "TRAINPROOF_FABRIC_BIN=$TRAINPROOF_FABRIC_BIN lacks one of: ${TOOLS[*]}"
  v=$("$TRAINPROOF_FABRIC_BIN/peer" version | sed -n 's/^ Version: v\{0,1\}//p')
  [ "$v" = "$FABRIC_VERSION" ] || die "TRAINPROOF_FABRIC_BIN has peer $v; trainproof needs Fabric $FABRIC_VERSION"
  exit 0
fi
if [ "${1:-}" != "--force" ] && have_all "$BIN_DIR"; then
  log "Fabric $FABRIC_VERSION binaries already built in $BIN_DIR"
  exit 0
fi
command -v go >/dev/null || die "Go is not installed: install Go 1.24+ (https://go.dev/dl), or set TRAINPROOF_FABRIC_BIN to a directory of official Fabric $FABRIC_VERSION binaries"

# ---- the source archive, checked against the pin ------------------------------------------
archive=""
# A clone made inside a scratch folder (CI's fresh clone) finds the archive one level further up.
beside=(); dir=$(dirname "$REPO_ROOT")
while :; do beside+=("$dir/shared/third_party/fabric-$FABRIC_VERSION.tar.gz"); [ "$dir" = / ] && break; dir=$(dirname "$dir"); done
for candidate in "${TRAINPROOF_FABRIC_SRC:-}" "${beside[@]}" "$TRAINPROOF_CACHE/src/fabric-$FABRIC_VERSION.tar.gz"; do
  [ -n "$candidate" ] && [ -f "$candidate" ] && { archive=$candidate; break; }
done
if [ -z "$archive" ]; then
  archive="$TRAINPROOF_CACHE/src/fabric-$FABRIC_VERSION.tar.gz"
  log "downloading the Fabric $FABRIC_VERSION source archive from $FABRIC_SOURCE_URL"
  mkdir -p "$(dirname "$archive")"
  curl -fL --retry 3 -o "$archive.part" "$FABRIC_SOURCE_URL" \
    || die "could not download $FABRIC_SOURCE_URL: put the archive at \$TRAINPROOF_FABRIC_SRC instead"
  mv "$archive.part" "$archive"
fi
actual=$(sha256sum "$archive" | cut -d' ' -f1)
[ "$actual" = "$FABRIC_SOURCE_SHA256" ] \
  || die "$archive has SHA-256 $actual, not the pinned $FABRIC_SOURCE_SHA256: not Fabric $FABRIC_VERSION's source; remove it or fix TRAINPROOF_FABRIC_SRC"
log "building Fabric $FABRIC_VERSION (${TOOLS[*]}) from $archive (SHA-256 verified) into $BIN_DIR"

# ---- build in a private directory, move into place only when everything built -------------
start=$(date +%s)
work=$(mktemp -d "$TRAINPROOF_CACHE/fabric-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
tar -xzf "$archive" -C "$work"
src="$work/fabric-$FABRIC_VERSION"
# The GitHub tag archive (option 3) unpacks as fabric-3.1.5/ too.
[ -d "$src/cmd/peer" ] || die "$archive does not unpack to fabric-$FABRIC_VERSION/cmd/peer"
ldflags="-X github.com/hyperledger/fabric/common/metadata.Version=$FABRIC_VERSION"
ldflags+=" -X github.com/hyperledger/fabric/common/metadata.CommitSHA=${FABRIC_COMMIT:0:7}"
pkgs=(); for t in "${TOOLS[@]}"; do pkgs+=("./cmd/$t"); done
mkdir -p "$work/bin"
( cd "$src" && GOFLAGS="-mod=vendor -buildvcs=false" GOPROXY=off GOTOOLCHAIN=local CGO_ENABLED="${CGO_ENABLED:-1}" \
    go build -trimpath -ldflags "$ldflags" -o "$work/bin/" "${pkgs[@]}" ) \
  || die "go build of Fabric $FABRIC_VERSION failed (messages above)"
mkdir -p "$BIN_DIR"
for t in "${TOOLS[@]}"; do mv -f "$work/bin/$t" "$BIN_DIR/$t"; done
log "built Fabric $FABRIC_VERSION in $(( $(date +%s) - start ))s: peer $("$BIN_DIR/peer" version | sed -n 's/^ Version: //p')"
