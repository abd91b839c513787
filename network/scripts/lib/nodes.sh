#!/usr/bin/env bash
# The local network's topology: names, ports, where each node's files live, and the helpers that
# start, probe and stop node processes. Sourced by env.sh (so every script, and any shell that
# sources env.sh, has peer_env), after TRAINPROOF_HOME is set. Definitions only: no side effects.

CHANNEL=trainproof
CC_NAME=trainproof
CC_VERSION=1.0
CC_SEQUENCE=1

# Ordering: Raft (3 orderers, tolerates 1 crashed) by default, SmartBFT (4 orderers, tolerates 1
# faulty, f = 1) with TRAINPROOF_CONSENSUS=bft (`make network-up CONSENSUS=bft`). The choice is
# fixed when the channel is created and remembered in $TRAINPROOF_HOME/consensus.
CONSENSUS_FILE="$TRAINPROOF_HOME/consensus"
CONSENSUS=$(cat "$CONSENSUS_FILE" 2>/dev/null || echo "${TRAINPROOF_CONSENSUS:-raft}")
case "$CONSENSUS" in
  raft) ORDERERS=(orderer1 orderer2 orderer3) ;;
  bft) ORDERERS=(orderer1 orderer2 orderer3 orderer4) ;;
  *) echo "TRAINPROOF_CONSENSUS must be raft or bft, not '$CONSENSUS'" >&2; return 1 ;;
esac
# Test networks (tests/run.sh, the benchmarks) serve the plumbing transaction PutValue, which
# writes any key it is given; a user's network does not. Fixed at the first up, remembered in
# $TRAINPROOF_HOME/test-plumbing; set TRAINPROOF_TEST_PLUMBING=1 before it.
TEST_PLUMBING_FILE="$TRAINPROOF_HOME/test-plumbing"
TEST_PLUMBING=$(cat "$TEST_PLUMBING_FILE" 2>/dev/null || echo "${TRAINPROOF_TEST_PLUMBING:-0}")
PEERS=(peer0.org1 peer0.org2)
ORGS=(org1 org2)
# Verifier identities per org, fixed at the first up like the plumbing (remembered in
# $TRAINPROOF_HOME/verifiers-per-org): 5 unless TRAINPROOF_VERIFIERS_PER_ORG says otherwise, so
# 10 %-steps of malice can be measured; fewer where memory is short (bench-scale at 1e8 parameters:
# every worker holds two 800 MB snapshots at once). 2 at least: a sub-quorum of 3 needs 4 verifiers.
VERIFIERS_PER_ORG_FILE="$TRAINPROOF_HOME/verifiers-per-org"
VERIFIERS_PER_ORG=$(cat "$VERIFIERS_PER_ORG_FILE" 2>/dev/null || echo "${TRAINPROOF_VERIFIERS_PER_ORG:-5}")
# node -> gRPC port / operations (health, metrics) port / orderer admin (osnadmin) port /
# peer chaincode-listener port / the org's chaincode server port
declare -gA NODE_PORT=([orderer1]=17050 [orderer2]=17051 [orderer3]=17052 [orderer4]=17053 [peer0.org1]=17151 [peer0.org2]=17251)
declare -gA NODE_OPS_PORT=([orderer1]=17060 [orderer2]=17061 [orderer3]=17062 [orderer4]=17063 [peer0.org1]=17153 [peer0.org2]=17253)
declare -gA NODE_ADMIN_PORT=([orderer1]=17070 [orderer2]=17071 [orderer3]=17072 [orderer4]=17073)
declare -gA NODE_CC_PORT=([peer0.org1]=17152 [peer0.org2]=17252)
declare -gA CC_SERVER_PORT=([org1]=17159 [org2]=17259)
# TRAINPROOF_PORT_OFFSET shifts every ledger port (Fabric nodes, chaincode servers), so a second
# network (the test suite's BFT one) runs beside the first.
if [ "${TRAINPROOF_PORT_OFFSET:-0}" != 0 ]; then
  for _m in NODE_PORT NODE_OPS_PORT NODE_ADMIN_PORT NODE_CC_PORT CC_SERVER_PORT; do
    declare -n _ports=$_m
    for _k in "${!_ports[@]}"; do _ports[$_k]=$(( _ports[$_k] + TRAINPROOF_PORT_OFFSET )); done
    unset -n _ports
  done
  unset _m _k
fi

# Where each node listens and is reached. One machine by default: everything on
# $TRAINPROOF_HOST (127.0.0.1). A layout across machines (or network namespaces) sets, in
# $TRAINPROOF_HOME/topology.env (bash, read here):
#   NODE_HOST[peer0.org2]=10.0.0.2       the address a node binds and advertises (also the
#                                        org's chaincode server, for a peer)
#   NODE_NETNS[peer0.org2]=ns-org2       run that node (and its org's chaincode server) inside a
#                                        Linux network namespace: how tests stand in for hosts
#   SERVICE_HOST=10.0.0.1                MinIO, Redis, dispatcher and workers of org1
#   ORG_NETNS[org2]=ns-org2               where org2's verifier workers run
# Every TLS certificate names its node's address, so the layout must be set before the first up.
TRAINPROOF_HOST="${TRAINPROOF_HOST:-127.0.0.1}"
declare -gA NODE_HOST=() NODE_NETNS=() ORG_NETNS=()
SERVICE_HOST="$TRAINPROOF_HOST"
TOPOLOGY_FILE="$TRAINPROOF_HOME/topology.env"
# shellcheck source=/dev/null
[ -f "$TOPOLOGY_FILE" ] && source "$TOPOLOGY_FILE"
for _n in "${!NODE_PORT[@]}"; do NODE_HOST[$_n]="${NODE_HOST[$_n]:-$TRAINPROOF_HOST}"; done
unset _n
node_address() { echo "${NODE_HOST[$1]}:${NODE_PORT[$1]}"; }
cc_address() { echo "${NODE_HOST[peer0.$1]}:${CC_SERVER_PORT[$1]}"; }   # org1 -> its chaincode server
# in_netns NAME CMD...: run CMD in the node's (or org's) namespace if it has one.
in_netns() {
  local ns=${NODE_NETNS[$1]:-${ORG_NETNS[$1]:-}}; shift
  if [ -n "$ns" ]; then ip netns exec "$ns" "$@"; else "$@"; fi
}

CRYPTO_DIR="$TRAINPROOF_HOME/crypto"
ORDERER_DOMAIN=orderer.trainproof.test
ORDERER_ORG_DIR="$CRYPTO_DIR/ordererOrganizations/$ORDERER_DOMAIN"
ORDERER_TLSCA="$ORDERER_ORG_DIR/tlsca/tlsca.$ORDERER_DOMAIN-cert.pem"

org_domain() { echo "$1.trainproof.test"; }                          # org1 -> org1.trainproof.test
org_msp() { echo "Org${1#org}MSP"; }                                  # org1 -> Org1MSP
org_dir() { echo "$CRYPTO_DIR/peerOrganizations/$(org_domain "$1")"; }
org_tlsca() { echo "$(org_dir "$1")/tlsca/tlsca.$(org_domain "$1")-cert.pem"; }
peer_org() { echo "${1#peer0.}"; }                                    # peer0.org1 -> org1
# TLS host name of a node (its certificate also carries localhost and 127.0.0.1)
node_host() {
  case $1 in
    orderer*) echo "$1.$ORDERER_DOMAIN" ;;
    peer0.*) echo "peer0.$(org_domain "$(peer_org "$1")")" ;;
  esac
}
# cryptogen's directory for a node: msp/ and tls/{server.crt,server.key,ca.crt}
node_crypto() {
  case $1 in
    orderer*) echo "$ORDERER_ORG_DIR/orderers/$(node_host "$1")" ;;
    peer0.*) echo "$(org_dir "$(peer_org "$1")")/peers/$(node_host "$1")" ;;
  esac
}
node_tlsca() { case $1 in orderer*) echo "$ORDERER_TLSCA" ;; *) org_tlsca "$(peer_org "$1")" ;; esac; }
node_cfg() { echo "$TRAINPROOF_HOME/nodes/$1"; }                      # rendered core.yaml/orderer.yaml
node_data() { echo "$TRAINPROOF_HOME/ledgers/$1"; }                   # ledger, state db, Raft WAL
user_msp() { echo "$(org_dir "$1")/users/$2@$(org_domain "$1")/msp"; }  # org1 Admin -> .../msp

# peer_env ORG [USER]: point the peer CLI at ORG's peer, acting as USER (default Admin; also
# User1, verifier1..verifierN). Exports FABRIC_CFG_PATH and CORE_PEER_*.
peer_env() {
  local org=$1 user=${2:-Admin} p="peer0.$1"
  [ -n "${NODE_PORT[$p]:-}" ] || { echo "peer_env: unknown org '$org' (org1|org2)" >&2; return 1; }
  export FABRIC_CFG_PATH="$(node_cfg "$p")"
  export CORE_PEER_TLS_ENABLED=true
  export CORE_PEER_LOCALMSPID="$(org_msp "$org")"
  export CORE_PEER_ADDRESS="$(node_address "$p")"
  export CORE_PEER_TLS_ROOTCERT_FILE="$(org_tlsca "$org")"
  export CORE_PEER_MSPCONFIGPATH="$(user_msp "$org" "$user")"
}

# ---- processes: $TRAINPROOF_HOME/pids/NAME.pid and logs/NAME.log --------------------------
# (Pipelines end in `grep ... >/dev/null`, not `grep -q`: grep -q may exit before its input ends,
# and under pipefail the writer's SIGPIPE would then fail a check that matched.)

pid_file() { echo "$TRAINPROOF_HOME/pids/$1.pid"; }
# is_running NAME: its PID file names a live process that is still the program we started
# (guards against a stale file whose PID was reused).
is_running() {
  local f pid
  f=$(pid_file "$1"); [ -f "$f" ] || return 1
  pid=$(cat "$f" 2>/dev/null) && [ -n "$pid" ] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -E "(^|/)(orderer|peer|python[0-9.]*) |-m trainproof.chaincode" >/dev/null
}
# start_process NAME CMD...: run CMD detached (own session/process group), append to its log.
# START_NETNS=ns runs it inside that network namespace (`ip netns exec` execs, so the PID is CMD's).
start_process() {
  local name=$1; shift
  mkdir -p "$TRAINPROOF_HOME/pids" "$TRAINPROOF_HOME/logs"
  [ -z "${START_NETNS:-}" ] || set -- ip netns exec "$START_NETNS" "$@"
  echo "=== $(date -Is) starting: $*" >> "$TRAINPROOF_HOME/logs/$name.log"
  setsid nohup "$@" >> "$TRAINPROOF_HOME/logs/$name.log" 2>&1 < /dev/null &
  local pid=$! shell
  # Until the forked shell has exec'd, the PID's cmdline is this script's, and is_running would
  # take the node for someone else's process: return only once it runs the command.
  shell=$(readlink "/proc/$BASHPID/exe")
  for _ in $(seq 50); do [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$shell" ] || break; sleep 0.05; done
  echo "$pid" > "$(pid_file "$name")"
}
# stop_process NAME [TIMEOUT]: TERM its process group, KILL after TIMEOUT s; removes the PID file.
stop_process() {
  local name=$1 timeout=${2:-15} f pid
  f=$(pid_file "$name"); [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if is_running "$name"; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq $((timeout * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name (pid $pid) ignored TERM for ${timeout}s: KILL"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$f"
}

# healthy NAME: the node's operations endpoint answers /healthz with status OK, over TLS.
healthy() {
  curl -sf --max-time 2 --cacert "$(node_tlsca "$1")" "https://${NODE_HOST[$1]}:${NODE_OPS_PORT[$1]}/healthz" 2>/dev/null \
    | grep '"status":"OK"' >/dev/null
}
# metrics NAME: the node's Prometheus metrics (the operations endpoint wants a client certificate
# from the node's TLS CA for this; the node's own TLS certificate is one).
metrics() {
  local d; d=$(node_crypto "$1")
  curl -sf --max-time 2 --cacert "$(node_tlsca "$1")" --cert "$d/tls/server.crt" --key "$d/tls/server.key" \
    "https://${NODE_HOST[$1]}:${NODE_OPS_PORT[$1]}/metrics" 2>/dev/null
}
# consensus_leader CHANNEL: prints the orderer that currently leads CHANNEL's Raft cluster (or
# SmartBFT view); fails if none does (just after a start or after losing the leader).
consensus_leader() {
  local o metric
  if [ "$CONSENSUS" = bft ]; then metric="consensus_BFT_is_leader"; else metric="consensus_etcdraft_is_leader"; fi
  for o in "${ORDERERS[@]}"; do
    if is_running "$o" && metrics "$o" | grep "^$metric{channel=\"$1\"} 1" >/dev/null; then
      echo "$o"; return 0
    fi
  done
  return 1
}
port_open() { (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null; }
# wait_for WHAT SECONDS CMD...: retry CMD every 0.5 s until it succeeds.
wait_for() {
  local what=$1 secs=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.5
  done
}

# orderer_args: -o/--tls/--cafile of the first healthy orderer (any of them serves broadcast).
orderer_args() {
  local o
  for o in "${ORDERERS[@]}"; do
    if healthy "$o"; then echo "-o $(node_address "$o") --tls --cafile $ORDERER_TLSCA"; return; fi
  done
  echo "-o $(node_address "${ORDERERS[0]}") --tls --cafile $ORDERER_TLSCA"
}
# osnadmin_args ORDERER: the orderer's admin endpoint and the mutual-TLS client certificate of
# the orderer org's Admin (the admin endpoint accepts clients of the orderer org's TLS CA).
osnadmin_args() {
  local admin="$ORDERER_ORG_DIR/users/Admin@$ORDERER_DOMAIN/tls"
  echo "-o ${NODE_HOST[$1]}:${NODE_ADMIN_PORT[$1]} --ca-file $ORDERER_TLSCA --client-cert $admin/client.crt --client-key $admin/client.key"
}
