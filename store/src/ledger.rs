//! The delivery ledger: one email per (subject, once-key, recipient), ever.
//! A worker claims a delivery before it composes the email, marks it
//! handing over before the SMTP server may have it, and records its end.
//!
//! Fencing: every claim has its own number (`attempt`). Each update after the
//! claim names that number and changes nothing once another worker has taken
//! the claim over, so a worker that wakes from a long pause neither sends nor
//! overwrites what the other did.

use std::collections::HashSet;

use chrono::Duration;
use firstweek::escalation::{Notice, State};
use firstweek::row::RowKind;
use firstweek::rule::Recipient;
use sqlx::{PgExecutor, PgPool};

use crate::StoreError;
use crate::status::{DeliveryStatus, RowStatus};

/// The `email.sent|failed|unknown` announcement of each delivery a CTE
/// named `$from` returns (`mentorship_id, once_key, recipient, step_id,
/// status`), written in the statement that records its end: ids and the
/// step, never an address. A coordinator's digest is about no pair and is
/// not announced. The event id derives from the delivery's key (one end each).
macro_rules! announce_email {
    ($from:literal) => {
        concat!(
            "INSERT INTO outbox (event_id, routing_key, payload)
             SELECT e.event_id, 'email.' || e.status, jsonb_strip_nulls(jsonb_build_object(
                 'event_id', e.event_id, 'mentorship_id', e.mentorship_id, 'program_id', m.program_id,
                 'step_id', e.step_id, 'recipient', e.recipient,
                 'occurred_at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')))
             FROM (SELECT x.*, 'firstweek-email-' || left(encode(sha256(convert_to(
                       x.mentorship_id || ' ' || x.once_key || ' ' || x.recipient, 'UTF8')), 'hex'), 32) AS event_id
                   FROM ",
            $from,
            " x) e
             JOIN mentorships m ON m.id = e.mentorship_id
             -- Only an end is announced (the CHECK would refuse any other key).
             WHERE e.status IN ('sent', 'failed', 'unknown')
             ON CONFLICT (event_id) DO NOTHING"
        )
    };
}

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
    /// A nudge: the recipient's daily budget it must fit in
    /// ([`crate::claim_within_budget`]); `None`: not counted.
    pub budget: Option<crate::Budget>,
}

/// A claim a worker holds: the delivery and the claim's number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HeldClaim {
    /// The delivery.
    pub key: DeliveryKey,
    /// The claim's number: a take-over gives the delivery a new one.
    pub attempt: i32,
}

/// One delivery's end.
#[derive(Debug, Clone)]
pub struct DeliveryEnd {
    /// The row whose delivery ended (closed with the matching status).
    pub row: TimelineRow,
    /// The claim under which it was sent.
    pub claim: HeldClaim,
    /// How it ended: `Sent`, `Failed` or `Unknown`.
    pub status: DeliveryStatus,
    /// The SMTP server's answer or the failure, in words.
    pub detail: String,
}

/// What becomes of a hand-over asked for with [`mark_handing_over_many`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handover {
    /// The claim is still yours and the pair goes on: hand the message over.
    Go,
    /// The mentorship ended after the claim: send nothing, give the claim back.
    Ended,
    /// An escalation reminder whose escalation was acknowledged or resolved
    /// after the claim: send nothing, give the claim back.
    Withdrawn,
    /// The claim is no longer yours (its lease ran out, or another worker
    /// took it over): send nothing, touch nothing.
    Lost,
}

pub use firstweek::delivery::UnknownDelivery;

/// The delivery ledger's answer to "may I send this?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Yours, under this claim number: send it.
    Granted {
        /// The claim's number, named by every later update.
        attempt: i32,
    },
    /// The pair's mentorship has ended: nothing more goes out.
    Ended,
    /// Already handled under this once-key: by which step, with what status.
    Taken {
        /// The step that holds the key.
        step_id: String,
        /// What became of its delivery.
        status: DeliveryStatus,
    },
    /// Another worker is sending it right now.
    Busy,
    /// A nudge, and its recipient's budget for the day is spent.
    OverBudget {
        /// How many nudges that day already holds.
        spent: u32,
    },
}

/// Claims the right to send one email. The unique key (subject, once-key,
/// recipient) makes a second send impossible; a claim left `sending` by a
/// worker that stopped before reaching the SMTP server is taken over after
/// `lease`, under a new claim number. A claim left `handing_over` past its
/// lease may have been delivered: by default it is recorded `unknown` and
/// never resent; with [`UnknownDelivery::Resend`] it is taken over too.
/// A pair whose mentorship has ended gets no claim at all.
pub async fn claim_delivery(
    pool: &PgPool,
    claim: &DeliveryClaim,
    lease: Duration,
    unknown: UnknownDelivery,
) -> Result<Claim, StoreError> {
    let (row, once_key) = (&claim.row, claim.once_key.as_str());
    let subject_id = row.subject.id();
    let ended: Option<bool> =
        sqlx::query_scalar("SELECT ended_at IS NOT NULL FROM mentorships WHERE id = $1")
            .bind(subject_id)
            .fetch_optional(pool)
            .await?;
    // The resolution notice outlives an ending.
    if ended == Some(true) && row.kind != RowKind::Notice(Notice::Resolved) {
        return Ok(Claim::Ended);
    }
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
        return Ok(Claim::Granted { attempt: 1 });
    }
    let resumable: &[DeliveryStatus] = match unknown {
        UnknownDelivery::Record => &[DeliveryStatus::Sending],
        UnknownDelivery::Resend => DeliveryStatus::IN_FLIGHT,
    };
    let taken_over: Option<i32> = sqlx::query_scalar(
        "UPDATE deliveries SET claimed_at = now(), step_id = $4, timeline_id = $5,
                status = $8, attempt = attempt + 1
         WHERE mentorship_id = $1 AND once_key = $2 AND recipient = $3
           AND status = ANY($7) AND claimed_at < now() - $6
         RETURNING attempt",
    )
    .bind(subject_id)
    .bind(once_key)
    .bind(row.recipient.as_str())
    .bind(&row.step_id)
    .bind(row.id)
    .bind(lease)
    .bind(resumable)
    .bind(DeliveryStatus::Sending)
    .fetch_optional(pool)
    .await?;
    if let Some(attempt) = taken_over {
        return Ok(Claim::Granted { attempt });
    }
    // A worker that stopped after it began handing the message over may have
    // delivered it: record "unknown" and never resend (prefer no duplicate).
    // The new claim number fences the old holder out, should it wake.
    let unknown: i64 = sqlx::query_scalar(concat!(
        "WITH d AS (
             UPDATE deliveries SET status = $5, finished_at = now(), attempt = attempt + 1,
                    detail = 'the worker stopped while handing the message to the SMTP server'
             WHERE mentorship_id = $1 AND once_key = $2 AND recipient = $3
               AND status = $6 AND claimed_at < now() - $4
             RETURNING mentorship_id, once_key, recipient, step_id, status
         ), o AS (",
        announce_email!("d"),
        ") SELECT count(*) FROM d"
    ))
    .bind(subject_id)
    .bind(once_key)
    .bind(row.recipient.as_str())
    .bind(lease)
    .bind(DeliveryStatus::Unknown)
    .bind(DeliveryStatus::HandingOver)
    .fetch_one(pool)
    .await?;
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
/// the claim (what [`claim_delivery`] answers `Granted { attempt: 1 }`
/// without looking further). For the others, ask [`claim_delivery`]: the
/// ledger already has their key (a take-over, busy or taken), or the pair ended.
pub async fn claim_deliveries(
    db: impl PgExecutor<'_>,
    claims: &[DeliveryClaim],
) -> Result<Vec<bool>, StoreError> {
    let col = |f: fn(&DeliveryClaim) -> &str| claims.iter().map(f).collect::<Vec<&str>>();
    let inserted: Vec<(String, String, String)> = sqlx::query_as(
        "INSERT INTO deliveries (mentorship_id, once_key, recipient, step_id, timeline_id, message_id, status)
         SELECT m, o, r, s, t, mid, $7
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::text[]) AS u(m, o, r, s, t, mid)
         WHERE u.o = $8 OR NOT EXISTS (SELECT 1 FROM mentorships p WHERE p.id = u.m AND p.ended_at IS NOT NULL)
         ON CONFLICT DO NOTHING RETURNING mentorship_id, once_key, recipient",
    )
    .bind(col(|c| c.row.subject.id()))
    .bind(col(|c| &c.once_key))
    .bind(col(|c| c.row.recipient.as_str()))
    .bind(col(|c| &c.row.step_id))
    .bind(claims.iter().map(|c| c.row.id).collect::<Vec<i64>>())
    .bind(col(|c| &c.message_id))
    .bind(DeliveryStatus::Sending)
    .bind(Notice::Resolved.step_id())
    .fetch_all(db)
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
/// a worker that stops leaves an outcome nobody can know.
pub async fn mark_handing_over(
    pool: &PgPool,
    claim: &HeldClaim,
    lease: Duration,
) -> Result<Handover, StoreError> {
    let mut answers = mark_handing_over_many(pool, std::slice::from_ref(claim), lease).await?;
    Ok(answers.pop().unwrap_or(Handover::Lost))
}

/// [`mark_handing_over`] for many deliveries, in one statement. A claim is
/// handed over only while it is still the holder's (same number, lease not
/// run out, by the database's clock) and its pair has not ended. The pair's
/// row is locked for share, so an ending being committed is waited for and
/// seen: an email goes out before the ending commits, or not at all.
pub async fn mark_handing_over_many(
    db: impl PgExecutor<'_>,
    claims: &[HeldClaim],
    lease: Duration,
) -> Result<Vec<Handover>, StoreError> {
    // `stop`: the pair ended (the resolution notice outlives an ending), or
    // a reminder's escalation was acknowledged or resolved. Both the pair's
    // and the escalation's rows are locked for share, so a change being
    // committed is waited for and seen.
    let answered: Vec<(String, String, String, bool, bool, bool)> = sqlx::query_as(
        "WITH u AS (
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int4[]) AS u(m, o, r, a)
         ), pair AS (
             SELECT id, ended_at FROM mentorships WHERE id IN (SELECT m FROM u) FOR SHARE
         ), esc AS (
             SELECT mentorship_id, state FROM escalations
             WHERE mentorship_id IN (SELECT m FROM u WHERE o = $9) FOR SHARE
         ), stop AS (
             SELECT u.m, u.o, u.r,
                    (u.o <> $8 AND EXISTS (SELECT 1 FROM pair WHERE pair.id = u.m AND pair.ended_at IS NOT NULL)) AS ended,
                    (u.o = $9 AND EXISTS (SELECT 1 FROM esc WHERE esc.mentorship_id = u.m AND esc.state <> $10)) AS withdrawn
             FROM u
         ), marked AS (
             UPDATE deliveries d SET status = $5
             FROM u JOIN stop s ON s.m = u.m AND s.o = u.o AND s.r = u.r
             WHERE d.mentorship_id = u.m AND d.once_key = u.o AND d.recipient = u.r
               AND d.attempt = u.a AND d.status = ANY($6) AND d.claimed_at > now() - $7
               AND NOT s.ended AND NOT s.withdrawn
             RETURNING d.mentorship_id, d.once_key, d.recipient
         )
         SELECT s.m, s.o, s.r,
                EXISTS (SELECT 1 FROM marked k WHERE k.mentorship_id = s.m AND k.once_key = s.o AND k.recipient = s.r),
                s.ended, s.withdrawn
         FROM stop s",
    )
    .bind(claims.iter().map(|c| c.key.subject_id.as_str()).collect::<Vec<&str>>())
    .bind(claims.iter().map(|c| c.key.once_key.as_str()).collect::<Vec<&str>>())
    .bind(claims.iter().map(|c| c.key.recipient.as_str()).collect::<Vec<&str>>())
    .bind(claims.iter().map(|c| c.attempt).collect::<Vec<i32>>())
    .bind(DeliveryStatus::HandingOver)
    .bind(DeliveryStatus::IN_FLIGHT)
    .bind(lease)
    .bind(Notice::Resolved.step_id())
    .bind(Notice::Reminder.step_id())
    .bind(State::Open.as_str())
    .fetch_all(db)
    .await?;
    let answered: std::collections::HashMap<(String, String, String), Handover> = answered
        .into_iter()
        .map(|(m, o, r, go, ended, withdrawn)| {
            let answer = match (go, ended, withdrawn) {
                (true, _, _) => Handover::Go,
                (false, true, _) => Handover::Ended,
                (false, false, true) => Handover::Withdrawn,
                (false, false, false) => Handover::Lost,
            };
            ((m, o, r), answer)
        })
        .collect();
    Ok(claims
        .iter()
        .map(|c| {
            let k = &c.key;
            let key = (
                k.subject_id.clone(),
                k.once_key.clone(),
                k.recipient.as_str().to_string(),
            );
            answered.get(&key).copied().unwrap_or(Handover::Lost)
        })
        .collect())
}

/// Records how a claimed delivery ended and closes its row, atomically;
/// `false` when the claim was no longer the holder's (nothing was changed).
pub async fn finish_delivery(pool: &PgPool, end: &DeliveryEnd) -> Result<bool, StoreError> {
    let mut recorded = finish_deliveries(pool, std::slice::from_ref(end)).await?;
    Ok(recorded.pop().unwrap_or(false))
}

/// [`finish_delivery`] for many deliveries, atomically, in one statement.
pub async fn finish_deliveries(
    db: impl PgExecutor<'_>,
    ends: &[DeliveryEnd],
) -> Result<Vec<bool>, StoreError> {
    let recorded: Vec<(String, String, String)> = sqlx::query_as(concat!(
        r#"WITH u AS (
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::text[], $9::int4[])
                 AS u(m, o, r, status, detail, tid, row_status, a)
         ), d AS (
             UPDATE deliveries d SET status = u.status, detail = u.detail, finished_at = now()
             FROM u WHERE d.mentorship_id = u.m AND d.once_key = u.o AND d.recipient = u.r
               AND d.attempt = u.a AND d.status = ANY($10)
             RETURNING d.mentorship_id, d.once_key, d.recipient, d.step_id, d.status
         ), o AS ("#,
        announce_email!("d"),
        r#"), t AS (
             UPDATE timeline t SET status = u.row_status, next_at = NULL, finished_at = now(),
                    outcome = CASE WHEN t.outcome LIKE 'deferred:%' THEN u.detail || ' (' || t.outcome || ')' ELSE u.detail END
             FROM u JOIN d ON d.mentorship_id = u.m AND d.once_key = u.o AND d.recipient = u.r
             WHERE t.id = u.tid AND t.status = ANY($8)
         )
         SELECT mentorship_id, once_key, recipient FROM d"#
    ))
    .bind(ends.iter().map(|e| e.claim.key.subject_id.as_str()).collect::<Vec<&str>>())
    .bind(ends.iter().map(|e| e.claim.key.once_key.as_str()).collect::<Vec<&str>>())
    .bind(ends.iter().map(|e| e.claim.key.recipient.as_str()).collect::<Vec<&str>>())
    .bind(ends.iter().map(|e| e.status).collect::<Vec<DeliveryStatus>>())
    .bind(ends.iter().map(|e| e.detail.as_str()).collect::<Vec<&str>>())
    .bind(ends.iter().map(|e| e.row.id).collect::<Vec<i64>>())
    .bind(ends.iter().map(|e| e.status.row_status()).collect::<Vec<RowStatus>>())
    .bind(RowStatus::OPEN)
    .bind(ends.iter().map(|e| e.claim.attempt).collect::<Vec<i32>>())
    .bind(DeliveryStatus::IN_FLIGHT)
    .fetch_all(db)
    .await?;
    let recorded: HashSet<(String, String, String)> = recorded.into_iter().collect();
    Ok(ends
        .iter()
        .map(|e| {
            let k = &e.claim.key;
            recorded.contains(&(
                k.subject_id.clone(),
                k.once_key.clone(),
                k.recipient.as_str().to_string(),
            ))
        })
        .collect())
}

/// Gives a claim back after a failure that delivered nothing (connection
/// refused, a 4xx, the pair ended); nothing happens if the claim is no
/// longer the holder's.
pub async fn release_delivery(pool: &PgPool, claim: &HeldClaim) -> Result<(), StoreError> {
    let key = &claim.key;
    sqlx::query(
        "DELETE FROM deliveries WHERE mentorship_id = $1 AND once_key = $2 AND recipient = $3
           AND status = ANY($4) AND attempt = $5",
    )
    .bind(&key.subject_id)
    .bind(&key.once_key)
    .bind(key.recipient.as_str())
    .bind(DeliveryStatus::IN_FLIGHT)
    .bind(claim.attempt)
    .execute(pool)
    .await?;
    Ok(())
}
