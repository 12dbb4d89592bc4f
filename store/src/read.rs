//! Read models for the operator CLI: what it prints about pairs, timelines
//! and the delivery ledger. Nothing here writes.

use chrono::{DateTime, Utc};
use firstweek::escalation::Resolution;
use firstweek::event::Outcome;
use sqlx::{PgPool, Row};

use crate::StoreError;
use crate::pairs::{PairRecord, StoredPair, record_of, unsubscribed_column};
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

/// Which pairs' program an outcome report covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Program {
    /// Every pair.
    #[default]
    Any,
    /// Pairs of this `program_id`.
    Is(String),
    /// Pairs started without a `program_id`.
    Unset,
}

/// A pair as the outcome report sees it: its first-week ledger, its
/// escalation, and its latest outcome.
#[derive(Debug, Clone)]
pub struct OutcomeEntry {
    /// The pair with its interaction ledger.
    pub pair: StoredPair,
    /// It was escalated (a coordinator step fired).
    pub escalated: bool,
    /// How its escalation was resolved, if it was.
    pub resolution: Option<Resolution>,
    /// The outcome with the latest `recorded_at`, if any was recorded.
    pub latest: Option<LatestOutcome>,
}

/// The outcome that counts for a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatestOutcome {
    /// How the pair is doing.
    pub outcome: Outcome,
    /// Its rating, if given.
    pub rating: Option<u8>,
    /// When the program recorded it.
    pub recorded_at: DateTime<Utc>,
}

/// The pairs of a program (started at or after `since`, if given), each with
/// its ledger, escalation and latest outcome, oldest first.
pub async fn outcome_pairs(
    pool: &PgPool,
    program: &Program,
    since: Option<DateTime<Utc>>,
) -> Result<Vec<OutcomeEntry>, StoreError> {
    let (any, wanted) = match program {
        Program::Any => (true, None),
        Program::Is(p) => (false, Some(p.as_str())),
        Program::Unset => (false, None),
    };
    let sql = concat!(
        "SELECT m.id, m.people, m.ended_at, ",
        unsubscribed_column!(),
        ", e.mentorship_id IS NOT NULL AS escalated, e.resolved_how,
           o.outcome, o.rating, o.recorded_at
         FROM mentorships m
         LEFT JOIN escalations e ON e.mentorship_id = m.id
         LEFT JOIN LATERAL (
             SELECT outcome, rating, recorded_at FROM outcomes
             WHERE mentorship_id = m.id ORDER BY recorded_at DESC, id DESC LIMIT 1
         ) o ON true
         WHERE ($1 OR m.program_id IS NOT DISTINCT FROM $2)
           AND ($3::timestamptz IS NULL OR m.started_at >= $3)
         ORDER BY m.started_at, m.id"
    );
    let rows = sqlx::query(sql)
        .bind(any)
        .bind(wanted)
        .bind(since)
        .fetch_all(pool)
        .await?;
    let ids: Vec<String> = rows
        .iter()
        .map(|r| r.try_get("id"))
        .collect::<Result<_, _>>()?;
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut ledgers = crate::pairs::ledgers(pool, &id_refs).await?;
    rows.iter()
        .zip(&ids)
        .map(|(row, id)| {
            let corrupt = |what: String| StoreError::Corrupt(id.clone(), what);
            let how: Option<String> = row.try_get("resolved_how")?;
            let resolution = how
                .map(|h| {
                    Resolution::parse(&h).ok_or_else(|| corrupt(format!("resolved how {h:?}")))
                })
                .transpose()?;
            let outcome: Option<String> = row.try_get("outcome")?;
            let latest = match outcome {
                None => None,
                Some(o) => Some(LatestOutcome {
                    outcome: Outcome::parse(&o).ok_or_else(|| corrupt(format!("outcome {o:?}")))?,
                    rating: row
                        .try_get::<Option<i16>, _>("rating")?
                        .and_then(|r| u8::try_from(r).ok()),
                    recorded_at: row.try_get("recorded_at")?,
                }),
            };
            Ok(OutcomeEntry {
                pair: StoredPair {
                    record: record_of(id, row)?,
                    ledger: ledgers.remove(id.as_str()).unwrap_or_default(),
                },
                escalated: row.try_get("escalated")?,
                resolution,
                latest,
            })
        })
        .collect()
}

/// The outcome report of these pairs ([`firstweek::outcome::report`]): each
/// pair's first week as the domain sees it, grouped with its latest outcome;
/// pairs without one are counted apart.
pub fn outcome_report(
    rules: &firstweek::Rules,
    entries: &[OutcomeEntry],
    now: DateTime<Utc>,
) -> firstweek::outcome::Report {
    use firstweek::outcome::{self, Escalation, Observed};
    let mut observed = Vec::with_capacity(entries.len());
    let mut without = 0u32;
    for e in entries {
        let Some(latest) = e.latest else {
            without += 1;
            continue;
        };
        let escalation = Escalation::of(e.escalated, e.resolution);
        observed.push(Observed {
            week: outcome::first_week(rules, e.pair.view(), escalation, now),
            outcome: latest.outcome,
            rating: latest.rating,
        });
    }
    outcome::report(
        rules.playbook.thresholds.min_interactions,
        &observed,
        without,
    )
}

/// The programs of every pair a coordinator ever had (`None`: pairs started
/// without a `program_id`), by their opaque key; each once, in order.
pub async fn coordinator_programs(
    pool: &PgPool,
    coordinator_key: &str,
) -> Result<Vec<Option<String>>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT program_id FROM mentorships
         WHERE coordinator_key = $1
         ORDER BY program_id NULLS LAST",
    )
    .bind(coordinator_key)
    .fetch_all(pool)
    .await?)
}
