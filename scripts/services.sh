#!/usr/bin/env bash
# Makes sure the services the tests need answer: Redis and PostgreSQL.
#
# For each, if nothing answers at the configured URL's host and port, it starts one:
# the machine's own (Debian's redis-server, the system PostgreSQL cluster) when
# installed, installing Debian's package first when missing and we are root; otherwise it
# says exactly what to run. A PostgreSQL it has to create itself is a private cluster
# with trust authentication under $BACKFILL_SERVICES_DIR, because the system cluster's
# default authentication would refuse the tests.
#
# Prints the URLs to export, as `export NAME=URL` lines, on stdout; everything else goes
# to stderr.
set -euo pipefail

REDIS_URL=${BACKFILL_TEST_REDIS_URL:-redis://127.0.0.1:6379}
DATABASE_URL=${BACKFILL_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
SERVICES_DIR=${BACKFILL_SERVICES_DIR:-/tmp/backfill-services}

log() { echo "services: $*" >&2; }

# host and port of a URL like scheme://[user@]host:port/...
host_of() { local rest=${1#*://}; rest=${rest#*@}; rest=${rest%%/*}; echo "${rest%%:*}"; }
port_of() { local rest=${1#*://}; rest=${rest#*@}; rest=${rest%%/*}; [[ $rest == *:* ]] && echo "${rest##*:}" || echo "$2"; }

answers() { timeout 1 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

wait_for() {
  local host=$1 port=$2 what=$3
  for _ in $(seq 1 60); do answers "$host" "$port" && return 0; sleep 0.5; done
  log "$what did not start on $host:$port"; return 1
}

apt_install() {
  if [[ $(id -u) -ne 0 ]]; then
    log "$1 is not installed. Run: sudo apt-get update && sudo apt-get install -y $*"
    exit 1
  fi
  log "installing $* from Debian's packages"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

ensure_redis() {
  local host port
  host=$(host_of "$REDIS_URL"); port=$(port_of "$REDIS_URL" 6379)
  answers "$host" "$port" && return 0
  command -v redis-server >/dev/null || apt_install redis-server
  mkdir -p "$SERVICES_DIR/redis-$port"
  log "starting redis-server on $host:$port"
  redis-server --port "$port" --bind "$host" --save '' --appendonly no --daemonize yes \
    --dir "$SERVICES_DIR/redis-$port" --pidfile "$SERVICES_DIR/redis-$port/redis.pid" \
    --logfile "$SERVICES_DIR/redis-$port/redis.log" >&2
  wait_for "$host" "$port" Redis
}

pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [[ -n $dir ]] && echo "$dir"
}

system_cluster_port() {
  local version conf
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  conf=/etc/postgresql/$version/main/postgresql.conf
  [[ -n $version && -f $conf ]] || return 1
  echo "$version $(sed -nE 's/^[[:space:]]*port[[:space:]]*=[[:space:]]*([0-9]+).*/\1/p' "$conf" | tail -n 1)"
}

ensure_postgres() {
  local host port bin data cluster installed=no
  host=$(host_of "$DATABASE_URL"); port=$(port_of "$DATABASE_URL" 5432)
  answers "$host" "$port" && return 0
  # The machine's own cluster, when it is meant to serve this port: start it as the
  # machine image does, and use it only if it lets the tests in.
  if command -v pg_ctlcluster >/dev/null && cluster=$(system_cluster_port) && [[ ${cluster#* } == "$port" ]]; then
    log "starting the system PostgreSQL ${cluster% *} cluster"
    pg_ctlcluster --skip-systemctl-redirect "${cluster% *}" main start >&2 || true
    wait_for "$host" "$port" PostgreSQL || true
    if psql "$DATABASE_URL" -Atc 'select 1' >/dev/null 2>&1; then return 0; fi
    log "PostgreSQL on port $port does not accept $DATABASE_URL (authentication?)."
    log "Set BACKFILL_TEST_DATABASE_URL to a URL that works, or free port $port."
    exit 1
  fi
  bin=$(pg_bin) || true
  if [[ -z ${bin:-} ]]; then apt_install postgresql; bin=$(pg_bin); installed=yes; fi
  # Debian's package may have just created and started its own cluster on our port, with
  # password authentication: it is ours to stop, since nobody else can be using it yet.
  if [[ $installed == yes ]] && answers "$host" "$port" && cluster=$(system_cluster_port); then
    pg_ctlcluster --skip-systemctl-redirect "${cluster% *}" main stop >&2 || true
  fi
  data="$SERVICES_DIR/pg-$port"
  mkdir -p "$data"
  local run=()
  if [[ $(id -u) -eq 0 ]]; then chown -R postgres "$data"; run=(runuser -u postgres --); fi
  if [[ ! -f $data/data/PG_VERSION ]]; then
    log "creating a private PostgreSQL cluster in $data"
    "${run[@]}" "$bin/initdb" -D "$data/data" -A trust -U postgres >&2
  fi
  log "starting PostgreSQL on $host:$port"
  "${run[@]}" "$bin/pg_ctl" -D "$data/data" -l "$data/log" -w \
    -o "-p $port -k $data -c listen_addresses=$host -c fsync=off" start >&2
  wait_for "$host" "$port" PostgreSQL
}

ensure_redis
ensure_postgres
echo "export BACKFILL_TEST_REDIS_URL=$REDIS_URL"
echo "export BACKFILL_TEST_DATABASE_URL=$DATABASE_URL"
