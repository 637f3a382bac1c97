-- Accounts and the course catalog: the part of the schema every tutorial step keeps in PostgreSQL.
-- Index names say which query they serve, so EXPLAIN output reads like the code.

CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         text        NOT NULL CHECK (email = lower(email) AND char_length(email) <= 254),
    display_name  text        NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 80),
    -- argon2id PHC string; NULL means the account cannot sign in with a password
    -- (the seeded catalog's instructors exist to own courses, not to log in).
    password_hash text,
    role          text        NOT NULL CHECK (role IN ('student', 'instructor')),
    created_at    timestamptz NOT NULL DEFAULT now()
);
-- login and registration look users up by (lower-cased) email
CREATE UNIQUE INDEX users_login_by_email ON users (email);

CREATE TABLE categories (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug        text     NOT NULL CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    name        text     NOT NULL,
    description text     NOT NULL,
    position    smallint NOT NULL DEFAULT 0
);
-- the catalog's category filter arrives as a slug
CREATE UNIQUE INDEX categories_filter_by_slug ON categories (slug);

CREATE TABLE courses (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug             text        NOT NULL CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND char_length(slug) <= 120),
    title            text        NOT NULL CHECK (char_length(title) BETWEEN 1 AND 160),
    summary          text        NOT NULL CHECK (char_length(summary) BETWEEN 1 AND 400),
    description      text        NOT NULL,
    category_id      bigint      NOT NULL REFERENCES categories (id),
    instructor_id    bigint      NOT NULL REFERENCES users (id),
    level            text        NOT NULL CHECK (level IN ('beginner', 'intermediate', 'advanced')),
    duration_minutes integer     NOT NULL CHECK (duration_minutes > 0),
    -- money is integer minor units (cents) in the shop's single currency
    price_cents      bigint      NOT NULL CHECK (price_cents >= 0),
    published        boolean     NOT NULL DEFAULT false,
    featured         boolean     NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    -- weighted so a word in the title outranks the same word deep in the description
    search           tsvector    GENERATED ALWAYS AS (
        setweight(to_tsvector('english', title), 'A') ||
        setweight(to_tsvector('english', summary), 'B') ||
        setweight(to_tsvector('english', description), 'C')
    ) STORED
);
-- GET /courses/{slug}
CREATE UNIQUE INDEX courses_detail_by_slug ON courses (slug);
-- GET /courses?q=…  (full-text search over published courses)
CREATE INDEX courses_catalog_search ON courses USING gin (search) WHERE published;
-- GET /courses?sort=newest, and the home page's featured list
CREATE INDEX courses_catalog_by_newest ON courses (created_at DESC, id DESC) WHERE published;
-- GET /courses?sort=price_asc|price_desc
CREATE INDEX courses_catalog_by_price ON courses (price_cents, id) WHERE published;
-- GET /courses?category=…  and the home page's per-category counts
CREATE INDEX courses_catalog_by_category ON courses (category_id, created_at DESC) WHERE published;
-- the instructor's own course list (/teach/courses)
CREATE INDEX courses_teach_by_instructor ON courses (instructor_id, updated_at DESC);
