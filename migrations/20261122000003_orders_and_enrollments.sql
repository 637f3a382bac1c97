-- Orders and enrollments: the system of record for what a student bought and may watch.
-- Every table here carries user_id and every key starts with it, so the schema can be distributed by user
-- (Citus / Azure Cosmos DB for PostgreSQL) without rewriting a query: each query names the user.

CREATE TABLE orders (
    -- 64-bit, time-sortable, shard-routable id made by the application (shop::ids::OrderId)
    id              bigint      NOT NULL,
    user_id         bigint      NOT NULL REFERENCES users (id),
    status          text        NOT NULL CHECK (status IN ('paid', 'enrolled')),
    total_cents     bigint      NOT NULL CHECK (total_cents >= 0),
    currency        char(3)     NOT NULL,
    -- the checkout form's key: a replayed POST /checkout finds the order it already made
    idempotency_key uuid        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, id)
);
-- GET /orders: a student's history, newest first
CREATE INDEX orders_history_by_user ON orders (user_id, created_at DESC);
-- POST /checkout replayed with the same key
CREATE UNIQUE INDEX orders_replay_by_idempotency_key ON orders (user_id, idempotency_key);
-- GET /orders/{id} is served by the primary key: the signed-in user is always part of the lookup,
-- which is also what makes someone else's order a 404.

CREATE TABLE order_items (
    user_id     bigint NOT NULL,
    order_id    bigint NOT NULL,
    course_id   bigint NOT NULL REFERENCES courses (id),
    -- snapshots at purchase: later catalog edits never change a past order
    title       text   NOT NULL,
    price_cents bigint NOT NULL CHECK (price_cents >= 0),
    PRIMARY KEY (user_id, order_id, course_id),
    FOREIGN KEY (user_id, order_id) REFERENCES orders (user_id, id) ON DELETE CASCADE
);

CREATE TABLE enrollments (
    user_id     bigint      NOT NULL REFERENCES users (id),
    course_id   bigint      NOT NULL REFERENCES courses (id),
    order_id    bigint      NOT NULL,
    enrolled_at timestamptz NOT NULL DEFAULT now(),
    -- unique per user and course: a repeated or duplicated enrollment is a no-op
    PRIMARY KEY (user_id, course_id),
    FOREIGN KEY (user_id, order_id) REFERENCES orders (user_id, id)
);
-- GET /my/courses, newest first
CREATE INDEX enrollments_my_courses_by_user ON enrollments (user_id, enrolled_at DESC);
