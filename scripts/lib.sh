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
