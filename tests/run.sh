#!/usr/bin/env bash
# make test: bring the network up (unless it already runs), run the whole suite,
# and bring down what this run started, even when tests fail. The exit code is pytest's.
source "$(dirname "$0")/../network/scripts/env.sh"
cd "$REPO_ROOT"

started=0
if ! network/scripts/status.sh >/dev/null 2>&1; then
  network/scripts/up.sh || { log "network-up failed; see $TRAINPROOF_HOME/logs"; network/scripts/down.sh; exit 1; }
  started=1
fi
stop_network() { if [ "$started" = 1 ]; then network/scripts/down.sh; fi; }
trap stop_network EXIT

"$VENV/bin/python" -m pytest -q "$@"
