-- Playbooks by version (a digest of their text), and the one each pair
-- started with: editing a playbook changes the week of pairs that start
-- afterwards, never of pairs already in it.
CREATE TABLE playbooks (
    version    TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    -- The program whose file it came from (NULL: the default playbook).
    program_id TEXT,
    source     TEXT NOT NULL,
    first_used TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- NULL for pairs that started before pinning: they follow the default playbook.
ALTER TABLE mentorships ADD COLUMN playbook_version TEXT REFERENCES playbooks (version);
