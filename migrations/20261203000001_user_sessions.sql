-- A signed-in session, recorded on the server, so that signing out ends it there too. At steps 0–2
-- the session itself travels in the (encrypted) cookie: without this row a copy of that cookie
-- would still be signed in after logout (OWASP ASVS 3.3.1). Read with the user on every signed-in
-- request; `id` is the random key the session keeps (never shown, never logged).
CREATE TABLE user_sessions (
    id         text        PRIMARY KEY CHECK (id ~ '^[0-9a-f]{64}$'),
    user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
-- a sign-in clears its own user's expired sessions
CREATE INDEX user_sessions_expired_by_user ON user_sessions (user_id, expires_at);
