#!/usr/bin/env bash
# Redis for trainproof: the Celery broker and result backend, on 127.0.0.1 with an append-only file so
# queued work survives a restart. Sourced after network/scripts/env.sh (TRAINPROOF_HOME, log, die).
# Debian's package may run its own server on 6379; this one is separate and uses its own port and files.

REDIS_HOST=127.0.0.1
REDIS_PORT="${REDIS_PORT:-17379}"
REDIS_HOME="$TRAINPROOF_HOME/redis"
REDIS_PID_FILE="$TRAINPROOF_HOME/pids/redis.pid"
REDIS_LOG="$TRAINPROOF_HOME/logs/redis.log"

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
  redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" "$@"
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
  # Written on every start so a changed port or directory takes effect.
  cat > "$REDIS_HOME/redis.conf" <<EOF
bind $REDIS_HOST
port $REDIS_PORT
protected-mode yes
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
