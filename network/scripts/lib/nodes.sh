#!/usr/bin/env bash
# The local network's topology: names, ports, where each node's files live, and the helpers that
# start, probe and stop node processes. Sourced by env.sh (so every script, and any shell that
# sources env.sh, has peer_env), after TRAINPROOF_HOME is set. Definitions only: no side effects.

CHANNEL=trainproof
CC_NAME=trainproof
CC_LABEL=trainproof_1.0
CC_VERSION=1.0
CC_SEQUENCE=1
CC_ADDRESS=127.0.0.1:17999           # the chaincode server (chaincode-as-a-service)

ORDERERS=(orderer1 orderer2 orderer3)
PEERS=(peer0.org1 peer0.org2)
ORGS=(org1 org2)
VERIFIERS_PER_ORG=5                  # verifier1..5@orgN: 10 verifiers, so 10 %-steps of malice can be measured
# node -> gRPC port / operations (health, metrics) port / peer chaincode-listener port
declare -gA NODE_PORT=([orderer1]=17050 [orderer2]=17051 [orderer3]=17052 [peer0.org1]=17151 [peer0.org2]=17251)
declare -gA NODE_OPS_PORT=([orderer1]=17060 [orderer2]=17061 [orderer3]=17062 [peer0.org1]=17153 [peer0.org2]=17253)
declare -gA NODE_CC_PORT=([peer0.org1]=17152 [peer0.org2]=17252)

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
  export CORE_PEER_ADDRESS="127.0.0.1:${NODE_PORT[$p]}"
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
  tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -E "(^|/)(orderer|peer|python[0-9.]*) |-m chaincode" >/dev/null
}
# start_process NAME CMD...: run CMD detached (own session/process group), append to its log.
start_process() {
  local name=$1; shift
  mkdir -p "$TRAINPROOF_HOME/pids" "$TRAINPROOF_HOME/logs"
  echo "=== $(date -Is) starting: $*" >> "$TRAINPROOF_HOME/logs/$name.log"
  setsid nohup "$@" >> "$TRAINPROOF_HOME/logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$(pid_file "$name")"
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
  curl -sf --max-time 2 --cacert "$(node_tlsca "$1")" "https://127.0.0.1:${NODE_OPS_PORT[$1]}/healthz" 2>/dev/null \
    | grep '"status":"OK"' >/dev/null
}
# metrics NAME: the node's Prometheus metrics (the operations endpoint wants a client certificate
# from the node's TLS CA for this; the node's own TLS certificate is one).
metrics() {
  local d; d=$(node_crypto "$1")
  curl -sf --max-time 2 --cacert "$(node_tlsca "$1")" --cert "$d/tls/server.crt" --key "$d/tls/server.key" \
    "https://127.0.0.1:${NODE_OPS_PORT[$1]}/metrics" 2>/dev/null
}
# raft_leader CHANNEL: prints the orderer that currently leads CHANNEL's Raft cluster; fails if
# none does (just after a start or after losing the leader: an election takes 5-10 s).
raft_leader() {
  local o
  for o in "${ORDERERS[@]}"; do
    if is_running "$o" && metrics "$o" | grep "^consensus_etcdraft_is_leader{channel=\"$1\"} 1" >/dev/null; then
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
    if healthy "$o"; then echo "-o 127.0.0.1:${NODE_PORT[$o]} --tls --cafile $ORDERER_TLSCA"; return; fi
  done
  echo "-o 127.0.0.1:${NODE_PORT[${ORDERERS[0]}]} --tls --cafile $ORDERER_TLSCA"
}
