-- Links in emails (coordinator page, acknowledge, ...): only the SHA-256 of
-- each random token is kept, with its one purpose, what it is about, when it
-- expires, and whether it was used up or revoked.
CREATE TABLE links (
    token_hash  BYTEA PRIMARY KEY,
    purpose     TEXT NOT NULL CHECK (purpose IN ('coordinator_page', 'acknowledge')),
    subject_id  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ,
    revoked_at  TIMESTAMPTZ
);
CREATE INDEX links_by_subject ON links (subject_id, purpose);
