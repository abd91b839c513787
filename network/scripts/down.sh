#!/usr/bin/env bash
# Stops every process of the local network by the PID recorded in $TRAINPROOF_HOME/pids
# (TERM to its process group, KILL after a timeout) and removes the PID files. Keeps all state:
# the next up.sh resumes on the same ledgers, channel and chaincode.
source "$(dirname "$0")/env.sh"
[ -d "$TRAINPROOF_HOME/pids" ] || { log "nothing to stop ($TRAINPROOF_HOME/pids does not exist)"; exit 0; }

# The chaincode server first, then the peers (they hold connections to the orderers), then the
# orderers; the members of each group in parallel. Other services' PID files (services/*.sh) are
# left to those services' own stop.
stop_group() {
  local n
  for n in "$@"; do
    [ -f "$(pid_file "$n")" ] || continue
    if is_running "$n"; then log "stopping $n (pid $(cat "$(pid_file "$n")"))"; fi
    stop_process "$n" 20 &
  done
  wait
}
stop_group chaincode
stop_group "${PEERS[@]}"
stop_group "${ORDERERS[@]}"
log "network stopped; state kept in $TRAINPROOF_HOME"
