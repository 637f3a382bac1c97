-- Order ids: 64 bits that sort by time and say which logical shard (of 1024) the order's user is on,
-- so orders can be spread over databases by user without a lookup table (DESIGN §4):
--   41 bits  milliseconds since 2026-01-01 UTC (until 2095)
--   10 bits  logical shard = user_id % 1024
--   12 bits  sequence, so one shard can take 4096 orders in the same millisecond
-- The sequence is shared; every id is unique while fewer than 4096 orders start in one millisecond.
CREATE SEQUENCE order_id_sequence AS bigint CYCLE;

CREATE FUNCTION next_order_id(for_user bigint) RETURNS bigint
LANGUAGE sql VOLATILE AS $$
    SELECT ((floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint - 1767225600000) << 22)
         | ((for_user % 1024) << 12)
         | (nextval('order_id_sequence') % 4096)
$$;
