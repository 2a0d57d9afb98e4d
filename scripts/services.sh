#!/usr/bin/env bash
# Local backing services for DictaMesh development, tests and CI: PostgreSQL, Redis and a
# single-node Apache Kafka (KRaft), all bound to 127.0.0.1, without Docker. On request only,
# kafka-secure: a second broker that accepts only SCRAM-SHA-512 logins, over plaintext and TLS.
#
#   scripts/services.sh up      [postgres|redis|kafka|kafka-secure ...]   install, start, wait
#   scripts/services.sh down    [svc ...]                    stop what this script started
#   scripts/services.sh restart [svc ...]                    down + up (data is kept)
#   scripts/services.sh kill    [svc ...]                    crash it (SIGKILL / pg immediate)
#   scripts/services.sh status  [svc ...]                    exit 0 if all up, 3 otherwise
#   scripts/services.sh env                                  print the DICTAMESH_* exports
#   scripts/services.sh logs    <svc>                        tail the service's log
#
# Everything lives under .services/ (git-ignored; override with DICTAMESH_SERVICES_DIR):
#   postgres/{data,run,postgres.log}   our own cluster (initdb/pg_ctl), not Debian's "main"
#   redis/{data,redis.conf,redis.pid,redis.log}
#   kafka/{libs,data,server.properties,kafka.pid,kafka.log}
#   kafka-secure/{data,tls/ca.pem,server.properties,kafka.pid,kafka.log} (jars: kafka/libs)
# Ports: DICTAMESH_PG_PORT (5432), DICTAMESH_REDIS_PORT (6379), DICTAMESH_KAFKA_PORT (9092),
# DICTAMESH_KAFKA_CONTROLLER_PORT (29093); kafka-secure: DICTAMESH_KAFKA_SECURE_PORT (9094,
# SASL_PLAINTEXT), DICTAMESH_KAFKA_SECURE_TLS_PORT (9095, SASL_SSL),
# DICTAMESH_KAFKA_SECURE_CONTROLLER_PORT (29095). Progress goes to stderr; `up` and `env` print
# `export DICTAMESH_...=...` lines on stdout, so `eval "$(scripts/services.sh up)"` works.
# If a port is held by DictaMesh servers of another checkout (say a developer's, while CI's
# fresh clone runs `up`), `up` stops them and starts its own; DICTAMESH_SERVICES_TAKEOVER=0
# makes it fail instead. See docs/services.md. docker-compose.yml offers the same services for
# Docker users.

set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCRIPTS_DIR="$REPO_ROOT/scripts"
SERVICES_DIR=${DICTAMESH_SERVICES_DIR:-$REPO_ROOT/.services}
HOST=127.0.0.1
PG_PORT=${DICTAMESH_PG_PORT:-5432}
REDIS_PORT=${DICTAMESH_REDIS_PORT:-6379}
KAFKA_PORT=${DICTAMESH_KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${DICTAMESH_KAFKA_CONTROLLER_PORT:-29093}
# Maven's local repository. Default: the user's ~/.m2, which outlives `rm -rf .services` and
# fresh clones (CI clones afresh on the same machine), so a re-download is rare. Set
# DICTAMESH_MAVEN_REPO=.services/m2 (or any path) to keep it with the checkout instead.
MAVEN_REPO=${DICTAMESH_MAVEN_REPO:-${HOME:-/root}/.m2/repository}
PG_START_TIMEOUT=${DICTAMESH_PG_START_TIMEOUT:-60}
REDIS_START_TIMEOUT=${DICTAMESH_REDIS_START_TIMEOUT:-30}
KAFKA_START_TIMEOUT=${DICTAMESH_KAFKA_START_TIMEOUT:-90}
STOP_TIMEOUT=${DICTAMESH_STOP_TIMEOUT:-30}
KAFKA_SECURE_PORT=${DICTAMESH_KAFKA_SECURE_PORT:-9094}
KAFKA_SECURE_TLS_PORT=${DICTAMESH_KAFKA_SECURE_TLS_PORT:-9095}
KAFKA_SECURE_CONTROLLER_PORT=${DICTAMESH_KAFKA_SECURE_CONTROLLER_PORT:-29095}
# The SCRAM user every client of kafka-secure logs in as (set when its storage is formatted).
KAFKA_SECURE_USER=${DICTAMESH_KAFKA_SECURE_USER:-dictamesh}
KAFKA_SECURE_PASSWORD=${DICTAMESH_KAFKA_SECURE_PASSWORD:-dictamesh-secret}
# What `up`/`down` without names act on; kafka-secure only when named.
ALL_SERVICES=(postgres redis kafka)
KNOWN_SERVICES=(postgres redis kafka kafka-secure)

PG_DIR="$SERVICES_DIR/postgres"
PG_DATA="$PG_DIR/data"
PG_LOG="$PG_DIR/postgres.log"
REDIS_DIR="$SERVICES_DIR/redis"
REDIS_PIDFILE="$REDIS_DIR/redis.pid"
REDIS_LOG="$REDIS_DIR/redis.log"
KAFKA_DIR="$SERVICES_DIR/kafka"
KAFKA_LIBS="$KAFKA_DIR/libs"
KAFKA_DATA="$KAFKA_DIR/data"
KAFKA_PIDFILE="$KAFKA_DIR/kafka.pid"
KAFKA_LOG="$KAFKA_DIR/kafka.log"
KAFKA_CONFIG="$KAFKA_DIR/server.properties"
KSEC_DIR="$SERVICES_DIR/kafka-secure"
KSEC_DATA="$KSEC_DIR/data"
KSEC_TLS="$KSEC_DIR/tls"
KSEC_PIDFILE="$KSEC_DIR/kafka.pid"
KSEC_LOG="$KSEC_DIR/kafka.log"
KSEC_CONFIG="$KSEC_DIR/server.properties"

log() { printf '[services] %s\n' "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}
is_root() { [[ $(id -u) -eq 0 ]]; }

# ---------------------------------------------------------------------------------------------
# Generic helpers
# ---------------------------------------------------------------------------------------------

# True if something accepts TCP connections on 127.0.0.1:$1 (bash's /dev/tcp: no nc needed).
port_open() {
  (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

# True if PID $1 exists and has not fully exited. Daemons here are re-parented to PID 1, which
# may reap exited children only every second or so, so `kill -0` alone would see a zombie as
# alive. A zombie leader of a thread group whose other threads are still exiting (a JVM after
# SIGKILL) still holds its sockets, so it only counts as gone once it is the last task.
pid_alive() {
  local stat tasks
  [[ -n $1 ]] && kill -0 "$1" 2>/dev/null || return 1
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != Z ]] && return 0
  tasks=$(find "/proc/$1/task" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
  ((tasks > 1))
}

# The PID stored in a pid file, or nothing.
read_pidfile() {
  local pid=""
  if [[ -r $1 ]]; then read -r pid <"$1" || true; fi
  [[ $pid =~ ^[0-9]+$ ]] && printf '%s\n' "$pid"
  return 0
}

# True if PID $1 is alive and its command line contains $2: a stale pid file whose number
# was reused by an unrelated process must not count as "running" (nor be killed).
pid_matches() {
  local pid=$1 pattern=$2 cmdline
  pid_alive "$pid" || return 1
  cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
  [[ $cmdline == *"$pattern"* ]]
}

# A running instance keeps the port it was started with; refuse to pretend it moved.
check_running_port() {
  local svc=$1 actual=$2 wanted=$3
  [[ -z $actual || $actual == "$wanted" ]] && return 0
  die "$svc is running on port $actual, not $wanted: run 'scripts/services.sh restart $svc' to move it (or unset the DICTAMESH_*_PORT override)"
}

tail_log() {
  local file=$1
  if [[ -r $file ]]; then
    log "---- last lines of $file ----"
    tail -n "${2:-40}" "$file" >&2 || true
    log "---- end of $file ----"
  else
    log "(no log file at $file)"
  fi
}

# Send $2 (a signal) to PID $1, then wait up to $3 seconds for it to exit; SIGKILL if it won't.
stop_pid() {
  local pid=$1 signal=$2 timeout=$3 waited=0
  kill "-$signal" "$pid" 2>/dev/null || return 0
  while pid_alive "$pid"; do
    if ((waited >= timeout * 5)); then
      log "pid $pid did not exit within ${timeout}s after SIG$signal; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      waited=0
      timeout=10
    fi
    sleep 0.2
    waited=$((waited + 1))
  done
}

# Poll "$check" (a function name) every 0.25 s for up to $timeout s. If the service's PID
# (from function "$pidfn") disappears meanwhile, fail at once instead of waiting it out.
# (Only liveness here, not the command line: right after a start the process may still be
# in the middle of exec'ing its real program.)
wait_until() {
  local what=$1 timeout=$2 check=$3 pidfn=$4 logfile=$5 detail=${6:-}
  local deadline=$((SECONDS + timeout)) pid
  until "$check"; do
    if [[ -n $pidfn ]]; then
      pid=$("$pidfn")
      if ! pid_alive "$pid"; then
        tail_log "$logfile"
        die "$what exited during startup (see $logfile)"
      fi
    fi
    if ((SECONDS >= deadline)); then
      tail_log "$logfile"
      [[ -n $detail && -s $detail ]] && log "last readiness check: $(cat "$detail")"
      [[ -n $pidfn ]] && log "$what is left running (pid $("$pidfn")) for inspection; 'scripts/services.sh down $what' stops it"
      die "$what not ready after ${timeout}s (see $logfile)"
    fi
    sleep 0.25
  done
}

pkg_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# Install Debian packages that are missing. `apt-get update` only when something is missing,
# so a machine that has everything never touches the network.
apt_install() {
  local missing=() pkg
  for pkg in "$@"; do
    pkg_installed "$pkg" || missing+=("$pkg")
  done
  ((${#missing[@]} == 0)) && return 0
  is_root || die "missing packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})"
  command -v apt-get >/dev/null || die "missing packages ${missing[*]} and no apt-get to install them"
  log "installing ${missing[*]} with apt-get (one-time)"
  export DEBIAN_FRONTEND=noninteractive
  local apt_log="$SERVICES_DIR/apt.log"
  mkdir -p "$SERVICES_DIR"
  {
    apt-get -q -o DPkg::Lock::Timeout=300 update &&
      apt-get -q -y -o DPkg::Lock::Timeout=300 install --no-install-recommends "${missing[@]}"
  } >"$apt_log" 2>&1 || {
    tail_log "$apt_log"
    die "apt-get install ${missing[*]} failed (see $apt_log)"
  }
}

# A package's postinst may have started (and enabled) a system-wide instance on our port.
# Stop it, and on systemd machines disable it, so it neither blocks us now nor after a reboot.
stop_system_service() {
  local unit=$1
  is_root || return 0
  if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null; then
    systemctl disable --now "$unit" >/dev/null 2>&1 || true
  elif [[ -x /etc/init.d/$unit ]] && command -v service >/dev/null; then
    service "$unit" stop >/dev/null 2>&1 || true
  fi
}

# PIDs of DictaMesh $1 servers on port $2 that another checkout (or DICTAMESH_SERVICES_DIR)
# started: e.g. a developer's services still running when CI's fresh clone runs `up`, or the
# orphans of a CI clone that has since been deleted. Recognised by command line and working
# directory; when their directory is gone, the port cannot be read back and they count anyway.
foreign_pids() {
  local svc=$1 port=$2 dir pid cmdline cwd conf p
  for dir in /proc/[0-9]*; do
    pid=${dir#/proc/}
    cmdline=$(tr '\0' ' ' 2>/dev/null <"$dir/cmdline") || continue
    case $svc in
      postgres)
        [[ $cmdline == */bin/postgres\ -D\ */postgres/data* ]] || continue
        cwd=$(readlink "$dir/cwd" 2>/dev/null) || continue
        p=$(sed -n '4p' "$cwd/postmaster.pid" 2>/dev/null || true)
        ;;
      redis)
        [[ $cmdline == redis-server\ * ]] || continue
        cwd=$(readlink "$dir/cwd" 2>/dev/null) || continue
        [[ $cwd == */redis/data || $cwd == */redis/data\ \(deleted\) ]] || continue
        p=${cmdline##*:}
        p=${p%% *}
        ;;
      kafka)
        [[ $cmdline == *kafka.Kafka\ */kafka/server.properties* ]] || continue
        conf=${cmdline##*kafka.Kafka }
        conf=${conf%% *}
        p=$(sed -n 's|^advertised.listeners=PLAINTEXT://[^:]*:\([0-9]*\).*|\1|p' "$conf" 2>/dev/null || true)
        ;;
      kafka-secure)
        [[ $cmdline == *kafka.Kafka\ */kafka-secure/server.properties* ]] || continue
        conf=${cmdline##*kafka.Kafka }
        conf=${conf%% *}
        p=$(sed -n 's|^advertised.listeners=SASL_PLAINTEXT://[^:]*:\([0-9]*\).*|\1|p' "$conf" 2>/dev/null || true)
        ;;
    esac
    [[ -z $p || $p == "$port" ]] && printf '%s\n' "$pid"
  done
  return 0
}

# Make sure nothing listens on $2 before starting $1 there: take the port over from another
# checkout's DictaMesh server (DICTAMESH_SERVICES_TAKEOVER=0 refuses), else fail clearly.
free_port() {
  local svc=$1 port=$2 hint=$3 pid pids=() signal=TERM where
  port_open "$port" || return 0
  mapfile -t pids < <(foreign_pids "$svc" "$port")
  if ((${#pids[@]})); then
    [[ ${DICTAMESH_SERVICES_TAKEOVER:-1} == 0 ]] &&
      die "port $port is held by DictaMesh $svc from another checkout (pid ${pids[*]}) and DICTAMESH_SERVICES_TAKEOVER=0"
    # SIGINT is PostgreSQL's "fast" shutdown; the others shut down cleanly on SIGTERM.
    [[ $svc == postgres ]] && signal=INT
    for pid in "${pids[@]}"; do
      where=$(readlink "/proc/$pid/cwd" 2>/dev/null || echo '?')
      log "port $port is held by DictaMesh $svc from another checkout (pid $pid, in $where): stopping it to run this checkout's own"
      # Its checkout is gone: nothing to save, and Redis would refuse to exit when its final
      # snapshot cannot be written.
      if [[ $where == *' (deleted)' ]]; then
        stop_pid "$pid" KILL "$STOP_TIMEOUT"
      else
        stop_pid "$pid" "$signal" "$STOP_TIMEOUT"
      fi
    done
  fi
  if [[ $svc == redis ]] && port_open "$port"; then
    stop_system_service redis-server
  fi
  # A stopped server's listening socket can take a moment to disappear.
  for _ in {1..20}; do
    port_open "$port" || return 0
    sleep 0.25
  done
  die "port $port is already in use by another process (not ours); free it or set $hint"
}

ensure_services_dir() {
  mkdir -p "$SERVICES_DIR"
  # The default location is already ignored by the repo's .gitignore; make sure of it.
  local gitignore="$REPO_ROOT/.gitignore"
  if [[ $SERVICES_DIR == "$REPO_ROOT/.services" ]] &&
    ! grep -qxE '/?\.services/?' "$gitignore" 2>/dev/null; then
    printf '.services/\n' >>"$gitignore"
  fi
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL: Debian's binaries, our own cluster in .services/postgres/data
# ---------------------------------------------------------------------------------------------

pg_bindir() {
  if [[ -n ${DICTAMESH_PG_BINDIR:-} ]]; then
    printf '%s\n' "$DICTAMESH_PG_BINDIR"
    return 0
  fi
  local dir
  dir=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin 2>/dev/null | sort -V | tail -n 1)
  [[ -n $dir && -x $dir/pg_ctl && -x $dir/initdb ]] && printf '%s\n' "$dir"
  return 0
}

# initdb/pg_ctl refuse to run as root: run them as the "postgres" OS user when we are root.
pg_as_owner() {
  if is_root; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# The unix socket (used only for our superuser bootstrap) lives with the cluster; socket paths
# are limited to ~107 bytes, so a deep checkout falls back to /tmp.
pg_socket_dir() {
  local dir="$PG_DIR/run"
  ((${#dir} > 90)) && dir="/tmp/dictamesh-pg-$PG_PORT"
  printf '%s\n' "$dir"
}

# The postmaster's PID is the first line of its own postmaster.pid.
postgres_pid() { read_pidfile "$PG_DATA/postmaster.pid"; }

postgres_running() { pid_matches "$(postgres_pid)" postgres; }
# postmaster.pid's 4th line is the port the running server listens on.
postgres_running_port() { sed -n '4p' "$PG_DATA/postmaster.pid" 2>/dev/null || true; }

postgres_ready() {
  "$PG_BIN/pg_isready" -q -h "$HOST" -p "$PG_PORT" -d postgres -t 2 >/dev/null 2>&1
}

postgres_install() {
  PG_BIN=$(pg_bindir)
  if [[ -z $PG_BIN ]]; then
    apt_install postgresql
    PG_BIN=$(pg_bindir)
    [[ -n $PG_BIN ]] || die "PostgreSQL server binaries not found under /usr/lib/postgresql"
  fi
  if is_root; then
    id postgres >/dev/null 2>&1 || die "no 'postgres' OS user (install the postgresql package)"
  fi
  pgvector_install
}

# pgvector (semantic search, docs/search.md): Debian 12 packages none, so it is built from the
# vendored source against postgresql-server-dev-<major>. Installing that dev package may
# upgrade the server package under a running server, which then cannot load plpgsql until
# restarted: restart it when that happened.
PGVECTOR_VERSION=0.8.6
PGVECTOR_SHA256=5743dac39fdfa740533cf95e71b033bd5513b71dda194b3cf19464ccbf76f3fb
pgvector_install() {
  local pg_config sharedir major
  major=$(basename "$(dirname "$PG_BIN")")
  pg_config="$PG_BIN/pg_config"
  [[ -x $pg_config ]] || pg_config=/usr/lib/postgresql/$major/bin/pg_config
  if [[ -x $pg_config ]]; then
    sharedir=$("$pg_config" --sharedir)
    [[ -f $sharedir/extension/vector--$PGVECTOR_VERSION.sql ]] && return 0
  fi
  local before after
  before=$(dpkg-query -W -f='${Version}' "postgresql-$major" 2>/dev/null || true)
  apt_install "postgresql-server-dev-$major" make gcc
  after=$(dpkg-query -W -f='${Version}' "postgresql-$major" 2>/dev/null || true)
  pg_config=/usr/lib/postgresql/$major/bin/pg_config
  local tarball="$SCRIPTS_DIR/vendor/pgvector-$PGVECTOR_VERSION.tar.gz"
  echo "$PGVECTOR_SHA256  $tarball" | sha256sum -c --quiet - ||
    die "$tarball does not match its checksum"
  local build="$SERVICES_DIR/build"
  mkdir -p "$build"
  rm -rf "$build/pgvector-$PGVECTOR_VERSION"
  tar -xzf "$tarball" -C "$build"
  log "building pgvector $PGVECTOR_VERSION (one-time, ~20 s)"
  local build_log="$SERVICES_DIR/pgvector-build.log"
  {
    make -C "$build/pgvector-$PGVECTOR_VERSION" PG_CONFIG="$pg_config" OPTFLAGS="" &&
      make -C "$build/pgvector-$PGVECTOR_VERSION" PG_CONFIG="$pg_config" install
  } >"$build_log" 2>&1 || {
    tail_log "$build_log"
    die "building pgvector failed (see $build_log)"
  }
  if [[ $before != "$after" ]] && postgres_running; then
    log "postgresql-$major was upgraded ($before -> $after) under the running server: restarting it"
    postgres_down fast
  fi
}

# Debian's own cluster(s) on our port (apt's postinst creates and starts "main" on 5432):
# stop them and mark them manual so they do not come back at boot.
postgres_stop_system_clusters() {
  is_root && command -v pg_lsclusters >/dev/null || return 0
  local ver name port status _rest
  while read -r ver name port status _rest; do
    [[ $port == "$PG_PORT" ]] || continue
    if [[ -w /etc/postgresql/$ver/$name/start.conf ]]; then
      echo manual >"/etc/postgresql/$ver/$name/start.conf"
    fi
    if [[ $status == online* ]]; then
      log "stopping Debian's system cluster $ver/$name on port $port (set to manual start)"
      pg_ctlcluster "$ver" "$name" stop >/dev/null 2>&1 || true
      stop_system_service postgresql
    fi
  done < <(pg_lsclusters -h 2>/dev/null || true)
}

postgres_init() {
  mkdir -p "$PG_DIR"
  if is_root; then
    chown postgres:postgres "$PG_DIR"
    runuser -u postgres -- test -w "$PG_DIR" ||
      die "OS user 'postgres' cannot reach $PG_DIR (a parent directory is not world-searchable?); set DICTAMESH_SERVICES_DIR elsewhere"
  fi
  [[ -s $PG_DATA/PG_VERSION ]] && return 0
  log "initialising PostgreSQL cluster in $PG_DATA"
  # Trust on the local socket (only the owner can reach it: the bootstrap connection below);
  # passwords (SCRAM) on TCP, so the roles' passwords are really checked.
  pg_as_owner "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >"$SERVICES_DIR/postgres-initdb.log" 2>&1 || {
    tail_log "$SERVICES_DIR/postgres-initdb.log"
    die "initdb failed"
  }
  # Settings that may change between runs (port, socket) go into dictamesh.conf, rewritten on
  # every start; postgresql.conf itself stays as initdb wrote it plus this include.
  printf "\n# Added by scripts/services.sh\ninclude_if_exists = 'dictamesh.conf'\n" |
    pg_as_owner tee -a "$PG_DATA/postgresql.conf" >/dev/null
}

postgres_write_conf() {
  local sockdir
  sockdir=$(pg_socket_dir)
  pg_as_owner mkdir -p "$sockdir"
  pg_as_owner tee "$PG_DATA/dictamesh.conf" >/dev/null <<EOF
# Written by scripts/services.sh on every start; edit the script, not this file.
listen_addresses = '$HOST'
port = $PG_PORT
unix_socket_directories = '$sockdir'
max_connections = 200
# A throwaway development cluster: skip fsync (a killed server loses nothing, since writes are
# still in the OS page cache; only a machine crash could). synchronous_commit stays on so a
# committed transaction survives \`services.sh kill postgres\`.
fsync = off
full_page_writes = off
log_min_messages = warning
log_connections = off
log_line_prefix = '%m [%p] %q%u@%d '
EOF
}

postgres_bootstrap_sql() {
  # psql reads the script from stdin so the postgres OS user needs no access to the checkout.
  # PGOPTIONS applies to the \connect-ed sessions too: hide "already exists, skipping" notices.
  PGOPTIONS='-c client_min_messages=warning' pg_as_owner "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$(pg_socket_dir)" -p "$PG_PORT" \
    -U postgres -d postgres -f - <"$SCRIPTS_DIR/postgres-init.sql" >/dev/null ||
    die "applying scripts/postgres-init.sql failed"
}

postgres_up() {
  postgres_install
  if postgres_running; then
    check_running_port postgres "$(postgres_running_port)" "$PG_PORT"
    log "postgres already running (pid $(postgres_pid), port $PG_PORT)"
  else
    postgres_stop_system_clusters
    free_port postgres "$PG_PORT" DICTAMESH_PG_PORT
    postgres_init
    postgres_write_conf
    log "starting postgres on $HOST:$PG_PORT"
    # -w: pg_ctl itself waits until the server accepts connections (or fails).
    # 9>&-: the daemon must not inherit our lock's descriptor (it would hold the lock forever).
    pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t "$PG_START_TIMEOUT" start \
      >/dev/null 9>&- || {
      tail_log "$PG_LOG"
      die "postgres failed to start (see $PG_LOG)"
    }
  fi
  wait_until postgres "$PG_START_TIMEOUT" postgres_ready postgres_pid "$PG_LOG"
  postgres_bootstrap_sql
  log "postgres ready on $HOST:$PG_PORT (pid $(postgres_pid))"
}

postgres_down() {
  local mode=${1:-fast}
  PG_BIN=$(pg_bindir)
  if ! postgres_running; then
    log "postgres not running"
    return 0
  fi
  log "stopping postgres (pid $(postgres_pid), mode $mode)"
  # fast: roll back sessions and checkpoint; immediate: crash-like, recovery on next start.
  pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DATA" -m "$mode" -w -t "$STOP_TIMEOUT" stop >/dev/null ||
    {
      log "pg_ctl stop failed; killing postmaster"
      stop_pid "$(postgres_pid)" QUIT 10
    }
}

postgres_status_line() {
  status_line postgres "$(postgres_running_port)" "$PG_PORT" "$(postgres_pid)" postgres
}

# ---------------------------------------------------------------------------------------------
# Redis: Debian's redis-server with our own config
# ---------------------------------------------------------------------------------------------

redis_pid() { read_pidfile "$REDIS_PIDFILE"; }
redis_running() { pid_matches "$(redis_pid)" redis-server; }
redis_running_port() { awk '$1 == "port" { print $2 }' "$REDIS_DIR/redis.conf" 2>/dev/null || true; }
redis_ready() {
  [[ $(redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]
}

redis_install() {
  if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    apt_install redis-server redis-tools
    # Debian's postinst starts a system redis on 6379 (where init/policy allows it).
    stop_system_service redis-server
  fi
}

redis_up() {
  redis_install
  if redis_running; then
    check_running_port redis "$(redis_running_port)" "$REDIS_PORT"
    log "redis already running (pid $(redis_pid), port $REDIS_PORT)"
  else
    free_port redis "$REDIS_PORT" DICTAMESH_REDIS_PORT
    mkdir -p "$REDIS_DIR/data"
    cat >"$REDIS_DIR/redis.conf" <<EOF
# Written by scripts/services.sh on every start; edit the script, not this file.
bind $HOST
port $REDIS_PORT
protected-mode yes
daemonize yes
pidfile $REDIS_PIDFILE
logfile $REDIS_LOG
dir $REDIS_DIR/data
dbfilename dump.rdb
# RDB snapshots (also written on a clean shutdown), so restart keeps the data; no AOF.
save 3600 1 300 100 60 10000
appendonly no
databases 16
EOF
    rm -f "$REDIS_PIDFILE"
    log "starting redis on $HOST:$REDIS_PORT"
    redis-server "$REDIS_DIR/redis.conf" 9>&- || {
      tail_log "$REDIS_LOG"
      die "redis-server failed to start"
    }
  fi
  # The pid file appears a moment after daemonizing; give it the same deadline.
  wait_until redis "$REDIS_START_TIMEOUT" redis_ready "" "$REDIS_LOG"
  redis_running || {
    tail_log "$REDIS_LOG"
    die "redis answers on $REDIS_PORT but not from the pid in $REDIS_PIDFILE"
  }
  log "redis ready on $HOST:$REDIS_PORT (pid $(redis_pid))"
}

redis_down() {
  local signal=${1:-TERM}
  if ! redis_running; then
    log "redis not running"
    return 0
  fi
  log "stopping redis (pid $(redis_pid), SIG$signal)"
  stop_pid "$(redis_pid)" "$signal" "$STOP_TIMEOUT"
  rm -f "$REDIS_PIDFILE"
}

redis_status_line() {
  status_line redis "$(redis_running_port)" "$REDIS_PORT" "$(redis_pid)" redis-server
}

# ---------------------------------------------------------------------------------------------
# Kafka: broker jars from Maven Central (scripts/kafka/pom.xml), KRaft single node
# ---------------------------------------------------------------------------------------------

kafka_pid() { read_pidfile "$KAFKA_PIDFILE"; }
kafka_running() { pid_matches "$(kafka_pid)" kafka.Kafka; }
kafka_running_port() {
  sed -n 's|^advertised.listeners=PLAINTEXT://[^:]*:\([0-9]*\).*|\1|p' "$KAFKA_CONFIG" 2>/dev/null || true
}

python_bin() {
  if [[ -x $REPO_ROOT/.venv/bin/python ]]; then
    printf '%s\n' "$REPO_ROOT/.venv/bin/python"
  else
    command -v python3 || true
  fi
}

# Ready = port open, the "Kafka Server started" line of this run, and a real Metadata round
# trip listing the broker (scripts/kafka/check_broker.py, stdlib only).
kafka_ready() {
  port_open "$KAFKA_PORT" || return 1
  grep -q 'Kafka Server started' "$KAFKA_LOG" 2>/dev/null || return 1
  local py
  py=$(python_bin)
  [[ -z $py ]] && return 0
  "$py" "$SCRIPTS_DIR/kafka/check_broker.py" "$HOST:$KAFKA_PORT" >"$KAFKA_DIR/ready-check.txt" 2>&1
}

java_major() {
  "$1" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1
}

kafka_install() {
  JAVA=${JAVA_HOME:+$JAVA_HOME/bin/}java
  if ! command -v "$JAVA" >/dev/null; then
    apt_install openjdk-17-jre-headless
    JAVA=java
  fi
  local major
  major=$(java_major "$JAVA")
  if [[ -z $major ]] || ((major < 17)); then
    die "Kafka 4 needs Java 17+, found: $("$JAVA" -version 2>&1 | head -n 1)"
  fi

  # The jars are re-resolved only when the POM changes (its hash is stamped beside them).
  local stamp want
  want=$(sha256sum "$SCRIPTS_DIR/kafka/pom.xml" | cut -d' ' -f1)
  stamp=$(cat "$KAFKA_LIBS/.pom.sha256" 2>/dev/null || true)
  [[ $stamp == "$want" ]] && return 0
  if kafka_running; then
    # Never swap jars under a running broker; `restart kafka` picks the new ones up.
    log "scripts/kafka/pom.xml changed: run 'scripts/services.sh restart kafka' to use the new jars"
    return 0
  fi

  command -v mvn >/dev/null || apt_install maven
  mkdir -p "$KAFKA_DIR"
  local tmp="$KAFKA_DIR/libs.tmp"
  rm -rf "$tmp"
  log "resolving Kafka jars from Maven Central (local repo: $MAVEN_REPO)"
  if ! mvn -q -B -f "$SCRIPTS_DIR/kafka/pom.xml" -Dmaven.repo.local="$MAVEN_REPO" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" \
    >"$KAFKA_DIR/mvn.log" 2>&1; then
    tail_log "$KAFKA_DIR/mvn.log"
    die "mvn could not resolve the Kafka jars (see $KAFKA_DIR/mvn.log)"
  fi
  # Swap in whole, so an interrupted download never leaves a half-filled libs/ behind.
  printf '%s\n' "$want" >"$tmp/.pom.sha256"
  rm -rf "$KAFKA_LIBS"
  mv "$tmp" "$KAFKA_LIBS"
  log "Kafka jars: $(find "$KAFKA_LIBS" -name '*.jar' | wc -l) in $KAFKA_LIBS"
}

kafka_java() {
  "$JAVA" -cp "$KAFKA_LIBS/*" -Dlog4j2.configurationFile="$SCRIPTS_DIR/kafka/tools-log4j2.yaml" "$@"
}

kafka_render_config() {
  sed -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" \
    -e "s|@CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
    -e "s|@DATA_DIR@|$KAFKA_DATA|g" \
    "$SCRIPTS_DIR/kafka/server.properties" >"$KAFKA_CONFIG"
}

# KRaft needs its log dir formatted once with a cluster id; afterwards the id is read back
# from meta.properties. Deleting data/ (a reset) formats again with a new id.
kafka_format() {
  [[ -s $KAFKA_DATA/meta.properties ]] && return 0
  local cluster_id
  cluster_id=$(kafka_java kafka.tools.StorageTool random-uuid 2>>"$KAFKA_DIR/format.log" | tail -n 1)
  [[ $cluster_id =~ ^[A-Za-z0-9_-]{22}$ ]] || {
    tail_log "$KAFKA_DIR/format.log"
    die "StorageTool random-uuid gave no cluster id"
  }
  log "formatting Kafka storage in $KAFKA_DATA (cluster id $cluster_id)"
  mkdir -p "$KAFKA_DATA"
  kafka_java kafka.tools.StorageTool format --ignore-formatted -t "$cluster_id" \
    -c "$KAFKA_CONFIG" >>"$KAFKA_DIR/format.log" 2>&1 || {
    tail_log "$KAFKA_DIR/format.log"
    die "Kafka storage format failed"
  }
  printf '%s\n' "$cluster_id" >"$KAFKA_DIR/cluster.id"
}

kafka_up() {
  kafka_install
  if kafka_running; then
    check_running_port kafka "$(kafka_running_port)" "$KAFKA_PORT"
    log "kafka already running (pid $(kafka_pid), port $KAFKA_PORT)"
  else
    free_port kafka "$KAFKA_PORT" DICTAMESH_KAFKA_PORT
    free_port kafka "$KAFKA_CONTROLLER_PORT" DICTAMESH_KAFKA_CONTROLLER_PORT
    mkdir -p "$KAFKA_DATA"
    kafka_render_config
    kafka_format
    # One log per run (the previous one is kept as .1): readiness greps this run's lines.
    [[ -f $KAFKA_LOG ]] && mv -f "$KAFKA_LOG" "$KAFKA_LOG.1"
    log "starting kafka on $HOST:$KAFKA_PORT (controller $HOST:$KAFKA_CONTROLLER_PORT)"
    # setsid: own session, so the broker outlives this shell and a Ctrl-C in the terminal that
    # ran `up`. The inner shell writes its own PID, moves to the kafka dir (crash dumps land
    # there) and then execs java, which keeps that PID.
    # shellcheck disable=SC2016  # $$, $1 and $2 are for the inner shell
    setsid bash -c 'echo $$ >"$1" && cd "$2" && shift 2 && exec "$@"' _ \
      "$KAFKA_PIDFILE" "$KAFKA_DIR" \
      "$JAVA" -Xmx512m -Xms256m -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
      -Dlog4j2.configurationFile="$SCRIPTS_DIR/kafka/log4j2.yaml" \
      -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_CONFIG" \
      </dev/null >"$KAFKA_LOG" 2>&1 9>&- &
    # Wait for the pid file the inner shell writes (it is there within milliseconds).
    local i
    for i in {1..50}; do
      [[ -n $(kafka_pid) ]] && break
      sleep 0.1
    done
  fi
  rm -f "$KAFKA_DIR/ready-check.txt"
  wait_until kafka "$KAFKA_START_TIMEOUT" kafka_ready kafka_pid "$KAFKA_LOG" \
    "$KAFKA_DIR/ready-check.txt"
  log "kafka ready on $HOST:$KAFKA_PORT (pid $(kafka_pid)): $(cat "$KAFKA_DIR/ready-check.txt" 2>/dev/null || echo 'port open')"
}

kafka_down() {
  local signal=${1:-TERM}
  if ! kafka_running; then
    log "kafka not running"
    rm -f "$KAFKA_PIDFILE"
    return 0
  fi
  log "stopping kafka (pid $(kafka_pid), SIG$signal)"
  # SIGTERM runs the broker's controlled shutdown (a couple of seconds, single node).
  stop_pid "$(kafka_pid)" "$signal" "$STOP_TIMEOUT"
  rm -f "$KAFKA_PIDFILE"
}

kafka_status_line() {
  status_line kafka "$(kafka_running_port)" "$KAFKA_PORT" "$(kafka_pid)" kafka.Kafka
}

# ---------------------------------------------------------------------------------------------
# kafka-secure: a second KRaft broker (same jars) that accepts only SCRAM-SHA-512 logins, on a
# SASL_PLAINTEXT and a SASL_SSL listener; its TLS certificate is signed by a local CA.
# ---------------------------------------------------------------------------------------------

kafka_secure_pid() { read_pidfile "$KSEC_PIDFILE"; }
kafka_secure_running() { pid_matches "$(kafka_secure_pid)" kafka.Kafka; }
kafka_secure_running_port() {
  sed -n 's|^advertised.listeners=SASL_PLAINTEXT://[^:]*:\([0-9]*\).*|\1|p' "$KSEC_CONFIG" 2>/dev/null || true
}

# No plaintext Metadata probe here (it would be refused): both listeners open and this run's
# "started" line; clients check the rest by logging in.
kafka_secure_ready() {
  port_open "$KAFKA_SECURE_PORT" && port_open "$KAFKA_SECURE_TLS_PORT" &&
    grep -q 'Kafka Server started' "$KSEC_LOG" 2>/dev/null
}

# A CA (tls/ca.pem: what clients trust) and the broker's key and certificate for 127.0.0.1 and
# localhost, in a PKCS12 keystore. Made once; delete tls/ to make new ones.
kafka_secure_tls() {
  [[ -s $KSEC_TLS/broker.p12 && -s $KSEC_TLS/ca.pem ]] && return 0
  command -v openssl >/dev/null || apt_install openssl
  log "creating a CA and the broker's TLS certificate in $KSEC_TLS"
  rm -rf "$KSEC_TLS"
  mkdir -p "$KSEC_TLS"
  local tls_log="$KSEC_DIR/tls.log" password
  password=$(openssl rand -hex 16)
  {
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=DictaMesh services CA" \
      -keyout "$KSEC_TLS/ca.key" -out "$KSEC_TLS/ca.pem" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" &&
      openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
        -keyout "$KSEC_TLS/broker.key" -out "$KSEC_TLS/broker.csr" &&
      printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=CA:FALSE" \
        "keyUsage=digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" \
        >"$KSEC_TLS/broker.ext" &&
      openssl x509 -req -days 825 -in "$KSEC_TLS/broker.csr" -CA "$KSEC_TLS/ca.pem" \
        -CAkey "$KSEC_TLS/ca.key" -CAcreateserial -extfile "$KSEC_TLS/broker.ext" \
        -out "$KSEC_TLS/broker.pem" &&
      openssl pkcs12 -export -name broker -in "$KSEC_TLS/broker.pem" \
        -inkey "$KSEC_TLS/broker.key" -certfile "$KSEC_TLS/ca.pem" \
        -out "$KSEC_TLS/broker.p12" -passout "pass:$password"
  } >"$tls_log" 2>&1 || {
    tail_log "$tls_log"
    die "creating the TLS files of kafka-secure failed (see $tls_log)"
  }
  printf '%s\n' "$password" >"$KSEC_TLS/keystore.password"
  chmod 600 "$KSEC_TLS/ca.key" "$KSEC_TLS/broker.key" "$KSEC_TLS/keystore.password"
  chmod 644 "$KSEC_TLS/ca.pem"
}

kafka_secure_render_config() {
  # The password may hold sed's specials: escape them for the replacement side.
  local password user
  password=$(printf '%s' "$KAFKA_SECURE_PASSWORD" | sed -e 's/[\/&|]/\\&/g')
  user=$(printf '%s' "$KAFKA_SECURE_USER" | sed -e 's/[\/&|]/\\&/g')
  sed -e "s|@SASL_PORT@|$KAFKA_SECURE_PORT|g" \
    -e "s|@SSL_PORT@|$KAFKA_SECURE_TLS_PORT|g" \
    -e "s|@CONTROLLER_PORT@|$KAFKA_SECURE_CONTROLLER_PORT|g" \
    -e "s|@DATA_DIR@|$KSEC_DATA|g" \
    -e "s|@KEYSTORE@|$KSEC_TLS/broker.p12|g" \
    -e "s|@KEYSTORE_PASSWORD@|$(cat "$KSEC_TLS/keystore.password")|g" \
    -e "s|@USER@|$user|g" \
    -e "s|@PASSWORD@|$password|g" \
    "$SCRIPTS_DIR/kafka/server-secure.properties" >"$KSEC_CONFIG"
  chmod 600 "$KSEC_CONFIG"
}

# As kafka_format, plus the SCRAM user (KRaft keeps credentials in the metadata log, so they
# are written at format time: `--add-scram`).
kafka_secure_format() {
  [[ -s $KSEC_DATA/meta.properties ]] && return 0
  local cluster_id
  cluster_id=$(kafka_java kafka.tools.StorageTool random-uuid 2>>"$KSEC_DIR/format.log" | tail -n 1)
  [[ $cluster_id =~ ^[A-Za-z0-9_-]{22}$ ]] || {
    tail_log "$KSEC_DIR/format.log"
    die "StorageTool random-uuid gave no cluster id"
  }
  log "formatting kafka-secure storage in $KSEC_DATA (SCRAM-SHA-512 user '$KAFKA_SECURE_USER')"
  mkdir -p "$KSEC_DATA"
  kafka_java kafka.tools.StorageTool format --ignore-formatted -t "$cluster_id" \
    -c "$KSEC_CONFIG" \
    --add-scram "SCRAM-SHA-512=[name=$KAFKA_SECURE_USER,password=$KAFKA_SECURE_PASSWORD]" \
    >>"$KSEC_DIR/format.log" 2>&1 || {
    tail_log "$KSEC_DIR/format.log"
    die "kafka-secure storage format failed"
  }
}

kafka_secure_up() {
  kafka_install
  if kafka_secure_running; then
    check_running_port kafka-secure "$(kafka_secure_running_port)" "$KAFKA_SECURE_PORT"
    log "kafka-secure already running (pid $(kafka_secure_pid), port $KAFKA_SECURE_PORT)"
  else
    free_port kafka-secure "$KAFKA_SECURE_PORT" DICTAMESH_KAFKA_SECURE_PORT
    free_port kafka-secure "$KAFKA_SECURE_TLS_PORT" DICTAMESH_KAFKA_SECURE_TLS_PORT
    free_port kafka-secure "$KAFKA_SECURE_CONTROLLER_PORT" DICTAMESH_KAFKA_SECURE_CONTROLLER_PORT
    mkdir -p "$KSEC_DATA"
    kafka_secure_tls
    kafka_secure_render_config
    kafka_secure_format
    [[ -f $KSEC_LOG ]] && mv -f "$KSEC_LOG" "$KSEC_LOG.1"
    log "starting kafka-secure on $HOST:$KAFKA_SECURE_PORT (SASL_PLAINTEXT) and $HOST:$KAFKA_SECURE_TLS_PORT (SASL_SSL)"
    # As kafka_up (own session, own PID through exec), with a smaller heap: it carries tests.
    # shellcheck disable=SC2016  # $$, $1 and $2 are for the inner shell
    setsid bash -c 'echo $$ >"$1" && cd "$2" && shift 2 && exec "$@"' _ \
      "$KSEC_PIDFILE" "$KSEC_DIR" \
      "$JAVA" -Xmx384m -Xms128m -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
      -Dlog4j2.configurationFile="$SCRIPTS_DIR/kafka/log4j2.yaml" \
      -cp "$KAFKA_LIBS/*" kafka.Kafka "$KSEC_CONFIG" \
      </dev/null >"$KSEC_LOG" 2>&1 9>&- &
    local i
    for i in {1..50}; do
      [[ -n $(kafka_secure_pid) ]] && break
      sleep 0.1
    done
  fi
  wait_until kafka-secure "$KAFKA_START_TIMEOUT" kafka_secure_ready kafka_secure_pid "$KSEC_LOG"
  log "kafka-secure ready on $HOST:$KAFKA_SECURE_PORT and $HOST:$KAFKA_SECURE_TLS_PORT (pid $(kafka_secure_pid)); CA: $KSEC_TLS/ca.pem"
}

kafka_secure_down() {
  local signal=${1:-TERM}
  if ! kafka_secure_running; then
    log "kafka-secure not running"
    rm -f "$KSEC_PIDFILE"
    return 0
  fi
  log "stopping kafka-secure (pid $(kafka_secure_pid), SIG$signal)"
  stop_pid "$(kafka_secure_pid)" "$signal" "$STOP_TIMEOUT"
  rm -f "$KSEC_PIDFILE"
}

kafka_secure_status_line() {
  status_line kafka-secure "$(kafka_secure_running_port)" "$KAFKA_SECURE_PORT" "$(kafka_secure_pid)" kafka.Kafka
}

# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------

# Prints "<svc> running|stopped|unhealthy port=N pid=P"; returns 0 only when running.
# The port shown is the one the running instance was started with (else the configured one).
status_line() {
  local name=$1 running_port=$2 port=$3 pid=$4 pattern=$5 state
  if pid_matches "$pid" "$pattern"; then
    port=${running_port:-$port}
    if port_open "$port"; then state=running; else state=unhealthy; fi
  else
    state=stopped
    pid=""
  fi
  printf '%-9s %-9s port=%-5s pid=%s\n' "$name" "$state" "$port" "${pid:--}"
  [[ $state == running ]]
}

print_env() {
  cat <<EOF
export DICTAMESH_POSTGRES_URL=postgresql+asyncpg://dictamesh:dictamesh@$HOST:$PG_PORT/dictamesh
export DICTAMESH_POSTGRES_OWNER_URL=postgresql+asyncpg://dictamesh_owner:dictamesh@$HOST:$PG_PORT/dictamesh
export DICTAMESH_REDIS_URL=redis://$HOST:$REDIS_PORT/0
export DICTAMESH_KAFKA_BOOTSTRAP=$HOST:$KAFKA_PORT
export DICTAMESH_TEST_POSTGRES_URL=postgresql+asyncpg://dictamesh:dictamesh@$HOST:$PG_PORT/dictamesh_test
export DICTAMESH_TEST_POSTGRES_OWNER_URL=postgresql+asyncpg://dictamesh_owner:dictamesh@$HOST:$PG_PORT/dictamesh_test
export DICTAMESH_TEST_REDIS_URL=redis://$HOST:$REDIS_PORT/1
export DICTAMESH_TEST_KAFKA_BOOTSTRAP=$HOST:$KAFKA_PORT
EOF
  # kafka-secure only while it runs (it is started on request)
  kafka_secure_running || return 0
  cat <<EOF
export DICTAMESH_KAFKA_SECURE_BOOTSTRAP=$HOST:$KAFKA_SECURE_PORT
export DICTAMESH_KAFKA_SECURE_TLS_BOOTSTRAP=$HOST:$KAFKA_SECURE_TLS_PORT
export DICTAMESH_KAFKA_SECURE_CAFILE=$KSEC_TLS/ca.pem
export DICTAMESH_KAFKA_SECURE_USER=$KAFKA_SECURE_USER
export DICTAMESH_KAFKA_SECURE_PASSWORD=$KAFKA_SECURE_PASSWORD
EOF
}

# Serialise up/down/restart/kill: parallel test workers restarting a broker must not interleave.
take_lock() {
  ensure_services_dir
  command -v flock >/dev/null || return 0
  exec 9>"$SERVICES_DIR/.lock"
  flock -w 600 9 || die "timed out waiting for another services.sh to finish"
}

usage() {
  sed -n '2,28p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# The function prefix of a service name (kafka-secure -> kafka_secure).
fn() { printf '%s\n' "${1//-/_}"; }

main() {
  local cmd=${1:-}
  [[ -n $cmd ]] || usage
  shift
  local svcs=("$@") svc
  ((${#svcs[@]})) || svcs=("${ALL_SERVICES[@]}")
  for svc in "${svcs[@]}"; do
    case $svc in
      postgres | redis | kafka | kafka-secure) ;;
      *) die "unknown service '$svc' (expected: ${KNOWN_SERVICES[*]})" ;;
    esac
  done

  case $cmd in
    up | start)
      take_lock
      local t0=$SECONDS
      for svc in "${svcs[@]}"; do "$(fn "$svc")_up"; done
      log "up done in $((SECONDS - t0))s"
      print_env | tee "$SERVICES_DIR/env"
      ;;
    down | stop)
      take_lock
      # a bare `down` stops kafka-secure too when it runs (it is started only on request)
      if (($# == 0)) && kafka_secure_running; then svcs+=(kafka-secure); fi
      # Reverse order: Kafka first (apps writing to the others stop seeing events first).
      local i
      for ((i = ${#svcs[@]} - 1; i >= 0; i--)); do "$(fn "${svcs[i]}")_down"; done
      ;;
    restart)
      take_lock
      for svc in "${svcs[@]}"; do
        "$(fn "$svc")_down"
        "$(fn "$svc")_up"
      done
      ;;
    kill)
      take_lock
      for svc in "${svcs[@]}"; do
        case $svc in
          postgres) postgres_down immediate ;;
          *) "$(fn "$svc")_down" KILL ;;
        esac
      done
      ;;
    status)
      local rc=0
      for svc in "${svcs[@]}"; do "$(fn "$svc")_status_line" || rc=3; done
      return "$rc"
      ;;
    env) print_env ;;
    logs)
      case ${svcs[0]} in
        postgres) tail -n 100 "$PG_LOG" ;;
        redis) tail -n 100 "$REDIS_LOG" ;;
        kafka) tail -n 100 "$KAFKA_LOG" ;;
        kafka-secure) tail -n 100 "$KSEC_LOG" ;;
      esac
      ;;
    -h | --help | help) usage ;;
    *) die "unknown command '$cmd' (up|down|restart|kill|status|env|logs)" ;;
  esac
}

main "$@"
