#!/usr/bin/env bash
# The verification service of the local network: the dispatcher (events → tasks) and one Celery
# worker per verifier identity. Sourced by up/down/status after env.sh. Definitions only.

VERIFIER_NAMES=($(for org in "${ORGS[@]}"; do for i in $(seq 1 "$VERIFIERS_PER_ORG"); do echo "$org-verifier$i"; done; done))
worker_process() { echo "worker-$1"; }

verifiers_start() {
  log "registering the verifier identities on the ledger (once)"
  ( cd "$REPO_ROOT" && "$VENV/bin/python" -m trainproof.verifier.register ) >>"$TRAINPROOF_HOME/logs/register.log" 2>&1 \
    || { tail -n 20 "$TRAINPROOF_HOME/logs/register.log" >&2; die "verifier registration failed"; }
  local name proc
  for name in "${VERIFIER_NAMES[@]}"; do
    proc=$(worker_process "$name")
    is_running "$proc" && continue
    log "starting Celery worker $proc (log logs/$proc.log)"
    ( cd "$REPO_ROOT" && export TRAINPROOF_VERIFIER="$name" START_NETNS="${ORG_NETNS[${name%%-*}]:-}" \
        && start_process "$proc" "$VENV/bin/python" "$VENV/bin/celery" -A trainproof.verifier worker --pool=solo \
             --loglevel=info -n "$name@trainproof" --without-gossip --without-mingle )
  done
  if ! is_running dispatcher; then
    log "starting the dispatcher (log logs/dispatcher.log)"
    ( cd "$REPO_ROOT" && start_process dispatcher "$VENV/bin/python" -m trainproof.verifier.dispatcher )
  fi
}

verifiers_stop() {
  local n
  for n in dispatcher $(for v in "${VERIFIER_NAMES[@]}"; do worker_process "$v"; done); do
    [ -f "$(pid_file "$n")" ] || continue
    is_running "$n" && log "stopping $n (pid $(cat "$(pid_file "$n")"))"
    stop_process "$n" 20 &
  done
  wait
}

verifier_processes() { echo dispatcher; for v in "${VERIFIER_NAMES[@]}"; do worker_process "$v"; done; }
