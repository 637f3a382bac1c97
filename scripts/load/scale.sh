# shellcheck shell=bash
# SCENARIO=scale for scripts/load-test (sourced by it, after its helpers): step 4 against step 5 under the same mixed
# load, in one run, on one database.
#
# It starts step 5 as people do, `SHOP_STEP=5 ./scripts/run`, on ports and a PostgreSQL pair of its own (the front
# door on 127.0.0.1:8380, HAProxy's statistics on 8480, PgBouncer on 6440, the primary and replica on 5436 and 5437
# in target/load-scale/, the local Cosmos DB server on 8392, the workers on 8390-8391, Redis keys and RabbitMQ
# names under a prefix of this run), and beside it one step-4 shop (port 8384) on the same primary, directly: no
# replica, no pooler, the same Redis, Cosmos DB and queues (the stack's workers enroll its orders too). Then
# scripts/load/scale.py drives each in turn with the same load, and step 5 once more with one instance SIGKILLed,
# and prints the table of tutorial 05.

scale_front=8380 scale_step4=8384
export PG_STACK_DIR=$PWD/target/load-scale PG_PRIMARY_PORT=5436 PG_REPLICA_PORT=5437
scale_db=courseshop_scale
duration=${given_duration:-30s}
duration_s=${duration%s}
[[ $duration_s =~ ^[0-9]+$ ]] || die "DURATION=$duration: the scale scenario takes whole seconds (30s)"
for port in "$scale_front" "$scale_step4" 8480 6440 8390 8391 8392 5436 5437 8581 8582 8583; do
  port_open "$port" && die "port $port is taken (another scale run?): SCENARIO=scale needs 8380-8392, 8480, 8581-8583, 6440 and 5436-5437"
done
ensure_loadgen
say "building the shop and the enrollment worker (release)"
cargo build --release --quiet --bin courseshop --bin enrollment-worker
ensure_redis
redis_prefix="courseshop_scale_$$:"
ensure_rabbitmq
RABBITMQ_NAME_PREFIX="courseshop_scale_$$."
mkdir -p target/load
session_key=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')

say "starting step 5 (SHOP_STEP=5 ./scripts/run) on 127.0.0.1:$scale_front: its output goes to target/load/scale-step5.log"
env SHOP_STEP=5 PORT=$scale_front HAPROXY_STATS_PORT=8480 PGBOUNCER_PORT=6440 WORKER_PORT=8390 COSMOS_LOCAL_PORT=8392 \
  SHOP_INSTANCES=3 DATABASE_URL="postgres://postgres@127.0.0.1:5432/$scale_db" REDIS_KEY_PREFIX="$redis_prefix" \
  RABBITMQ_NAME_PREFIX="$RABBITMQ_NAME_PREFIX" SESSION_KEY="$session_key" RUST_LOG="${SHOP_RUST_LOG:-warn}" \
  scripts/run >target/load/scale-step5.log 2>&1 &
stack_pid=$!
pids+=("$stack_pid")
# the first run makes the primary with initdb, the replica with pg_basebackup, and seeds the catalog
for _ in $(seq 1 1800); do
  curl -fsS "http://127.0.0.1:$scale_front/readyz" >/dev/null 2>&1 && break
  kill -0 "$stack_pid" 2>/dev/null || { tail -n 30 target/load/scale-step5.log >&2; die "step 5 stopped while starting (above: the end of target/load/scale-step5.log)"; }
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$scale_front/readyz" >/dev/null || die "step 5 was not ready within 6 minutes (target/load/scale-step5.log)"

primary_admin=$(stack_pg_url "$PG_PRIMARY_PORT" postgres) replica_admin=$(stack_pg_url "$PG_REPLICA_PORT" postgres)
# statements by server: a primary made by an earlier version of scripts/lib/stack-postgres.sh may not load it
psql "$(stack_pg_url "$PG_PRIMARY_PORT" "$scale_db")" -qX -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements' >/dev/null 2>&1 \
  || say "pg_stat_statements is not loaded on $PG_STACK_DIR's primary: statements by server are not reported (remove ${PG_STACK_DIR#"$PWD"/} to make it again)"

say "starting a step-4 shop on 127.0.0.1:$scale_step4: one instance on the same primary, directly"
env SHOP_STEP=4 PORT=$scale_step4 SHOP_INSTANCE=step-4 DATABASE_URL="$(stack_pg_url "$PG_PRIMARY_PORT" "$scale_db")" \
  COSMOS_ENDPOINT=http://127.0.0.1:8392/ COSMOS_KEY="$COSMOS_LOCAL_KEY" REDIS_URL=redis://127.0.0.1:6379 \
  REDIS_KEY_PREFIX="$redis_prefix" RABBITMQ_URL=amqp://guest:guest@127.0.0.1:5672/%2f \
  RABBITMQ_NAME_PREFIX="$RABBITMQ_NAME_PREFIX" SESSION_KEY="$session_key" RUST_LOG="${SHOP_RUST_LOG:-warn}" \
  target/release/courseshop serve >target/load/scale-step4.log 2>&1 &
pids+=("$!")
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$scale_step4/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "http://127.0.0.1:$scale_step4/readyz" >/dev/null || die "the step-4 shop did not start (target/load/scale-step4.log)"

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
instances_metrics=http://127.0.0.1:8581/metrics,http://127.0.0.1:8582/metrics,http://127.0.0.1:8583/metrics
rate=${RATE:-40} students=${STUDENTS:-4}
LOADGEN=$LOADGEN DURATION_S=$duration_s WARMUP_S=${WARMUP:-3} RATE=$rate CONNECTIONS=${given_connections:-16} \
  STUDENTS=$students DATABASE=$scale_db PRIMARY_ADMIN_URL="$primary_admin" REPLICA_ADMIN_URL="$replica_admin" \
  HAPROXY_CSV="http://127.0.0.1:8480/;csv" KILL=shop-2 KILL_AT_S=${KILL_AT:-5} \
  LOAD_COMMAND="SCENARIO=scale DURATION=$duration RATE=$rate STUDENTS=$students ./scripts/load-test" \
  python3 scripts/load/scale.py \
  "step 4=http://127.0.0.1:$scale_step4=http://127.0.0.1:$scale_step4/metrics" \
  "step 5=http://127.0.0.1:$scale_front=$instances_metrics=postgres://postgres@127.0.0.1:6440/pgbouncer"
