# shellcheck shell=bash
# SCENARIO=cart-migration for scripts/load-test (sourced by it, after its helpers): `courseshop carts migrate`
# timed on CARTS (10000) visitors' carts of one to three lines each, in a database of its own
# (MIGRATION_DATABASE_URL, default courseshop_cart_migration, its carts made anew each run), into a local
# Cosmos DB server started here on a free port (its data in memory, gone at the end). In order: `--dry-run`, the
# first run (every cart migrated), the same run again (every cart skipped) and `--verify`, each with its wall
# time, carts/s and the command's CPU (user + system). MIGRATION_CONCURRENCY (16) and MIGRATION_BATCH (500) are
# passed on; COSMOS_THROUGHPUT=N makes the server throttle above N operations a second (429), as a small
# account does. COMPARE=/path/to/another/courseshop runs every step with that binary too, alternating with this
# checkout's, each into a Cosmos database of its own, so the two are side by side in one run. The scenario
# checks what it measures: a run that does not move every cart, or a verification that fails, ends it.

carts=${CARTS:-10000}
concurrency=${MIGRATION_CONCURRENCY:-16}
batch=${MIGRATION_BATCH:-500}
for pair in "CARTS=$carts" "MIGRATION_CONCURRENCY=$concurrency" "MIGRATION_BATCH=$batch" "COSMOS_THROUGHPUT=${COSMOS_THROUGHPUT:-1}"; do
  [[ ${pair#*=} =~ ^[1-9][0-9]{0,6}$ ]] || die "${pair%%=*} must be a whole number from 1 to 9999999; got '${pair#*=}'"
done
migration_url=${MIGRATION_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/courseshop_cart_migration}
declare -A binary=([this]=target/release/courseshop)
if [ -n "${COMPARE:-}" ]; then
  [ -x "$COMPARE" ] || die "COMPARE=$COMPARE is not an executable courseshop binary"
  binary[compared]=$COMPARE
fi
mapfile -t builds < <(printf '%s\n' "${!binary[@]}" | sort -r)

say "building the shop (release)"
cargo build --release --quiet --bin courseshop
ensure_postgres
ensure_database "$(sed -E 's#^[a-z]+://[^/]+/([^?]+).*#\1#' <<<"$migration_url")"
SHOP_STEP=0 DATABASE_URL=$migration_url target/release/courseshop migrate >/dev/null
SHOP_STEP=0 DATABASE_URL=$migration_url target/release/courseshop seed >/dev/null

say "making $carts visitors' carts of 1-3 published courses each"
psql "$migration_url" -v ON_ERROR_STOP=1 -q -v carts="$carts" <<'SQL'
SET client_min_messages TO warning;
TRUNCATE carts CASCADE;
INSERT INTO carts (id) SELECT gen_random_uuid() FROM generate_series(1, :carts);
-- the lateral subquery names the cart so that each cart draws its own courses
INSERT INTO cart_items (cart_id, course_id, price_cents_seen)
SELECT carts.id, picked.id, picked.price_cents
FROM carts CROSS JOIN LATERAL (
    SELECT id, price_cents FROM courses
    WHERE published AND carts.id IS NOT NULL
    ORDER BY random() LIMIT 1 + floor(random() * 3)::int
) AS picked;
ANALYZE carts; ANALYZE cart_items;
SQL
lines=$(psql "$migration_url" -tAc 'SELECT count(*) FROM cart_items')

if [ -n "${COSMOS_THROUGHPUT:-}" ]; then export COSMOS_LOCAL_THROUGHPUT=$COSMOS_THROUGHPUT; fi
start_cosmos_local 0 target/load/cosmos-migration.log
pids+=("$COSMOS_LOCAL_PID")
unset COSMOS_LOCAL_THROUGHPUT

# One step with one binary: its wall time, CPU and the carts its table counts, as a row; it dies on a result
# that is not the expected one, printing the command's output.
migrate_step() {
  local build=$1 step=$2 expect=$3 args out wall user sys counted
  case $step in
    dry-run) args=(--dry-run) ;;
    first | again) args=() ;;
    verify) args=(--verify) ;;
  esac
  out=target/load/cart-migration-$build-$step
  local TIMEFORMAT='%R %U %S'
  { time env SHOP_STEP=2 DATABASE_URL="$migration_url" COSMOS_ENDPOINT="$COSMOS_LOCAL_ENDPOINT" \
      COSMOS_KEY="$COSMOS_LOCAL_KEY" COSMOS_DATABASE="courseshop_migration_$build" RUST_LOG=warn \
      "${binary[$build]}" carts migrate "${args[@]}" --concurrency "$concurrency" --batch "$batch" \
      >"$out.out" 2>"$out.err"; } 2>"$out.time" \
    || { cat "$out.out" "$out.err" >&2; die "$build: carts migrate ${args[*]} failed (its output is above)"; }
  read -r wall user sys <"$out.time"
  if [ "$step" = verify ]; then
    counted=$carts
  else
    counted=$(awk -v what="$expect" '$1 == what { print $2 }' "$out.out")
  fi
  [ "${counted:-0}" = "$carts" ] || { cat "$out.out" >&2; die "$build: $step counted ${counted:-no} carts $expect, not $carts"; }
  awk -v b="$build" -v s="$step" -v c="$carts" -v w="$wall" -v u="$user" -v y="$sys" -v r="$(grep -o 'retried (of those) *[0-9]*' "$out.out" | awk '{ print $NF }')" \
    'BEGIN { printf "| %s | %s | %s | %.0f | %.1f s | %.1f s | %s |\n", b, s, (s == "verify" ? "-" : c), c / w, w, u + y, (r == "" ? "-" : r) }'
}

say "carts migrate: $carts carts ($lines lines), --concurrency $concurrency --batch $batch${COSMOS_THROUGHPUT:+, the server throttling above $COSMOS_THROUGHPUT operations/s}${COMPARE:+, alternating with $COMPARE}"
rows=()
for step in dry-run:migrated first:migrated again:skipped verify:-; do
  for build in "${builds[@]}"; do
    rows+=("$(migrate_step "$build" "${step%%:*}" "${step#*:}")")
  done
done
echo
echo "| binary | run | carts | carts/s | wall | the command's CPU | retried |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
echo "(carts/s = carts / wall, the whole command: connecting and counting included; the local Cosmos DB server on loopback, $(nproc) cores)"
exit 0
