#!/usr/bin/env bash
# Redis for trainproof: the Celery broker and result backend, on 127.0.0.1 (or the topology's
# SERVICE_HOST) with an append-only file so queued work survives a restart. Sourced after
# network/scripts/env.sh (TRAINPROOF_HOME, log, die).
# Debian's package may run its own server on 6379; this one is separate and uses its own port and files.
#
# Nobody connects without a password (the default user is off). Two ACL users, with random
# passwords made at the first start:
#   trainproof  the dispatcher and workers (URL in redis/broker.url): every command except the
#               dangerous ones (FLUSHALL, FLUSHDB, SHUTDOWN, CONFIG, DEBUG, KEYS, MONITOR, ...)
#   admin       operators and the test suite (URL in redis/admin.url): every command
# Both files are 0600 in $TRAINPROOF_HOME, like MinIO's credentials.

REDIS_HOST="$SERVICE_HOST"   # lib/nodes.sh: 127.0.0.1 unless topology.env says otherwise
REDIS_PORT="${REDIS_PORT:-17379}"
REDIS_HOME="$TRAINPROOF_HOME/redis"
REDIS_PID_FILE="$TRAINPROOF_HOME/pids/redis.pid"
REDIS_LOG="$TRAINPROOF_HOME/logs/redis.log"
REDIS_ACL="$REDIS_HOME/users.acl"
REDIS_BROKER_URL_FILE="$REDIS_HOME/broker.url"
REDIS_ADMIN_URL_FILE="$REDIS_HOME/admin.url"

# Prints the PID of our Redis; fails when none runs (a stale PID file is removed). Redis renames its
# process to "redis-server HOST:PORT", which is checked so a recycled PID is never taken for it.
_redis_pid() {
  local pid state
  [ -f "$REDIS_PID_FILE" ] || return 1
  pid=$(cat "$REDIS_PID_FILE")
  if state=$(ps -o stat= -p "$pid" 2>/dev/null) && [[ $state != Z* ]] \
      && grep -qaF -- "redis-server" "/proc/$pid/cmdline" 2>/dev/null; then
    echo "$pid"
    return 0
  fi
  rm -f "$REDIS_PID_FILE"
  return 1
}

_redis_cli() {
  redis-cli --no-auth-warning -u "$(cat "$REDIS_ADMIN_URL_FILE")" "$@"
}

# The ACL file and the two URL files, once (a changed host or port rewrites the URLs, not the passwords).
_redis_credentials() {
  local service admin
  if [ ! -f "$REDIS_ACL" ]; then
    service=$(openssl rand -hex 24) admin=$(openssl rand -hex 24)
    ( umask 077
      printf 'user default off
user trainproof on >%s ~* &* +@all -@dangerous +info
user admin on >%s ~* &* +@all
' \
        "$service" "$admin" > "$REDIS_ACL" )
  fi
  service=$(sed -n 's/^user trainproof on >\([0-9a-f]*\) .*/\1/p' "$REDIS_ACL")
  admin=$(sed -n 's/^user admin on >\([0-9a-f]*\) .*/\1/p' "$REDIS_ACL")
  ( umask 077
    printf 'redis://trainproof:%s@%s:%s/0\n' "$service" "$REDIS_HOST" "$REDIS_PORT" > "$REDIS_BROKER_URL_FILE"
    printf 'redis://admin:%s@%s:%s/0\n' "$admin" "$REDIS_HOST" "$REDIS_PORT" > "$REDIS_ADMIN_URL_FILE" )
}

redis_start() {
  local pid
  if pid=$(_redis_pid); then
    log "Redis already running (pid $pid)"
    return 0
  fi
  command -v redis-server >/dev/null || die "redis-server is not installed: run network/scripts/install.sh redis"
  (exec 3<>"/dev/tcp/$REDIS_HOST/$REDIS_PORT") 2>/dev/null \
    && die "something else listens on $REDIS_HOST:$REDIS_PORT (not the Redis of $TRAINPROOF_HOME): stop it or set REDIS_PORT"
  mkdir -p "$REDIS_HOME/data" "$(dirname "$REDIS_PID_FILE")" "$(dirname "$REDIS_LOG")"
  _redis_credentials
  # Written on every start so a changed port or directory takes effect.
  cat > "$REDIS_HOME/redis.conf" <<EOF
bind $REDIS_HOST
port $REDIS_PORT
protected-mode yes
aclfile $REDIS_ACL
daemonize no
logfile ""
dir "$REDIS_HOME/data"
# Every write goes to the append-only file, fsynced each second; a clean stop fsyncs it fully.
appendonly yes
appendfsync everysec
EOF
  log "starting Redis on $REDIS_HOST:$REDIS_PORT (data in $REDIS_HOME/data)"
  nohup redis-server "$REDIS_HOME/redis.conf" >>"$REDIS_LOG" 2>&1 </dev/null &
  echo $! > "$REDIS_PID_FILE"
}

# Returns once Redis answers PING (not while it is still loading its append-only file).
redis_wait() {
  local timeout="${1:-30}" start=$SECONDS pid
  while :; do
    if ! pid=$(_redis_pid); then
      tail -n 20 "$REDIS_LOG" >&2 2>/dev/null
      die "Redis exited during start-up; see $REDIS_LOG"
    fi
    [ "$(_redis_cli ping 2>/dev/null)" = PONG ] && return 0
    (( SECONDS - start < timeout )) || die "Redis (pid $pid) did not answer on $REDIS_HOST:$REDIS_PORT within ${timeout}s; see $REDIS_LOG"
    sleep 0.2
  done
}

# Stops our Redis by PID. On SIGTERM Redis fsyncs the append-only file before it exits.
redis_stop() {
  local pid i
  if ! pid=$(_redis_pid); then
    log "Redis is not running"
    return 0
  fi
  log "stopping Redis (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do
    _redis_pid >/dev/null || return 0
    sleep 0.1
  done
  log "Redis (pid $pid) ignored SIGTERM for 30 s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$REDIS_PID_FILE"
}
