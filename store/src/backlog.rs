//! What is waiting: the figures behind the backlog gauges.

use sqlx::PgPool;

use firstweek::escalation::State;

use crate::StoreError;
use crate::status::DeliveryStatus;

/// Work the database holds that is not done yet.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Backlog {
    /// Timeline rows due now and not published yet (or whose publish is overdue).
    pub due: i64,
    /// How long the oldest of them has waited, in seconds (0 when none).
    pub oldest_due_seconds: f64,
    /// Deliveries whose outcome is unknown (never resent; an operator may look).
    pub unknown: i64,
    /// Escalations open and not acknowledged.
    pub escalations_open: i64,
    /// Escalations acknowledged and not resolved.
    pub escalations_acknowledged: i64,
    /// Announcements (`escalation.*`) not relayed to the exchange yet.
    pub announcements_pending: i64,
}

/// Reads the backlog. Each part is an index range over open work only
/// (`timeline_next`, `deliveries_unknown`), so its cost does not grow with the
/// pairs and emails stored. (Deliveries in flight are a gauge of each worker.)
pub async fn backlog(pool: &PgPool) -> Result<Backlog, StoreError> {
    let (due, oldest_due_seconds): (i64, f64) = sqlx::query_as(
        "SELECT count(*), coalesce(extract(epoch FROM now() - min(next_at))::float8, 0)
         FROM timeline WHERE next_at <= now()",
    )
    .fetch_one(pool)
    .await?;
    // Custom plans (see `connect`) let the bound value match the partial index.
    let unknown: i64 = sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE status = $1")
        .bind(DeliveryStatus::Unknown)
        .fetch_one(pool)
        .await?;
    // `escalations_unresolved` and `outbox_unpublished` are partial indexes over open work.
    let (escalations_open, escalations_acknowledged): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE state = $1), count(*) FILTER (WHERE state = $2)
         FROM escalations WHERE state <> $3",
    )
    .bind(State::Open.as_str())
    .bind(State::Acknowledged.as_str())
    .bind(State::Resolved.as_str())
    .fetch_one(pool)
    .await?;
    let announcements_pending: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            .fetch_one(pool)
            .await?;
    Ok(Backlog {
        due,
        oldest_due_seconds,
        unknown,
        escalations_open,
        escalations_acknowledged,
        announcements_pending,
    })
}
