#!/usr/bin/env bash
# Stops the local network (down.sh) and deletes its whole state directory: crypto material,
# ledgers, channel artifacts, chaincode package, logs. The next up.sh starts from scratch.
# Built binaries in $TRAINPROOF_CACHE are kept.
source "$(dirname "$0")/env.sh"
"$REPO_ROOT/network/scripts/down.sh"
case "$TRAINPROOF_HOME" in
  ""|/|"$HOME"|"$REPO_ROOT") die "refusing to delete TRAINPROOF_HOME=$TRAINPROOF_HOME" ;;
esac
if [ -e "$TRAINPROOF_HOME" ]; then
  rm -rf "$TRAINPROOF_HOME"
  log "removed $TRAINPROOF_HOME"
fi
