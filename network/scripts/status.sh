#!/usr/bin/env bash
# Shows each process of the local network (alive? port, health) and the channel height at each
# peer. Exits non-zero if any process is down or unhealthy.
source "$(dirname "$0")/env.sh"
source "$REPO_ROOT/network/scripts/lib/verifiers.sh"
source "$REPO_ROOT/network/scripts/services/minio.sh"
source "$REPO_ROOT/network/scripts/services/redis.sh"
for v in $(compgen -e | grep -E '^CORE_' || true); do unset "$v"; done
[ -d "$TRAINPROOF_HOME" ] || { echo "no network state in $TRAINPROOF_HOME (run up.sh)"; exit 1; }
bad=0
row() { printf '%-22s %-7s %-10s %-22s %s\n' "$@"; }
row NAME PID STATE ADDRESS DETAIL
for n in "${ORDERERS[@]}" "${PEERS[@]}"; do
  pid=$(cat "$(pid_file "$n")" 2>/dev/null || echo -)
  if ! is_running "$n"; then state=DOWN; bad=1
  elif healthy "$n"; then state=up
  else state=UNHEALTHY; bad=1; fi
  row "$n" "$pid" "$state" "127.0.0.1:${NODE_PORT[$n]}" "ops https://127.0.0.1:${NODE_OPS_PORT[$n]}/healthz"
done
if [ -f "$REPO_ROOT/chaincode/__main__.py" ] || [ -f "$(pid_file chaincode)" ]; then
  pid=$(cat "$(pid_file chaincode)" 2>/dev/null || echo -)
  if ! is_running chaincode; then state=DOWN; bad=1
  elif port_open "$CC_ADDRESS"; then state=up
  else state=UNHEALTHY; bad=1; fi
  row chaincode "$pid" "$state" "$CC_ADDRESS" "package $(cat "$TRAINPROOF_HOME/chaincode/package_id" 2>/dev/null || echo ?)"
fi
for svc in minio redis; do
  if pid=$(_${svc}_pid); then state=up; else pid=-; state=DOWN; bad=1; fi
  addr=$([ $svc = minio ] && echo "$MINIO_ADDRESS" || echo "$REDIS_HOST:$REDIS_PORT")
  row "$svc" "$pid" "$state" "$addr" ""
done
for n in $(verifier_processes); do
  pid=$(cat "$(pid_file "$n")" 2>/dev/null || echo -)
  if is_running "$n"; then state=up; else state=DOWN; bad=1; fi
  row "$n" "$pid" "$state" "-" "log logs/$n.log"
done
echo
for ch in system-channel "$CHANNEL"; do
  if leader=$(raft_leader "$ch"); then echo "Raft leader of $ch: $leader"; else echo "Raft leader of $ch: NONE"; bad=1; fi
done
for org in "${ORGS[@]}"; do
  p="peer0.$org"
  if is_running "$p" && info=$( (peer_env "$org"; peer channel getinfo -c "$CHANNEL") 2>/dev/null ); then
    echo "$p channel $CHANNEL: height $(sed -n 's/.*"height":\([0-9]*\).*/\1/p' <<<"$info")"
  else
    echo "$p channel $CHANNEL: unavailable"; bad=1
  fi
done
exit $bad
