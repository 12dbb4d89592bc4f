//! The daily nudge budget, in the delivery ledger: a nudge's claim counts
//! the person's deliveries already counted against that local day and
//! claims only while the budget has room. The count and the claim run in one
//! transaction holding the pair's advisory lock (`firstweek_pair_lock`), so
//! two workers (of one replica or several) claiming nudges to the same
//! person one after the other see each other's claims: never both under a
//! budget with room for one.

use chrono::NaiveDate;
use sqlx::PgPool;

use crate::StoreError;
use crate::ledger::{Claim, DeliveryClaim, claim_delivery};
use crate::status::DeliveryStatus;
use firstweek::delivery::UnknownDelivery;

/// A claim's place in its recipient's daily budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// The recipient's local day the nudge counts against.
    pub day: NaiveDate,
    /// How many nudges that day may hold.
    pub limit: u32,
}

/// Claims a counted delivery (a nudge) within its recipient's daily budget:
/// [`Claim::OverBudget`] when that day already holds `limit` of them (sent,
/// being sent, or of unknown outcome; a failed or released one does not
/// count). A delivery already in the ledger (a retry, a take-over) was
/// counted when first claimed and is answered as [`claim_delivery`] does.
pub async fn claim_within_budget(
    pool: &PgPool,
    claim: &DeliveryClaim,
    budget: Budget,
    lease: chrono::Duration,
    unknown: UnknownDelivery,
) -> Result<Claim, StoreError> {
    let row = &claim.row;
    let subject_id = row.subject.id();
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(firstweek_pair_lock($1))")
        .bind(subject_id)
        .execute(&mut *tx)
        .await?;
    let (ended, known, spent): (bool, bool, i64) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM mentorships WHERE id = $1 AND ended_at IS NOT NULL),
                EXISTS (SELECT 1 FROM deliveries WHERE mentorship_id = $1 AND once_key = $2 AND recipient = $3),
                (SELECT count(*) FROM deliveries
                  WHERE mentorship_id = $1 AND recipient = $3 AND budget_day = $4 AND status <> $5)",
    )
    .bind(subject_id)
    .bind(&claim.once_key)
    .bind(row.recipient.as_str())
    .bind(budget.day)
    .bind(DeliveryStatus::Failed)
    .fetch_one(&mut *tx)
    .await?;
    if ended || known {
        tx.rollback().await?;
        return claim_delivery(pool, claim, lease, unknown).await;
    }
    if spent >= i64::from(budget.limit) {
        tx.rollback().await?;
        return Ok(Claim::OverBudget {
            spent: spent as u32,
        });
    }
    let inserted = sqlx::query(
        "INSERT INTO deliveries (mentorship_id, once_key, recipient, step_id, timeline_id, message_id, status, budget_day)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
    )
    .bind(subject_id)
    .bind(&claim.once_key)
    .bind(row.recipient.as_str())
    .bind(&row.step_id)
    .bind(row.id)
    .bind(&claim.message_id)
    .bind(DeliveryStatus::Sending)
    .bind(budget.day)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    if inserted == 0 {
        // Claimed under the same key a moment ago: whoever did decides.
        return claim_delivery(pool, claim, lease, unknown).await;
    }
    Ok(Claim::Granted { attempt: 1 })
}
