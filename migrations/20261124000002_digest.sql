-- The coordinators' daily digest looks pairs up by their coordinator.
CREATE INDEX mentorships_by_coordinator ON mentorships ((people -> 'coordinator' ->> 'email')) WHERE ended_at IS NULL;
