-- The events API (`POST /api/v1/events` on firstweek-web): API keys scoped
-- to one program, and the events they were accepted with, kept until the
-- scheduler relays them to the exchange with confirms (the same way as the
-- outbox, but a table of its own: the outbox holds what firstweek announces
-- and its CHECK refuses a mentorship.started; this one holds what programs
-- publish, and its CHECK takes exactly the contract's six inputs).

-- Only a key's SHA-256 is stored; the key itself is printed once.
CREATE TABLE api_keys (
    id           BIGSERIAL PRIMARY KEY,
    key_hash     BYTEA NOT NULL UNIQUE,
    program_id   TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at   TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ
);

-- A key's use in the current minute (the rate limit holds across replicas).
CREATE TABLE api_key_windows (
    key_id       BIGINT PRIMARY KEY REFERENCES api_keys (id) ON DELETE CASCADE,
    window_start TIMESTAMPTZ NOT NULL,
    used         INTEGER NOT NULL
);

CREATE TABLE inbound_events (
    id            BIGSERIAL PRIMARY KEY,
    event_id      TEXT NOT NULL UNIQUE,
    routing_key   TEXT NOT NULL CHECK (routing_key IN (
        'mentorship.started', 'interaction.recorded', 'mentorship.ended',
        'participant.unsubscribed', 'person.erased', 'mentorship.outcome')),
    payload       JSONB NOT NULL,
    -- As processed_events.fingerprint: the SHA-256 of the event as parsed
    -- (key order, whitespace and a time's offset do not matter).
    fingerprint   BYTEA NOT NULL,
    -- The pair a mentorship.started names (scopes later events before intake stores it).
    mentorship_id TEXT,
    program_id    TEXT NOT NULL,
    key_id        BIGINT NOT NULL REFERENCES api_keys (id),
    received_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    claimed_until TIMESTAMPTZ,
    published_at  TIMESTAMPTZ
);
CREATE INDEX inbound_events_unpublished ON inbound_events (id) WHERE published_at IS NULL;
CREATE INDEX inbound_events_started ON inbound_events (mentorship_id)
    WHERE routing_key = 'mentorship.started';

-- The program a pair belongs to: as stored, or as a start accepted by the
-- API and not yet stored by intake says. NULL: unknown (or of no program).
CREATE FUNCTION firstweek_pair_program(p_mentorship_id TEXT) RETURNS TEXT
    LANGUAGE sql STABLE
    AS $$ SELECT coalesce(
              (SELECT program_id FROM mentorships WHERE id = p_mentorship_id),
              (SELECT program_id FROM inbound_events
                WHERE routing_key = 'mentorship.started' AND mentorship_id = p_mentorship_id
                ORDER BY id LIMIT 1)) $$;

-- Whether a person (an id, or for an erasure an address too) is named in a
-- pair of the program.
CREATE FUNCTION firstweek_program_names(p_program_id TEXT, p_person TEXT) RETURNS BOOLEAN
    LANGUAGE sql STABLE
    AS $$ SELECT EXISTS (
              SELECT 1 FROM (
                  SELECT people FROM mentorships WHERE program_id = p_program_id
                  UNION ALL
                  SELECT payload FROM inbound_events
                   WHERE routing_key = 'mentorship.started' AND program_id = p_program_id) AS p (people)
               WHERE p.people -> 'mentor' ->> 'id' = p_person
                  OR p.people -> 'mentee' ->> 'id' = p_person
                  OR lower(p.people -> 'mentor' ->> 'email') = lower(p_person)
                  OR lower(p.people -> 'mentee' ->> 'email') = lower(p_person)
                  OR lower(p.people -> 'coordinator' ->> 'email') = lower(p_person)) $$;

-- Accepts one event (validated by the web with the domain's parser; its
-- body as parsed, `p_parsed`, is what intake fingerprints) for the key
-- whose hash is given. An event_id intake already stored (published over
-- AMQP) is compared with its fingerprint too. Answers, with the key's id when it is live:
-- 'unknown_key' (no such key, or revoked), 'rate_limited' (with the seconds
-- until the next window), 'accepted', 'repeat' (this event_id was accepted
-- with this content), 'conflict' (with other content), 'forbidden' (a
-- start naming another program), 'not_found' (a pair or person that is not
-- the key's program's).
CREATE FUNCTION firstweek_web_accept_event(p_key_hash BYTEA, p_routing_key TEXT, p_payload JSONB,
                                           p_parsed BYTEA, p_per_minute INTEGER,
                                           OUT outcome TEXT, OUT key_id BIGINT, OUT retry_after INTEGER)
    LANGUAGE plpgsql SECURITY DEFINER
    AS $$
DECLARE
    k api_keys;
    w api_key_windows;
    prior inbound_events;
    stored processed_events;
    v_fingerprint BYTEA := sha256(p_parsed);
    v_event_id TEXT := p_payload ->> 'event_id';
    v_pair TEXT := p_payload ->> 'mentorship_id';
    v_owner TEXT;
BEGIN
    retry_after := 0;
    SELECT * INTO k FROM api_keys WHERE key_hash = p_key_hash AND revoked_at IS NULL;
    IF NOT FOUND THEN outcome := 'unknown_key'; RETURN; END IF;
    key_id := k.id;
    IF v_event_id IS NULL THEN RAISE EXCEPTION 'firstweek: an event names its event_id'; END IF;
    -- Fixed one-minute windows, counted under the window row's lock.
    INSERT INTO api_key_windows AS x (key_id, window_start, used)
    VALUES (k.id, date_trunc('minute', now()), 1)
    ON CONFLICT ON CONSTRAINT api_key_windows_pkey DO UPDATE
       SET used = CASE WHEN x.window_start = date_trunc('minute', now()) THEN x.used + 1 ELSE 1 END,
           window_start = date_trunc('minute', now())
    RETURNING * INTO w;
    IF w.used > p_per_minute THEN
        outcome := 'rate_limited';
        retry_after := GREATEST(1, ceil(extract(epoch FROM w.window_start + interval '1 minute' - now()))::INTEGER);
        RETURN;
    END IF;
    -- At most once a minute: every write to the key's row would serialise its requests once more.
    IF k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 minute' THEN
        UPDATE api_keys SET last_used_at = now() WHERE id = k.id;
    END IF;
    IF v_pair IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(firstweek_pair_lock(v_pair));
    END IF;
    SELECT * INTO prior FROM inbound_events WHERE event_id = v_event_id;
    IF FOUND THEN
        outcome := CASE WHEN prior.program_id = k.program_id AND prior.routing_key = p_routing_key
                             AND prior.fingerprint = v_fingerprint
                        THEN 'repeat' ELSE 'conflict' END;
        RETURN;
    END IF;
    SELECT * INTO stored FROM processed_events WHERE event_id = v_event_id;
    IF FOUND THEN
        outcome := CASE WHEN stored.kind = p_routing_key
                             AND coalesce(stored.fingerprint = v_fingerprint, true)
                        THEN 'repeat' ELSE 'conflict' END;
        RETURN;
    END IF;
    IF p_routing_key = 'mentorship.started' THEN
        IF (p_payload ->> 'program_id') IS DISTINCT FROM k.program_id THEN
            outcome := 'forbidden'; RETURN;
        END IF;
        v_owner := firstweek_pair_program(v_pair);
        IF v_owner IS DISTINCT FROM k.program_id
           AND (v_owner IS NOT NULL OR EXISTS (SELECT 1 FROM mentorships WHERE id = v_pair)) THEN
            outcome := 'not_found'; RETURN;
        END IF;
    ELSIF v_pair IS NOT NULL THEN
        IF firstweek_pair_program(v_pair) IS DISTINCT FROM k.program_id THEN
            outcome := 'not_found'; RETURN;
        END IF;
    ELSIF NOT firstweek_program_names(k.program_id, p_payload ->> 'person_id') THEN
        outcome := 'not_found'; RETURN;
    END IF;
    INSERT INTO inbound_events (event_id, routing_key, payload, fingerprint, mentorship_id, program_id, key_id)
    VALUES (v_event_id, p_routing_key, p_payload, v_fingerprint,
            CASE WHEN p_routing_key = 'mentorship.started' THEN v_pair END, k.program_id, k.id);
    outcome := 'accepted';
END $$;

-- The web's grants: everything before, and the events API's function.
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
                   '%I.firstweek_web_accept_event(BYTEA, TEXT, JSONB, BYTEA, INTEGER), '
                   '%I.firstweek_pair_lock(TEXT) TO %I',
                   s, s, s, s, s, s, s, grantee);
END $$;

DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION firstweek_web_accept_event(BYTEA, TEXT, JSONB, BYTEA, INTEGER) SET search_path = %I, pg_temp', current_schema());
    EXECUTE format('REVOKE ALL ON FUNCTION firstweek_web_accept_event(BYTEA, TEXT, JSONB, BYTEA, INTEGER) FROM PUBLIC');
    EXECUTE format('REVOKE ALL ON FUNCTION firstweek_pair_program(TEXT) FROM PUBLIC');
    EXECUTE format('REVOKE ALL ON FUNCTION firstweek_program_names(TEXT, TEXT) FROM PUBLIC');
    EXECUTE format('REVOKE ALL ON FUNCTION firstweek_grant_web(NAME) FROM PUBLIC');
    EXECUTE format('ALTER FUNCTION firstweek_grant_web(NAME) SET search_path = %I, pg_temp', current_schema());
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'firstweek_web') THEN
        PERFORM firstweek_grant_web('firstweek_web');
    END IF;
END $$;
