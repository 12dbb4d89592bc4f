//! The worker's side of the timeline: reading what it needs to judge a due
//! step, and closing, retrying or deferring the row.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use firstweek::interaction::Interaction;
use firstweek::row::RowKind;
use firstweek::rule::Recipient;
use sqlx::{PgConnection, PgPool, Row};

use crate::StoreError;
use crate::pairs::{PairRecord, ledgers, mentorships};
use crate::status::{RowStatus, SubjectKind};

/// What a timeline row is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A step of a mentor–mentee pair.
    Pair {
        /// The pair.
        mentorship_id: String,
    },
    /// A coordinator's daily digest.
    Digest {
        /// The coordinator's opaque key (what logs and the ledger use).
        coordinator_key: String,
        /// Whom it goes to.
        coordinator_email: String,
    },
}

impl Subject {
    /// The id the timeline and the delivery ledger key the row by.
    pub fn id(&self) -> &str {
        match self {
            Subject::Pair { mentorship_id } => mentorship_id,
            Subject::Digest {
                coordinator_key, ..
            } => coordinator_key,
        }
    }
}

/// A timeline row as the worker needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineRow {
    /// The row's id.
    pub id: i64,
    /// What it is about.
    pub subject: Subject,
    /// What it is (a pair's step, a notice, a digest): read once, here.
    pub kind: RowKind,
    /// The step (a playbook step, or `digest-<date>`).
    pub step_id: String,
    /// Whom it goes to.
    pub recipient: Recipient,
    /// When it fell due: its condition is judged as of this instant.
    pub due_at: DateTime<Utc>,
    /// When it became sendable (the recipient's window open at or after `due_at`).
    pub send_at: DateTime<Utc>,
    /// Where it is.
    pub status: RowStatus,
    /// Failed attempts so far.
    pub attempts: i32,
}

fn decode_row(row: &sqlx::postgres::PgRow) -> Result<TimelineRow, StoreError> {
    let subject_id: String = row.try_get("mentorship_id")?;
    let recipient: String = row.try_get("recipient")?;
    let step_id: String = row.try_get("step_id")?;
    let (subject, kind) = match row.try_get::<SubjectKind, _>("subject")? {
        SubjectKind::Pair => (
            Subject::Pair {
                mentorship_id: subject_id.clone(),
            },
            RowKind::of_pair_row(&step_id),
        ),
        SubjectKind::Digest => (
            Subject::Digest {
                coordinator_key: subject_id.clone(),
                coordinator_email: row
                    .try_get::<Option<String>, _>("coordinator_email")?
                    .unwrap_or_default(),
            },
            RowKind::of_digest_row(&step_id).ok_or_else(|| {
                StoreError::Corrupt(subject_id.clone(), format!("digest step {step_id:?}"))
            })?,
        ),
    };
    Ok(TimelineRow {
        id: row.try_get("id")?,
        recipient: Recipient::parse(&recipient).ok_or_else(|| {
            StoreError::Corrupt(subject_id.clone(), format!("recipient {recipient:?}"))
        })?,
        subject,
        kind,
        step_id,
        due_at: row.try_get("due_at")?,
        send_at: row.try_get("send_at")?,
        status: row.try_get("status")?,
        attempts: row.try_get("attempts")?,
    })
}

/// Reads one timeline row.
pub async fn timeline_row(pool: &PgPool, id: i64) -> Result<Option<TimelineRow>, StoreError> {
    Ok(load_steps(pool, &[id])
        .await?
        .pop()
        .flatten()
        .map(|s| s.row))
}

/// What a worker reads to judge one due step: its row and, for a pair's
/// step, the pair (if stored) and its interaction ledger.
#[derive(Debug, Clone)]
pub struct StepState {
    /// The timeline row.
    pub row: TimelineRow,
    /// The pair, if the row is a pair's and the pair is stored.
    pub pair: Option<PairRecord>,
    /// The pair's interactions (empty for a digest).
    pub ledger: Vec<Interaction>,
}

/// The columns [`decode_row`] reads (a macro, so queries stay static strings).
macro_rules! row_columns {
    () => {
        "id, mentorship_id, subject, coordinator_email, step_id, recipient, due_at, send_at, status, attempts"
    };
}

/// Reads [`StepState`] for many timeline rows in three statements; `None`
/// for a row that does not exist.
pub async fn load_steps(pool: &PgPool, ids: &[i64]) -> Result<Vec<Option<StepState>>, StoreError> {
    let sql = concat!(
        "SELECT ",
        row_columns!(),
        " FROM timeline WHERE id = ANY($1)"
    );
    let mut conn = pool.acquire().await?;
    let rows = sqlx::query(sql).bind(ids).fetch_all(&mut *conn).await?;
    with_pairs(&mut conn, ids, &rows).await
}

/// [`load_steps`] for a worker that took a copy of these rows from the
/// queue: records that the copy was picked up (`picked_at`), so the
/// scheduler knows no copy of it waits in the queue any more.
pub async fn pick_steps(
    conn: &mut PgConnection,
    ids: &[i64],
) -> Result<Vec<Option<StepState>>, StoreError> {
    let sql = concat!(
        "UPDATE timeline SET picked_at = now() WHERE id = ANY($1) RETURNING ",
        row_columns!()
    );
    // One connection for the three statements (the worker's batch writer
    // keeps its own): through the pool each would cost a round trip more
    // (sqlx pings a connection on release).
    let rows = sqlx::query(sql).bind(ids).fetch_all(&mut *conn).await?;
    with_pairs(conn, ids, &rows).await
}

async fn with_pairs(
    conn: &mut PgConnection,
    ids: &[i64],
    rows: &[sqlx::postgres::PgRow],
) -> Result<Vec<Option<StepState>>, StoreError> {
    let rows = rows.iter().map(decode_row).collect::<Result<Vec<_>, _>>()?;
    let mut wanted: Vec<&str> = rows
        .iter()
        .filter_map(|r| match &r.subject {
            Subject::Pair { mentorship_id } => Some(mentorship_id.as_str()),
            Subject::Digest { .. } => None,
        })
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let (pairs, ledgers) = if wanted.is_empty() {
        (HashMap::new(), HashMap::new())
    } else {
        (
            mentorships(&mut *conn, &wanted).await?,
            ledgers(&mut *conn, &wanted).await?,
        )
    };
    let mut by_id: HashMap<i64, StepState> = HashMap::with_capacity(rows.len());
    for row in rows {
        let (pair, ledger) = match &row.subject {
            Subject::Pair { mentorship_id } => (
                pairs.get(mentorship_id).cloned(),
                ledgers.get(mentorship_id).cloned().unwrap_or_default(),
            ),
            Subject::Digest { .. } => (None, Vec::new()),
        };
        by_id.insert(row.id, StepState { row, pair, ledger });
    }
    Ok(ids.iter().map(|id| by_id.get(id).cloned()).collect())
}

/// Closes a row that is not waiting for anything any more.
pub async fn finish_row(
    pool: &PgPool,
    id: i64,
    status: RowStatus,
    outcome: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE timeline SET status = $2, outcome = $3, next_at = NULL, finished_at = now()
         WHERE id = $1 AND status = ANY($4)",
    )
    .bind(id)
    .bind(status)
    .bind(outcome)
    .bind(RowStatus::OPEN)
    .execute(pool)
    .await?;
    Ok(())
}

/// Puts a row back for another attempt at `at` (a transient mail failure).
pub async fn retry_row(
    pool: &PgPool,
    id: i64,
    at: DateTime<Utc>,
    outcome: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE timeline SET status = $4, attempts = attempts + 1, outcome = $3, next_at = $2
         WHERE id = $1 AND status = ANY($5)",
    )
    .bind(id)
    .bind(at)
    .bind(outcome)
    .bind(RowStatus::Scheduled)
    .bind(RowStatus::OPEN)
    .execute(pool)
    .await?;
    Ok(())
}

/// Offers a row again at `at`, recording why it waits (a nudge over its
/// recipient's daily budget: `deferred: ...`); the note is kept beside the
/// outcome once the row is sent. The worker is done with the copy it had
/// (no copy of the row is outstanding), so the scheduler publishes it at
/// `at` without waiting for the redelivery interval.
pub async fn defer_row(
    pool: &PgPool,
    id: i64,
    at: DateTime<Utc>,
    outcome: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE timeline SET next_at = $2, outcome = $3, last_published_at = NULL
         WHERE id = $1 AND status = ANY($4)",
    )
    .bind(id)
    .bind(at)
    .bind(outcome)
    .bind(RowStatus::OPEN)
    .execute(pool)
    .await?;
    Ok(())
}

/// Asks the scheduler to offer a row again at `at` (another worker holds its claim).
pub async fn recheck_at(pool: &PgPool, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
    sqlx::query("UPDATE timeline SET next_at = $2 WHERE id = $1 AND status = ANY($3)")
        .bind(id)
        .bind(at)
        .bind(RowStatus::OPEN)
        .execute(pool)
        .await?;
    Ok(())
}
