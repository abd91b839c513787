#!/usr/bin/env bash
# Stops every process of the local network by the PID recorded in $TRAINPROOF_HOME/pids
# (TERM to its process group, KILL after a timeout) and removes the PID files. Keeps all state:
# the next up.sh resumes on the same ledgers, channel and chaincode.
source "$(dirname "$0")/env.sh"
source "$REPO_ROOT/network/scripts/lib/verifiers.sh"
source "$REPO_ROOT/network/scripts/services/minio.sh"
source "$REPO_ROOT/network/scripts/services/redis.sh"
source "$REPO_ROOT/network/scripts/services/explorer.sh"
[ -d "$TRAINPROOF_HOME/pids" ] || { log "nothing to stop ($TRAINPROOF_HOME/pids does not exist)"; exit 0; }

# The chaincode servers first, then the peers (they hold connections to the orderers), then the
# orderers; the members of each group in parallel; then MinIO and Redis.
stop_group() {
  local n
  for n in "$@"; do
    [ -f "$(pid_file "$n")" ] || continue
    if is_running "$n"; then log "stopping $n (pid $(cat "$(pid_file "$n")"))"; fi
    stop_process "$n" 20 &
  done
  wait
}
explorer_stop
verifiers_stop
stop_group $(for org in "${ORGS[@]}"; do echo "chaincode-$org"; done)
stop_group "${PEERS[@]}"
stop_group "${ORDERERS[@]}"
minio_stop
redis_stop
log "network stopped; state kept in $TRAINPROOF_HOME"
