-- The first-week engine: who is paired, what they did, what is due, what was sent.

-- Every accepted event id, so an event delivered twice counts once.
CREATE TABLE processed_events (
    event_id    TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE mentorships (
    id           TEXT PRIMARY KEY,
    program_id   TEXT,
    started_at   TIMESTAMPTZ NOT NULL,
    -- mentor, mentee and coordinator as received (validated) in mentorship.started
    people       JSONB NOT NULL,
    ended_at     TIMESTAMPTZ,
    ended_reason TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- An ending may arrive before its start; it is kept so the start plans nothing.
CREATE TABLE mentorship_endings (
    mentorship_id TEXT PRIMARY KEY,
    ended_at      TIMESTAMPTZ NOT NULL,
    reason        TEXT
);

-- The interaction ledger. No foreign key: interactions may arrive before their mentorship.
CREATE TABLE interactions (
    event_id         TEXT PRIMARY KEY,
    mentorship_id    TEXT NOT NULL,
    kind             TEXT NOT NULL,
    actor            TEXT NOT NULL,
    occurred_at      TIMESTAMPTZ NOT NULL,
    duration_minutes INTEGER
);
CREATE INDEX interactions_by_pair ON interactions (mentorship_id, occurred_at);

-- One row per (pair, step, recipient): what is due, when it may be sent, what became of it.
-- status: scheduled -> published -> sent | skipped | cancelled | failed | unknown
-- next_at is set while the row still needs the scheduler (first publish, retry, or
-- republish when a published step was not finished in time); NULL once final.
CREATE TABLE timeline (
    id             BIGSERIAL PRIMARY KEY,
    mentorship_id  TEXT NOT NULL,
    step_id        TEXT NOT NULL,
    recipient      TEXT NOT NULL,
    due_at         TIMESTAMPTZ NOT NULL,
    send_at        TIMESTAMPTZ NOT NULL,
    status         TEXT NOT NULL DEFAULT 'scheduled',
    next_at        TIMESTAMPTZ,
    attempts       INTEGER NOT NULL DEFAULT 0,
    outcome        TEXT,
    published_at   TIMESTAMPTZ,
    finished_at    TIMESTAMPTZ,
    UNIQUE (mentorship_id, step_id, recipient)
);
-- The heartbeat's lookup: its cost follows the rows that need the scheduler, not all rows.
CREATE INDEX timeline_next ON timeline (next_at) WHERE next_at IS NOT NULL;

-- The delivery ledger: one email per (pair, once-key, recipient), ever.
-- status: sending | handing_over | sent | failed | unknown
CREATE TABLE deliveries (
    mentorship_id TEXT NOT NULL,
    once_key      TEXT NOT NULL,
    recipient     TEXT NOT NULL,
    step_id       TEXT NOT NULL,
    timeline_id   BIGINT NOT NULL,
    message_id    TEXT NOT NULL,
    status        TEXT NOT NULL,
    detail        TEXT,
    claimed_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at   TIMESTAMPTZ,
    PRIMARY KEY (mentorship_id, once_key, recipient)
);
