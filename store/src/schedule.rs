//! The scheduler's side of the timeline: claiming rows that fall due,
//! recording what the broker confirmed, and when to look next.

use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;

use crate::StoreError;
use crate::status::RowStatus;

/// A timeline row claimed for publishing.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ClaimedStep {
    /// The row's id.
    pub timeline_id: i64,
    /// Its subject's id: the pair's, or a coordinator's opaque key for a digest.
    pub subject_id: String,
    /// The step.
    pub step_id: String,
    /// `mentor`, `mentee` or `coordinator`.
    pub recipient: String,
    /// When it fell due.
    pub due_at: DateTime<Utc>,
    /// When it may be sent.
    pub send_at: DateTime<Utc>,
}

/// Claims up to `limit` rows that need publishing. A claimed row is not
/// offered again for `lease`, so a scheduler that dies mid-publish only delays it.
pub async fn claim_due(
    pool: &PgPool,
    limit: i64,
    lease: Duration,
) -> Result<Vec<ClaimedStep>, StoreError> {
    let rows = sqlx::query_as::<_, ClaimedStep>(
        "WITH due AS (
             SELECT id FROM timeline WHERE next_at <= now() ORDER BY next_at LIMIT $1 FOR UPDATE SKIP LOCKED
         )
         UPDATE timeline t SET next_at = now() + $2 FROM due WHERE t.id = due.id
         RETURNING t.id AS timeline_id, t.mentorship_id AS subject_id, t.step_id, t.recipient, t.due_at, t.send_at",
    )
    .bind(limit)
    .bind(lease)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// Records that the broker confirmed these rows. If a worker has not finished a
/// row by `redeliver_after`, the scheduler publishes it again (the delivery
/// ledger keeps that from sending twice).
pub async fn mark_published(
    pool: &PgPool,
    ids: &[i64],
    redeliver_after: Duration,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE timeline SET status = $3, published_at = coalesce(published_at, now()), next_at = now() + $2
         WHERE id = ANY($1) AND status = ANY($4)",
    )
    .bind(ids)
    .bind(redeliver_after)
    .bind(RowStatus::Published)
    .bind(RowStatus::OPEN)
    .execute(pool)
    .await?;
    Ok(())
}

/// Releases claimed rows whose publish was not confirmed, so the next tick retries them.
pub async fn release(pool: &PgPool, ids: &[i64]) -> Result<(), StoreError> {
    sqlx::query("UPDATE timeline SET next_at = now() WHERE id = ANY($1) AND status = ANY($2)")
        .bind(ids)
        .bind(RowStatus::OPEN)
        .execute(pool)
        .await?;
    Ok(())
}

/// The earliest time a row needs the scheduler (`next_at`), if any: one
/// lookup at the start of the partial index `timeline_next`, so its cost does
/// not grow with the rows stored.
pub async fn next_due(pool: &PgPool) -> Result<Option<DateTime<Utc>>, StoreError> {
    let next: Option<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT next_at FROM timeline WHERE next_at IS NOT NULL ORDER BY next_at LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    Ok(next)
}
