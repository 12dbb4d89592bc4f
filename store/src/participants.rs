//! Whether a person unsubscribed. What mentors and mentees do through their
//! links (an answer, an unsubscribe) goes through [`crate::web`].

use sqlx::PgPool;

use crate::StoreError;

/// Whether a person unsubscribed.
pub async fn is_unsubscribed(pool: &PgPool, person_id: &str) -> Result<bool, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM unsubscribed WHERE person_id = $1)")
            .bind(person_id)
            .fetch_one(pool)
            .await?,
    )
}
