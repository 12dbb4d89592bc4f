//! Read models for the operator CLI: what it prints about pairs, timelines
//! and the delivery ledger. Nothing here writes.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};

use crate::StoreError;
use crate::pairs::{PairRecord, record_of, unsubscribed_column};
use crate::status::{DeliveryStatus, RowStatus, SubjectKind};

/// A stored pair with how it ended.
#[derive(Debug, Clone)]
pub struct PairEntry {
    /// The pair.
    pub record: PairRecord,
    /// Why it ended, if the ending said.
    pub ended_reason: Option<String>,
}

impl PairEntry {
    /// The pair's id.
    pub fn id(&self) -> &str {
        &self.record.started.mentorship_id
    }

    /// `Ada Lovelace & Grace Hopper`.
    pub fn names(&self) -> String {
        let s = &self.record.started;
        format!("{} & {}", s.mentor.name, s.mentee.name)
    }
}

/// Which pairs to read.
#[derive(Debug, Clone, Default)]
pub struct PairFilter {
    /// Only this pair.
    pub id: Option<String>,
    /// Only pairs started after this instant.
    pub started_after: Option<DateTime<Utc>>,
    /// Only pairs that have not ended.
    pub open_only: bool,
}

/// Stored pairs, oldest first.
pub async fn pairs(pool: &PgPool, filter: &PairFilter) -> Result<Vec<PairEntry>, StoreError> {
    let sql = concat!(
        "SELECT id, people, ended_at, ended_reason, ",
        unsubscribed_column!(),
        " FROM mentorships
         WHERE ($1::text IS NULL OR id = $1)
           AND ($2::timestamptz IS NULL OR started_at > $2)
           AND (NOT $3 OR ended_at IS NULL)
         ORDER BY started_at, id"
    );
    let rows = sqlx::query(sql)
        .bind(&filter.id)
        .bind(filter.started_after)
        .bind(filter.open_only)
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|row| {
            let id: String = row.try_get("id")?;
            Ok(PairEntry {
                record: record_of(&id, row)?,
                ended_reason: row.try_get("ended_reason")?,
            })
        })
        .collect()
}

/// An ending recorded before its pair started (kept so the start plans nothing).
#[derive(Debug, Clone)]
pub struct EarlyEnding {
    /// When the mentorship ended.
    pub ended_at: DateTime<Utc>,
    /// Why, if the event said.
    pub reason: Option<String>,
}

/// The ending stored for a pair id whose start has not arrived, if any.
pub async fn early_ending(pool: &PgPool, id: &str) -> Result<Option<EarlyEnding>, StoreError> {
    let row: Option<(DateTime<Utc>, Option<String>)> =
        sqlx::query_as("SELECT ended_at, reason FROM mentorship_endings WHERE mentorship_id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(ended_at, reason)| EarlyEnding { ended_at, reason }))
}

/// One timeline row as the CLI prints it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TimelineEntry {
    /// The row's id.
    pub id: i64,
    /// The subject's id (a pair's id, or a coordinator's key for a digest).
    pub subject_id: String,
    /// The step.
    pub step_id: String,
    /// `mentor`, `mentee` or `coordinator`.
    pub recipient: String,
    /// When it fell due.
    pub due_at: DateTime<Utc>,
    /// When it may be (or was) sent.
    pub send_at: DateTime<Utc>,
    /// Where it is.
    pub status: RowStatus,
    /// Failed attempts.
    pub attempts: i32,
    /// What became of it, in words.
    pub outcome: Option<String>,
}

/// The timeline rows of these pairs, by due time.
pub async fn timeline(pool: &PgPool, ids: &[&str]) -> Result<Vec<TimelineEntry>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, mentorship_id AS subject_id, step_id, recipient, due_at, send_at, status, attempts, outcome
         FROM timeline WHERE mentorship_id = ANY($1) AND subject = $2 ORDER BY due_at, id",
    )
    .bind(ids)
    .bind(SubjectKind::Pair)
    .fetch_all(pool)
    .await?)
}

/// The digest rows of one coordinator, by due time.
pub async fn digests(
    pool: &PgPool,
    coordinator_email: &str,
) -> Result<Vec<TimelineEntry>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, mentorship_id AS subject_id, step_id, recipient, due_at, send_at, status, attempts, outcome
         FROM timeline WHERE coordinator_email = $1 AND subject = $2 ORDER BY due_at, id",
    )
    .bind(coordinator_email)
    .bind(SubjectKind::Digest)
    .fetch_all(pool)
    .await?)
}

/// One row of the delivery ledger.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryEntry {
    /// The step's once-key.
    pub once_key: String,
    /// `mentor`, `mentee` or `coordinator`.
    pub recipient: String,
    /// The step that holds it.
    pub step_id: String,
    /// That step's timeline row.
    pub timeline_id: i64,
    /// The email's Message-ID.
    pub message_id: String,
    /// Where it is.
    pub status: DeliveryStatus,
    /// The SMTP server's answer or the failure.
    pub detail: Option<String>,
    /// When it was claimed.
    pub claimed_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
}

/// The delivery ledger of the subjects of these timeline rows.
pub async fn deliveries(
    pool: &PgPool,
    rows: &[TimelineEntry],
) -> Result<Vec<DeliveryEntry>, StoreError> {
    let mut subjects: Vec<&str> = rows.iter().map(|r| r.subject_id.as_str()).collect();
    subjects.sort_unstable();
    subjects.dedup();
    Ok(sqlx::query_as(
        "SELECT once_key, recipient, step_id, timeline_id, message_id, status, detail, claimed_at, finished_at
         FROM deliveries WHERE mentorship_id = ANY($1) ORDER BY claimed_at",
    )
    .bind(subjects)
    .fetch_all(pool)
    .await?)
}

/// How many pairs are pinned to each playbook version (`None`: pairs from
/// before pinning), by program.
#[derive(Debug, Clone)]
pub struct PinnedPlaybook {
    /// The program whose file it came from (`None`: the default playbook).
    pub program_id: Option<String>,
    /// The version (`None`: pairs from before pinning).
    pub version: Option<String>,
    /// The playbook's name.
    pub name: Option<String>,
    /// Pairs pinned to it.
    pub pairs: i64,
}

/// Pairs per pinned playbook version.
pub async fn pinned_playbooks(pool: &PgPool) -> Result<Vec<PinnedPlaybook>, StoreError> {
    let rows = sqlx::query(
        "SELECT p.program_id, m.playbook_version, p.name, count(*) AS pairs
         FROM mentorships m LEFT JOIN playbooks p ON p.version = m.playbook_version
         GROUP BY 1, 2, 3 ORDER BY 1 NULLS FIRST, 2",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(PinnedPlaybook {
                program_id: r.try_get("program_id")?,
                version: r.try_get("playbook_version")?,
                name: r.try_get("name")?,
                pairs: r.try_get("pairs")?,
            })
        })
        .collect()
}
