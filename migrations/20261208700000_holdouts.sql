-- Holdouts (issue 30): which pairs are held out of which step, drawn
-- once when the pair starts (an HMAC of the pair and the step under a key
-- derived from FIRSTWEEK_PSEUDONYM_KEY and the program) and kept, so
-- replicas, restarts and previews agree. Ids only: nothing about a person.
-- A row for every step with a holdout, held out or not, so the draw is
-- never made twice for one pair.
CREATE TABLE holdouts (
    mentorship_id  TEXT NOT NULL,
    step_id        TEXT NOT NULL,
    held_out       BOOLEAN NOT NULL,
    drawn_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (mentorship_id, step_id)
);

-- The web pages read pairs with the steps they are held out of.
CREATE OR REPLACE FUNCTION firstweek_grant_web(grantee NAME) RETURNS VOID LANGUAGE plpgsql
    AS $$
DECLARE
    s TEXT := current_schema();
    t TEXT;
BEGIN
    EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM %I', s, grantee);
    EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA %I FROM %I', s, grantee);
    EXECUTE format('REVOKE ALL ON ALL FUNCTIONS IN SCHEMA %I FROM %I', s, grantee);
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', s, grantee);
    -- What the pages show: a coordinator's pairs, counts, timelines,
    -- escalations and outcome charts (and the playbook each pair is pinned
    -- to, by which its day and risks are judged); whether a person unsubscribed; which
    -- sides carry an erased person's placeholder; is the schema current;
    -- which steps a pair is held out of (ids only).
    FOREACH t IN ARRAY ARRAY['_sqlx_migrations', 'mentorships', 'playbooks', 'interactions', 'deliveries',
                             'timeline', 'escalations', 'unsubscribed', 'outcomes', 'holdouts'] LOOP
        IF to_regclass(format('%I.%I', s, t)) IS NOT NULL THEN
            EXECUTE format('GRANT SELECT ON TABLE %I.%I TO %I', s, t, grantee);
        END IF;
    END LOOP;
    EXECUTE format('GRANT SELECT (placeholder_id, placeholder_email) ON TABLE %I.erasures TO %I', s, grantee);
    EXECUTE format('GRANT EXECUTE ON FUNCTION %I.firstweek_web_link(BYTEA, TEXT), '
                   '%I.firstweek_web_acknowledge(BYTEA, TEXT, TIMESTAMPTZ, JSONB), '
                   '%I.firstweek_web_resolve(BYTEA, TEXT, TIMESTAMPTZ, JSONB), '
                   '%I.firstweek_web_answer(BYTEA, JSONB), '
                   '%I.firstweek_web_unsubscribe(BYTEA, TIMESTAMPTZ, JSONB), '
                   '%I.firstweek_pair_lock(TEXT) TO %I',
                   s, s, s, s, s, s, grantee);
END $$;

DO $$
BEGIN
    EXECUTE format('REVOKE ALL ON FUNCTION firstweek_grant_web(NAME) FROM PUBLIC');
    EXECUTE format('ALTER FUNCTION firstweek_grant_web(NAME) SET search_path = %I, pg_temp', current_schema());
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'firstweek_web') THEN
        PERFORM firstweek_grant_web('firstweek_web');
    END IF;
END $$;
