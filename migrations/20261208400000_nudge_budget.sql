-- The daily nudge budget (issue 27, item 8): the local day (the recipient's
-- own calendar day, on the pair's program clock) a delivery was counted
-- against its recipient's `daily_nudge_budget`. NULL: not counted (a
-- welcome, a coordinator's email, or a delivery from before budgets).
-- Counted under the pair's advisory lock in the claim's transaction, so
-- worker replicas share one count.
ALTER TABLE deliveries ADD COLUMN budget_day DATE;
