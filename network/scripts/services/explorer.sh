#!/usr/bin/env bash
# The audit explorer of the local network (`trainproof explorer`): indexes the channel into
# $TRAINPROOF_HOME/explorer/explorer.db and serves the web app on 127.0.0.1:$EXPLORER_PORT
# (default 17080), as $TRAINPROOF_EXPLORER_IDENTITY (default org1-user1). Sourced after
# network/scripts/env.sh (TRAINPROOF_HOME, log, die, start_process); definitions only.

EXPLORER_HOST="${EXPLORER_HOST:-127.0.0.1}"
EXPLORER_PORT="${EXPLORER_PORT:-17080}"
EXPLORER_URL_FILE="$TRAINPROOF_HOME/explorer/url"

explorer_url() { echo "http://$EXPLORER_HOST:$EXPLORER_PORT/"; }

explorer_start() {
  if is_running explorer; then
    log "explorer already running (pid $(cat "$(pid_file explorer)"))"
    return 0
  fi
  (exec 3<>"/dev/tcp/$EXPLORER_HOST/$EXPLORER_PORT") 2>/dev/null \
    && die "something else listens on $EXPLORER_HOST:$EXPLORER_PORT: stop it or set EXPLORER_PORT"
  mkdir -p "$TRAINPROOF_HOME/explorer"
  log "starting the explorer on $(explorer_url) (log logs/explorer.log)"
  ( cd "$REPO_ROOT" && start_process explorer "$VENV/bin/python" -m trainproof.cli explorer \
      --identity "${TRAINPROOF_EXPLORER_IDENTITY:-org1-user1}" --host "$EXPLORER_HOST" --port "$EXPLORER_PORT" )
  explorer_url > "$EXPLORER_URL_FILE"
}

# Returns once the web app answers (the indexer catches up in the background).
explorer_wait() {
  local timeout="${1:-90}" start=$SECONDS
  until curl -sf --max-time 2 "$(explorer_url)api/summary" >/dev/null 2>&1; do
    is_running explorer || { tail -n 15 "$TRAINPROOF_HOME/logs/explorer.log" >&2; die "the explorer exited; see $TRAINPROOF_HOME/logs/explorer.log"; }
    (( SECONDS - start < timeout )) || die "the explorer does not answer on $(explorer_url) after ${timeout}s; see $TRAINPROOF_HOME/logs/explorer.log"
    sleep 0.5
  done
}

explorer_stop() {
  [ -f "$(pid_file explorer)" ] || return 0
  is_running explorer && log "stopping the explorer (pid $(cat "$(pid_file explorer)"))"
  stop_process explorer 20
  rm -f "$EXPLORER_URL_FILE"
}
