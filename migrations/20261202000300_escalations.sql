-- The coordinator's loop: an escalation per at-risk pair, opened by the first
-- coordinator step that fires, acknowledged, reminded once, resolved once.
CREATE TABLE escalations (
    mentorship_id    TEXT PRIMARY KEY,
    -- Whose it is (`firstweek_coordinator_key` of the coordinator's address).
    coordinator_key  TEXT NOT NULL,
    program_id       TEXT,
    opened_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- The coordinator step that opened it.
    opened_by        TEXT NOT NULL,
    -- The conditions that fired, in the order they first fired.
    rules            TEXT[] NOT NULL,
    -- One entry per coordinator step that fired: what it saw (counts by kind
    -- and side, last activity, program day), never message content.
    evidence         JSONB NOT NULL,
    state            TEXT NOT NULL DEFAULT 'open'
        CHECK (state IN ('open', 'acknowledged', 'resolved')),
    acknowledged_at  TIMESTAMPTZ,
    acknowledged_via TEXT CHECK (acknowledged_via IN ('link', 'page', 'cli')),
    reminded_at      TIMESTAMPTZ,
    resolved_at      TIMESTAMPTZ,
    resolved_how     TEXT CHECK (resolved_how IN ('recovered', 'ended', 'coordinator')),
    CHECK ((state = 'resolved') = (resolved_at IS NOT NULL AND resolved_how IS NOT NULL)),
    CHECK ((acknowledged_at IS NULL) = (acknowledged_via IS NULL))
);
-- A coordinator's open escalations (the page, the digest), and the intake's
-- "does this pair have one still open" lookup.
CREATE INDEX escalations_by_coordinator ON escalations (coordinator_key, opened_at);
CREATE INDEX escalations_unresolved ON escalations (mentorship_id) WHERE state <> 'resolved';

-- Events firstweek publishes (escalation.*), written in the same transaction
-- as the change they announce and relayed to the exchange with confirms by
-- the scheduler: a change is announced exactly when it is committed, at
-- least once (consumers dedupe on event_id).
CREATE TABLE outbox (
    id           BIGSERIAL PRIMARY KEY,
    event_id     TEXT NOT NULL UNIQUE,
    routing_key  TEXT NOT NULL,
    payload      JSONB NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- A relay is publishing it until then (so two schedulers do not both).
    claimed_until TIMESTAMPTZ,
    published_at TIMESTAMPTZ
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
