//! PostgreSQL storage: the pairs, the interaction ledger, the timeline and the
//! delivery ledger. Every write is idempotent so replicas and redeliveries are
//! harmless; concurrent writers about one pair serialise on an advisory lock.

use chrono::{DateTime, Duration, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Row, Transaction};
use std::str::FromStr;

use crate::event::{
    Actor, Event, InteractionKind, InteractionRecorded, MentorshipEnded, MentorshipStarted,
};
use crate::interaction::Interaction;
use crate::playbook::{Playbook, Recipient};
use crate::timeline::{self, Planned, SendWindow, TimeScale};

mod backlog;
mod batch;
mod due;
mod resend;
pub use backlog::{Backlog, backlog};
pub use batch::{
    DeliveryClaim, DeliveryEnd, StepState, claim_deliveries, finish_deliveries, ingest_batch,
    load_steps, mark_handing_over_many,
};
pub use due::next_due;
pub use resend::{Resend, resend};

/// Storage failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored mentorship {0} cannot be read: {1}")]
    Corrupt(String, String),
}

/// The embedded migrations (`migrations/` at the workspace root).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Opens a pool. The URL is never logged: it may hold a password.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, StoreError> {
    // Custom plans for every statement: the batch statements join arrays of
    // keys to tables that start empty and grow fast; a generic plan made while
    // a table was empty (hash join over a sequential scan) would stay in use
    // until autovacuum analyzes it, rescanning the whole table per batch.
    // Planning these small statements costs microseconds.
    let options = PgConnectOptions::from_str(url)?
        .application_name("firstweek")
        .options([("plan_cache_mode", "force_custom_plan")]);
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect_with(options)
        .await?;
    Ok(pool)
}

/// Applies pending migrations; safe when replicas start together (sqlx holds an advisory lock).
pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// How the engine turns events into rows.
#[derive(Debug, Clone)]
pub struct Rules {
    pub playbook: Playbook,
    pub scale: TimeScale,
    pub window: SendWindow,
}

/// What storing an event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingested {
    /// The `event_id` was seen before: nothing changed.
    Duplicate,
    /// A new pair, with this many timeline rows.
    Started { rows: usize },
    /// A `mentorship.started` for a pair already known: nothing planned again.
    AlreadyStarted,
    /// An interaction stored; `pacing` when it triggered the pacing tip.
    Interaction { pacing: bool, known_pair: bool },
    /// An ending stored; `cancelled` pending rows.
    Ended { cancelled: u64 },
}

/// Stores one validated event, exactly once per `event_id`.
pub async fn ingest(pool: &PgPool, event: &Event, rules: &Rules) -> Result<Ingested, StoreError> {
    let mut tx = pool.begin().await?;
    let outcome = ingest_in(&mut tx, event, rules).await?;
    tx.commit().await?;
    Ok(outcome)
}

/// Stores one event inside a caller's transaction (used for batches).
pub async fn ingest_in(
    tx: &mut Transaction<'_, Postgres>,
    event: &Event,
    rules: &Rules,
) -> Result<Ingested, StoreError> {
    let fresh = sqlx::query(
        "INSERT INTO processed_events (event_id, kind) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(event.event_id())
    .bind(event.routing_key())
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1;
    if !fresh {
        return Ok(Ingested::Duplicate);
    }
    // Start, interactions and end of one pair may be ingested by different
    // workers at once; this lock makes each see the others' committed rows.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))")
        .bind(event.mentorship_id())
        .execute(&mut **tx)
        .await?;
    match event {
        Event::Started(e) => start(tx, e, rules).await,
        Event::Interaction(e) => record(tx, e, rules).await,
        Event::Ended(e) => end(tx, e).await,
    }
}

async fn start(
    tx: &mut Transaction<'_, Postgres>,
    e: &MentorshipStarted,
    rules: &Rules,
) -> Result<Ingested, StoreError> {
    let people = serde_json::to_value(e)
        .map_err(|err| StoreError::Corrupt(e.mentorship_id.clone(), err.to_string()))?;
    let inserted = sqlx::query(
        "INSERT INTO mentorships (id, program_id, started_at, people) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&e.mentorship_id)
    .bind(&e.program_id)
    .bind(e.started_at)
    .bind(people)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(Ingested::AlreadyStarted);
    }
    let ending: Option<(DateTime<Utc>, Option<String>)> =
        sqlx::query_as("SELECT ended_at, reason FROM mentorship_endings WHERE mentorship_id = $1")
            .bind(&e.mentorship_id)
            .fetch_optional(&mut **tx)
            .await?;
    if let Some((ended_at, reason)) = ending {
        sqlx::query("UPDATE mentorships SET ended_at = $2, ended_reason = $3 WHERE id = $1")
            .bind(&e.mentorship_id)
            .bind(ended_at)
            .bind(reason)
            .execute(&mut **tx)
            .await?;
        return Ok(Ingested::Started { rows: 0 });
    }
    let mut rows = timeline::plan(e, &rules.playbook, rules.scale, rules.window);
    // Interactions that arrived before the pair may already call for a pacing tip.
    let earlier = interactions(&mut **tx, &e.mentorship_id).await?;
    if let Some(first) = first_intense(e.started_at, &earlier, rules) {
        rows.extend(pacing_rows(e, first, rules));
    }
    insert_rows(tx, &e.mentorship_id, &rows).await?;
    Ok(Ingested::Started { rows: rows.len() })
}

async fn record(
    tx: &mut Transaction<'_, Postgres>,
    e: &InteractionRecorded,
    rules: &Rules,
) -> Result<Ingested, StoreError> {
    sqlx::query(
        "INSERT INTO interactions (event_id, mentorship_id, kind, actor, occurred_at, duration_minutes)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(&e.event_id)
    .bind(&e.mentorship_id)
    .bind(e.kind.as_str())
    .bind(e.actor.as_str())
    .bind(e.occurred_at)
    .bind(e.duration_minutes.map(|d| d as i32))
    .execute(&mut **tx)
    .await?;
    plan_pacing(tx, e, rules).await
}

/// After an interaction is stored: plans the pacing tip if it is an intense
/// first-week interaction of a known, open pair (once per pair: the rows' unique key).
async fn plan_pacing(
    tx: &mut Transaction<'_, Postgres>,
    e: &InteractionRecorded,
    rules: &Rules,
) -> Result<Ingested, StoreError> {
    let Some(started) = mentorship(&mut **tx, &e.mentorship_id).await? else {
        return Ok(Ingested::Interaction {
            pacing: false,
            known_pair: false,
        });
    };
    if started.1.is_some() {
        return Ok(Ingested::Interaction {
            pacing: false,
            known_pair: true,
        });
    }
    let this = Interaction {
        kind: e.kind,
        actor: e.actor,
        occurred_at: e.occurred_at,
        duration_minutes: e.duration_minutes,
    };
    let Some(at) = first_intense(started.0.started_at, std::slice::from_ref(&this), rules) else {
        return Ok(Ingested::Interaction {
            pacing: false,
            known_pair: true,
        });
    };
    let rows = pacing_rows(&started.0, at, rules);
    let added = insert_rows(tx, &e.mentorship_id, &rows).await?;
    Ok(Ingested::Interaction {
        pacing: added > 0,
        known_pair: true,
    })
}

async fn end(
    tx: &mut Transaction<'_, Postgres>,
    e: &MentorshipEnded,
) -> Result<Ingested, StoreError> {
    sqlx::query(
        "INSERT INTO mentorship_endings (mentorship_id, ended_at, reason) VALUES ($1, $2, $3)
         ON CONFLICT (mentorship_id) DO NOTHING",
    )
    .bind(&e.mentorship_id)
    .bind(e.ended_at)
    .bind(&e.reason)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE mentorships SET ended_at = $2, ended_reason = $3 WHERE id = $1 AND ended_at IS NULL")
        .bind(&e.mentorship_id)
        .bind(e.ended_at)
        .bind(&e.reason)
        .execute(&mut **tx)
        .await?;
    let cancelled = sqlx::query(
        "UPDATE timeline SET status = 'cancelled', outcome = 'mentorship ended', next_at = NULL, finished_at = now()
         WHERE mentorship_id = $1 AND status IN ('scheduled', 'published')",
    )
    .bind(&e.mentorship_id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(Ingested::Ended { cancelled })
}

/// The earliest intense interaction in the pair's first week, if any.
fn first_intense(
    started_at: DateTime<Utc>,
    ledger: &[Interaction],
    rules: &Rules,
) -> Option<DateTime<Utc>> {
    ledger
        .iter()
        .filter(|i| i.is_intense(&rules.playbook.thresholds))
        .filter(|i| {
            timeline::in_first_week(started_at, i.occurred_at, &rules.playbook, rules.scale)
        })
        .map(|i| i.occurred_at)
        .min()
}

fn pacing_rows(started: &MentorshipStarted, at: DateTime<Utc>, rules: &Rules) -> Vec<Planned> {
    rules
        .playbook
        .intense_steps()
        .flat_map(|step| timeline::plan_step(started, step, at, rules.window))
        .collect()
}

async fn insert_rows(
    tx: &mut Transaction<'_, Postgres>,
    mentorship_id: &str,
    rows: &[Planned],
) -> Result<u64, StoreError> {
    if rows.is_empty() {
        return Ok(0);
    }
    let steps: Vec<&str> = rows.iter().map(|r| r.step_id.as_str()).collect();
    let recipients: Vec<&str> = rows.iter().map(|r| r.recipient.as_str()).collect();
    let due: Vec<DateTime<Utc>> = rows.iter().map(|r| r.due_at).collect();
    let send: Vec<DateTime<Utc>> = rows.iter().map(|r| r.send_at).collect();
    let added = sqlx::query(
        "INSERT INTO timeline (mentorship_id, step_id, recipient, due_at, send_at, next_at)
         SELECT $1, s, r, d, w, w FROM UNNEST($2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[]) AS t(s, r, d, w)
         ON CONFLICT (mentorship_id, step_id, recipient) DO NOTHING",
    )
    .bind(mentorship_id)
    .bind(steps)
    .bind(recipients)
    .bind(due)
    .bind(send)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(added)
}

/// A stored pair: its start event and, if it ended, when.
pub async fn mentorship<'e, E>(
    db: E,
    id: &str,
) -> Result<Option<(MentorshipStarted, Option<DateTime<Utc>>)>, StoreError>
where
    E: sqlx::Executor<'e, Database = Postgres>,
{
    let row = sqlx::query("SELECT people, ended_at FROM mentorships WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let people: serde_json::Value = row.try_get("people")?;
    let started: MentorshipStarted = serde_json::from_value(people)
        .map_err(|e| StoreError::Corrupt(id.to_string(), e.to_string()))?;
    Ok(Some((started, row.try_get("ended_at")?)))
}

/// The pair's whole interaction ledger.
pub async fn interactions<'e, E>(db: E, mentorship_id: &str) -> Result<Vec<Interaction>, StoreError>
where
    E: sqlx::Executor<'e, Database = Postgres>,
{
    let rows = sqlx::query(
        "SELECT kind, actor, occurred_at, duration_minutes FROM interactions WHERE mentorship_id = $1 ORDER BY occurred_at",
    )
    .bind(mentorship_id)
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|row| {
            let kind: String = row.try_get("kind")?;
            let actor: String = row.try_get("actor")?;
            let corrupt =
                |what: &str| StoreError::Corrupt(mentorship_id.to_string(), what.to_string());
            Ok(Interaction {
                kind: InteractionKind::parse(&kind).ok_or_else(|| corrupt("interaction kind"))?,
                actor: match actor.as_str() {
                    "mentor" => Actor::Mentor,
                    "mentee" => Actor::Mentee,
                    _ => return Err(corrupt("interaction actor")),
                },
                occurred_at: row.try_get("occurred_at")?,
                duration_minutes: row
                    .try_get::<Option<i32>, _>("duration_minutes")?
                    .map(|d| d.max(0) as u32),
            })
        })
        .collect()
}

/// A timeline row handed from the scheduler to the workers.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DueStep {
    pub timeline_id: i64,
    pub mentorship_id: String,
    pub step_id: String,
    pub recipient: String,
    pub due_at: DateTime<Utc>,
    pub send_at: DateTime<Utc>,
}

/// Claims up to `limit` rows that need publishing. A claimed row is not
/// offered again for `lease`, so a scheduler that dies mid-publish only delays it.
pub async fn claim_due(
    pool: &PgPool,
    limit: i64,
    lease: Duration,
) -> Result<Vec<DueStep>, StoreError> {
    let rows = sqlx::query_as::<_, (i64, String, String, String, DateTime<Utc>, DateTime<Utc>)>(
        "WITH due AS (
             SELECT id FROM timeline WHERE next_at <= now() ORDER BY next_at LIMIT $1 FOR UPDATE SKIP LOCKED
         )
         UPDATE timeline t SET next_at = now() + $2 FROM due WHERE t.id = due.id
         RETURNING t.id, t.mentorship_id, t.step_id, t.recipient, t.due_at, t.send_at",
    )
    .bind(limit)
    .bind(lease)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(timeline_id, mentorship_id, step_id, recipient, due_at, send_at)| DueStep {
                timeline_id,
                mentorship_id,
                step_id,
                recipient,
                due_at,
                send_at,
            },
        )
        .collect())
}

/// Records that the broker confirmed these rows. If a worker has not finished a
/// row by `redeliver_after`, the scheduler publishes it again (the delivery
/// ledger keeps that from sending twice).
pub async fn mark_published(
    pool: &PgPool,
    ids: &[i64],
    redeliver_after: Duration,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE timeline SET status = 'published', published_at = coalesce(published_at, now()), next_at = now() + $2
         WHERE id = ANY($1) AND status IN ('scheduled', 'published')",
    )
    .bind(ids)
    .bind(redeliver_after)
    .execute(pool)
    .await?;
    Ok(())
}

/// Releases claimed rows whose publish was not confirmed, so the next tick retries them.
pub async fn release(pool: &PgPool, ids: &[i64]) -> Result<(), StoreError> {
    sqlx::query("UPDATE timeline SET next_at = now() WHERE id = ANY($1) AND status IN ('scheduled', 'published')")
        .bind(ids)
        .execute(pool)
        .await?;
    Ok(())
}

/// A timeline row as the worker needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineRow {
    pub id: i64,
    pub mentorship_id: String,
    pub step_id: String,
    pub recipient: Recipient,
    pub due_at: DateTime<Utc>,
    pub status: String,
    pub attempts: i32,
}

/// Reads one timeline row.
pub async fn timeline_row(pool: &PgPool, id: i64) -> Result<Option<TimelineRow>, StoreError> {
    let row = sqlx::query_as::<_, (i64, String, String, String, DateTime<Utc>, String, i32)>(
        "SELECT id, mentorship_id, step_id, recipient, due_at, status, attempts FROM timeline WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.map(
        |(id, mentorship_id, step_id, recipient, due_at, status, attempts)| {
            let recipient = Recipient::parse(&recipient).ok_or_else(|| {
                StoreError::Corrupt(mentorship_id.clone(), format!("recipient {recipient:?}"))
            })?;
            Ok(TimelineRow {
                id,
                mentorship_id,
                step_id,
                recipient,
                due_at,
                status,
                attempts,
            })
        },
    )
    .transpose()
}

/// Closes a row that is not waiting for anything any more.
pub async fn finish_row(
    pool: &PgPool,
    id: i64,
    status: &str,
    outcome: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE timeline SET status = $2, outcome = $3, next_at = NULL, finished_at = now()
         WHERE id = $1 AND status IN ('scheduled', 'published')",
    )
    .bind(id)
    .bind(status)
    .bind(outcome)
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
        "UPDATE timeline SET status = 'scheduled', attempts = attempts + 1, outcome = $3, next_at = $2
         WHERE id = $1 AND status IN ('scheduled', 'published')",
    )
    .bind(id)
    .bind(at)
    .bind(outcome)
    .execute(pool)
    .await?;
    Ok(())
}

/// Asks the scheduler to offer a row again at `at` (another worker holds its claim).
pub async fn recheck_at(pool: &PgPool, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE timeline SET next_at = $2 WHERE id = $1 AND status IN ('scheduled', 'published')",
    )
    .bind(id)
    .bind(at)
    .execute(pool)
    .await?;
    Ok(())
}

/// The delivery ledger's answer to "may I send this?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Yours: send it.
    Granted,
    /// Already handled under this once-key: by which step, with what status.
    Taken { step_id: String, status: String },
    /// Another worker is sending it right now.
    Busy,
}

/// Claims the right to send one email. The unique key (pair, once-key,
/// recipient) makes a second send impossible; a claim left `sending` by a
/// worker that died before reaching the SMTP server is taken over after `lease`.
pub async fn claim_delivery(
    pool: &PgPool,
    row: &TimelineRow,
    once_key: &str,
    message_id: &str,
    lease: Duration,
) -> Result<Claim, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO deliveries (mentorship_id, once_key, recipient, step_id, timeline_id, message_id, status)
         VALUES ($1, $2, $3, $4, $5, $6, 'sending') ON CONFLICT DO NOTHING",
    )
    .bind(&row.mentorship_id)
    .bind(once_key)
    .bind(row.recipient.as_str())
    .bind(&row.step_id)
    .bind(row.id)
    .bind(message_id)
    .execute(pool)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(Claim::Granted);
    }
    let taken_over = sqlx::query(
        "UPDATE deliveries SET claimed_at = now(), step_id = $4, timeline_id = $5
         WHERE mentorship_id = $1 AND once_key = $2 AND recipient = $3
           AND status = 'sending' AND claimed_at < now() - $6",
    )
    .bind(&row.mentorship_id)
    .bind(once_key)
    .bind(row.recipient.as_str())
    .bind(&row.step_id)
    .bind(row.id)
    .bind(lease)
    .execute(pool)
    .await?
    .rows_affected();
    if taken_over == 1 {
        return Ok(Claim::Granted);
    }
    // A worker that died after it began handing the message over may have
    // delivered it: record "unknown" and never resend (prefer no duplicate).
    let unknown = sqlx::query(
        "UPDATE deliveries SET status = 'unknown', finished_at = now(),
                detail = 'the worker stopped while handing the message to the SMTP server'
         WHERE mentorship_id = $1 AND once_key = $2 AND recipient = $3
           AND status = 'handing_over' AND claimed_at < now() - $4",
    )
    .bind(&row.mentorship_id)
    .bind(once_key)
    .bind(row.recipient.as_str())
    .bind(lease)
    .execute(pool)
    .await?
    .rows_affected();
    if unknown == 1 {
        return Ok(Claim::Taken {
            step_id: row.step_id.clone(),
            status: "unknown".into(),
        });
    }
    let (step_id, status): (String, String) = sqlx::query_as(
        "SELECT step_id, status FROM deliveries WHERE mentorship_id = $1 AND once_key = $2 AND recipient = $3",
    )
    .bind(&row.mentorship_id)
    .bind(once_key)
    .bind(row.recipient.as_str())
    .fetch_one(pool)
    .await?;
    if status == "sending" || status == "handing_over" {
        return Ok(Claim::Busy);
    }
    Ok(Claim::Taken { step_id, status })
}

/// Marks a claimed delivery as being handed to the SMTP server: from here on,
/// a worker that dies leaves an outcome nobody can know.
pub async fn mark_handing_over(
    pool: &PgPool,
    mentorship_id: &str,
    once_key: &str,
    recipient: Recipient,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE deliveries SET status = 'handing_over'
         WHERE mentorship_id = $1 AND once_key = $2 AND recipient = $3 AND status IN ('sending', 'handing_over')",
    )
    .bind(mentorship_id)
    .bind(once_key)
    .bind(recipient.as_str())
    .execute(pool)
    .await?;
    Ok(())
}

/// Records how a claimed delivery ended (`sent`, `failed` or `unknown`) and closes its row.
pub async fn finish_delivery(
    pool: &PgPool,
    row: &TimelineRow,
    once_key: &str,
    status: &str,
    detail: &str,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "UPDATE deliveries SET status = $4, detail = $5, finished_at = now()
         WHERE mentorship_id = $1 AND once_key = $2 AND recipient = $3",
    )
    .bind(&row.mentorship_id)
    .bind(once_key)
    .bind(row.recipient.as_str())
    .bind(status)
    .bind(detail)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE timeline SET status = $2, outcome = $3, next_at = NULL, finished_at = now()
         WHERE id = $1 AND status IN ('scheduled', 'published')",
    )
    .bind(row.id)
    .bind(status)
    .bind(detail)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Gives a claim back after a failure that delivered nothing (connection refused, 4xx).
pub async fn release_delivery(
    pool: &PgPool,
    row: &TimelineRow,
    once_key: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM deliveries WHERE mentorship_id = $1 AND once_key = $2 AND recipient = $3 AND status IN ('sending', 'handing_over')",
    )
    .bind(&row.mentorship_id)
    .bind(once_key)
    .bind(row.recipient.as_str())
    .execute(pool)
    .await?;
    Ok(())
}
