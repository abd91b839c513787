#!/usr/bin/env bash
# MinIO for trainproof: one server on 127.0.0.1 holding snapshots, datasets and verifier evidence.
# Sourced by the network up/down scripts after network/scripts/env.sh (TRAINPROOF_HOME, MINIO_BIN_DIR,
# VENV, VENV_DEPS, log, die). Everything it creates lives under $TRAINPROOF_HOME/minio: data, TLS
# certificate, secrets (root password, SSE master key) and credentials.json with the per-org keys.

MINIO_ADDRESS="${MINIO_ADDRESS:-$SERVICE_HOST:17900}"
MINIO_ORGS="${MINIO_ORGS:-org1 org2}"
MINIO_RETENTION_DAYS="${MINIO_RETENTION_DAYS:-3650}"
MINIO_HOME="$TRAINPROOF_HOME/minio"
MINIO_PID_FILE="$TRAINPROOF_HOME/pids/minio.pid"
MINIO_LOG="$TRAINPROOF_HOME/logs/minio.log"

# Prints the PID of this state directory's MinIO; fails when none runs (a stale PID file is removed).
# The command line must name our data directory, so a recycled PID is never mistaken for MinIO.
_minio_pid() {
  local pid state
  [ -f "$MINIO_PID_FILE" ] || return 1
  pid=$(cat "$MINIO_PID_FILE")
  if state=$(ps -o stat= -p "$pid" 2>/dev/null) && [[ $state != Z* ]] \
      && grep -qaF -- "$MINIO_HOME/data" "/proc/$pid/cmdline" 2>/dev/null; then
    echo "$pid"
    return 0
  fi
  rm -f "$MINIO_PID_FILE"
  return 1
}

# Secrets are made once and kept: a new SSE key would make every stored object unreadable.
_minio_secrets() {
  local dir="$MINIO_HOME/secrets" old_umask
  old_umask=$(umask)
  umask 077
  mkdir -p "$dir"
  [ -s "$dir/root_user" ] || echo "trainproof-root" > "$dir/root_user"
  [ -s "$dir/root_password" ] || head -c 30 /dev/urandom | base64 | tr -d '/+=\n' > "$dir/root_password"
  if [ ! -s "$dir/kms_key" ]; then
    if [ -d "$MINIO_HOME/data/.minio.sys" ]; then
      umask "$old_umask"
      die "MinIO data exists in $MINIO_HOME/data but its key $dir/kms_key is gone:" \
        "the objects cannot be decrypted; run \`make network-clean\` to start afresh"
    fi
    echo "trainproof-sse:$(head -c 32 /dev/urandom | base64)" > "$dir/kms_key"
  fi
  umask "$old_umask"
}

# A self-signed certificate for 127.0.0.1; clients trust exactly this file (credentials.json names it).
_minio_tls() {
  local dir="$MINIO_HOME/certs"
  [ -s "$dir/public.crt" ] && [ -s "$dir/private.key" ] && return 0
  mkdir -p "$dir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=trainproof-minio" -addext "subjectAltName=IP:${MINIO_ADDRESS%:*},DNS:localhost" \
    -keyout "$dir/private.key" -out "$dir/public.crt" 2>/dev/null \
    || die "openssl could not create MinIO's TLS certificate in $dir"
  chmod 600 "$dir/private.key"
}

_minio_port_open() {
  (exec 3<>"/dev/tcp/${MINIO_ADDRESS%:*}/${MINIO_ADDRESS##*:}") 2>/dev/null
}

minio_start() {
  local pid
  if pid=$(_minio_pid); then
    log "MinIO already running (pid $pid)"
    return 0
  fi
  [ -x "$MINIO_BIN_DIR/minio" ] || die "no MinIO binary at $MINIO_BIN_DIR/minio: run network/scripts/install.sh minio"
  _minio_port_open && die "something else listens on $MINIO_ADDRESS (not the MinIO of $TRAINPROOF_HOME): stop it or set MINIO_ADDRESS"
  mkdir -p "$MINIO_HOME/data" "$(dirname "$MINIO_PID_FILE")" "$(dirname "$MINIO_LOG")"
  _minio_secrets
  _minio_tls
  log "starting MinIO on https://$MINIO_ADDRESS (data in $MINIO_HOME/data)"
  # Secrets go by file, not by value, so they never show in the process environment.
  MINIO_ROOT_USER_FILE="$MINIO_HOME/secrets/root_user" \
  MINIO_ROOT_PASSWORD_FILE="$MINIO_HOME/secrets/root_password" \
  MINIO_KMS_SECRET_KEY_FILE="$MINIO_HOME/secrets/kms_key" \
  MINIO_KMS_AUTO_ENCRYPTION=on \
  MINIO_BROWSER=off \
  MINIO_UPDATE=off \
    nohup "$MINIO_BIN_DIR/minio" server --address "$MINIO_ADDRESS" --certs-dir "$MINIO_HOME/certs" \
      "$MINIO_HOME/data" >>"$MINIO_LOG" 2>&1 </dev/null &
  echo $! > "$MINIO_PID_FILE"
}

# Returns once MinIO answers its readiness probe; dies if it exits or takes longer than $1 seconds.
minio_wait() {
  local timeout="${1:-60}" start=$SECONDS pid
  while :; do
    if ! pid=$(_minio_pid); then
      tail -n 20 "$MINIO_LOG" >&2 2>/dev/null
      die "MinIO exited during start-up; see $MINIO_LOG"
    fi
    curl -fsS --max-time 2 --cacert "$MINIO_HOME/certs/public.crt" -o /dev/null \
      "https://$MINIO_ADDRESS/minio/health/ready" 2>/dev/null && return 0
    (( SECONDS - start < timeout )) || die "MinIO (pid $pid) did not become ready on $MINIO_ADDRESS within ${timeout}s; see $MINIO_LOG"
    sleep 0.3
  done
}

# Stops our MinIO by PID: SIGTERM, then SIGKILL if it is still there after 30 s.
minio_stop() {
  local pid i
  if ! pid=$(_minio_pid); then
    log "MinIO is not running"
    return 0
  fi
  log "stopping MinIO (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do
    _minio_pid >/dev/null || return 0
    sleep 0.1
  done
  log "MinIO (pid $pid) ignored SIGTERM for 30 s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$MINIO_PID_FILE"
}

# Buckets (versioned, object-locked, encrypted), role policies and one access key per org and role,
# written to $MINIO_HOME/credentials.json. Safe to run again: existing keys are kept.
minio_setup() {
  [ -x "$VENV/bin/python" ] || die "no Python environment for MinIO's set-up: run network/scripts/install.sh python"
  # shellcheck disable=SC2086  # MINIO_ORGS is a word list on purpose
  "$VENV/bin/python" -m trainproof.storage.provision \
    --home "$TRAINPROOF_HOME" --endpoint "$MINIO_ADDRESS" --retention-days "$MINIO_RETENTION_DAYS" \
    --orgs $MINIO_ORGS \
    || die "MinIO set-up (buckets, users, policies) failed; see the messages above and $MINIO_LOG"
}
