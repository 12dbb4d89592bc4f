-- What each accepted event said: the SHA-256 of its validated body (the
-- contract's fields as firstweek parsed them, so key order, whitespace and
-- a time's offset do not matter). A repeat of an event_id with the same
-- fingerprint is a retry and counts once; with another fingerprint (or
-- another kind) it is a conflicting duplicate and is dead-lettered.
-- NULL for events accepted before this column: they cannot be compared, and
-- their repeats count as retries, as before.
ALTER TABLE processed_events ADD COLUMN fingerprint BYTEA;
