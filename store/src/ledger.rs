//! The delivery ledger: one email per (subject, once-key, recipient), ever.
//! A worker claims a delivery before it composes the email, marks it
//! handing over before the SMTP server may have it, and records its end.

use std::collections::HashSet;

use chrono::Duration;
use firstweek::playbook::Recipient;
use sqlx::PgPool;

use crate::StoreError;
use crate::status::{DeliveryStatus, RowStatus};
use crate::steps::TimelineRow;

/// The ledger's key of one delivery.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeliveryKey {
    /// The subject's id (see [`crate::Subject::id`]).
    pub subject_id: String,
    /// The step's once-key (a digest's is its step id).
    pub once_key: String,
    /// Whom it goes to.
    pub recipient: Recipient,
}

impl DeliveryKey {
    /// The key of `row`'s delivery under `once_key`.
    pub fn of(row: &TimelineRow, once_key: &str) -> DeliveryKey {
        DeliveryKey {
            subject_id: row.subject.id().to_string(),
            once_key: once_key.to_string(),
            recipient: row.recipient,
        }
    }
}

/// One delivery to claim.
#[derive(Debug, Clone)]
pub struct DeliveryClaim {
    /// The row that wants to send.
    pub row: TimelineRow,
    /// Its once-key.
    pub once_key: String,
    /// The email's Message-ID, recorded with the claim.
    pub message_id: String,
}

/// One delivery's end.
#[derive(Debug, Clone)]
pub struct DeliveryEnd {
    /// The row whose delivery ended (closed with the matching status).
    pub row: TimelineRow,
    /// Its once-key.
    pub once_key: String,
    /// How it ended: `Sent`, `Failed` or `Unknown`.
    pub status: DeliveryStatus,
    /// The SMTP server's answer or the failure, in words.
    pub detail: String,
}

/// The delivery ledger's answer to "may I send this?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Yours: send it.
    Granted,
    /// Already handled under this once-key: by which step, with what status.
    Taken {
        /// The step that holds the key.
        step_id: String,
        /// What became of its delivery.
        status: DeliveryStatus,
    },
    /// Another worker is sending it right now.
    Busy,
}

/// Claims the right to send one email. The unique key (subject, once-key,
/// recipient) makes a second send impossible; a claim left `sending` by a
/// worker that died before reaching the SMTP server is taken over after `lease`.
pub async fn claim_delivery(
    pool: &PgPool,
    claim: &DeliveryClaim,
    lease: Duration,
) -> Result<Claim, StoreError> {
    let (row, once_key) = (&claim.row, claim.once_key.as_str());
    let subject_id = row.subject.id();
    let inserted = sqlx::query(
        "INSERT INTO deliveries (mentorship_id, once_key, recipient, step_id, timeline_id, message_id, status)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
    )
    .bind(subject_id)
    .bind(once_key)
    .bind(row.recipient.as_str())
    .bind(&row.step_id)
    .bind(row.id)
    .bind(&claim.message_id)
    .bind(DeliveryStatus::Sending)
    .execute(pool)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(Claim::Granted);
    }
    let taken_over = sqlx::query(
        "UPDATE deliveries SET claimed_at = now(), step_id = $4, timeline_id = $5
         WHERE mentorship_id = $1 AND once_key = $2 AND recipient = $3
           AND status = $7 AND claimed_at < now() - $6",
    )
    .bind(subject_id)
    .bind(once_key)
    .bind(row.recipient.as_str())
    .bind(&row.step_id)
    .bind(row.id)
    .bind(lease)
    .bind(DeliveryStatus::Sending)
    .execute(pool)
    .await?
    .rows_affected();
    if taken_over == 1 {
        return Ok(Claim::Granted);
    }
    // A worker that died after it began handing the message over may have
    // delivered it: record "unknown" and never resend (prefer no duplicate).
    let unknown = sqlx::query(
        "UPDATE deliveries SET status = $5, finished_at = now(),
                detail = 'the worker stopped while handing the message to the SMTP server'
         WHERE mentorship_id = $1 AND once_key = $2 AND recipient = $3
           AND status = $6 AND claimed_at < now() - $4",
    )
    .bind(subject_id)
    .bind(once_key)
    .bind(row.recipient.as_str())
    .bind(lease)
    .bind(DeliveryStatus::Unknown)
    .bind(DeliveryStatus::HandingOver)
    .execute(pool)
    .await?
    .rows_affected();
    if unknown == 1 {
        return Ok(Claim::Taken {
            step_id: row.step_id.clone(),
            status: DeliveryStatus::Unknown,
        });
    }
    let (step_id, status): (String, DeliveryStatus) = sqlx::query_as(
        "SELECT step_id, status FROM deliveries WHERE mentorship_id = $1 AND once_key = $2 AND recipient = $3",
    )
    .bind(subject_id)
    .bind(once_key)
    .bind(row.recipient.as_str())
    .fetch_one(pool)
    .await?;
    if DeliveryStatus::IN_FLIGHT.contains(&status) {
        return Ok(Claim::Busy);
    }
    Ok(Claim::Taken { step_id, status })
}

/// Claims many deliveries in one statement: `true` where this call inserted
/// the claim (what [`claim_delivery`] answers `Granted` without looking
/// further). For the others, ask [`claim_delivery`]: the ledger already has
/// their key (a take-over, busy or taken).
pub async fn claim_deliveries(
    pool: &PgPool,
    claims: &[DeliveryClaim],
) -> Result<Vec<bool>, StoreError> {
    let col = |f: fn(&DeliveryClaim) -> &str| claims.iter().map(f).collect::<Vec<&str>>();
    let inserted: Vec<(String, String, String)> = sqlx::query_as(
        "INSERT INTO deliveries (mentorship_id, once_key, recipient, step_id, timeline_id, message_id, status)
         SELECT m, o, r, s, t, mid, $7
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::text[]) AS u(m, o, r, s, t, mid)
         ON CONFLICT DO NOTHING RETURNING mentorship_id, once_key, recipient",
    )
    .bind(col(|c| c.row.subject.id()))
    .bind(col(|c| &c.once_key))
    .bind(col(|c| c.row.recipient.as_str()))
    .bind(col(|c| &c.row.step_id))
    .bind(claims.iter().map(|c| c.row.id).collect::<Vec<i64>>())
    .bind(col(|c| &c.message_id))
    .bind(DeliveryStatus::Sending)
    .fetch_all(pool)
    .await?;
    let mut inserted: HashSet<(String, String, String)> = inserted.into_iter().collect();
    // Two claims of one key in the batch: the first inserted it, the second finds it taken.
    Ok(claims
        .iter()
        .map(|c| {
            inserted.remove(&(
                c.row.subject.id().to_string(),
                c.once_key.clone(),
                c.row.recipient.as_str().to_string(),
            ))
        })
        .collect())
}

/// Marks a claimed delivery as being handed to the SMTP server: from here on,
/// a worker that dies leaves an outcome nobody can know.
pub async fn mark_handing_over(pool: &PgPool, key: &DeliveryKey) -> Result<(), StoreError> {
    mark_handing_over_many(pool, std::slice::from_ref(key)).await
}

/// [`mark_handing_over`] for many deliveries, in one statement.
pub async fn mark_handing_over_many(pool: &PgPool, keys: &[DeliveryKey]) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE deliveries d SET status = $4
         FROM UNNEST($1::text[], $2::text[], $3::text[]) AS u(m, o, r)
         WHERE d.mentorship_id = u.m AND d.once_key = u.o AND d.recipient = u.r AND d.status = ANY($5)",
    )
    .bind(keys.iter().map(|k| k.subject_id.as_str()).collect::<Vec<&str>>())
    .bind(keys.iter().map(|k| k.once_key.as_str()).collect::<Vec<&str>>())
    .bind(keys.iter().map(|k| k.recipient.as_str()).collect::<Vec<&str>>())
    .bind(DeliveryStatus::HandingOver)
    .bind(DeliveryStatus::IN_FLIGHT)
    .execute(pool)
    .await?;
    Ok(())
}

/// Records how a claimed delivery ended and closes its row, atomically.
pub async fn finish_delivery(pool: &PgPool, end: &DeliveryEnd) -> Result<(), StoreError> {
    finish_deliveries(pool, std::slice::from_ref(end)).await
}

/// [`finish_delivery`] for many deliveries, atomically, in one statement.
pub async fn finish_deliveries(pool: &PgPool, ends: &[DeliveryEnd]) -> Result<(), StoreError> {
    sqlx::query(
        "WITH u AS (
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::text[])
                 AS u(m, o, r, status, detail, tid, row_status)
         ), d AS (
             UPDATE deliveries d SET status = u.status, detail = u.detail, finished_at = now()
             FROM u WHERE d.mentorship_id = u.m AND d.once_key = u.o AND d.recipient = u.r
         )
         UPDATE timeline t SET status = u.row_status, outcome = u.detail, next_at = NULL, finished_at = now()
         FROM u WHERE t.id = u.tid AND t.status = ANY($8)",
    )
    .bind(ends.iter().map(|e| e.row.subject.id()).collect::<Vec<&str>>())
    .bind(ends.iter().map(|e| e.once_key.as_str()).collect::<Vec<&str>>())
    .bind(ends.iter().map(|e| e.row.recipient.as_str()).collect::<Vec<&str>>())
    .bind(ends.iter().map(|e| e.status).collect::<Vec<DeliveryStatus>>())
    .bind(ends.iter().map(|e| e.detail.as_str()).collect::<Vec<&str>>())
    .bind(ends.iter().map(|e| e.row.id).collect::<Vec<i64>>())
    .bind(ends.iter().map(|e| e.status.row_status()).collect::<Vec<RowStatus>>())
    .bind(RowStatus::OPEN)
    .execute(pool)
    .await?;
    Ok(())
}

/// Gives a claim back after a failure that delivered nothing (connection refused, 4xx).
pub async fn release_delivery(pool: &PgPool, key: &DeliveryKey) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM deliveries WHERE mentorship_id = $1 AND once_key = $2 AND recipient = $3 AND status = ANY($4)",
    )
    .bind(&key.subject_id)
    .bind(&key.once_key)
    .bind(key.recipient.as_str())
    .bind(DeliveryStatus::IN_FLIGHT)
    .execute(pool)
    .await?;
    Ok(())
}
