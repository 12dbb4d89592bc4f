-- Erasure (`person.erased`, `firstweek erase`): whom firstweek forgot, kept
-- only as the SHA-256 of their id or address (so a later mentorship.started
-- naming them is recognised and stored with the placeholder), and the
-- placeholder id and address that replaced them in every pair (so the
-- sides carrying one are skipped like an unsubscribed person's).
CREATE TABLE erasures (
    subject_hash      TEXT PRIMARY KEY,
    placeholder_id    TEXT NOT NULL,
    placeholder_email TEXT NOT NULL,
    erased_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    via               TEXT NOT NULL CHECK (via IN ('event', 'cli'))
);
CREATE INDEX erasures_by_placeholder_id ON erasures (placeholder_id);
CREATE INDEX erasures_by_placeholder_email ON erasures (placeholder_email);

-- The retention job (FIRSTWEEK_RETENTION_DAYS) replaced this pair's people:
-- a later start for the pair changes nothing.
ALTER TABLE mentorships ADD COLUMN people_erased_at TIMESTAMPTZ;
CREATE INDEX mentorships_not_retained ON mentorships (started_at) WHERE people_erased_at IS NULL;
