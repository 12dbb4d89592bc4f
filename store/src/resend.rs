//! An operator's second chance for one email: a delivery that failed, or
//! whose outcome is unknown, is cleared from the ledger and its timeline row
//! scheduled again, so a worker sends it (same Message-ID) on the next tick.

use firstweek::rule::Recipient;
use sqlx::PgPool;

use crate::StoreError;
use crate::status::{DeliveryStatus, RowStatus, SubjectKind};

/// Why a resend was refused, or what it replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resend {
    /// Rescheduled; the delivery's previous status and detail.
    Rescheduled {
        /// How it had ended.
        was: RowStatus,
        /// The failure, in words.
        detail: String,
    },
    /// No timeline row for that (subject, step, recipient).
    NoSuchStep,
    /// The delivery is not failed or unknown (sent, or being sent): nothing to redo.
    NotResendable {
        /// Where it is.
        status: String,
    },
}

/// Reschedules one email whose delivery is `failed` or `unknown`. `subject`
/// is a pair's id, or a coordinator's email for one of their digests. The
/// ledger row is removed and the timeline row reset in one transaction; the
/// note in the row's `outcome` keeps what happened before.
pub async fn resend(
    pool: &PgPool,
    subject: &str,
    step_id: &str,
    recipient: Recipient,
) -> Result<Resend, StoreError> {
    let mut tx = pool.begin().await?;
    let row: Option<(i64, RowStatus)> = sqlx::query_as(
        "SELECT id, status FROM timeline
         WHERE step_id = $2 AND recipient = $3
           AND ((subject = $4 AND mentorship_id = $1) OR (subject = $5 AND coordinator_email = $1))
         ORDER BY subject = $4 DESC LIMIT 1 FOR UPDATE",
    )
    .bind(subject)
    .bind(step_id)
    .bind(recipient.as_str())
    .bind(SubjectKind::Pair)
    .bind(SubjectKind::Digest)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((id, row_status)) = row else {
        return Ok(Resend::NoSuchStep);
    };
    let removed: Option<(DeliveryStatus, Option<String>)> = sqlx::query_as(
        "DELETE FROM deliveries WHERE timeline_id = $1 AND status = ANY($2) RETURNING status, detail",
    )
    .bind(id)
    .bind(DeliveryStatus::RESENDABLE)
    .fetch_optional(&mut *tx)
    .await?;
    let (was, detail) = match removed {
        Some((status, detail)) => (status.row_status(), detail.unwrap_or_default()),
        None => {
            let held: Option<DeliveryStatus> =
                sqlx::query_scalar("SELECT status FROM deliveries WHERE timeline_id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
            match held {
                // Failed before it reached the ledger (transient failures past the deadline).
                None if row_status == RowStatus::Failed => (row_status, String::new()),
                Some(held) => {
                    return Ok(Resend::NotResendable {
                        status: held.to_string(),
                    });
                }
                None => {
                    return Ok(Resend::NotResendable {
                        status: row_status.to_string(),
                    });
                }
            }
        }
    };
    sqlx::query(
        "UPDATE timeline SET status = $3, next_at = now(), attempts = 0, finished_at = NULL,
                published_at = NULL, outcome = $2
         WHERE id = $1",
    )
    .bind(id)
    .bind(format!("resent by an operator (was {was}: {detail})"))
    .bind(RowStatus::Scheduled)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Resend::Rescheduled { was, detail })
}
