//! What is waiting: the figures behind the backlog gauges.

use sqlx::PgPool;

use super::StoreError;

/// Work the database holds that is not done yet.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Backlog {
    /// Timeline rows due now and not published yet (or whose publish is overdue).
    pub due: i64,
    /// How long the oldest of them has waited, in seconds (0 when none).
    pub oldest_due_seconds: f64,
    /// Deliveries claimed and not finished (`sending` or `handing_over`).
    pub in_flight: i64,
    /// Deliveries whose outcome is unknown (never resent; an operator may look).
    pub unknown: i64,
}

/// Reads the backlog. Every part is an index range over open work only
/// (`timeline_next`, `deliveries_open`), so its cost does not grow with the
/// pairs and emails stored.
pub async fn backlog(pool: &PgPool) -> Result<Backlog, StoreError> {
    let (due, oldest_due_seconds): (i64, f64) = sqlx::query_as(
        "SELECT count(*), coalesce(extract(epoch FROM now() - min(next_at))::float8, 0)
         FROM timeline WHERE next_at <= now()",
    )
    .fetch_one(pool)
    .await?;
    let open: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status, count(*) FROM deliveries
         WHERE status IN ('sending', 'handing_over', 'unknown') GROUP BY status",
    )
    .fetch_all(pool)
    .await?;
    let count = |wanted: &[&str]| open.iter().filter(|(s, _)| wanted.contains(&s.as_str())).map(|(_, n)| n).sum();
    Ok(Backlog {
        due,
        oldest_due_seconds,
        in_flight: count(&["sending", "handing_over"]),
        unknown: count(&["unknown"]),
    })
}
