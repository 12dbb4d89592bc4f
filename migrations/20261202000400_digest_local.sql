-- The digest job runs every minute and looks for the coordinators of open
-- pairs started within the digest's horizon: a range scan over open pairs
-- by start, however many ended or old pairs the table holds.
CREATE INDEX mentorships_open_by_start ON mentorships (started_at) WHERE ended_at IS NULL;
