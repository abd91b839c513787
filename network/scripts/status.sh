#!/usr/bin/env bash
# Shows each process of the local network (alive? port, health) and the channel height at each
# peer. Exits non-zero if any process is down or unhealthy.
source "$(dirname "$0")/env.sh"
source "$REPO_ROOT/network/scripts/lib/verifiers.sh"
source "$REPO_ROOT/network/scripts/services/minio.sh"
source "$REPO_ROOT/network/scripts/services/redis.sh"
source "$REPO_ROOT/network/scripts/services/explorer.sh"
for v in $(compgen -e | grep -E '^CORE_' || true); do unset "$v"; done
[ -d "$TRAINPROOF_HOME" ] || { echo "no network state in $TRAINPROOF_HOME (run up.sh)"; exit 1; }
bad=0
row() { printf '%-22s %-7s %-10s %-22s %s\n' "$@"; }
echo "Fabric: $(peer version 2>/dev/null | sed -n 's/^ Version: //p') (peer), $(orderer version 2>/dev/null | sed -n 's/^ Version: //p') (orderer); $CONSENSUS ordering"
row NAME PID STATE ADDRESS DETAIL
for n in "${ORDERERS[@]}" "${PEERS[@]}"; do
  pid=$(cat "$(pid_file "$n")" 2>/dev/null || echo -)
  if ! is_running "$n"; then state=DOWN; bad=1
  elif healthy "$n"; then state=up
  else state=UNHEALTHY; bad=1; fi
  row "$n" "$pid" "$state" "$(node_address "$n")" "ops https://${NODE_HOST[$n]}:${NODE_OPS_PORT[$n]}/healthz"
done
for org in "${ORGS[@]}"; do
  n="chaincode-$org"
  pid=$(cat "$(pid_file "$n")" 2>/dev/null || echo -)
  if ! is_running "$n"; then state=DOWN; bad=1
  elif port_open "$(cc_address "$org")"; then state=up
  else state=UNHEALTHY; bad=1; fi
  row "$n" "$pid" "$state" "$(cc_address "$org")" "chaincode server of peer0.$org"
done
ledger_only=0
[ -f "$(pid_file minio)" ] || [ -f "$(pid_file redis)" ] || [ -f "$(pid_file dispatcher)" ] || ledger_only=1
for svc in $([ $ledger_only = 1 ] || echo minio redis); do
  if pid=$(_${svc}_pid); then state=up; else pid=-; state=DOWN; bad=1; fi
  addr=$([ $svc = minio ] && echo "$MINIO_ADDRESS" || echo "$REDIS_HOST:$REDIS_PORT")
  row "$svc" "$pid" "$state" "$addr" ""
done
for n in $([ $ledger_only = 1 ] || verifier_processes); do
  pid=$(cat "$(pid_file "$n")" 2>/dev/null || echo -)
  if is_running "$n"; then state=up; else state=DOWN; bad=1; fi
  row "$n" "$pid" "$state" "-" "log logs/$n.log"
done
if [ $ledger_only = 0 ]; then
  pid=$(cat "$(pid_file explorer)" 2>/dev/null || echo -)
  if is_running explorer && curl -sf --max-time 2 "$(explorer_url)api/summary" >/dev/null 2>&1; then state=up
  elif is_running explorer; then state=UNHEALTHY; bad=1
  else state=DOWN; bad=1; fi
  row explorer "$pid" "$state" "$EXPLORER_HOST:$EXPLORER_PORT" "log logs/explorer.log"
fi
echo
if leader=$(consensus_leader "$CHANNEL"); then echo "$CONSENSUS leader of $CHANNEL: $leader"; else echo "$CONSENSUS leader of $CHANNEL: NONE"; bad=1; fi
for org in "${ORGS[@]}"; do
  p="peer0.$org"
  if is_running "$p" && info=$( (peer_env "$org"; peer channel getinfo -c "$CHANNEL") 2>/dev/null ); then
    echo "$p channel $CHANNEL: height $(sed -n 's/.*"height":\([0-9]*\).*/\1/p' <<<"$info")"
  else
    echo "$p channel $CHANNEL: unavailable"; bad=1
  fi
done
exit $bad
