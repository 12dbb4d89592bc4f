-- Promises under the faults production has.

-- Fencing: each claim of a delivery has its own number. A worker that took a
-- claim updates the ledger only while the claim is still its number, so a
-- worker that wakes after its lease was taken over (a frozen pod) changes
-- nothing another worker did.
ALTER TABLE deliveries ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;

-- No republish storm: a published row is published again only when its last
-- copy was picked up by a worker (and not finished in time), or when the
-- steps queue holds nothing it could be waiting in.
--   last_published_at: when the broker confirmed the latest copy;
--   picked_at:         when a worker last took a copy of the row.
ALTER TABLE timeline ADD COLUMN last_published_at TIMESTAMPTZ;
ALTER TABLE timeline ADD COLUMN picked_at TIMESTAMPTZ;
UPDATE timeline SET last_published_at = published_at WHERE published_at IS NOT NULL;
