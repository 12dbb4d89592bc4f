-- The backlog gauges count open deliveries often; keep that independent of
-- how many emails were ever sent (finished deliveries leave this index).
CREATE INDEX deliveries_open ON deliveries (status) WHERE status IN ('sending', 'handing_over', 'unknown');
