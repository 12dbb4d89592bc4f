-- The relay publishes what the outbox names: only the events firstweek
-- announces may be queued (a mentorship.started in the outbox would have
-- firstweek email whoever it names). NOT VALID: rows already queued are left
-- to the relay, which skips unknown keys too; every new row is checked.
ALTER TABLE outbox ADD CONSTRAINT outbox_announced_keys CHECK (routing_key IN (
    'escalation.opened', 'escalation.acknowledged', 'escalation.resolved',
    'interaction.recorded', 'participant.unsubscribed')) NOT VALID;
