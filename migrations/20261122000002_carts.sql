-- Step 0's cart store (CART_STORE=postgres). From step 2 on, carts live in Cosmos DB and these tables stay empty.
-- A cart belongs to a browser before it belongs to a user (anonymous carts are merged at login), so a cart is
-- keyed, and would be distributed, by its own id; user_id is filled in once the cart has an owner.

CREATE TABLE carts (
    id         uuid PRIMARY KEY,
    user_id    bigint REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- a signed-in student's cart is found by user; one cart per user
CREATE UNIQUE INDEX carts_by_owner ON carts (user_id) WHERE user_id IS NOT NULL;
-- sweeping abandoned anonymous carts, oldest first
CREATE INDEX carts_sweep_by_updated_at ON carts (updated_at) WHERE user_id IS NULL;

CREATE TABLE cart_items (
    cart_id          uuid        NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
    course_id        bigint      NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    -- the price the student saw when adding; checkout re-prices every line from the catalog
    price_cents_seen bigint      NOT NULL CHECK (price_cents_seen >= 0),
    added_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cart_id, course_id)
);
