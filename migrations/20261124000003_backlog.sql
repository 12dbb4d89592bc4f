-- The backlog gauge counts deliveries of unknown outcome; keep that
-- independent of how many emails were ever sent. (Unknown deliveries are
-- rare and final; an index over in-flight ones would keep the dead entries of
-- every finished email until vacuum, and the planner would pick it for the
-- hand-over update.)
CREATE INDEX deliveries_unknown ON deliveries (claimed_at) WHERE status = 'unknown';
