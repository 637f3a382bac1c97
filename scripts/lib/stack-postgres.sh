# shellcheck shell=bash
# Step 5's PostgreSQL for scripts/run: a primary of the stack's own and a streaming replica of it (a hot standby
# made with pg_basebackup -R), both in target/scale-out/, started and stopped with pg_ctl. Sourced after lib.sh.
#
# Why a primary of its own rather than a replica of the machine's cluster: replicating that cluster needs its
# pg_hba.conf edited (its `all` lines do not cover replication connections, which must be named `replication`)
# and reloaded, a change to a server the machine's other users and ./scripts/test rely on; and its replica would
# replay everything that cluster does, every test database the suite copies and drops among it, on a 2-core
# machine. A cluster made with initdb in target/ is the stack's to configure, and goes away with target/.

# ./scripts/test makes a second pair for its read-routing tests (in target/test-replica/, on ports of its own) by
# setting PG_STACK_DIR and the ports before sourcing this
STACK_DIR=${PG_STACK_DIR:-$PWD/target/scale-out}
PG_PRIMARY_PORT=${PG_PRIMARY_PORT:-5434}
PG_REPLICA_PORT=${PG_REPLICA_PORT:-5433}
# the primary keeps the WAL this slot's replica has not received, so a replica that was stopped catches up
REPLICA_SLOT=courseshop_replica

stack_pg_url() { printf 'postgres://postgres@127.0.0.1:%s/%s\n' "$1" "$2"; }  # stack_pg_url PORT DATABASE

# PostgreSQL's server programs refuse to run as root: as root they run as the postgres user (Debian's package
# makes it), which then owns the data directories.
as_pg_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# A directory the server programs may write: made, and as root handed to the postgres user.
pg_owned_dir() {
  mkdir -p "$1"
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$1"; fi
  chmod 700 "$1"
}

# Sets PG_BIN (the newest Debian server binaries, /usr/lib/postgresql/<version>/bin) and PG_MAJOR.
find_pg_server() {
  local version
  version=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$version" ] || [ ! -x "/usr/lib/postgresql/$version/bin/initdb" ] || [ ! -x "/usr/lib/postgresql/$version/bin/pg_basebackup" ]; then
    die "step 5 runs a PostgreSQL primary and replica of its own, which needs the server programs (initdb, pg_ctl, pg_basebackup under /usr/lib/postgresql/<version>/bin): install them (Debian: apt-get install postgresql) and run this again"
  fi
  PG_BIN=/usr/lib/postgresql/$version/bin
  PG_MAJOR=$version
  if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    die "step 5's PostgreSQL cannot run as root and there is no postgres user to run it as: install Debian's postgresql package (it makes the user), or run this as another user"
  fi
}

pg_running() { as_pg_owner "$PG_BIN/pg_ctl" status -D "$1" >/dev/null 2>&1; }

# pg_start NAME DIR PORT: starts the cluster in DIR on 127.0.0.1:PORT (log: target/scale-out/log/NAME.log) and
# waits until it takes connections. One already running there (an earlier run that was killed) is kept.
pg_start() {
  local name=$1 dir=$2 port=$3
  if pg_running "$dir"; then
    say "step 5's $name is already running (left by an earlier run): using it"
    return 0
  fi
  if port_open "$port"; then
    die "port $port is taken, so step 5's $name cannot start there: stop what holds it, or set PG_${name^^}_PORT to a free port"
  fi
  say "starting step 5's $name on 127.0.0.1:$port"
  as_pg_owner "$PG_BIN/pg_ctl" start -D "$dir" -l "$STACK_DIR/log/$name.log" -w -t 120 -o "-p $port" >/dev/null
}

pg_stop() { if pg_running "$2"; then as_pg_owner "$PG_BIN/pg_ctl" stop -D "$2" -m "${3:-fast}" -w >/dev/null; fi; }  # pg_stop NAME DIR [MODE]

stack_psql() { psql "$(stack_pg_url "$1" postgres)" -qtAX -v ON_ERROR_STOP=1 -c "$2"; }  # stack_psql PORT SQL

# The primary, made with initdb on the first run (and again when the installed PostgreSQL is another major
# version than the one that made it: its demo data is seeded again), then started.
start_stack_primary() {
  local dir=$STACK_DIR/primary made
  pg_owned_dir "$STACK_DIR/log"
  made=$(cat "$dir/PG_VERSION" 2>/dev/null || true)
  if [ -n "$made" ] && [ "$made" != "$PG_MAJOR" ]; then
    say "step 5's primary was made by PostgreSQL $made, this machine runs $PG_MAJOR: making it again (the demo data is seeded again)"
    pg_stop primary "$dir" immediate || true
    rm -rf "$dir"
  fi
  if [ ! -f "$dir/PG_VERSION" ]; then
    say "making step 5's primary with initdb in ${dir#"$PWD"/}"
    rm -rf "$dir"
    pg_owned_dir "$dir"
    as_pg_owner "$PG_BIN/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$STACK_DIR/log/initdb.log" 2>&1 \
      || { cat "$STACK_DIR/log/initdb.log" >&2; rm -rf "$dir"; die "initdb could not make step 5's primary (its output is above)"; }
    # trust on loopback, as the machine's cluster; replication connections must be allowed by name
    printf '%s\n' 'host all all 127.0.0.1/32 trust' 'host replication all 127.0.0.1/32 trust' >"$dir/pg_hba.conf"
    cat >>"$dir/postgresql.conf" <<'EOF'

# step 5's primary (scripts/lib/stack-postgres.sh); the port is given at start
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
# a slot keeps the WAL its replica still needs; beyond this the slot is given up rather than filling the disk,
# and the next run makes the replica again
max_slot_wal_keep_size = 1GB
# statements counted by server (SCENARIO=scale reports how many went to the primary and how many to the
# replica, which loads it too: it copies this file); CREATE EXTENSION pg_stat_statements shows them
shared_preload_libraries = 'pg_stat_statements'
EOF
  fi
  pg_start primary "$dir" "$PG_PRIMARY_PORT" \
    || { tail -n 20 "$STACK_DIR/log/primary.log" >&2; die "step 5's primary did not start (the end of ${STACK_DIR#"$PWD"/}/log/primary.log is above)"; }
}

# A cluster's system identifier: what a replica shares with the primary it was copied from.
pg_system_id() { as_pg_owner "$PG_BIN/pg_controldata" -D "$1" 2>/dev/null | sed -n 's/^Database system identifier: *//p'; }

# Why the replica in target/ cannot be used as it is (nothing when it can).
replica_stale_reason() {
  local dir=$STACK_DIR/replica slot
  if [ ! -f "$dir/PG_VERSION" ]; then echo "there is none yet"; return; fi
  if [ "$(cat "$STACK_DIR/replica.made" 2>/dev/null)" != "$(pg_system_id "$dir")" ]; then
    echo "the last copy did not finish"; return
  fi
  if [ "$(cat "$dir/PG_VERSION")" != "$PG_MAJOR" ]; then echo "it was made by another PostgreSQL version"; return; fi
  if [ ! -f "$dir/standby.signal" ]; then echo "it is no longer a standby (promoted?)"; return; fi
  if [ "$(pg_system_id "$dir")" != "$(pg_system_id "$STACK_DIR/primary")" ]; then
    echo "it is a copy of an earlier primary"; return
  fi
  slot=$(stack_psql "$PG_PRIMARY_PORT" "SELECT coalesce((SELECT wal_status FROM pg_replication_slots WHERE slot_name = '$REPLICA_SLOT'), 'missing')")
  case $slot in
    missing) echo "the primary has no slot for it, so the WAL it needs may be gone" ;;
    lost) echo "the primary gave up the WAL it needs (max_slot_wal_keep_size)" ;;
  esac
}

# Makes the replica again: a fresh copy of the primary with pg_basebackup -R (standby.signal and
# primary_conninfo written for it), through a new slot; the old slot is dropped first, or it would hold WAL for
# a replica that no longer exists.
make_replica() {
  local dir=$STACK_DIR/replica
  say "making step 5's replica ($1): pg_basebackup -R from the primary into ${dir#"$PWD"/}"
  pg_stop replica "$dir" immediate || true
  rm -f "$STACK_DIR/replica.made"
  for _ in $(seq 1 20); do  # a stopped replica's walsender may hold the slot for a moment
    stack_psql "$PG_PRIMARY_PORT" "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$REPLICA_SLOT'" >/dev/null 2>&1 && break
    sleep 0.5
  done
  rm -rf "$dir"
  pg_owned_dir "$dir"
  as_pg_owner "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$PG_PRIMARY_PORT" -U postgres -D "$dir" -R -X stream \
    -C -S "$REPLICA_SLOT" -c fast >"$STACK_DIR/log/basebackup.log" 2>&1 \
    || { cat "$STACK_DIR/log/basebackup.log" >&2; die "pg_basebackup could not copy step 5's primary (its output is above)"; }
  # replica reads are not cancelled by the primary's vacuum of rows they still see
  printf '\n# step 5'"'"'s replica\nhot_standby = on\nhot_standby_feedback = on\n' >>"$dir/postgresql.conf"
  pg_system_id "$dir" >"$STACK_DIR/replica.made"
}

# Whether the replica streams from the primary within $1 seconds.
replica_streams() {
  local status
  for _ in $(seq 1 "$(($1 * 2))"); do
    status=$(stack_psql "$PG_REPLICA_PORT" "SELECT status FROM pg_stat_wal_receiver" 2>/dev/null || true)
    [ "$status" = streaming ] && return 0
    sleep 0.5
  done
  return 1
}

# The replica: the one in target/ when it is still a copy of this primary that can catch up, otherwise made
# again; then started, and made again once more if it does not stream.
start_stack_replica() {
  local dir=$STACK_DIR/replica reason
  reason=$(replica_stale_reason)
  if [ -n "$reason" ]; then make_replica "$reason"; else say "reusing step 5's replica in ${dir#"$PWD"/}"; fi
  if pg_start replica "$dir" "$PG_REPLICA_PORT" && replica_streams 30; then return 0; fi
  [ -z "$reason" ] || { tail -n 20 "$STACK_DIR/log/replica.log" >&2; die "step 5's new replica does not stream from the primary (the end of ${STACK_DIR#"$PWD"/}/log/replica.log is above)"; }
  make_replica "it did not catch up with the primary"
  if ! { pg_start replica "$dir" "$PG_REPLICA_PORT" && replica_streams 30; }; then
    tail -n 20 "$STACK_DIR/log/replica.log" >&2
    die "step 5's replica does not stream from the primary (the end of ${STACK_DIR#"$PWD"/}/log/replica.log is above)"
  fi
}
