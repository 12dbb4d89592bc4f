-- firstweek-web acts only through these functions: each is keyed by a link
-- token's SHA-256, checks the link (its purpose, not revoked, not expired, and
-- that what it names is still the link holder's), and does the one thing that
-- link allows. They run as their owner (SECURITY DEFINER), so the web's own
-- role needs no write on any table (see firstweek_grant_web below and
-- deploy/postgres/roles.sql). Their search_path is pinned to the schema the
-- migrations run in (and pg_temp last), so nobody can slip objects in front of
-- the tables they use.

-- A live link (not revoked, not expired) among `purposes`. Not granted to the web.
CREATE FUNCTION firstweek_live_link(p_token_hash BYTEA, p_purposes TEXT[])
    RETURNS SETOF links LANGUAGE sql STABLE
    AS $$ SELECT * FROM links
           WHERE token_hash = p_token_hash AND purpose = ANY(p_purposes)
             AND revoked_at IS NULL AND expires_at > now() $$;

-- Whether a live link covers this pair now: an acknowledge link its own pair;
-- a coordinator page link a pair whose escalation is filed under that
-- coordinator and whose current coordinator they are (a correction moves both).
CREATE FUNCTION firstweek_link_covers(p_link links, p_mentorship_id TEXT)
    RETURNS BOOLEAN LANGUAGE sql STABLE
    AS $$ SELECT CASE p_link.purpose
             WHEN 'acknowledge' THEN p_link.subject_id = p_mentorship_id
             WHEN 'coordinator_page' THEN EXISTS (
                 SELECT 1 FROM escalations e JOIN mentorships m ON m.id = e.mentorship_id
                  WHERE e.mentorship_id = p_mentorship_id AND e.coordinator_key = p_link.subject_id
                    AND m.coordinator_key = p_link.subject_id)
             ELSE false END $$;

-- What a link is (revoked, expired and used ones too, so the page can say why
-- it opens nothing): the web reads links only through this.
CREATE FUNCTION firstweek_web_link(p_token_hash BYTEA, p_purpose TEXT)
    RETURNS TABLE (subject_id TEXT, expires_at TIMESTAMPTZ, used_at TIMESTAMPTZ,
                   revoked_at TIMESTAMPTZ, recipient TEXT)
    LANGUAGE sql STABLE SECURITY DEFINER
    AS $$ SELECT l.subject_id, l.expires_at, l.used_at, l.revoked_at, l.recipient FROM links l
           WHERE l.token_hash = p_token_hash AND l.purpose = p_purpose $$;

-- An escalation's reminder, withdrawn (unless being handed to the SMTP server
-- right now: then it went out first, and its worker records it).
CREATE FUNCTION firstweek_withdraw_reminder(p_mentorship_id TEXT, p_why TEXT)
    RETURNS VOID LANGUAGE sql
    AS $$ UPDATE timeline t SET status = 'skipped', outcome = p_why, next_at = NULL, finished_at = now()
           WHERE t.mentorship_id = p_mentorship_id AND t.step_id = 'escalation_reminder'
             AND t.status IN ('scheduled', 'published')
             AND NOT EXISTS (SELECT 1 FROM deliveries d
                              WHERE d.mentorship_id = t.mentorship_id AND d.timeline_id = t.id
                                AND d.status = 'handing_over') $$;

-- The fields of an escalation.* event the database decides (the web's
-- payload keeps only the times it was checked against): the pair, its
-- coordinator, program and rules as stored.
CREATE FUNCTION firstweek_escalation_facts(e escalations, kind TEXT) RETURNS JSONB
    LANGUAGE sql STABLE
    AS $$ SELECT jsonb_build_object('event_id', e.mentorship_id || ':' || kind,
                                    'mentorship_id', e.mentorship_id,
                                    'coordinator_key', e.coordinator_key,
                                    'rules', to_jsonb(e.rules))
              || CASE WHEN e.program_id IS NULL THEN '{}'::jsonb
                      ELSE jsonb_build_object('program_id', e.program_id) END $$;

-- The same moment, to the database's microsecond (the web's clock has nanoseconds).
CREATE FUNCTION firstweek_same_instant(a TIMESTAMPTZ, b TIMESTAMPTZ) RETURNS BOOLEAN
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT coalesce(abs(extract(epoch FROM a - b)) < 0.000002, false) $$;

-- A time the web gives must be now (its clock and the database's may differ a little).
CREATE FUNCTION firstweek_is_now(p_at TIMESTAMPTZ) RETURNS BOOLEAN LANGUAGE sql STABLE
    AS $$ SELECT p_at BETWEEN now() - interval '5 minutes' AND now() + interval '5 minutes' $$;

-- Acknowledges the pair's escalation through an acknowledge link or the
-- coordinator's page link; announces escalation.acknowledged (the payload the
-- web built from the domain's rules; its identity fields are the function's).
-- Answers 'refused' (no live link), 'not_found' (not this link's pair),
-- 'already' or 'done'.
CREATE FUNCTION firstweek_web_acknowledge(p_token_hash BYTEA, p_mentorship_id TEXT,
                                          p_at TIMESTAMPTZ, p_payload JSONB)
    RETURNS TEXT LANGUAGE plpgsql SECURITY DEFINER
    AS $$
DECLARE
    l links;
    e escalations;
    via TEXT;
BEGIN
    SELECT * INTO l FROM firstweek_live_link(p_token_hash, ARRAY['acknowledge', 'coordinator_page']);
    IF NOT FOUND THEN RETURN 'refused'; END IF;
    IF NOT firstweek_is_now(p_at) THEN RAISE EXCEPTION 'firstweek: an acknowledgement must be dated now'; END IF;
    PERFORM pg_advisory_xact_lock(firstweek_pair_lock(p_mentorship_id));
    IF NOT firstweek_link_covers(l, p_mentorship_id) THEN RETURN 'not_found'; END IF;
    SELECT * INTO e FROM escalations WHERE mentorship_id = p_mentorship_id;
    IF NOT FOUND THEN RETURN 'not_found'; END IF;
    IF e.state <> 'open' THEN RETURN 'already'; END IF;
    via := CASE l.purpose WHEN 'acknowledge' THEN 'link' ELSE 'page' END;
    UPDATE escalations SET state = 'acknowledged', acknowledged_at = p_at, acknowledged_via = via
     WHERE mentorship_id = p_mentorship_id;
    PERFORM firstweek_withdraw_reminder(p_mentorship_id, 'the escalation was acknowledged');
    IF NOT firstweek_same_instant((p_payload ->> 'acknowledged_at')::timestamptz, p_at) THEN
        RAISE EXCEPTION 'firstweek: the announcement must carry the acknowledgement''s time';
    END IF;
    INSERT INTO outbox (event_id, routing_key, payload)
    VALUES (p_mentorship_id || ':escalation.acknowledged', 'escalation.acknowledged',
            (p_payload - 'program_id')
            || firstweek_escalation_facts(e, 'escalation.acknowledged')
            || jsonb_build_object('via', via, 'seconds_to_acknowledge',
                                  GREATEST(0, floor(extract(epoch FROM p_at - e.opened_at) * 1000)) / 1000))
    ON CONFLICT (event_id) DO NOTHING;
    RETURN 'done';
END $$;

-- Closes the pair's escalation from the coordinator's page (no resolution
-- email: they closed it); announces escalation.resolved. Answers as
-- firstweek_web_acknowledge.
CREATE FUNCTION firstweek_web_resolve(p_token_hash BYTEA, p_mentorship_id TEXT,
                                      p_at TIMESTAMPTZ, p_payload JSONB)
    RETURNS TEXT LANGUAGE plpgsql SECURITY DEFINER
    AS $$
DECLARE
    l links;
    e escalations;
BEGIN
    SELECT * INTO l FROM firstweek_live_link(p_token_hash, ARRAY['coordinator_page']);
    IF NOT FOUND THEN RETURN 'refused'; END IF;
    IF NOT firstweek_is_now(p_at) THEN RAISE EXCEPTION 'firstweek: a resolution must be dated now'; END IF;
    PERFORM pg_advisory_xact_lock(firstweek_pair_lock(p_mentorship_id));
    IF NOT firstweek_link_covers(l, p_mentorship_id) THEN RETURN 'not_found'; END IF;
    SELECT * INTO e FROM escalations WHERE mentorship_id = p_mentorship_id;
    IF NOT FOUND THEN RETURN 'not_found'; END IF;
    IF e.state = 'resolved' THEN RETURN 'already'; END IF;
    UPDATE escalations SET state = 'resolved', resolved_at = p_at, resolved_how = 'coordinator'
     WHERE mentorship_id = p_mentorship_id;
    PERFORM firstweek_withdraw_reminder(p_mentorship_id, 'the escalation was resolved');
    IF NOT firstweek_same_instant((p_payload ->> 'resolved_at')::timestamptz, p_at) THEN
        RAISE EXCEPTION 'firstweek: the announcement must carry the resolution''s time';
    END IF;
    INSERT INTO outbox (event_id, routing_key, payload)
    VALUES (p_mentorship_id || ':escalation.resolved', 'escalation.resolved',
            (p_payload - 'program_id')
            || firstweek_escalation_facts(e, 'escalation.resolved')
            || jsonb_build_object('how', 'coordinator',
                                  'acknowledged', e.acknowledged_at IS NOT NULL,
                                  'counts', (SELECT jsonb_build_object(
                                                 'total', count(*),
                                                 'mentor', count(*) FILTER (WHERE i.actor = 'mentor'),
                                                 'mentee', count(*) FILTER (WHERE i.actor = 'mentee'))
                                               FROM interactions i
                                              WHERE i.mentorship_id = p_mentorship_id
                                                AND i.occurred_at <= p_at)))
    ON CONFLICT (event_id) DO NOTHING;
    RETURN 'done';
END $$;

-- Queues the interaction a mentor's or mentee's answer link records: its id
-- derives from the link (one per link), its pair, side and kind from the
-- link too. Answers 'refused', 'already' (queued before) or 'done'.
CREATE FUNCTION firstweek_web_answer(p_token_hash BYTEA, p_payload JSONB)
    RETURNS TEXT LANGUAGE plpgsql SECURITY DEFINER
    AS $$
DECLARE
    l links;
    v_id TEXT := 'firstweek-answer-' || left(encode(sha256(p_token_hash), 'hex'), 32);
    n BIGINT;
BEGIN
    SELECT * INTO l FROM firstweek_live_link(p_token_hash, ARRAY['answer_in_touch', 'answer_plan']);
    IF NOT FOUND OR l.recipient IS NULL THEN RETURN 'refused'; END IF;
    IF NOT firstweek_is_now((p_payload ->> 'occurred_at')::timestamptz) THEN
        RAISE EXCEPTION 'firstweek: an answer must be dated now';
    END IF;
    INSERT INTO outbox (event_id, routing_key, payload)
    VALUES (v_id, 'interaction.recorded',
            (p_payload - 'duration_minutes') || jsonb_build_object('event_id', v_id, 'mentorship_id', l.subject_id,
                                            'actor', l.recipient,
                                            'kind', CASE l.purpose WHEN 'answer_plan' THEN 'plan_shared'
                                                                   ELSE 'message' END))
    ON CONFLICT (event_id) DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN CASE WHEN n = 1 THEN 'done' ELSE 'already' END;
END $$;

-- Unsubscribes the person an unsubscribe link is personal to and announces
-- participant.unsubscribed once. Answers 'refused', 'already' or 'done'.
CREATE FUNCTION firstweek_web_unsubscribe(p_token_hash BYTEA, p_at TIMESTAMPTZ, p_payload JSONB)
    RETURNS TEXT LANGUAGE plpgsql SECURITY DEFINER
    AS $$
DECLARE
    l links;
    person TEXT;
    v_id TEXT;
    n BIGINT;
BEGIN
    SELECT * INTO l FROM firstweek_live_link(p_token_hash, ARRAY['unsubscribe']);
    IF NOT FOUND OR l.recipient IS NULL THEN RETURN 'refused'; END IF;
    IF NOT firstweek_is_now(p_at) OR NOT firstweek_same_instant((p_payload ->> 'unsubscribed_at')::timestamptz, p_at) THEN
        RAISE EXCEPTION 'firstweek: an unsubscribe must be dated now';
    END IF;
    SELECT m.people -> l.recipient ->> 'id' INTO person FROM mentorships m WHERE m.id = l.subject_id;
    IF person IS NULL THEN RETURN 'refused'; END IF;
    INSERT INTO unsubscribed (person_id, unsubscribed_at, via) VALUES (person, p_at, 'link')
    ON CONFLICT (person_id) DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 0 THEN RETURN 'already'; END IF;
    v_id := 'firstweek-unsubscribe-' || left(encode(sha256(convert_to(person, 'UTF8')), 'hex'), 32);
    INSERT INTO outbox (event_id, routing_key, payload)
    VALUES (v_id, 'participant.unsubscribed',
            p_payload || jsonb_build_object('event_id', v_id, 'person_id', person))
    ON CONFLICT (event_id) DO NOTHING;
    RETURN 'done';
END $$;

-- Gives `grantee` exactly what firstweek-web needs, and takes away anything
-- else it held here: reads of what its pages show, and EXECUTE on the
-- functions above. deploy/postgres/roles.sql runs it for firstweek_web (so
-- does this migration, when that role exists); the tests for a role of their own.
CREATE FUNCTION firstweek_grant_web(grantee NAME) RETURNS VOID LANGUAGE plpgsql
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
    -- sides carry an erased person's placeholder; is the schema current.
    FOREACH t IN ARRAY ARRAY['_sqlx_migrations', 'mentorships', 'playbooks', 'interactions', 'deliveries',
                             'timeline', 'escalations', 'unsubscribed', 'outcomes'] LOOP
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

-- Nobody runs these but whom firstweek_grant_web names (functions are
-- executable by PUBLIC otherwise), and the search paths are pinned.
DO $$
DECLARE
    f TEXT;
BEGIN
    FOREACH f IN ARRAY ARRAY[
        'firstweek_live_link(BYTEA, TEXT[])', 'firstweek_link_covers(links, TEXT)',
        'firstweek_web_link(BYTEA, TEXT)', 'firstweek_withdraw_reminder(TEXT, TEXT)',
        'firstweek_is_now(TIMESTAMPTZ)', 'firstweek_same_instant(TIMESTAMPTZ, TIMESTAMPTZ)', 'firstweek_escalation_facts(escalations, TEXT)',
        'firstweek_web_acknowledge(BYTEA, TEXT, TIMESTAMPTZ, JSONB)',
        'firstweek_web_resolve(BYTEA, TEXT, TIMESTAMPTZ, JSONB)',
        'firstweek_web_answer(BYTEA, JSONB)',
        'firstweek_web_unsubscribe(BYTEA, TIMESTAMPTZ, JSONB)',
        'firstweek_grant_web(NAME)'] LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
        EXECUTE format('ALTER FUNCTION %s SET search_path = %I, pg_temp', f, current_schema());
    END LOOP;
    -- An upgrade takes the web role's old writes away at once.
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'firstweek_web') THEN
        PERFORM firstweek_grant_web('firstweek_web');
    END IF;
END $$;
