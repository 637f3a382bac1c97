# Shared by scripts/run, scripts/test and scripts/prepare-queries: finding and starting the local services.
# Sourced, not run. Every function says what it does when it cannot, and how to fix it.

PG_HOST=${PG_HOST:-127.0.0.1}
PG_PORT=${PG_PORT:-5432}
PG_USER=${PG_USER:-postgres}
PG_ADMIN_URL="postgres://${PG_USER}@${PG_HOST}:${PG_PORT}/postgres"

say() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31merror:\033[0m %s\n' "$*" >&2; exit 1; }

pg_up() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" 2>/dev/null; }

# Make sure PostgreSQL answers on $PG_HOST:$PG_PORT; start the machine's cluster if it is installed but stopped.
ensure_postgres() {
  command -v pg_isready >/dev/null 2>&1 || die "PostgreSQL client tools are missing: install them (Debian: apt-get install postgresql) or point DATABASE_URL at a running server."
  pg_up && return 0
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    say "PostgreSQL is not answering; starting cluster $version/main"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || true
    for _ in $(seq 1 30); do pg_up && return 0; sleep 1; done
  fi
  die "PostgreSQL is not reachable at $PG_HOST:$PG_PORT. Start it (e.g. 'pg_ctlcluster --skip-systemctl-redirect <version> main start' or 'docker compose up -d postgres') and run this again."
}

# Create database $1 when it does not exist yet.
ensure_database() {
  local name=$1
  if ! psql "$PG_ADMIN_URL" -tAc "SELECT 1 FROM pg_database WHERE datname = '$name'" | grep -q 1; then
    say "creating database $name"
    psql "$PG_ADMIN_URL" -qc "CREATE DATABASE \"$name\"" >&2
  fi
}

# --- The local Cosmos DB server (tools/cosmos-local) -------------------------------------------
# The SDK needs a key even though the local server checks none: this is the Cosmos DB emulator's
# published well-known key, not a secret.
COSMOS_LOCAL_KEY='C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=='

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Install the pinned server (npm ci, once per lockfile change) and Node.js itself when missing.
install_cosmos_local() {
  local dir=tools/cosmos-local
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    say "installing Node.js and npm with apt-get, for the local Cosmos DB server"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; } \
      || die "could not install nodejs and npm (apt-get, needs root); the local Cosmos DB server runs on Node.js"
  fi
  if [ ! -f "$dir/node_modules/.package-lock.json" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    say "installing the local Cosmos DB server (npm ci in $dir)"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2) \
      || die "npm ci failed in $dir: is the npm registry reachable?"
  fi
}

# Start the local Cosmos DB server on 127.0.0.1:$1 (0: any free port) and wait until it listens; its log goes
# to $2. Sets COSMOS_LOCAL_PID and COSMOS_LOCAL_ENDPOINT. Refuses a port that something else already holds.
start_cosmos_local() {
  local port=$1 log=$2 line
  if [ "$port" != 0 ] && port_open "$port"; then
    die "port $port is taken, so the local Cosmos DB server cannot start there: stop what holds it, or set COSMOS_ENDPOINT to a Cosmos DB account (and COSMOS_KEY)"
  fi
  install_cosmos_local
  mkdir -p "$(dirname "$log")"
  node tools/cosmos-local/server.js --port "$port" >"$log" 2>&1 &
  COSMOS_LOCAL_PID=$!
  for _ in $(seq 1 150); do
    line=$(grep -o 'listening on http://127\.0\.0\.1:[0-9]*/' "$log" 2>/dev/null || true)
    if [ -n "$line" ]; then
      COSMOS_LOCAL_ENDPOINT=${line#listening on }
      return 0
    fi
    kill -0 "$COSMOS_LOCAL_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$log" >&2
  die "the local Cosmos DB server did not start (its log is above)"
}

# --- Redis (the cache, from step 3) ---------------------------------------------------------------
redis_up() { redis-cli -h 127.0.0.1 -p "${1:-6379}" ping 2>/dev/null | grep -q PONG; }

# Make sure Redis answers on 127.0.0.1:6379; start the machine's redis-server (nothing kept on disk) if
# it is installed but stopped. Sets REDIS_STARTED=1 when this call started it.
ensure_redis() {
  REDIS_STARTED=
  redis_up && return 0
  if ! command -v redis-server >/dev/null 2>&1; then
    say "installing redis-server with apt-get"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; } >&2 \
      || die "Redis is not running and redis-server could not be installed (apt-get, needs root): install it, or point REDIS_URL at a running server."
  fi
  say "Redis is not answering; starting redis-server on 127.0.0.1:6379 (in memory only)"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /tmp --logfile /tmp/courseshop-redis.log >&2 || true
  for _ in $(seq 1 50); do
    if redis_up; then REDIS_STARTED=1; return 0; fi
    sleep 0.1
  done
  die "Redis did not start on 127.0.0.1:6379 (see /tmp/courseshop-redis.log)"
}

# --- RabbitMQ (OrderPlaced events, from step 4) ---------------------------------------------------
rabbitmq_up() { port_open 5672; }

# Make sure RabbitMQ answers on 127.0.0.1:5672 (guest/guest); start the machine's server if it is
# installed but stopped, or install it with apt. Sets RABBITMQ_STARTED=1 when this call started it.
ensure_rabbitmq() {
  RABBITMQ_STARTED=
  rabbitmq_up && return 0
  if ! command -v rabbitmq-server >/dev/null 2>&1; then
    say "installing rabbitmq-server with apt-get"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server; } >&2 \
      || die "RabbitMQ is not running and rabbitmq-server could not be installed (apt-get, needs root): install it, or point RABBITMQ_URL at a running broker."
  fi
  say "RabbitMQ is not answering; starting rabbitmq-server (it takes a few seconds)"
  rabbitmq-server -detached >&2 \
    || die "rabbitmq-server did not start (it needs root, or the rabbitmq user): start it yourself or point RABBITMQ_URL at a running broker"
  for _ in $(seq 1 120); do
    if rabbitmq_up && rabbitmqctl -q status >/dev/null 2>&1; then RABBITMQ_STARTED=1; return 0; fi
    sleep 0.5
  done
  die "RabbitMQ did not start on 127.0.0.1:5672 (see /var/log/rabbitmq/)"
}

# --- PgBouncer, for the tests that run the shop through it (as on Azure) ----------------------
# Azure Database for PostgreSQL's built-in PgBouncer pools transactions and tracks prepared
# statements (pgbouncer.max_prepared_statements), which sqlx needs there; tracking came with
# PgBouncer 1.21. Debian 12's package is 1.18, so on such a machine this builds Debian 13's source
# package (the upstream release, checked against its hash) into target/, once.
PGBOUNCER_VERSION=1.24.1
PGBOUNCER_SHA256=da72a3aba13072876d055a3e58dd4aba4a5de4ed6148e73033185245598fd3e0

# Sets TEST_PGBOUNCER to a pgbouncer program of version 1.21 or later (kept when already set).
ensure_pgbouncer() {
  [ -n "${TEST_PGBOUNCER:-}" ] && return 0
  local installed
  installed=$(pgbouncer --version 2>/dev/null | awk 'NR == 1 { print $2 }')
  if [ -n "$installed" ] && [ "$(printf '%s\n1.21\n' "$installed" | sort -V | head -n 1)" = 1.21 ]; then
    TEST_PGBOUNCER=$(command -v pgbouncer)
    export TEST_PGBOUNCER
    return 0
  fi
  local prefix="$PWD/target/pgbouncer-$PGBOUNCER_VERSION"
  if [ ! -x "$prefix/bin/pgbouncer" ]; then
    say "building PgBouncer $PGBOUNCER_VERSION from Debian's source package (the machine's is ${installed:-missing}; the tests need 1.21+)"
    if ! command -v make >/dev/null 2>&1 || ! command -v pkg-config >/dev/null 2>&1 || ! command -v curl >/dev/null 2>&1 \
      || ! pkg-config --exists libevent openssl 2>/dev/null; then
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq build-essential pkg-config libevent-dev libssl-dev curl; } >&2 \
        || die "PgBouncer's build needs gcc, make, pkg-config, libevent-dev, libssl-dev and curl (apt-get, needs root)"
    fi
    local work="$PWD/target/pgbouncer-build"
    rm -rf "$work" && mkdir -p "$work"
    curl -fsSL -o "$work/src.tar.gz" \
      "http://deb.debian.org/debian/pool/main/p/pgbouncer/pgbouncer_$PGBOUNCER_VERSION.orig.tar.gz" \
      || die "could not download PgBouncer's source from deb.debian.org"
    echo "$PGBOUNCER_SHA256  $work/src.tar.gz" | sha256sum -c --quiet - >&2 \
      || die "PgBouncer's source does not match its pinned hash"
    tar -xzf "$work/src.tar.gz" -C "$work"
    (cd "$work/pgbouncer-$PGBOUNCER_VERSION" \
      && ./configure --prefix="$prefix" --without-cares --with-openssl >"$work/build.log" 2>&1 \
      && make -j2 >>"$work/build.log" 2>&1 && make install >>"$work/build.log" 2>&1) \
      || { tail -n 30 "$work/build.log" >&2; die "PgBouncer did not build (log: $work/build.log)"; }
    rm -rf "$work"
  fi
  TEST_PGBOUNCER="$prefix/bin/pgbouncer"
  export TEST_PGBOUNCER
}
