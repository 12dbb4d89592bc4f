//! When the scheduler should look next.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::StoreError;

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
