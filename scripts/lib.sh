# shellcheck shell=bash
# Shared by the scripts in scripts/: finding, installing and starting what they need (the local services, the
# test and lint tools). Sourced, not run. Every function says what it does when it cannot, and how to fix it.

PG_HOST=${PG_HOST:-127.0.0.1}
PG_PORT=${PG_PORT:-5432}
PG_USER=${PG_USER:-postgres}
PG_ADMIN_URL="postgres://${PG_USER}@${PG_HOST}:${PG_PORT}/postgres"

say() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31merror:\033[0m %s\n' "$*" >&2; exit 1; }

pg_up() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" 2>/dev/null; }

# The newest PostgreSQL version with a cluster configured on this machine (Debian's /etc/postgresql/<version>/).
pg_cluster_version() { find /etc/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null | sort -V | tail -n 1; }

# Make sure PostgreSQL answers on $PG_HOST:$PG_PORT; start the machine's cluster if it is installed but stopped.
ensure_postgres() {
  command -v pg_isready >/dev/null 2>&1 || die "PostgreSQL client tools are missing: install them (Debian: apt-get install postgresql) or point DATABASE_URL at a running server."
  pg_up && return 0
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    local version
    version=$(pg_cluster_version)
    say "PostgreSQL is not answering; starting cluster $version/main"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || true
    for _ in $(seq 1 30); do pg_up && return 0; sleep 1; done
  fi
  die "PostgreSQL is not reachable at $PG_HOST:$PG_PORT. Start it (e.g. 'pg_ctlcluster --skip-systemctl-redirect <version> main start' or 'docker compose up -d postgres') and run this again."
}

# Create database $1 when it does not exist yet, on the server whose postgres database $2 names (default: the
# machine's, $PG_ADMIN_URL).
ensure_database() {
  local name=$1 admin=${2:-$PG_ADMIN_URL}
  if ! psql "$admin" -tAc "SELECT 1 FROM pg_database WHERE datname = '$name'" | grep -q 1; then
    say "creating database $name"
    psql "$admin" -qc "CREATE DATABASE \"$name\"" >&2
  fi
}

# --- Installing what the scripts need -------------------------------------------------------------
# Every install path is one ensure_* function: it does nothing when the tool is there, installs it otherwise
# (with the installer that tool comes from), checks again, and dies naming the tool, and saying how to get it,
# when it is still not there. scripts/test-install-paths proves each with the tool absent.

have() { command -v "$1" >/dev/null 2>&1; }

# Installs Debian packages $@ with apt-get, refreshing the package lists first, once per script run (a fresh
# machine has none). Returns non-zero when it cannot; the caller says what is missing.
APT_UPDATED=
apt_install() {
  if ! have apt-get; then
    printf 'apt-get is missing (this is not a Debian-based machine?), so %s cannot be installed here\n' "$*" >&2
    return 1
  fi
  if [ -z "$APT_UPDATED" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || return 1
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

# ensure_apt_programs WHAT NEEDED-FOR PROGRAM:PACKAGE...: every PROGRAM on PATH, installing the Debian
# PACKAGEs of the missing ones with apt-get.
ensure_apt_programs() {
  local what=$1 needed_for=$2 pair program missing=() packages=()
  shift 2
  for pair in "$@"; do
    program=${pair%%:*}
    have "$program" && continue
    missing+=("$program")
    case " ${packages[*]} " in *" ${pair#*:} "*) ;; *) packages+=("${pair#*:}") ;; esac
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "$what: ${missing[*]} missing; installing Debian's ${packages[*]} with apt-get, for $needed_for"
  apt_install "${packages[@]}" \
    || die "$what is missing (${missing[*]}) and apt-get could not install Debian's ${packages[*]} (it needs root and a reachable package mirror): install them (apt-get install ${packages[*]}) and run this again. $what is needed for $needed_for."
  for program in "${missing[@]}"; do
    have "$program" \
      || die "$what: apt-get install ${packages[*]} finished, but $program is still not on PATH: check what the packages installed (dpkg -L ${packages[*]}) and that PATH holds /usr/bin and /usr/sbin"
  done
}

# Node.js and npm: the local Cosmos DB server and the HTML checker's installer run on them.
ensure_node() { ensure_apt_programs "Node.js and npm" "the local Cosmos DB server and the HTML checker" node:nodejs npm:npm; }

# The packages pinned by DIR's package-lock.json installed into DIR/node_modules (npm ci, again only when
# the lockfile changed). npm_ci DIR WHAT
npm_ci() {
  local dir=$1 what=$2
  if [ ! -f "$dir/package.json" ] || [ ! -f "$dir/package-lock.json" ]; then
    die "$dir/package.json or package-lock.json is missing: $what is installed from them with npm ci; restore them (git checkout -- $dir)"
  fi
  if [ -f "$dir/node_modules/.package-lock.json" ] && [ ! "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    return 0
  fi
  ensure_node
  say "installing $what: npm ci in $dir (once per change of its lockfile)"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2) \
    || die "npm ci in $dir failed, so $what is not installed: is the npm registry reachable (npm config get registry)? Run (cd $dir && npm ci) to see why"
  [ -f "$dir/node_modules/.package-lock.json" ] \
    || die "npm ci in $dir finished but left no node_modules/.package-lock.json, so $what is not installed: run (cd $dir && npm ci) to see why"
}

# The shop's scripts and CI lint every shell script with ShellCheck (scripts/lint-shell).
ensure_shellcheck() { ensure_apt_programs ShellCheck "linting the shell scripts (scripts/lint-shell)" shellcheck:shellcheck; }

# wrk, the HTTP load generator of scripts/load-test.
ensure_wrk() { ensure_apt_programs wrk "the catalog load tests (scripts/load-test)" wrk:wrk; }

# Debian's Chromium and chromedriver, which the browser test (app/tests/browser.rs) drives.
ensure_chromium() { ensure_apt_programs "Chromium and chromedriver" "the browser test (app/tests/browser.rs)" chromium:chromium chromedriver:chromium-driver; }

# Debian's HAProxy, step 5's load balancer in front of the shop's instances (scripts/run).
ensure_haproxy() { ensure_apt_programs HAProxy "step 5's load balancer (SHOP_STEP=5 ./scripts/run)" haproxy:haproxy; }

# docker-compose, which the infrastructure gate's compose stage runs (config only: no Docker daemon needed).
ensure_docker_compose() { ensure_apt_programs docker-compose "the infrastructure gate's compose stage (scripts/check-infra)" docker-compose:docker-compose; }

# cargo-nextest, the suite's runner (a timeout per test, a report of the slow and the failed). Pinned, so a
# fresh machine gets the version the suite is known to run with (and one that builds with the project's Rust).
NEXTEST_VERSION=0.9.143
ensure_nextest() {
  have cargo-nextest && return 0
  have cargo || die "cargo-nextest is missing and cannot be installed: cargo is missing (install Rust, with rustup or Debian's cargo), then run this again"
  say "installing cargo-nextest $NEXTEST_VERSION with cargo install (once; it takes a few minutes)"
  cargo install --locked "cargo-nextest@$NEXTEST_VERSION" >&2 \
    || die "cargo install --locked cargo-nextest@$NEXTEST_VERSION failed, so cargo-nextest, which runs the tests, is missing: is the crate registry reachable? Its output is above"
  have cargo-nextest \
    || die "cargo install finished, but cargo-nextest is still not on PATH: add cargo's bin directory (\${CARGO_HOME:-~/.cargo}/bin) to PATH"
}

# The Nu Html Checker, vnu.jar (the npm package vnu-jar, pinned in tools/html-check), and a Java to run it.
# Exports VNU_JAR, its absolute path.
ensure_vnu() {
  local dir=tools/html-check jar
  [ -d "$dir" ] || die "$dir is missing: the HTML checker (vnu-jar) is pinned in its package.json and package-lock.json; restore it (git checkout -- $dir)"
  ensure_apt_programs Java "the HTML checker, vnu.jar" java:default-jre-headless
  npm_ci "$dir" "the HTML checker (vnu-jar)"
  jar="$PWD/$dir/node_modules/vnu-jar/build/dist/vnu.jar"
  [ -f "$jar" ] \
    || die "npm ci in $dir left no $dir/node_modules/vnu-jar/build/dist/vnu.jar: does $dir/package.json still depend on vnu-jar? Remove $dir/node_modules and run this again"
  java -jar "$jar" --version >/dev/null 2>&1 \
    || die "java ($(command -v java)) cannot run $jar (java -jar vnu.jar --version fails): the HTML checker needs Java 11 or later (apt-get install default-jre-headless); if the jar is damaged, remove $dir/node_modules and run this again"
  VNU_JAR=$jar
  export VNU_JAR
}

# A virtual environment at DIR with exactly the pins of REQUIREMENTS, made again when they (or the
# interpreter) change, holding each PROGRAM in DIR/bin (the infrastructure gate's tools, target/infra-tools).
# ensure_infra_venv DIR REQUIREMENTS PROGRAM...
ensure_infra_venv() {
  local dir=$1 requirements=$2 python stamp program
  shift 2
  [ -f "$requirements" ] || die "$requirements is missing: the pins of the tools for ${dir#"$PWD"/}; restore it (git checkout -- $requirements)"
  ensure_apt_programs "Python 3" "the infrastructure gate's tools" python3:python3
  python=$(python3 -c 'import sys; print(sys.version.split()[0], sys.executable)') \
    || die "python3 ($(command -v python3)) does not run, so the infrastructure gate's tools cannot be installed"
  stamp="$(sha256sum "$requirements" | cut -d' ' -f1) $python"
  if [ -x "$dir/bin/python" ] && [ "$(cat "$dir/.installed" 2>/dev/null)" = "$stamp" ]; then return 0; fi
  if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    say "python3 cannot make virtual environments; installing Debian's python3-venv with apt-get"
    apt_install python3-venv \
      || die "python3 cannot make virtual environments and apt-get could not install python3-venv (it needs root): install it (apt-get install python3-venv), or use a python3 that has venv and ensurepip"
    python3 -c 'import venv, ensurepip' >/dev/null 2>&1 \
      || die "python3 ($(command -v python3)) still cannot make virtual environments after apt-get install python3-venv: it is not Debian's python3; install its venv module, or put Debian's python3 first on PATH"
  fi
  say "making the virtual environment ${dir#"$PWD"/} with the pins of ${requirements#"$PWD"/}, for $* (once per change)"
  rm -rf "$dir"
  mkdir -p "$(dirname "$dir")"
  python3 -m venv "$dir" >&2 || die "python3 -m venv $dir failed (its output is above)"
  if ! "$dir/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$requirements" >&2; then
    rm -rf "$dir"
    die "pip could not install the pins of ${requirements#"$PWD"/} into ${dir#"$PWD"/}: is the Python package index reachable (pip config list)? pip's output is above"
  fi
  for program in "$@"; do
    if [ ! -x "$dir/bin/$program" ]; then
      rm -rf "$dir"
      die "pip installed ${requirements#"$PWD"/}, but ${dir#"$PWD"/}/bin/$program is not there: the pins no longer provide $program; fix ${requirements#"$PWD"/}"
    fi
  done
  printf '%s\n' "$stamp" >"$dir/.installed"
}

# --- The local Cosmos DB server (tools/cosmos-local) -------------------------------------------
# The SDK needs a key even though the local server checks none: this is the Cosmos DB emulator's
# published well-known key, not a secret.
# shellcheck disable=SC2034 # used by the scripts that source this file
COSMOS_LOCAL_KEY='C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=='

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_marked NAME COMMAND...: COMMAND in the background with each line it prints marked `NAME |`, for
# processes that share one terminal. Sets MARKED_PID, COMMAND's own process id. The marker ignores Ctrl-C and
# ends when COMMAND's output does, so it passes on what COMMAND prints while it stops.
start_marked() {
  local name=$1
  shift
  "$@" > >(trap '' INT TERM; exec sed -u "s/^/$name | /") 2>&1 &
  # shellcheck disable=SC2034 # the caller's
  MARKED_PID=$!
}

# The pinned server (npm ci in tools/cosmos-local, once per lockfile change), and Node.js to run it.
ensure_cosmos_local() {
  ensure_node
  npm_ci tools/cosmos-local "the local Cosmos DB server (@vercel/cosmosdb-server)"
}

# Start the local Cosmos DB server on 127.0.0.1:$1 (0: any free port) and wait until it listens; its log goes
# to $2. Sets COSMOS_LOCAL_PID and COSMOS_LOCAL_ENDPOINT. Refuses a port that something else already holds.
start_cosmos_local() {
  local port=$1 log=$2 line
  if [ "$port" != 0 ] && port_open "$port"; then
    die "port $port is taken, so the local Cosmos DB server cannot start there: stop what holds it, or set COSMOS_ENDPOINT to a Cosmos DB account (and COSMOS_KEY)"
  fi
  ensure_cosmos_local
  mkdir -p "$(dirname "$log")"
  node tools/cosmos-local/server.js --port "$port" >"$log" 2>&1 &
  COSMOS_LOCAL_PID=$!
  for _ in $(seq 1 150); do
    line=$(grep -o 'listening on http://127\.0\.0\.1:[0-9]*/' "$log" 2>/dev/null || true)
    if [ -n "$line" ]; then
      # shellcheck disable=SC2034 # the caller's
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
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

# redis-server, and redis-cli (Debian's redis-tools), which the scripts ask and clean Redis with.
ensure_redis_installed() { ensure_apt_programs Redis "the cache and sessions (step 3 on) and the tests" redis-server:redis-server redis-cli:redis-tools; }

# Make sure Redis answers on 127.0.0.1:6379; start the machine's redis-server (nothing kept on disk) if
# it is installed but stopped, installing it first when missing. Sets REDIS_STARTED=1 when this call started it.
ensure_redis() {
  REDIS_STARTED=
  if have redis-cli && redis_up; then return 0; fi
  ensure_redis_installed
  redis_up && return 0
  say "Redis is not answering; starting redis-server on 127.0.0.1:6379 (in memory only)"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /tmp --logfile /tmp/courseshop-redis.log >&2 || true
  for _ in $(seq 1 50); do
    # shellcheck disable=SC2034 # the caller's: it stops only a Redis it started
    if redis_up; then REDIS_STARTED=1; return 0; fi
    sleep 0.1
  done
  die "Redis did not start on 127.0.0.1:6379 (see /tmp/courseshop-redis.log); start it yourself, or point REDIS_URL at a running server"
}

# --- RabbitMQ (OrderPlaced events, from step 4) ---------------------------------------------------
rabbitmq_up() { port_open 5672; }

# rabbitmq-server and rabbitmqctl (both in Debian's rabbitmq-server).
ensure_rabbitmq_installed() { ensure_apt_programs RabbitMQ "asynchronous enrollment (step 4) and its tests" rabbitmq-server:rabbitmq-server rabbitmqctl:rabbitmq-server; }

# Make sure RabbitMQ answers on 127.0.0.1:5672 (guest/guest); start the machine's server if it is
# installed but stopped, or install it with apt. Sets RABBITMQ_STARTED=1 when this call started it.
ensure_rabbitmq() {
  RABBITMQ_STARTED=
  rabbitmq_up && return 0
  ensure_rabbitmq_installed
  say "RabbitMQ is not answering; starting rabbitmq-server (it takes a few seconds)"
  rabbitmq-server -detached >&2 \
    || die "rabbitmq-server did not start (it needs root, or the rabbitmq user): start it yourself or point RABBITMQ_URL at a running broker"
  for _ in $(seq 1 120); do
    # shellcheck disable=SC2034 # the caller's: it stops only a broker it started
    if rabbitmq_up && rabbitmqctl -q status >/dev/null 2>&1; then RABBITMQ_STARTED=1; return 0; fi
    sleep 0.5
  done
  die "RabbitMQ did not start on 127.0.0.1:5672 (see /var/log/rabbitmq/)"
}

# --- PgBouncer, for the tests that run the shop through it (as on Azure), and step 5 ------------
# Azure Database for PostgreSQL's built-in PgBouncer pools transactions and tracks prepared
# statements (pgbouncer.max_prepared_statements), which sqlx needs there; tracking came with
# PgBouncer 1.21. Debian 12's package is 1.18, so on such a machine this builds Debian 13's source
# package (the upstream release, checked against its hash) into target/, once.
PGBOUNCER_VERSION=1.24.1
PGBOUNCER_SHA256=da72a3aba13072876d055a3e58dd4aba4a5de4ed6148e73033185245598fd3e0

# The version a pgbouncer program $1 reports ("" when it does not run). No pipeline: a missing program
# must not end a `set -o pipefail` script.
pgbouncer_version() {
  local out
  out=$("$1" --version 2>/dev/null) || return 0
  out=${out%%$'\n'*}
  case $out in "PgBouncer "*) printf '%s\n' "${out#PgBouncer }" ;; esac
}

# Whether version $1 is $2 or later.
version_at_least() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n 1)" = "$2" ]; }

# The machine's Debian archive, as apt's sources name it (deb822 stanzas in $APT_SOURCES_PARTS/*.sources, one-line
# entries in $APT_SOURCES_LIST and $APT_SOURCES_PARTS/*.list; the paths can be overridden, for the tests): the
# first URI, without a trailing slash, whose path ends in /debian (not -security). Fails, printing nothing,
# when none is configured. The repository names no mirror: each machine's own is used.
debian_mirror() {
  local list=${APT_SOURCES_LIST:-/etc/apt/sources.list} parts=${APT_SOURCES_PARTS:-/etc/apt/sources.list.d}
  local file uri deb822=() one_line=()
  for file in "$parts"/*.sources; do [ -f "$file" ] && deb822+=("$file"); done
  [ -f "$list" ] && one_line+=("$list")
  for file in "$parts"/*.list; do [ -f "$file" ] && one_line+=("$file"); done
  uri=$(
    {
      if [ ${#deb822[@]} -gt 0 ]; then
        # a stanza's URIs (continuation lines too), unless it is Enabled: no or has no deb/deb-src type
        awk '
          function flush() {
            if (types ~ /(^|[ \t])deb(-src)?([ \t]|$)/ && tolower(enabled) != "no") print uris
            types = ""; uris = ""; enabled = ""; field = ""
          }
          FNR == 1 { flush() }
          /^[ \t]*#/ { next }
          /^[ \t]*$/ { flush(); next }
          /^[ \t]/ { if (field == "uris") uris = uris " " $0; next }
          {
            field = tolower($0); sub(/:.*/, "", field)
            value = $0; sub(/^[^:]*:[ \t]*/, "", value)
            if (field == "types") types = value
            else if (field == "uris") uris = value
            else if (field == "enabled") enabled = value
          }
          END { flush() }' "${deb822[@]}"
      fi
      if [ ${#one_line[@]} -gt 0 ]; then
        awk '/^[ \t]*deb(-src)?[ \t]/ { line = $0; gsub(/\[[^]]*\]/, " ", line); $0 = line; print $2 }' "${one_line[@]}"
      fi
    } | tr -s '[:blank:]' '\n' | grep -E '^https?://[^/]+(/.*)?/debian/?$' | head -n 1
  ) || true
  [ -n "$uri" ] || return 1
  printf '%s\n' "${uri%/}"
}

# What PgBouncer's build needs and this machine lacks (empty when nothing).
pgbouncer_build_missing() {
  local program missing=()
  for program in cc make pkg-config curl tar sha256sum; do have "$program" || missing+=("$program"); done
  if have pkg-config && ! pkg-config --exists libevent openssl 2>/dev/null; then missing+=("libevent and openssl development files"); fi
  printf '%s\n' "${missing[*]}"
}

# Builds PgBouncer $PGBOUNCER_VERSION from Debian's source package into prefix $1.
build_pgbouncer() {
  local prefix=$1 mirror missing work tarball=pgbouncer_${PGBOUNCER_VERSION}.orig.tar.gz
  local keep="or set TEST_PGBOUNCER to a pgbouncer 1.21 or later"
  mirror=$(debian_mirror) \
    || die "PgBouncer $PGBOUNCER_VERSION has to be built for the tests, but apt's sources (${APT_SOURCES_PARTS:-/etc/apt/sources.list.d}/*.sources, ${APT_SOURCES_LIST:-/etc/apt/sources.list}) name no Debian mirror (a URI ending in /debian) to download its source package from: configure the machine's Debian mirror there, $keep"
  missing=$(pgbouncer_build_missing)
  if [ -n "$missing" ]; then
    say "PgBouncer's build needs $missing; installing Debian's build-essential pkg-config libevent-dev libssl-dev curl with apt-get"
    apt_install build-essential pkg-config libevent-dev libssl-dev curl \
      || die "PgBouncer's build needs $missing, and apt-get could not install build-essential pkg-config libevent-dev libssl-dev curl (it needs root): install them, $keep"
    missing=$(pgbouncer_build_missing)
    [ -z "$missing" ] || die "PgBouncer's build still lacks $missing after apt-get install build-essential pkg-config libevent-dev libssl-dev curl: install them, $keep"
  fi
  work="$PWD/target/pgbouncer-build"
  rm -rf "$work" && mkdir -p "$work"
  say "downloading $tarball (Debian 13's source package of PgBouncer) from the Debian mirror in apt's sources"
  curl -fsSL --retry 2 --connect-timeout 20 --max-time 300 -o "$work/$tarball" "$mirror/pool/main/p/pgbouncer/$tarball" \
    || die "could not download PgBouncer's source, $tarball, from the pool of the Debian mirror in apt's sources: check that apt-get update works on this machine, $keep"
  echo "$PGBOUNCER_SHA256  $work/$tarball" | sha256sum -c --quiet - >&2 \
    || die "the downloaded PgBouncer source ($tarball) does not match its pinned sha256 hash (PGBOUNCER_SHA256 in scripts/lib.sh): not building it; check the mirror, $keep"
  tar -xzf "$work/$tarball" -C "$work" || die "could not unpack PgBouncer's source ($work/$tarball)"
  (cd "$work/pgbouncer-$PGBOUNCER_VERSION" \
    && ./configure --prefix="$prefix" --without-cares --with-openssl >"$work/build.log" 2>&1 \
    && make -j2 >>"$work/build.log" 2>&1 && make install >>"$work/build.log" 2>&1) \
    || { tail -n 30 "$work/build.log" >&2; die "PgBouncer $PGBOUNCER_VERSION did not build (the end of its log, $work/build.log, is above)"; }
  rm -rf "$work"
}

# Sets and exports TEST_PGBOUNCER: a pgbouncer program of version 1.21 or later. A TEST_PGBOUNCER already set is
# kept if it runs; else the machine's pgbouncer if it is new enough; else the build in target/ (made once).
ensure_pgbouncer() {
  local program installed prefix="$PWD/target/pgbouncer-$PGBOUNCER_VERSION" built
  if [ -n "${TEST_PGBOUNCER:-}" ]; then
    have "$TEST_PGBOUNCER" \
      || die "TEST_PGBOUNCER=$TEST_PGBOUNCER is not a program: point it at a pgbouncer 1.21 or later, or unset it to have PgBouncer $PGBOUNCER_VERSION built"
    export TEST_PGBOUNCER
    return 0
  fi
  if program=$(command -v pgbouncer); then
    installed=$(pgbouncer_version "$program")
    if [ -n "$installed" ] && version_at_least "$installed" 1.21; then
      TEST_PGBOUNCER=$program
      export TEST_PGBOUNCER
      return 0
    fi
  fi
  if [ ! -x "$prefix/bin/pgbouncer" ]; then
    say "building PgBouncer $PGBOUNCER_VERSION from Debian's source package into ${prefix#"$PWD"/} (the machine's pgbouncer is ${installed:-missing}; the tests and step 5 need 1.21+)"
    build_pgbouncer "$prefix"
  fi
  built=$(pgbouncer_version "$prefix/bin/pgbouncer")
  if [ -z "$built" ] || ! version_at_least "$built" 1.21; then
    die "$prefix/bin/pgbouncer does not run as PgBouncer 1.21 or later (it reports '${built:-nothing}'): remove $prefix and run this again to rebuild it, or set TEST_PGBOUNCER to a pgbouncer 1.21 or later"
  fi
  TEST_PGBOUNCER="$prefix/bin/pgbouncer"
  export TEST_PGBOUNCER
}
