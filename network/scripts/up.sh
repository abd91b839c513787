#!/usr/bin/env bash
# Starts the local trainproof Fabric network as native processes (on 127.0.0.1 unless
# $TRAINPROOF_HOME/topology.env lays it out otherwise; see lib/nodes.sh) and waits until it
# answers. Safe to run at any time:
#   - first run: builds what is missing, generates crypto and the channel's genesis block, starts
#     every process, joins each orderer to channel `trainproof` (osnadmin, channel participation
#     API) and each peer (peer channel join), and deploys the chaincode `trainproof` (chaincode
#     as a service, one server per org);
#   - on a stopped network (down.sh): restarts the processes on the kept ledgers;
#   - on a running network: restarts only what is not running (a killed orderer, say), changes
#     nothing else, exits 0.
# Topology (see lib/nodes.sh): OrdererOrg with 3 Raft orderers (or 4 SmartBFT orderers with
# TRAINPROOF_CONSENSUS=bft), Org1 and Org2 with one peer each.
# TRAINPROOF_LEDGER_ONLY=1 starts the ledger alone (orderers, peers, chaincode): no MinIO, Redis
# or verifiers.
# All state lives in $TRAINPROOF_HOME (default <repo>/.network); $TRAINPROOF_HOME/profile.json
# tells clients where everything is.
source "$(dirname "$0")/env.sh"
source "$REPO_ROOT/network/scripts/lib/identities.sh"
source "$REPO_ROOT/network/scripts/lib/verifiers.sh"
source "$REPO_ROOT/network/scripts/services/minio.sh"
source "$REPO_ROOT/network/scripts/services/redis.sh"
source "$REPO_ROOT/network/scripts/services/explorer.sh"

# Node processes must not inherit a caller's peer CLI settings (peer_env) or Fabric overrides.
for v in $(compgen -e | grep -E '^(CORE|ORDERER|CONFIGTX)_' || true); do unset "$v"; done
unset FABRIC_CFG_PATH
# Info for the ledger (blocks committed, channel and consensus events); per-call lines (every gRPC
# call, endorsement and gateway step) only at warning: at hundreds of tx/s they cost real CPU.
export FABRIC_LOGGING_SPEC="${TRAINPROOF_FABRIC_LOGGING:-grpc=error:comm.grpc.server,endorser,gateway=warning:info}"

CONFIG_SRC="$REPO_ROOT/network/config"
CONFIG="$TRAINPROOF_HOME/config"        # configtx.yaml (relative paths point at ../crypto)
BLOCKS="$TRAINPROOF_HOME/blocks"        # genesis block, channel tx/block, anchor peer updates
CC="$TRAINPROOF_HOME/chaincode"         # chaincode TLS material, package, package id
# Keys, the chaincode package (it carries the chaincode servers' TLS client key) and ledgers
# are for this user only: new files are created so, and a network made before is fixed here.
umask 077
mkdir -p "$TRAINPROOF_HOME"/{pids,logs} "$CONFIG" "$BLOCKS" "$CC"
chmod -R go= "$TRAINPROOF_HOME"

# retry SECONDS WHAT CMD...: for steps that fail briefly after a start (no Raft leader yet, peer
# not yet connected to the orderers); prints the last error if it never succeeds.
retry() {
  local secs=$1 what=$2 out; shift 2
  local deadline=$((SECONDS + secs))
  until out=$("$@" 2>&1); do
    if [ $SECONDS -ge $deadline ]; then printf '%s\n' "$out" >&2; die "$what failed for ${secs}s"; fi
    sleep 1
  done
}
as_admin() { local org=$1; shift; ( peer_env "$org" Admin; "$@" ); }   # run a peer CLI command

# ---- 1. binaries ---------------------------------------------------------------------------
"$REPO_ROOT/network/scripts/install.sh" all

# ---- 2. consensus, crypto material (first run only) -----------------------------------------
if [ -f "$CONSENSUS_FILE" ] && [ -n "${TRAINPROOF_CONSENSUS:-}" ] && [ "$TRAINPROOF_CONSENSUS" != "$CONSENSUS" ]; then
  die "this network ($TRAINPROOF_HOME) was created with $CONSENSUS ordering, not $TRAINPROOF_CONSENSUS: make network-clean first, or use another TRAINPROOF_HOME"
fi
[ -f "$CONSENSUS_FILE" ] || echo "$CONSENSUS" > "$CONSENSUS_FILE"
[ -f "$TEST_PLUMBING_FILE" ] || echo "$TEST_PLUMBING" > "$TEST_PLUMBING_FILE"
[[ "$VERIFIERS_PER_ORG" =~ ^[0-9]+$ ]] && [ "$VERIFIERS_PER_ORG" -ge 2 ] && [ "$VERIFIERS_PER_ORG" -le 50 ] \
  || die "TRAINPROOF_VERIFIERS_PER_ORG=$VERIFIERS_PER_ORG: give a whole number from 2 to 50 (a sub-quorum of 3 needs 4 verifiers)"
[ -f "$VERIFIERS_PER_ORG_FILE" ] || echo "$VERIFIERS_PER_ORG" > "$VERIFIERS_PER_ORG_FILE"
# render TEMPLATE OUT [NODE]: the template with @HOST:N@/@PORT:N@ (every node's address) and,
# for NODE, its own @NAME@ placeholders filled in; the file is rewritten only when it changes.
render() {
  local tpl=$1 out=$2 node=${3:-} tmp n args=()
  for n in "${!NODE_PORT[@]}"; do args+=(-e "s|@HOST:$n@|${NODE_HOST[$n]}|g" -e "s|@PORT:$n@|${NODE_PORT[$n]}|g"); done
  if [ -n "$node" ]; then
    mkdir -p "$(node_data "$node")"
    args+=(-e "s|@NODE@|$node|g" -e "s|@HOST@|${NODE_HOST[$node]}|g" -e "s|@PORT@|${NODE_PORT[$node]}|g"
           -e "s|@OPS_PORT@|${NODE_OPS_PORT[$node]}|g" -e "s|@ADMIN_PORT@|${NODE_ADMIN_PORT[$node]:-}|g"
           -e "s|@CC_PORT@|${NODE_CC_PORT[$node]:-}|g" -e "s|@NODE_DIR@|$(node_crypto "$node")|g"
           -e "s|@DATA_DIR@|$(node_data "$node")|g" -e "s|@MSPID@|$(org_msp "$(peer_org "$node")")|g")
  fi
  mkdir -p "$(dirname "$out")"
  tmp=$(sed "${args[@]}" -e "s|@REPO_ROOT@|$REPO_ROOT|g" "$tpl")
  [ -f "$out" ] && [ "$(cat "$out")" = "$tmp" ] || printf '%s\n' "$tmp" > "$out"
}
if [ ! -d "$CRYPTO_DIR" ]; then
  log "generating crypto material (cryptogen, NodeOUs) in $CRYPTO_DIR"
  rm -rf "$CRYPTO_DIR.tmp"
  render "$CONFIG_SRC/crypto-config.yaml" "$CONFIG/crypto-config.yaml"
  cryptogen generate --config="$CONFIG/crypto-config.yaml" --output="$CRYPTO_DIR.tmp" >/dev/null
  mv "$CRYPTO_DIR.tmp" "$CRYPTO_DIR"
fi
for org in "${ORGS[@]}"; do issue_verifiers "$org" "$VERIFIERS_PER_ORG"; done
make_chaincode_tls "$CC/tls"
for org in "${ORGS[@]}"; do make_chaincode_server_tls "$CC/tls" "$org" "${NODE_HOST[peer0.$org]}"; done

# ---- 3. node configuration, rendered from the templates ------------------------------------
for o in "${ORDERERS[@]}"; do render "$CONFIG_SRC/orderer.yaml" "$(node_cfg "$o")/orderer.yaml" "$o"; done
for p in "${PEERS[@]}"; do render "$CONFIG_SRC/core.yaml" "$(node_cfg "$p")/core.yaml" "$p"; done
render "$CONFIG_SRC/configtx.yaml" "$CONFIG/configtx.yaml"

# ---- 4. the channel's genesis block (first run only) ---------------------------------------
if [ ! -f "$BLOCKS/$CHANNEL.block" ]; then
  profile_name=$([ "$CONSENSUS" = bft ] && echo TrainproofBFT || echo TrainproofRaft)
  log "creating the genesis block of channel '$CHANNEL' ($profile_name)"
  FABRIC_CFG_PATH="$CONFIG" configtxgen -profile "$profile_name" -channelID "$CHANNEL" \
    -outputBlock "$BLOCKS/$CHANNEL.block.tmp" 2>>"$TRAINPROOF_HOME/logs/configtxgen.log" \
    || { tail -n 5 "$TRAINPROOF_HOME/logs/configtxgen.log" >&2; die "configtxgen failed"; }
  mv "$BLOCKS/$CHANNEL.block.tmp" "$BLOCKS/$CHANNEL.block"
fi

# ---- 5. orderers (joined to the channel), then peers (joined) -------------------------------
start_node() {
  local name=$1; shift
  if is_running "$name"; then return; fi
  log "starting $name on $(node_address "$name") (operations ${NODE_OPS_PORT[$name]}; log logs/$name.log)"
  ( export FABRIC_CFG_PATH="$(node_cfg "$name")" START_NETNS="${NODE_NETNS[$name]:-}"; start_process "$name" "$@" )
}
wait_healthy() {  # a node that exits during start-up fails at once, with its last log lines
  local name=$1
  alive_and_healthy() { is_running "$name" || { tail -n 15 "$TRAINPROOF_HOME/logs/$name.log" >&2; die "$name exited; see $TRAINPROOF_HOME/logs/$name.log"; }; healthy "$name"; }
  wait_for "$name" 60 alive_and_healthy || die "$name is not healthy after 60s; see $TRAINPROOF_HOME/logs/$name.log"
}
for o in "${ORDERERS[@]}"; do start_node "$o" "$BIN_DIR/orderer"; done
for o in "${ORDERERS[@]}"; do wait_healthy "$o"; done
# Channel participation API: an orderer that does not serve the channel yet joins it with the
# genesis block (idempotent: a listed channel is left alone).
orderer_joined() { osnadmin channel list -c "$CHANNEL" $(osnadmin_args "$1") 2>/dev/null | grep '"name": *"'"$CHANNEL"'"' >/dev/null; }
orderer_join() { orderer_joined "$1" || osnadmin channel join --channelID "$CHANNEL" --config-block "$BLOCKS/$CHANNEL.block" $(osnadmin_args "$1"); }
for o in "${ORDERERS[@]}"; do
  if ! orderer_joined "$o"; then
    log "joining $o to '$CHANNEL' (osnadmin)"
    retry 30 "osnadmin channel join ($o)" orderer_join "$o"
  fi
done
# Healthy is not ready: the orderers accept transactions only once consensus has a leader.
wait_for "$CONSENSUS leader" 60 consensus_leader "$CHANNEL" >/dev/null \
  || die "no $CONSENSUS leader for $CHANNEL after 60s; see $TRAINPROOF_HOME/logs/orderer*.log"
log "orderers are up ($CONSENSUS leader: $(consensus_leader "$CHANNEL"))"
for p in "${PEERS[@]}"; do start_node "$p" "$BIN_DIR/peer" node start; done
for p in "${PEERS[@]}"; do wait_healthy "$p"; done
# Every step below checks the real state first, inside the retry loop, so that a retry after an
# attempt that did land (but reported a timeout) is a no-op rather than an error.
joined() { as_admin "$1" peer channel list 2>/dev/null | grep -x "$CHANNEL" >/dev/null; }
join_channel() { joined "$1" || as_admin "$1" peer channel join -b "$BLOCKS/$CHANNEL.block"; }
for org in "${ORGS[@]}"; do
  if ! joined "$org"; then
    log "joining peer0.$org to '$CHANNEL'"
    retry 30 "peer channel join (peer0.$org)" join_channel "$org"
  fi
done

# ---- 7. chaincode as a service: package, install, server, approve, commit -----------------
# Each org runs its own chaincode server beside its peer. Its package holds only connection.json
# (where that server listens, and the PEM TLS material the peer uses to reach it), built
# byte-for-byte reproducibly, so its package ID (label:sha256 of the file) is stable for this
# state directory. The orgs' package IDs differ; the definition they approve is the same.
package_chaincode() {  # package_chaincode ORG: $CC/ORG/trainproof.tar.gz
  local org=$1 out="$CC/$1" pkg address
  address=$(cc_address "$org")
  [ -f "$out/$CC_NAME.tar.gz" ] && return 0
  log "packaging chaincode ${CC_NAME}_$org (type ccaas, server $address)"
  mkdir -p "$out"; pkg=$(mktemp -d)
  python3 - "$CC/tls" "$address" > "$pkg/connection.json" <<'EOF'
import json, sys
from pathlib import Path
tls, address = Path(sys.argv[1]), sys.argv[2]
print(json.dumps({
    "address": address, "dial_timeout": "10s",
    "tls_required": True, "client_auth_required": True,
    "root_cert": (tls / "ca.crt").read_text(),
    "client_key": (tls / "client.key").read_text(),
    "client_cert": (tls / "client.crt").read_text(),
}, indent=2))
EOF
  printf '{"type":"ccaas","label":"%s_%s"}\n' "$CC_NAME" "$org" > "$pkg/metadata.json"
  chmod 600 "$pkg/connection.json" "$pkg/metadata.json"  # connection.json holds the TLS client key
  tarz() { tar --mtime=@0 --sort=name --owner=0 --group=0 --numeric-owner --format=gnu -C "$pkg" -cf - "$@" | gzip -n -9; }
  tarz connection.json > "$pkg/code.tar.gz"
  chmod 600 "$pkg/code.tar.gz"
  tarz code.tar.gz metadata.json > "$out/$CC_NAME.tar.gz.tmp"
  rm -rf "$pkg"
  mv "$out/$CC_NAME.tar.gz.tmp" "$out/$CC_NAME.tar.gz"
}
package_id() { echo "${CC_NAME}_$1:$(sha256sum "$CC/$1/$CC_NAME.tar.gz" | cut -d' ' -f1)"; }
installed() { as_admin "$1" peer lifecycle chaincode queryinstalled 2>/dev/null | grep -F "Package ID: $(package_id "$1")," >/dev/null; }
install_cc() { installed "$1" || as_admin "$1" peer lifecycle chaincode install "$CC/$1/$CC_NAME.tar.gz"; }
for org in "${ORGS[@]}"; do
  package_chaincode "$org"
  if ! installed "$org"; then
    log "installing $(package_id "$org") on peer0.$org"
    retry 60 "chaincode install (peer0.$org)" install_cc "$org"
  fi
done

# The chaincode servers (Python, chaincode/, in .venv-chaincode: no ML libraries) run before the definition is committed: on commit
# each peer connects to its org's server right away (and again on the first invoke if that failed).
MEMBER_MSPS=$(for org in "${ORGS[@]}"; do org_msp "$org"; done | paste -sd, -)  # who approves settings changes
for org in "${ORGS[@]}"; do
  proc="chaincode-$org" address=$(cc_address "$org")
  if ! is_running "$proc"; then
    log "starting $org's chaincode server on $address (log logs/$proc.log)"
    ( cd "$REPO_ROOT" && export START_NETNS="${NODE_NETNS[peer0.$org]:-}" \
        && start_process "$proc" "$CC_VENV/bin/python" -m trainproof.chaincode --address "$address" \
             --ccid "$(package_id "$org")" --tls-key "$CC/tls/$org/server.key" --tls-cert "$CC/tls/$org/server.crt" \
             --tls-client-ca "$CC/tls/ca.crt" --members "$MEMBER_MSPS" $([ "$TEST_PLUMBING" = 1 ] && echo --test-plumbing) )
  fi
done
chaincode_listening() {
  is_running "chaincode-$1" || { tail -n 15 "$TRAINPROOF_HOME/logs/chaincode-$1.log" >&2; die "$1's chaincode server exited"; }
  port_open "$(cc_address "$1")"
}
for org in "${ORGS[@]}"; do
  wait_for "chaincode-$org" 60 chaincode_listening "$org" \
    || die "$org's chaincode server does not listen on $(cc_address "$org"); see $TRAINPROOF_HOME/logs/chaincode-$org.log"
done

committed() {
  as_admin org1 peer lifecycle chaincode querycommitted -C "$CHANNEL" -n "$CC_NAME" 2>/dev/null \
    | grep "Sequence: $CC_SEQUENCE," >/dev/null
}
if ! committed; then
  definition=(-C "$CHANNEL" -n "$CC_NAME" --version "$CC_VERSION" --sequence "$CC_SEQUENCE")
  approved() {
    as_admin "$1" peer lifecycle chaincode checkcommitreadiness "${definition[@]}" 2>/dev/null \
      | grep "$(org_msp "$1"): true" >/dev/null
  }
  approve() {
    approved "$1" || as_admin "$1" peer lifecycle chaincode approveformyorg "${definition[@]}" \
      --package-id "$(package_id "$1")" $(orderer_args)
  }
  for org in "${ORGS[@]}"; do
    if ! approved "$org"; then
      log "approving $CC_NAME v$CC_VERSION seq $CC_SEQUENCE for $(org_msp "$org")"
      # Right after joining this can fail for a moment (no leader yet): retry.
      retry 60 "approveformyorg ($(org_msp "$org"))" approve "$org"
    fi
  done
  log "committing $CC_NAME on '$CHANNEL' (endorsed by both orgs' peers)"
  peers=()
  for p in "${PEERS[@]}"; do
    peers+=(--peerAddresses "$(node_address "$p")" --tlsRootCertFiles "$(org_tlsca "$(peer_org "$p")")")
  done
  commit() { committed || as_admin org1 peer lifecycle chaincode commit "${definition[@]}" "${peers[@]}" $(orderer_args); }
  retry 60 "chaincode commit" commit
  wait_for "commit" 30 committed || die "chaincode definition not visible after commit"
fi

# ---- 8. the connection profile for clients -------------------------------------------------
python3 - "$TRAINPROOF_HOME/profile.json" <<EOF
import json, sys, os
home, crypto = "$TRAINPROOF_HOME", "$CRYPTO_DIR"
def node(name, address, tls_ca, host, mspid, ops):
    return {"name": name, "address": address, "tls_ca": tls_ca, "server_name": host, "mspid": mspid,
            "operations": "https://%s" % ops}
peers = [$(for p in "${PEERS[@]}"; do printf 'node("%s", "%s", "%s", "%s", "%s", "%s"), ' \
  "$p" "$(node_address "$p")" "$(node_tlsca "$p")" "$(node_host "$p")" "$(org_msp "$(peer_org "$p")")" "${NODE_HOST[$p]}:${NODE_OPS_PORT[$p]}"; done)]
orderers = [$(for o in "${ORDERERS[@]}"; do printf 'node("%s", "%s", "%s", "%s", "OrdererMSP", "%s"), ' \
  "$o" "$(node_address "$o")" "$ORDERER_TLSCA" "$(node_host "$o")" "${NODE_HOST[$o]}:${NODE_OPS_PORT[$o]}"; done)]
identities = {}
for org, mspid in (("org1", "Org1MSP"), ("org2", "Org2MSP")):
    domain = org + ".trainproof.test"
    users = [("admin", "Admin", "admin"), ("user1", "User1", "client")]
    users += [("verifier%d" % i, "verifier%d" % i, "verifier") for i in range(1, $VERIFIERS_PER_ORG + 1)]
    for short, user, role in users:
        msp = "%s/peerOrganizations/%s/users/%s@%s/msp" % (crypto, domain, user, domain)
        identities["%s-%s" % (org, short)] = {
            "mspid": mspid, "role": role,
            "cert": "%s/signcerts/%s@%s-cert.pem" % (msp, user, domain),
            "key": "%s/keystore/priv_sk" % msp, "msp_dir": msp}
out = sys.argv[1]
old = open(out).read() if os.path.exists(out) else None
# "services" is shared: other services (MinIO, ...) may have added their entries; keep them.
services = json.loads(old).get("services", {}) if old else {}
$(for org in "${ORGS[@]}"; do printf 'services["chaincode-%s"] = {"address": "%s", "package_id": "%s"}\n' "$org" "$(cc_address "$org")" "$(package_id "$org")"; done)
profile = {
    "fabric_version": "$FABRIC_VERSION", "consensus": "$CONSENSUS", "channel": "$CHANNEL", "chaincode": "$CC_NAME",
    "test_plumbing": $([ "$TEST_PLUMBING" = 1 ] && echo True || echo False),
    "peers": peers, "orderers": orderers, "identities": identities, "services": services,
}
new = json.dumps(profile, indent=2) + "\n"
if new != old:
    open(out + ".tmp", "w").write(new)
    os.replace(out + ".tmp", out)
EOF

# ---- 9. readiness: every org's peer gets both orgs' endorsements through its Gateway ---------
# (the chaincode answers on every peer, and each gateway has found the other org's peer by gossip)
"$VENV/bin/python" -m trainproof.cli network ready --timeout 90 >/dev/null \
  || die "the peers' gateways cannot collect both orgs' endorsements; see $TRAINPROOF_HOME/logs/peer0.*.log and chaincode-*.log"
log "network is up: Fabric $FABRIC_VERSION, $CONSENSUS ordering, channel '$CHANNEL', chaincode '$CC_NAME' answers"
if [ "${TRAINPROOF_LEDGER_ONLY:-0}" = 1 ]; then
  log "TRAINPROOF_LEDGER_ONLY=1: not starting MinIO, Redis or the verification service"
  exit 0
fi

# ---- 10. artifact storage (MinIO) and the task queue (Redis) -------------------------------
minio_start
redis_start
minio_wait
minio_setup
redis_wait

# ---- 11. verification service: verifiers registered, dispatcher and one worker each ---------
verifiers_start

# ---- 12. the audit explorer ------------------------------------------------------------------
explorer_start
explorer_wait
log "all services are up: make network-status shows them; make network-down stops them; explorer on $(explorer_url)"
