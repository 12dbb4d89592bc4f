-- Pseudonyms keyed with the operator's secret (FIRSTWEEK_PSEUDONYM_KEY):
-- an HMAC-SHA256 instead of a bare SHA-256 of an address, which anyone who
-- guesses the address could confirm. PostgreSQL never sees the key: Rust
-- computes every pseudonym (firstweek::pseudonym, the one place the rule
-- is), so the SQL function that computed coordinator keys goes.
--
-- A pair's coordinator key is kept with the pair (the web's page lookup
-- and the digest job read it; the writers of `people` set it). Rows from
-- before stay NULL until the start-up step keys them (`firstweek_store::
-- key_pseudonyms`), which also rewrites the erasure ledger's keys, erased
-- people's placeholders and coordinator keys stored elsewhere, and records
-- the key's fingerprint here: done once, and a later start with another
-- key is refused.
ALTER TABLE mentorships ADD COLUMN coordinator_key TEXT;
CREATE INDEX mentorships_by_coordinator_key ON mentorships (coordinator_key);
-- The pairs still without one (from before keying, or seeded by hand).
CREATE INDEX mentorships_without_coordinator_key ON mentorships (id) WHERE coordinator_key IS NULL;

CREATE TABLE pseudonym_key (
    -- One row: the database's pseudonyms are keyed.
    singleton   BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    -- firstweek::pseudonym::PseudonymKey::fingerprint of the key used.
    fingerprint TEXT NOT NULL,
    keyed_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

DROP FUNCTION firstweek_coordinator_key(TEXT);
