# shellcheck shell=bash
# SCENARIO=soak for scripts/load-test (sourced by it, after its helpers): the newest step under a steady mixed
# load while the faults of the design's failure table come one after another, then the invariants.
#
# It starts step 5 as people do, `SHOP_STEP=5 ./scripts/run` (HAProxy, three instances, PgBouncer, a primary and
# a streaming replica, two enrollment workers), on ports and stores of its own, so that stopping them disturbs
# nothing else: the front door on 127.0.0.1:8680 (HAProxy's statistics on 8780), the instances on 8881-8883,
# PgBouncer on 6443, the primary and replica on 5438 and 5439 in target/load-soak/, the workers on 8690-8691, a
# Redis server on 6479 (nothing kept on disk) and the local Cosmos DB server on 8692 with its data journalled to
# target/soak/cosmos.jsonl (so a SIGKILL loses nothing it acknowledged). RabbitMQ is the machine's broker,
# under queue names of this run: its fault is `rabbitmqctl stop_app` and `start_app`, which stops the broker
# for every client of it for the fault's hold. scripts/load/soak.py drives the load and the faults and writes
# target/soak/soak.md (the table) and soak.svg (the chart).

soak_front=8680 soak_redis_port=6479 soak_cosmos_port=8692
export PG_STACK_DIR=$PWD/target/load-soak PG_PRIMARY_PORT=5438 PG_REPLICA_PORT=5439
soak_db=courseshop_soak
duration=${given_duration:-5m}
case $duration in
  *m) duration_s=$(( ${duration%m} * 60 )) ;;
  *s) duration_s=${duration%s} ;;
  *) duration_s=$duration ;;
esac
if ! [[ $duration_s =~ ^[0-9]+$ ]] || [ "$duration_s" -lt 60 ]; then
  die "DURATION=$duration: the soak takes whole seconds or minutes, at least 60s (90s, 5m)"
fi
for port in "$soak_front" 8780 8881 8882 8883 6443 5438 5439 8690 8691 "$soak_redis_port" "$soak_cosmos_port"; do
  port_open "$port" && die "port $port is taken (another soak run?): SCENARIO=soak needs 8680, 8780, 8881-8883, 6443, 5438-5439, 8690-8691, 6479 and 8692"
done
say "building the shop and the enrollment worker (release)"
cargo build --release --quiet --bin courseshop --bin enrollment-worker
ensure_redis_installed
ensure_rabbitmq
ensure_cosmos_local
find_pg_server
soak_out=$PWD/target/soak
rm -rf "$soak_out" && mkdir -p "$soak_out"

# Redis of its own, so that stopping it stops nobody else's
redis_start="redis-server --port $soak_redis_port --bind 127.0.0.1 --save '' --appendonly no --daemonize yes --logfile $soak_out/redis.log"
eval "$redis_start" || die "redis-server did not start on $soak_redis_port ($soak_out/redis.log)"
soak_stops=("redis-cli -p $soak_redis_port shutdown nosave")

# the local Cosmos DB server of its own, its data journalled so that a kill loses nothing acknowledged
cosmos_start="COSMOS_LOCAL_DATA=$soak_out/cosmos.jsonl setsid node tools/cosmos-local/server.js --port $soak_cosmos_port >>$soak_out/cosmos.log 2>&1 & echo \$! >$soak_out/cosmos.pid; disown; for _ in \$(seq 1 100); do grep -q 'listening on' $soak_out/cosmos.log && break; sleep 0.1; done"
: >"$soak_out/cosmos.log"
eval "$cosmos_start"
grep -q 'listening on' "$soak_out/cosmos.log" || die "the local Cosmos DB server did not start ($soak_out/cosmos.log)"
soak_stops+=("kill -TERM \$(cat $soak_out/cosmos.pid)")

RABBITMQ_NAME_PREFIX="courseshop_soak_$$."
session_key=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
say "starting step 5 (SHOP_STEP=5 ./scripts/run) on 127.0.0.1:$soak_front: its output goes to $soak_out/stack.log"
env SHOP_STEP=5 PORT=$soak_front HAPROXY_STATS_PORT=8780 PGBOUNCER_PORT=6443 WORKER_PORT=8690 SHOP_INSTANCES=3 \
  DATABASE_URL="postgres://postgres@127.0.0.1:5432/$soak_db" REDIS_URL="redis://127.0.0.1:$soak_redis_port" \
  COSMOS_ENDPOINT="http://127.0.0.1:$soak_cosmos_port/" COSMOS_KEY="$COSMOS_LOCAL_KEY" COSMOS_DATABASE=courseshop_soak \
  RABBITMQ_URL=amqp://guest:guest@127.0.0.1:5672/%2f RABBITMQ_NAME_PREFIX="$RABBITMQ_NAME_PREFIX" \
  SESSION_KEY="$session_key" RUST_LOG="${SHOP_RUST_LOG:-warn}" \
  scripts/run >"$soak_out/stack.log" 2>&1 &
stack_pid=$!
pids+=("$stack_pid")
for _ in $(seq 1 1800); do
  curl -fsS "http://127.0.0.1:$soak_front/readyz" >/dev/null 2>&1 && break
  kill -0 "$stack_pid" 2>/dev/null || { tail -n 30 "$soak_out/stack.log" >&2; die "step 5 stopped while starting (above: the end of $soak_out/stack.log)"; }
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$soak_front/readyz" >/dev/null || die "step 5 was not ready within 6 minutes ($soak_out/stack.log)"

# how the faults stop and start what they stop (run by soak.py with bash -c, from the repository)
pg="PG_STACK_DIR=$PG_STACK_DIR PG_PRIMARY_PORT=$PG_PRIMARY_PORT PG_REPLICA_PORT=$PG_REPLICA_PORT; . scripts/lib.sh; . scripts/lib/stack-postgres.sh; find_pg_server"
dead_letters="${RABBITMQ_NAME_PREFIX}enrollment.order-placed.dead"
soak_status=0
LOAD_COMMAND="SCENARIO=soak DURATION=$duration${SOAK_BREAK:+ SOAK_BREAK=$SOAK_BREAK} ./scripts/load-test" \
  BASE="http://127.0.0.1:$soak_front" DURATION_S="$duration_s" HOLD_S="${HOLD:+${HOLD%s}}" OUT_DIR="$soak_out" RUN="r$$" \
  PRIMARY_URL="$(stack_pg_url "$PG_PRIMARY_PORT" "$soak_db")" \
  SOAK_REDIS_STOP="redis-cli -p $soak_redis_port shutdown nosave" SOAK_REDIS_START="$redis_start" \
  SOAK_RABBITMQ_STOP="rabbitmqctl -q stop_app </dev/null" SOAK_RABBITMQ_START="rabbitmqctl -q start_app </dev/null" \
  SOAK_COSMOS_STOP="kill -KILL \$(cat $soak_out/cosmos.pid)" SOAK_COSMOS_START="$cosmos_start" \
  SOAK_REPLICA_STOP="$pg; pg_stop replica \$STACK_DIR/replica immediate" \
  SOAK_REPLICA_START="$pg; pg_start replica \$STACK_DIR/replica $PG_REPLICA_PORT" \
  SOAK_PRIMARY_STOP="$pg; pg_stop primary \$STACK_DIR/primary fast" \
  SOAK_PRIMARY_START="$pg; pg_start primary \$STACK_DIR/primary $PG_PRIMARY_PORT" \
  SOAK_WORKER_PORT=8690 SOAK_INSTANCE=shop-2 SOAK_QUEUE="${RABBITMQ_NAME_PREFIX}enrollment.order-placed" \
  SOAK_DLQ_COUNT="rabbitmqctl -q list_queues name messages </dev/null | awk '\$1 == \"$dead_letters\" {print \$2}'" \
  python3 scripts/load/soak.py || soak_status=$?

# what the run started again (a killed instance or worker), then its own Redis and Cosmos DB server
if [ -s "$soak_out/respawned.pids" ]; then
  while read -r pid; do kill -TERM "$pid" 2>/dev/null || true; done <"$soak_out/respawned.pids"
fi
rabbitmqctl -q start_app </dev/null >/dev/null 2>&1 || true
for stop in "${soak_stops[@]}"; do eval "$stop" >/dev/null 2>&1 || true; done
exit "$soak_status"
