-- Signed webhooks out (Standard Webhooks): a program's endpoints, the
-- events each receives, and one delivery per (endpoint, event).

-- The delivery events (email.sent|failed|unknown) are announced through the
-- outbox too; the keys firstweek announces are listed again, whole.
ALTER TABLE outbox DROP CONSTRAINT outbox_announced_keys;
ALTER TABLE outbox ADD CONSTRAINT outbox_announced_keys CHECK (routing_key IN (
    'escalation.opened', 'escalation.acknowledged', 'escalation.resolved',
    'interaction.recorded', 'participant.unsubscribed',
    'email.sent', 'email.failed', 'email.unknown')) NOT VALID;

-- When the webhook dispatcher fanned an announcement out to the endpoints
-- subscribed to it. Rows written before this migration count as fanned out
-- (the default is evaluated once, here); new rows start NULL.
ALTER TABLE outbox ADD COLUMN webhooks_at TIMESTAMPTZ DEFAULT now();
ALTER TABLE outbox ALTER COLUMN webhooks_at DROP DEFAULT;
CREATE INDEX outbox_webhooks_pending ON outbox (id) WHERE webhooks_at IS NULL;

-- An endpoint of a program. The secret (`whsec_<base64>`) signs every
-- request, so it is kept as is: an HMAC needs the key itself, a hash of it
-- would sign nothing. Only the worker's and the CLI's role read this table.
-- state: active | failing (a delivery used up its retries; the next one
-- that arrives makes it active again) | removed (kept for its deliveries).
CREATE TABLE webhook_endpoints (
    id          BIGSERIAL PRIMARY KEY,
    program_id  TEXT NOT NULL,
    url         TEXT NOT NULL CHECK (url LIKE 'https://%' OR url LIKE 'http://%'),
    events      TEXT[] NOT NULL CHECK (cardinality(events) > 0 AND events <@ ARRAY[
                    'escalation.opened', 'escalation.acknowledged', 'escalation.resolved',
                    'participant.unsubscribed', 'email.sent', 'email.failed', 'email.unknown']),
    secret      TEXT NOT NULL CHECK (secret LIKE 'whsec\_%'),
    state       TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'failing', 'removed')),
    failing_since TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_by_program ON webhook_endpoints (program_id) WHERE state <> 'removed';

-- One delivery of one event to one endpoint: unique per (endpoint, event),
-- so a repeated fan-out adds no row. The body is the event as the exchange
-- carries it (the outbox payload's text). Its `webhook-id` is `msg_<id>`,
-- the same on every retry and replay.
-- status: pending (next_at says when) | delivered | failed (retries used up)
CREATE TABLE webhook_deliveries (
    id            BIGSERIAL PRIMARY KEY,
    endpoint_id   BIGINT NOT NULL REFERENCES webhook_endpoints (id),
    event_id      TEXT NOT NULL,
    event_type    TEXT NOT NULL,
    body          TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_at       TIMESTAMPTZ,
    -- A dispatcher is posting it until then (several replicas skip it).
    claimed_until TIMESTAMPTZ,
    -- The last attempt: the HTTP status, or what went wrong (no body kept).
    last_status   INTEGER,
    last_error    TEXT,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at   TIMESTAMPTZ,
    UNIQUE (endpoint_id, event_id)
);
-- A dispatcher's claim: each endpoint's due deliveries, and its claims held.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (endpoint_id, next_at, id) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_held ON webhook_deliveries (endpoint_id, claimed_until)
    WHERE status = 'pending' AND claimed_until IS NOT NULL;
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, id);

-- The read-only role (deploy/postgres/roles.sql: SELECT on every table by
-- default) sees the endpoints but not their secrets.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'firstweek_readonly') THEN
        REVOKE SELECT ON webhook_endpoints FROM firstweek_readonly;
        GRANT SELECT (id, program_id, url, events, state, failing_since, created_at)
            ON webhook_endpoints TO firstweek_readonly;
    END IF;
END $$;
