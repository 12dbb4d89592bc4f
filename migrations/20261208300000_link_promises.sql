-- Links keep their promise (issue 27): an answer link remembers when it was
-- answered, so opening it again shows the answer given rather than the
-- question; and an unsubscribe link of a pair whose people the retention job
-- forgot unsubscribes nobody (the placeholder it now names gets nothing
-- anyway, and the program must not be told of a placeholder).
--
-- Both functions are replaced whole; CREATE OR REPLACE keeps their owner
-- and grants, but not their pinned search_path, so it is pinned again below.

-- Queues the interaction a mentor's or mentee's answer link records: its id
-- derives from the link (one per link), its pair, side and kind from the
-- link too; the link is marked used at the answer's time (the first one).
-- Answers 'refused', 'already' (queued before) or 'done'.
CREATE OR REPLACE FUNCTION firstweek_web_answer(p_token_hash BYTEA, p_payload JSONB)
    RETURNS TEXT LANGUAGE plpgsql SECURITY DEFINER
    AS $$
DECLARE
    l links;
    v_id TEXT := 'firstweek-answer-' || left(encode(sha256(p_token_hash), 'hex'), 32);
    v_at TIMESTAMPTZ := (p_payload ->> 'occurred_at')::timestamptz;
    n BIGINT;
BEGIN
    SELECT * INTO l FROM firstweek_live_link(p_token_hash, ARRAY['answer_in_touch', 'answer_plan']);
    IF NOT FOUND OR l.recipient IS NULL THEN RETURN 'refused'; END IF;
    IF NOT firstweek_is_now(v_at) THEN
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
    IF n = 1 THEN
        UPDATE links SET used_at = v_at WHERE token_hash = p_token_hash AND used_at IS NULL;
    END IF;
    RETURN CASE WHEN n = 1 THEN 'done' ELSE 'already' END;
END $$;

-- Unsubscribes the person an unsubscribe link is personal to and announces
-- participant.unsubscribed once. Answers 'refused', 'already' (unsubscribed
-- before, or forgotten by the retention job) or 'done'.
CREATE OR REPLACE FUNCTION firstweek_web_unsubscribe(p_token_hash BYTEA, p_at TIMESTAMPTZ, p_payload JSONB)
    RETURNS TEXT LANGUAGE plpgsql SECURITY DEFINER
    AS $$
DECLARE
    l links;
    person TEXT;
    forgotten BOOLEAN;
    v_id TEXT;
    n BIGINT;
BEGIN
    SELECT * INTO l FROM firstweek_live_link(p_token_hash, ARRAY['unsubscribe']);
    IF NOT FOUND OR l.recipient IS NULL THEN RETURN 'refused'; END IF;
    IF NOT firstweek_is_now(p_at) OR NOT firstweek_same_instant((p_payload ->> 'unsubscribed_at')::timestamptz, p_at) THEN
        RAISE EXCEPTION 'firstweek: an unsubscribe must be dated now';
    END IF;
    SELECT m.people -> l.recipient ->> 'id', m.people_erased_at IS NOT NULL INTO person, forgotten
      FROM mentorships m WHERE m.id = l.subject_id;
    IF person IS NULL THEN RETURN 'refused'; END IF;
    IF forgotten THEN RETURN 'already'; END IF;
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

DO $$
DECLARE
    f TEXT;
BEGIN
    FOREACH f IN ARRAY ARRAY['firstweek_web_answer(BYTEA, JSONB)',
                             'firstweek_web_unsubscribe(BYTEA, TIMESTAMPTZ, JSONB)'] LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
        EXECUTE format('ALTER FUNCTION %s SET search_path = %I, pg_temp', f, current_schema());
    END LOOP;
END $$;
