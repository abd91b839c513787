#!/usr/bin/env bash
# make test: bring the network up (unless it already runs), run the whole suite, then run the
# ledger's tests (tests/network) a second time on a BFT-ordered network beside it (its own state
# directory and ports, ledger only), and bring down what this run started, even when tests
# fail. The exit code is the first failing pytest run's.
source "$(dirname "$0")/../network/scripts/env.sh"
cd "$REPO_ROOT"
# The networks this run starts are test networks: they serve the plumbing write PutValue.
export TRAINPROOF_TEST_PLUMBING=1

BFT=(env TRAINPROOF_HOME="$TRAINPROOF_HOME-bft" TRAINPROOF_CONSENSUS=bft TRAINPROOF_PORT_OFFSET=1000 TRAINPROOF_LEDGER_ONLY=1)
started=0 bft_started=0
stop_networks() {
  if [ "$bft_started" = 1 ]; then "${BFT[@]}" network/scripts/down.sh; fi
  if [ "$started" = 1 ]; then network/scripts/down.sh; fi
}
trap stop_networks EXIT

if ! network/scripts/status.sh >/dev/null 2>&1; then
  started=1
  network/scripts/up.sh || { log "network-up failed; see $TRAINPROOF_HOME/logs"; exit 1; }
fi
rc=0
"$VENV/bin/python" -m pytest -q "$@" || rc=$?
# Arguments select a part of the suite: then that part alone, on the Raft network.
[ $# -eq 0 ] || exit $rc

log "the ledger's tests again, on a BFT-ordered network ($TRAINPROOF_HOME-bft, ports +1000)"
if ! "${BFT[@]}" network/scripts/status.sh >/dev/null 2>&1; then
  bft_started=1
  "${BFT[@]}" network/scripts/up.sh || { log "BFT network-up failed; see $TRAINPROOF_HOME-bft/logs"; exit 1; }
fi
bft_rc=0
"${BFT[@]}" "$VENV/bin/python" -m pytest -q -m network tests/network || bft_rc=$?
[ $rc != 0 ] && exit $rc
exit $bft_rc
