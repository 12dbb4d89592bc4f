-- Typed state: every status, recipient, kind and actor column holds one of a
-- known set of values (the Rust enums of firstweek-store map them), and a
-- coordinator's daily digest is its own kind of subject instead of a
-- `digest:<email>` prefix in a pair's id.

-- A timeline row is about a pair (`mentorship_id` is the pair's id) or is a
-- coordinator's digest (`mentorship_id` is the coordinator's opaque key, so
-- no address reaches logs or the ledger's key; `coordinator_email` says whom
-- it goes to).
ALTER TABLE timeline ADD COLUMN subject TEXT NOT NULL DEFAULT 'pair';
ALTER TABLE timeline ADD COLUMN coordinator_email TEXT;

-- The coordinator's key: stable per address, and not the address.
CREATE FUNCTION firstweek_coordinator_key(email TEXT) RETURNS TEXT
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT 'coordinator-' || left(encode(sha256(convert_to(email, 'UTF8')), 'hex'), 16) $$;

-- The advisory lock writers about one pair serialise on.
CREATE FUNCTION firstweek_pair_lock(mentorship_id TEXT) RETURNS BIGINT
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT hashtextextended(mentorship_id, 7) $$;

UPDATE deliveries SET mentorship_id = firstweek_coordinator_key(substr(mentorship_id, 8))
 WHERE mentorship_id LIKE 'digest:%';
UPDATE timeline SET subject = 'digest',
       coordinator_email = substr(mentorship_id, 8),
       mentorship_id = firstweek_coordinator_key(substr(mentorship_id, 8))
 WHERE mentorship_id LIKE 'digest:%';

ALTER TABLE timeline
    ADD CONSTRAINT timeline_subject_known CHECK (subject IN ('pair', 'digest')),
    ADD CONSTRAINT timeline_digest_names_its_coordinator
        CHECK ((subject = 'digest') = (coordinator_email IS NOT NULL)),
    ADD CONSTRAINT timeline_status_known
        CHECK (status IN ('scheduled', 'published', 'sent', 'skipped', 'cancelled', 'failed', 'unknown')),
    ADD CONSTRAINT timeline_recipient_known CHECK (recipient IN ('mentor', 'mentee', 'coordinator'));

ALTER TABLE deliveries
    ADD CONSTRAINT deliveries_status_known
        CHECK (status IN ('sending', 'handing_over', 'sent', 'failed', 'unknown')),
    ADD CONSTRAINT deliveries_recipient_known CHECK (recipient IN ('mentor', 'mentee', 'coordinator'));

ALTER TABLE interactions
    ADD CONSTRAINT interactions_kind_known
        CHECK (kind IN ('message', 'call', 'meeting', 'plan_shared', 'goal_set', 'session', 'deliverable_requested')),
    ADD CONSTRAINT interactions_actor_known CHECK (actor IN ('mentor', 'mentee'));

-- `firstweek timeline <coordinator email>` finds a coordinator's digests.
CREATE INDEX timeline_digests_by_coordinator ON timeline (coordinator_email) WHERE subject = 'digest';
