-- Mentors and mentees answer with one click: links personal to one side of
-- a pair ("we've been in touch", "we have a plan", unsubscribe), and the
-- people who asked for no more email.
ALTER TABLE links DROP CONSTRAINT links_purpose_check;
ALTER TABLE links ADD CONSTRAINT links_purpose_known CHECK (purpose IN
    ('coordinator_page', 'acknowledge', 'answer_in_touch', 'answer_plan', 'unsubscribe'));
-- Whose link it is, for the links personal to one side of the pair.
ALTER TABLE links ADD COLUMN recipient TEXT CHECK (recipient IN ('mentor', 'mentee'));

-- A person (the `id` of a mentor or mentee in mentorship.started) who asked
-- for no more email from firstweek: by its link, or through the program's
-- own preference center (`participant.unsubscribed`). Their pairs are still
-- watched and escalated.
CREATE TABLE unsubscribed (
    person_id       TEXT PRIMARY KEY,
    unsubscribed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    via             TEXT NOT NULL CHECK (via IN ('link', 'event'))
);
