//! Read-only queries for the CLI. Nothing here writes.

use std::collections::HashMap;

use anyhow::{Context as _, anyhow};
use chrono::{DateTime, Utc};
use firstweek::event::{Actor, InteractionKind, MentorshipStarted};
use firstweek::interaction::Interaction;
use sqlx::PgPool;

/// A stored pair.
#[derive(Debug, Clone)]
pub struct Pair {
    pub started: MentorshipStarted,
    pub ended_at: Option<DateTime<Utc>>,
    pub ended_reason: Option<String>,
}

impl Pair {
    pub fn id(&self) -> &str {
        &self.started.mentorship_id
    }

    /// `Ada Lovelace & Grace Hopper`.
    pub fn names(&self) -> String {
        format!(
            "{} & {}",
            self.started.mentor.name, self.started.mentee.name
        )
    }
}

/// Which pairs to read.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this pair.
    pub id: Option<String>,
    /// Only pairs started after this instant.
    pub started_after: Option<DateTime<Utc>>,
    /// Only pairs that have not ended.
    pub open_only: bool,
}

type PairRow = (
    String,
    serde_json::Value,
    Option<DateTime<Utc>>,
    Option<String>,
);

fn pair_of((id, people, ended_at, ended_reason): PairRow) -> anyhow::Result<Pair> {
    let started: MentorshipStarted = serde_json::from_value(people)
        .with_context(|| format!("stored mentorship {id} cannot be read"))?;
    Ok(Pair {
        started,
        ended_at,
        ended_reason,
    })
}

/// Stored pairs, oldest first.
pub async fn pairs(pool: &PgPool, filter: &Filter) -> anyhow::Result<Vec<Pair>> {
    let rows: Vec<PairRow> = sqlx::query_as(
        "SELECT id, people, ended_at, ended_reason FROM mentorships
         WHERE ($1::text IS NULL OR id = $1)
           AND ($2::timestamptz IS NULL OR started_at > $2)
           AND (NOT $3 OR ended_at IS NULL)
         ORDER BY started_at, id",
    )
    .bind(&filter.id)
    .bind(filter.started_after)
    .bind(filter.open_only)
    .fetch_all(pool)
    .await
    .context("reading mentorships")?;
    rows.into_iter().map(pair_of).collect()
}

/// An ending recorded before its pair started (kept so the start plans nothing).
pub async fn early_ending(
    pool: &PgPool,
    id: &str,
) -> anyhow::Result<Option<(DateTime<Utc>, Option<String>)>> {
    sqlx::query_as("SELECT ended_at, reason FROM mentorship_endings WHERE mentorship_id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
        .context("reading mentorship endings")
}

type InteractionRow = (String, String, String, DateTime<Utc>, Option<i32>);

/// The interaction ledgers of these pairs (pairs without interactions are absent).
pub async fn ledgers(
    pool: &PgPool,
    ids: &[String],
) -> anyhow::Result<HashMap<String, Vec<Interaction>>> {
    let rows: Vec<InteractionRow> = sqlx::query_as(
        "SELECT mentorship_id, kind, actor, occurred_at, duration_minutes FROM interactions
         WHERE mentorship_id = ANY($1) ORDER BY occurred_at",
    )
    .bind(ids)
    .fetch_all(pool)
    .await
    .context("reading interactions")?;
    let mut ledgers: HashMap<String, Vec<Interaction>> = HashMap::new();
    for (id, kind, actor, occurred_at, duration) in rows {
        let kind = InteractionKind::parse(&kind)
            .ok_or_else(|| anyhow!("pair {id}: stored interaction kind {kind:?} is unknown"))?;
        let actor = match actor.as_str() {
            "mentor" => Actor::Mentor,
            "mentee" => Actor::Mentee,
            other => return Err(anyhow!("pair {id}: stored actor {other:?} is unknown")),
        };
        ledgers.entry(id).or_default().push(Interaction {
            kind,
            actor,
            occurred_at,
            duration_minutes: duration.map(|d| d.max(0) as u32),
        });
    }
    Ok(ledgers)
}

/// One timeline row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TimelineRow {
    pub id: i64,
    pub mentorship_id: String,
    pub step_id: String,
    pub recipient: String,
    pub due_at: DateTime<Utc>,
    pub send_at: DateTime<Utc>,
    pub status: String,
    pub attempts: i32,
    pub outcome: Option<String>,
}

/// The timeline rows of these pairs, by due time.
pub async fn timeline(pool: &PgPool, ids: &[String]) -> anyhow::Result<Vec<TimelineRow>> {
    sqlx::query_as(
        "SELECT id, mentorship_id, step_id, recipient, due_at, send_at, status, attempts, outcome
         FROM timeline WHERE mentorship_id = ANY($1) ORDER BY due_at, id",
    )
    .bind(ids)
    .fetch_all(pool)
    .await
    .context("reading the timeline")
}

/// One row of the delivery ledger.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Delivery {
    pub once_key: String,
    pub recipient: String,
    pub step_id: String,
    pub timeline_id: i64,
    pub message_id: String,
    pub status: String,
    pub detail: Option<String>,
    pub claimed_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// The pair's delivery ledger.
pub async fn deliveries(pool: &PgPool, id: &str) -> anyhow::Result<Vec<Delivery>> {
    sqlx::query_as(
        "SELECT once_key, recipient, step_id, timeline_id, message_id, status, detail, claimed_at, finished_at
         FROM deliveries WHERE mentorship_id = $1 ORDER BY claimed_at",
    )
    .bind(id)
    .fetch_all(pool)
    .await
    .context("reading the delivery ledger")
}
