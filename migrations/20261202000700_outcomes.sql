-- How a pair is doing later (`mentorship.outcome`), as often as the program
-- records it: every event is kept, and the one with the latest recorded_at
-- counts (ties: the one stored last). An outcome that arrives before its
-- pair's start is kept, like an interaction; reports join it to the pair.
CREATE TABLE outcomes (
    id            BIGSERIAL PRIMARY KEY,
    event_id      TEXT NOT NULL UNIQUE,
    mentorship_id TEXT NOT NULL,
    outcome       TEXT NOT NULL
        CHECK (outcome IN ('thriving', 'continuing', 'struggling', 'ended')),
    rating        SMALLINT CHECK (rating BETWEEN 1 AND 5),
    recorded_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX outcomes_latest ON outcomes (mentorship_id, recorded_at DESC, id DESC);
