//! An operator's second chance for one email: a delivery that failed, or
//! whose outcome is unknown, is cleared from the ledger and its timeline row
//! scheduled again, so a worker sends it (same Message-ID) on the next tick.

use sqlx::PgPool;

use super::StoreError;

/// Why a resend was refused, or what it replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resend {
    /// Rescheduled; the delivery's previous status and detail.
    Rescheduled { was: String, detail: String },
    /// No timeline row for that (pair, step, recipient).
    NoSuchStep,
    /// The delivery is not failed or unknown (sent, or being sent): nothing to redo.
    NotResendable { status: String },
}

/// Reschedules one email whose delivery is `failed` or `unknown`. The ledger
/// row is removed and the timeline row reset in one transaction; the note in
/// the row's `outcome` keeps what happened before.
pub async fn resend(
    pool: &PgPool,
    mentorship_id: &str,
    step_id: &str,
    recipient: &str,
) -> Result<Resend, StoreError> {
    let mut tx = pool.begin().await?;
    let row: Option<(i64, String)> = sqlx::query_as(
        "SELECT id, status FROM timeline WHERE mentorship_id = $1 AND step_id = $2 AND recipient = $3 FOR UPDATE",
    )
    .bind(mentorship_id)
    .bind(step_id)
    .bind(recipient)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((id, row_status)) = row else {
        return Ok(Resend::NoSuchStep);
    };
    let removed: Option<(String, Option<String>)> = sqlx::query_as(
        "DELETE FROM deliveries WHERE timeline_id = $1 AND status IN ('failed', 'unknown') RETURNING status, detail",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let (was, detail) = match removed {
        Some((status, detail)) => (status, detail.unwrap_or_default()),
        None => {
            let held: Option<String> =
                sqlx::query_scalar("SELECT status FROM deliveries WHERE timeline_id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
            match held {
                // Failed before it reached the ledger (transient failures past the deadline).
                None if row_status == "failed" => (row_status, String::new()),
                held => {
                    return Ok(Resend::NotResendable {
                        status: held.unwrap_or(row_status),
                    });
                }
            }
        }
    };
    sqlx::query(
        "UPDATE timeline SET status = 'scheduled', next_at = now(), attempts = 0, finished_at = NULL,
                published_at = NULL, outcome = $2
         WHERE id = $1",
    )
    .bind(id)
    .bind(format!("resent by an operator (was {was}: {detail})"))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Resend::Rescheduled { was, detail })
}
