#!/usr/bin/env bash
# Starts the local trainproof Fabric network as native processes on 127.0.0.1 and waits until it
# answers. Safe to run at any time:
#   - first run: builds what is missing, generates crypto and channel artifacts, starts every
#     process, creates channel `trainproof`, joins both peers, sets anchor peers, and deploys the
#     chaincode `trainproof` (chaincode as a service);
#   - on a stopped network (down.sh): restarts the processes on the kept ledgers;
#   - on a running network: restarts only what is not running (a killed orderer, say), changes
#     nothing else, exits 0.
# Topology (see lib/nodes.sh): OrdererOrg with 3 Raft orderers, Org1 and Org2 with one peer each.
# All state lives in $TRAINPROOF_HOME (default <repo>/.network); $TRAINPROOF_HOME/profile.json
# tells clients where everything is.
source "$(dirname "$0")/env.sh"
source "$REPO_ROOT/network/scripts/lib/identities.sh"
source "$REPO_ROOT/network/scripts/lib/verifiers.sh"
source "$REPO_ROOT/network/scripts/services/minio.sh"
source "$REPO_ROOT/network/scripts/services/redis.sh"

# Node processes must not inherit a caller's peer CLI settings (peer_env) or Fabric overrides.
for v in $(compgen -e | grep -E '^(CORE|ORDERER|CONFIGTX)_' || true); do unset "$v"; done
unset FABRIC_CFG_PATH
export FABRIC_LOGGING_SPEC="${TRAINPROOF_FABRIC_LOGGING:-grpc=error:info}"

CONFIG_SRC="$REPO_ROOT/network/config"
CONFIG="$TRAINPROOF_HOME/config"        # configtx.yaml (relative paths point at ../crypto)
BLOCKS="$TRAINPROOF_HOME/blocks"        # genesis block, channel tx/block, anchor peer updates
CC="$TRAINPROOF_HOME/chaincode"         # chaincode TLS material, package, package id
have_chaincode_server() { [ -f "$REPO_ROOT/chaincode/__main__.py" ]; }
mkdir -p "$TRAINPROOF_HOME"/{pids,logs} "$CONFIG" "$BLOCKS" "$CC"

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

# ---- 2. crypto material (first run only) ---------------------------------------------------
if [ ! -d "$CRYPTO_DIR" ]; then
  log "generating crypto material (cryptogen, NodeOUs) in $CRYPTO_DIR"
  rm -rf "$CRYPTO_DIR.tmp"
  cryptogen generate --config="$CONFIG_SRC/crypto-config.yaml" --output="$CRYPTO_DIR.tmp" >/dev/null
  mv "$CRYPTO_DIR.tmp" "$CRYPTO_DIR"
fi
for org in "${ORGS[@]}"; do issue_verifiers "$org" "$VERIFIERS_PER_ORG"; done
make_chaincode_tls "$CC/tls"

# ---- 3. node configuration, rendered from the templates ------------------------------------
render() {  # render NODE TEMPLATE OUT: the template with its @NAME@ placeholders filled in for NODE
  local node=$1 tpl=$2 out=$3 tmp
  mkdir -p "$(dirname "$out")" "$(node_data "$node")"
  tmp=$(sed -e "s|@NODE@|$node|g" -e "s|@PORT@|${NODE_PORT[$node]}|g" -e "s|@OPS_PORT@|${NODE_OPS_PORT[$node]}|g" \
            -e "s|@CC_PORT@|${NODE_CC_PORT[$node]:-}|g" -e "s|@NODE_DIR@|$(node_crypto "$node")|g" \
            -e "s|@DATA_DIR@|$(node_data "$node")|g" -e "s|@GENESIS@|$BLOCKS/genesis.block|g" \
            -e "s|@MSPID@|$(org_msp "$(peer_org "$node")")|g" -e "s|@REPO_ROOT@|$REPO_ROOT|g" "$tpl")
  [ -f "$out" ] && [ "$(cat "$out")" = "$tmp" ] || printf '%s\n' "$tmp" > "$out"
}
for o in "${ORDERERS[@]}"; do render "$o" "$CONFIG_SRC/orderer.yaml" "$(node_cfg "$o")/orderer.yaml"; done
for p in "${PEERS[@]}"; do render "$p" "$CONFIG_SRC/core.yaml" "$(node_cfg "$p")/core.yaml"; done
cmp -s "$CONFIG_SRC/configtx.yaml" "$CONFIG/configtx.yaml" || cp "$CONFIG_SRC/configtx.yaml" "$CONFIG/configtx.yaml"

# ---- 4. system channel genesis block and channel artifacts (first run only) ----------------
if [ ! -f "$BLOCKS/genesis.block" ]; then
  log "creating the system channel genesis block and the '$CHANNEL' channel transactions"
  export FABRIC_CFG_PATH="$CONFIG"
  configtxgen -profile TrainproofOrdererGenesis -channelID system-channel \
    -outputBlock "$BLOCKS/genesis.block.tmp" 2>>"$TRAINPROOF_HOME/logs/configtxgen.log"
  configtxgen -profile TrainproofChannel -channelID "$CHANNEL" \
    -outputCreateChannelTx "$BLOCKS/$CHANNEL.tx" 2>>"$TRAINPROOF_HOME/logs/configtxgen.log"
  for org in "${ORGS[@]}"; do
    configtxgen -profile TrainproofChannel -channelID "$CHANNEL" -asOrg "$(org_msp "$org")" \
      -outputAnchorPeersUpdate "$BLOCKS/anchors-$org.tx" 2>>"$TRAINPROOF_HOME/logs/configtxgen.log"
  done
  unset FABRIC_CFG_PATH
  mv "$BLOCKS/genesis.block.tmp" "$BLOCKS/genesis.block"
fi

# ---- 5. orderers, then peers ---------------------------------------------------------------
start_node() {
  local name=$1; shift
  if is_running "$name"; then return; fi
  log "starting $name on 127.0.0.1:${NODE_PORT[$name]} (operations ${NODE_OPS_PORT[$name]}; log logs/$name.log)"
  ( export FABRIC_CFG_PATH="$(node_cfg "$name")"; start_process "$name" "$@" )
}
for o in "${ORDERERS[@]}"; do start_node "$o" "$BIN_DIR/orderer"; done
wait_healthy() {  # a node that exits during start-up fails at once, with its last log lines
  local name=$1
  alive_and_healthy() { is_running "$name" || { tail -n 15 "$TRAINPROOF_HOME/logs/$name.log" >&2; die "$name exited; see $TRAINPROOF_HOME/logs/$name.log"; }; healthy "$name"; }
  wait_for "$name" 60 alive_and_healthy || die "$name is not healthy after 60s; see $TRAINPROOF_HOME/logs/$name.log"
}
for o in "${ORDERERS[@]}"; do wait_healthy "$o"; done
for p in "${PEERS[@]}"; do start_node "$p" "$BIN_DIR/peer" node start; done
for p in "${PEERS[@]}"; do wait_healthy "$p"; done
# Healthy is not ready: the orderers accept transactions only once Raft has elected a leader.
for ch in system-channel $([ -f "$BLOCKS/$CHANNEL.block" ] && echo "$CHANNEL"); do
  wait_for "raft" 60 raft_leader "$ch" >/dev/null || die "no Raft leader for $ch after 60s; see $TRAINPROOF_HOME/logs/orderer*.log"
done
log "orderers and peers are up (Raft leader: $(raft_leader system-channel))"

# ---- 6. channel: create, join, anchor peers (first run only) -------------------------------
if [ ! -f "$BLOCKS/$CHANNEL.block" ]; then
  log "creating channel '$CHANNEL'"
  create_or_fetch() {  # a retry after a create that did reach the orderer must fetch instead
    as_admin org1 peer channel create -c "$CHANNEL" -f "$BLOCKS/$CHANNEL.tx" \
        --outputBlock "$BLOCKS/$CHANNEL.block.tmp" $(orderer_args) \
      || as_admin org1 peer channel fetch 0 "$BLOCKS/$CHANNEL.block.tmp" -c "$CHANNEL" $(orderer_args)
  }
  retry 60 "peer channel create" create_or_fetch
  mv "$BLOCKS/$CHANNEL.block.tmp" "$BLOCKS/$CHANNEL.block"
  wait_for "raft" 60 raft_leader "$CHANNEL" >/dev/null || die "no Raft leader for $CHANNEL after 60s"
fi
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
for org in "${ORGS[@]}"; do
  if [ ! -f "$BLOCKS/anchors-$org.done" ]; then
    log "setting the anchor peer of $(org_msp "$org")"
    retry 60 "anchor peer update ($org)" \
      as_admin "$org" peer channel update -c "$CHANNEL" -f "$BLOCKS/anchors-$org.tx" $(orderer_args)
    touch "$BLOCKS/anchors-$org.done"
  fi
done

# ---- 7. chaincode as a service: package, install, server, approve, commit -----------------
# The package holds only connection.json (where the chaincode server listens, and the PEM TLS
# material the peers use to reach it); it is built byte-for-byte reproducibly, so its package
# ID (label:sha256 of the file) is stable for this state directory.
if [ ! -f "$CC/$CC_NAME.tar.gz" ]; then
  log "packaging chaincode $CC_LABEL (type ccaas, server $CC_ADDRESS)"
  pkg=$(mktemp -d)
  python3 - "$CC/tls" "$CC_ADDRESS" > "$pkg/connection.json" <<'EOF'
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
  printf '{"type":"ccaas","label":"%s"}\n' "$CC_LABEL" > "$pkg/metadata.json"
  chmod 644 "$pkg/connection.json" "$pkg/metadata.json"
  tarz() { tar --mtime=@0 --sort=name --owner=0 --group=0 --numeric-owner --format=gnu -C "$pkg" -cf - "$@" | gzip -n -9; }
  tarz connection.json > "$pkg/code.tar.gz"
  chmod 644 "$pkg/code.tar.gz"
  tarz code.tar.gz metadata.json > "$CC/$CC_NAME.tar.gz.tmp"
  cp "$pkg/connection.json" "$CC/connection.json"
  rm -rf "$pkg"
  mv "$CC/$CC_NAME.tar.gz.tmp" "$CC/$CC_NAME.tar.gz"
fi
PACKAGE_ID="$CC_LABEL:$(sha256sum "$CC/$CC_NAME.tar.gz" | cut -d' ' -f1)"
[ "$(cat "$CC/package_id" 2>/dev/null)" = "$PACKAGE_ID" ] || echo "$PACKAGE_ID" > "$CC/package_id"

installed() { as_admin "$1" peer lifecycle chaincode queryinstalled 2>/dev/null | grep -F "Package ID: $PACKAGE_ID," >/dev/null; }
install_cc() { installed "$1" || as_admin "$1" peer lifecycle chaincode install "$CC/$CC_NAME.tar.gz"; }
for org in "${ORGS[@]}"; do
  if ! installed "$org"; then
    log "installing $PACKAGE_ID on peer0.$org"
    retry 60 "chaincode install (peer0.$org)" install_cc "$org"
  fi
done

# The chaincode server (Python, chaincode/) runs before the definition is committed: on commit
# each peer connects to it right away (and again on the first invoke if that failed).
if have_chaincode_server; then
  if ! is_running chaincode; then
    log "starting the chaincode server on $CC_ADDRESS (log logs/chaincode.log)"
    ( cd "$REPO_ROOT" && start_process chaincode "$VENV/bin/python" -m chaincode --address "$CC_ADDRESS" \
        --ccid "$PACKAGE_ID" --tls-key "$CC/tls/server.key" --tls-cert "$CC/tls/server.crt" \
        --tls-client-ca "$CC/tls/ca.crt" )
  fi
  chaincode_listening() {
    is_running chaincode || { tail -n 15 "$TRAINPROOF_HOME/logs/chaincode.log" >&2; die "the chaincode server exited"; }
    port_open "$CC_ADDRESS"
  }
  wait_for chaincode 60 chaincode_listening \
    || die "the chaincode server does not listen on $CC_ADDRESS; see $TRAINPROOF_HOME/logs/chaincode.log"
fi

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
      --package-id "$PACKAGE_ID" $(orderer_args)
  }
  for org in "${ORGS[@]}"; do
    if ! approved "$org"; then
      log "approving $CC_NAME v$CC_VERSION seq $CC_SEQUENCE for $(org_msp "$org")"
      # Right after channel creation this can fail for a moment ("no Raft leader"): retry.
      retry 60 "approveformyorg ($(org_msp "$org"))" approve "$org"
    fi
  done
  log "committing $CC_NAME on '$CHANNEL' (endorsed by both orgs' peers)"
  peers=()
  for p in "${PEERS[@]}"; do
    peers+=(--peerAddresses "127.0.0.1:${NODE_PORT[$p]}" --tlsRootCertFiles "$(org_tlsca "$(peer_org "$p")")")
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
            "operations": "https://127.0.0.1:%d" % ops}
peers = [$(for p in "${PEERS[@]}"; do printf 'node("%s", "127.0.0.1:%s", "%s", "%s", "%s", %s), ' \
  "$p" "${NODE_PORT[$p]}" "$(node_tlsca "$p")" "$(node_host "$p")" "$(org_msp "$(peer_org "$p")")" "${NODE_OPS_PORT[$p]}"; done)]
orderers = [$(for o in "${ORDERERS[@]}"; do printf 'node("%s", "127.0.0.1:%s", "%s", "%s", "OrdererMSP", %s), ' \
  "$o" "${NODE_PORT[$o]}" "$ORDERER_TLSCA" "$(node_host "$o")" "${NODE_OPS_PORT[$o]}"; done)]
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
services["chaincode"] = {"address": "$CC_ADDRESS", "package_id": "$PACKAGE_ID"}
profile = {
    "fabric_version": "$FABRIC_VERSION", "channel": "$CHANNEL", "chaincode": "$CC_NAME",
    "peers": peers, "orderers": orderers, "identities": identities, "services": services,
}
new = json.dumps(profile, indent=2) + "\n"
if new != old:
    open(out + ".tmp", "w").write(new)
    os.replace(out + ".tmp", out)
EOF

# ---- 9. readiness: the chaincode answers through the peer ---------------------------------
if have_chaincode_server; then
  ping() { as_admin org1 peer chaincode query -C "$CHANNEL" -n "$CC_NAME" -c '{"Args":["Ping"]}'; }
  retry 60 "chaincode Ping through peer0.org1" ping
  log "network is up: channel '$CHANNEL', chaincode '$CC_NAME' answers ($PACKAGE_ID)"
else
  log "network is up: channel '$CHANNEL', chaincode '$CC_NAME' committed; no chaincode server yet (chaincode/__main__.py missing)"
fi

# ---- 10. artifact storage (MinIO) and the task queue (Redis) -------------------------------
minio_start
redis_start
minio_wait
minio_setup
redis_wait

# ---- 11. verification service: verifiers registered, dispatcher and one worker each ---------
verifiers_start
log "all services are up: make network-status shows them; make network-down stops them"
