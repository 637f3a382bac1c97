-- The transactional outbox (tutorial step 4, DESIGN §5). Checkout writes the OrderPlaced event here in the
-- order's own transaction, so an order and its event are committed together or not at all; the relay in
-- the app publishes pending rows to RabbitMQ and marks them published only after the broker confirms.
CREATE TABLE outbox (
    -- publication order: the relay sends the oldest pending row first
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- the event's own id, sent as the AMQP message_id: consumers recognise a re-sent event by it
    event_id     uuid        NOT NULL UNIQUE,
    event_type   text        NOT NULL,
    routing_key  text        NOT NULL,
    payload      jsonb       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
-- the relay's batch (oldest pending first, FOR UPDATE SKIP LOCKED) and the backlog metrics: only pending
-- rows are in it, so it stays small however many events were ever published
CREATE INDEX outbox_relay_pending_oldest_first ON outbox (id) WHERE published_at IS NULL;
-- the relay's clean-up of rows published long ago
CREATE INDEX outbox_purge_by_published_at ON outbox (published_at) WHERE published_at IS NOT NULL;

-- Wakes every relay listening on `outbox_pending` when the inserting transaction commits (a rolled-back
-- checkout wakes nobody). Identical notifications in one transaction are folded into one.
CREATE FUNCTION outbox_wake_relay() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox_pending', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_wakes_the_relay AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_wake_relay();

-- Orders paid and not yet enrolled (step 4: the worker has not got to them yet). The relay counts them for
-- /metrics and the architecture page shows them: a count that grows while the outbox is empty means the
-- worker is behind or down. Only such orders are in the index, so it stays small.
CREATE INDEX orders_awaiting_enrollment ON orders (created_at) WHERE status = 'paid';
