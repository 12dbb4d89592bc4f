//! Escalations at rest: opened by the first coordinator step that fires,
//! gathering later steps' evidence, acknowledged, resolved. Each change is
//! announced through the outbox in the same transaction (see [`crate::outbox`]),
//! and the reminder and resolution notices are timeline rows like any step.
//!
//! Writers about one pair serialise on its advisory lock, as intake does.

use chrono::{DateTime, Utc};
use firstweek::Rules;
use firstweek::decision::escalation as rule;
use firstweek::escalation::{AckVia, Escalation, Notice, Resolution, Sighting, State};
use firstweek::event::MentorshipStarted;
use firstweek::interaction::Summary;
use firstweek::rule::Condition;
use firstweek::rule::Recipient;
use firstweek::timeline::timezone_of;
use sqlx::{PgPool, Postgres, Row, Transaction};

use crate::StoreError;
use crate::outbox::announce;
use crate::pairs::{interactions, mentorship};
use crate::status::{DeliveryStatus, RowStatus};

/// The columns [`decode`] reads (a macro, so queries stay static strings).
macro_rules! columns {
    () => {
        "mentorship_id, coordinator_key, program_id, opened_at, opened_by, rules, evidence::text AS evidence,
         state, acknowledged_at, acknowledged_via, reminded_at, resolved_at, resolved_how"
    };
}

fn decode(row: &sqlx::postgres::PgRow) -> Result<Escalation, StoreError> {
    let id: String = row.try_get("mentorship_id")?;
    let corrupt = |what: String| StoreError::Corrupt(id.clone(), what);
    let rules: Vec<String> = row.try_get("rules")?;
    let rules = rules
        .iter()
        .map(|r| Condition::parse(r).ok_or_else(|| corrupt(format!("escalation rule {r:?}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let evidence: String = row.try_get("evidence")?;
    let evidence: Vec<Sighting> = serde_json::from_str(&evidence).map_err(|e| {
        corrupt(format!(
            "escalation evidence: {}",
            firstweek::event::json::problem_in(&evidence, &e)
        ))
    })?;
    let state: String = row.try_get("state")?;
    let state =
        State::parse(&state).ok_or_else(|| corrupt(format!("escalation state {state:?}")))?;
    let acked_at: Option<DateTime<Utc>> = row.try_get("acknowledged_at")?;
    let via: Option<String> = row.try_get("acknowledged_via")?;
    let acknowledged = match (acked_at, via) {
        (Some(at), Some(via)) => Some((
            at,
            AckVia::parse(&via).ok_or_else(|| corrupt(format!("acknowledged via {via:?}")))?,
        )),
        _ => None,
    };
    let resolved_at: Option<DateTime<Utc>> = row.try_get("resolved_at")?;
    let how: Option<String> = row.try_get("resolved_how")?;
    let resolved = match (resolved_at, how) {
        (Some(at), Some(how)) => Some((
            at,
            Resolution::parse(&how).ok_or_else(|| corrupt(format!("resolved how {how:?}")))?,
        )),
        _ => None,
    };
    Ok(Escalation {
        coordinator_key: row.try_get("coordinator_key")?,
        program_id: row.try_get("program_id")?,
        opened_at: row.try_get("opened_at")?,
        opened_by: row.try_get("opened_by")?,
        rules,
        evidence,
        state,
        acknowledged,
        reminded_at: row.try_get("reminded_at")?,
        resolved,
        mentorship_id: id,
    })
}

async fn lock_pair(
    tx: &mut Transaction<'_, Postgres>,
    mentorship_id: &str,
) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock(firstweek_pair_lock($1))")
        .bind(mentorship_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn fetch<'e, E>(db: E, mentorship_id: &str) -> Result<Option<Escalation>, StoreError>
where
    E: sqlx::Executor<'e, Database = Postgres>,
{
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM escalations WHERE mentorship_id = $1"
    );
    let row = sqlx::query(sql)
        .bind(mentorship_id)
        .fetch_optional(db)
        .await?;
    row.as_ref().map(decode).transpose()
}

/// A pair's escalation, if it has one.
pub async fn escalation(
    pool: &PgPool,
    mentorship_id: &str,
) -> Result<Option<Escalation>, StoreError> {
    fetch(pool, mentorship_id).await
}

/// Which escalations to list.
#[derive(Debug, Clone, Default)]
pub struct EscalationFilter {
    /// Only those not resolved yet.
    pub unresolved_only: bool,
    /// Only this coordinator's (their opaque key).
    pub coordinator_key: Option<String>,
    /// At most this many, newest first.
    pub limit: Option<i64>,
}

/// Escalations, newest first.
pub async fn escalations(
    pool: &PgPool,
    filter: &EscalationFilter,
) -> Result<Vec<Escalation>, StoreError> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM escalations
         WHERE (NOT $1 OR state <> 'resolved') AND ($2::text IS NULL OR coordinator_key = $2)
         ORDER BY opened_at DESC, mentorship_id LIMIT $3"
    );
    let rows = sqlx::query(sql)
        .bind(filter.unresolved_only)
        .bind(&filter.coordinator_key)
        .bind(filter.limit.unwrap_or(i64::MAX))
        .fetch_all(pool)
        .await?;
    rows.iter().map(decode).collect()
}

/// What a coordinator step that fired did to the pair's escalation.
#[derive(Debug, Clone)]
pub struct Opening {
    /// This step opened it (now, or on an earlier attempt of the same step):
    /// its escalation email is the one to send.
    pub opens: bool,
    /// The escalation as it stands.
    pub escalation: Escalation,
}

/// Records that coordinator step `step_id` fired for a pair, seeing
/// `sighting`: the first opens the pair's escalation (with its reminder
/// row and `escalation.opened`), a later one adds its evidence to it.
/// Idempotent: a step's evidence is added once, however often it is handled.
/// `coordinator_key` is the pair's coordinator's
/// ([`firstweek::pseudonym::PseudonymKey::coordinator`]).
pub async fn open_escalation(
    pool: &PgPool,
    rules: &Rules,
    started: &MentorshipStarted,
    coordinator_key: &str,
    step_id: &str,
    sighting: &Sighting,
) -> Result<Opening, StoreError> {
    let id = started.mentorship_id.as_str();
    let json = serde_json::to_string(sighting)
        .map_err(|e| StoreError::Corrupt(id.to_string(), e.to_string()))?;
    let fired: Vec<&str> = sighting.fired.iter().map(|c| c.as_str()).collect();
    let mut tx = pool.begin().await?;
    lock_pair(&mut tx, id).await?;
    let opened_at: Option<DateTime<Utc>> = sqlx::query_scalar(
        "INSERT INTO escalations (mentorship_id, coordinator_key, program_id, opened_by, rules, evidence)
         VALUES ($1, $2, $3, $4, $5, jsonb_build_array($6::jsonb))
         ON CONFLICT DO NOTHING RETURNING opened_at",
    )
    .bind(id)
    .bind(coordinator_key)
    .bind(&started.program_id)
    .bind(step_id)
    .bind(&fired)
    .bind(&json)
    .fetch_optional(&mut *tx)
    .await?;
    if opened_at.is_none() {
        sqlx::query(
            "UPDATE escalations
             SET evidence = evidence || jsonb_build_array($2::jsonb),
                 rules = rules || ARRAY(SELECT r FROM UNNEST($3::text[]) AS r WHERE r <> ALL(rules))
             WHERE mentorship_id = $1
               AND NOT evidence @> jsonb_build_array(jsonb_build_object('step_id', $4::text))",
        )
        .bind(id)
        .bind(&json)
        .bind(&fired)
        .bind(step_id)
        .execute(&mut *tx)
        .await?;
    }
    let escalation = fetch(&mut *tx, id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(id.to_string(), "escalation vanished".into()))?;
    if let Some(opened_at) = opened_at {
        if let Some(due) = rule::remind_at(rules, opened_at) {
            notice_row(&mut tx, rules, started, Notice::Reminder, due).await?;
        }
        announce(&mut tx, &rule::opened(&escalation)).await?;
    }
    tx.commit().await?;
    Ok(Opening {
        opens: escalation.opened_by == step_id,
        escalation,
    })
}

/// Plans a notice to the coordinator, due at `due` (sent in their window).
async fn notice_row(
    tx: &mut Transaction<'_, Postgres>,
    rules: &Rules,
    started: &MentorshipStarted,
    notice: Notice,
    due: DateTime<Utc>,
) -> Result<(), StoreError> {
    let send_at = rules
        .window
        .next_open(due, timezone_of(started, Recipient::Coordinator));
    sqlx::query(
        "INSERT INTO timeline (mentorship_id, step_id, recipient, due_at, send_at, next_at)
         VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (mentorship_id, step_id, recipient) DO NOTHING",
    )
    .bind(&started.mentorship_id)
    .bind(notice.step_id())
    .bind(Recipient::Coordinator.as_str())
    .bind(due)
    .bind(send_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Closes a pending reminder without an email (unless it is being handed
/// to the SMTP server right now: then it went out first, and its worker records it).
async fn withdraw_reminder(
    tx: &mut Transaction<'_, Postgres>,
    mentorship_id: &str,
    why: rule::Withdrawn,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE timeline t SET status = $3, outcome = $4, next_at = NULL, finished_at = now()
         WHERE t.mentorship_id = $1 AND t.step_id = $2 AND t.status = ANY($5)
           AND NOT EXISTS (SELECT 1 FROM deliveries d
                           WHERE d.mentorship_id = t.mentorship_id AND d.timeline_id = t.id AND d.status = $6)",
    )
    .bind(mentorship_id)
    .bind(Notice::Reminder.step_id())
    .bind(RowStatus::Skipped)
    .bind(why.reason())
    .bind(RowStatus::OPEN)
    .bind(DeliveryStatus::HandingOver)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The pair's escalation, locked, if it is `coordinator_key`'s (any, without one).
async fn own(
    tx: &mut Transaction<'_, Postgres>,
    mentorship_id: &str,
    coordinator_key: Option<&str>,
) -> Result<Option<Escalation>, StoreError> {
    lock_pair(tx, mentorship_id).await?;
    let found = fetch(&mut **tx, mentorship_id).await?;
    Ok(found.filter(|e| coordinator_key.is_none_or(|k| k == e.coordinator_key)))
}

/// What acknowledging (or closing) an escalation found.
#[derive(Debug, Clone)]
pub enum Change {
    /// Done now.
    Done(Escalation),
    /// It was already so (acknowledged, or resolved): nothing changed.
    Already(Escalation),
    /// No such escalation (or not this coordinator's).
    NotFound,
}

/// Acknowledges a pair's escalation; `coordinator_key` restricts it to that
/// coordinator's. Announces `escalation.acknowledged` and withdraws the
/// reminder. Idempotent: a second acknowledgement changes nothing.
pub async fn acknowledge(
    pool: &PgPool,
    mentorship_id: &str,
    via: AckVia,
    coordinator_key: Option<&str>,
) -> Result<Change, StoreError> {
    let mut tx = pool.begin().await?;
    let Some(before) = own(&mut tx, mentorship_id, coordinator_key).await? else {
        return Ok(Change::NotFound);
    };
    if before.state != State::Open {
        return Ok(Change::Already(before));
    }
    let at: DateTime<Utc> = sqlx::query_scalar(
        "UPDATE escalations SET state = $2, acknowledged_at = now(), acknowledged_via = $3
         WHERE mentorship_id = $1 RETURNING acknowledged_at",
    )
    .bind(mentorship_id)
    .bind(State::Acknowledged.as_str())
    .bind(via.as_str())
    .fetch_one(&mut *tx)
    .await?;
    withdraw_reminder(&mut tx, mentorship_id, rule::Withdrawn::Acknowledged).await?;
    let after = fetch(&mut *tx, mentorship_id).await?.ok_or_else(|| {
        StoreError::Corrupt(mentorship_id.to_string(), "escalation vanished".into())
    })?;
    announce(&mut tx, &rule::acknowledged(&after, at, via)).await?;
    tx.commit().await?;
    Ok(Change::Done(after))
}

/// Closes a pair's escalation by a coordinator's hand (page or CLI):
/// announced, reminder withdrawn, no resolution email (they closed it).
pub async fn close_escalation(
    pool: &PgPool,
    rules: &Rules,
    mentorship_id: &str,
    coordinator_key: Option<&str>,
) -> Result<Change, StoreError> {
    let mut tx = pool.begin().await?;
    let Some(before) = own(&mut tx, mentorship_id, coordinator_key).await? else {
        return Ok(Change::NotFound);
    };
    if before.state == State::Resolved {
        return Ok(Change::Already(before));
    }
    let after = resolve_in(&mut tx, rules, mentorship_id, Resolution::Coordinator).await?;
    tx.commit().await?;
    Ok(match after {
        Some(e) => Change::Done(e),
        None => Change::NotFound,
    })
}

/// Resolves the pair's escalation, if one is unresolved, inside an intake or
/// coordinator transaction that holds the pair's lock: the reminder is
/// withdrawn, the resolution notice planned (now, in the coordinator's
/// window; not when a coordinator closed it) and `escalation.resolved`
/// announced. `None`: nothing to resolve.
pub(crate) async fn resolve_in(
    tx: &mut Transaction<'_, Postgres>,
    rules: &Rules,
    mentorship_id: &str,
    how: Resolution,
) -> Result<Option<Escalation>, StoreError> {
    let resolved_at: Option<DateTime<Utc>> = sqlx::query_scalar(
        "UPDATE escalations SET state = $2, resolved_at = now(), resolved_how = $3
         WHERE mentorship_id = $1 AND state <> $2 RETURNING resolved_at",
    )
    .bind(mentorship_id)
    .bind(State::Resolved.as_str())
    .bind(how.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    let Some(at) = resolved_at else {
        return Ok(None);
    };
    withdraw_reminder(tx, mentorship_id, rule::Withdrawn::Resolved).await?;
    let escalation = fetch(&mut **tx, mentorship_id).await?.ok_or_else(|| {
        StoreError::Corrupt(mentorship_id.to_string(), "escalation vanished".into())
    })?;
    let ledger = interactions(&mut **tx, mentorship_id).await?;
    let summary = Summary::as_of(&ledger, at);
    if rule::notice(Notice::Resolved, Some(&escalation)).is_ok()
        && let Some(pair) = mentorship(&mut **tx, mentorship_id).await?
    {
        notice_row(tx, rules, &pair.started, Notice::Resolved, at).await?;
    }
    announce(tx, &rule::resolved(&escalation, at, how, &summary)).await?;
    Ok(Some(escalation))
}

/// After interactions of these pairs were stored (in `tx`, under their
/// locks): resolves the escalations of those that have now recovered by the
/// playbook's rule. Returns how many were resolved.
pub(crate) async fn resolve_recovered(
    tx: &mut Transaction<'_, Postgres>,
    rules: &Rules,
    pairs: &[&str],
) -> Result<usize, StoreError> {
    let unresolved: Vec<String> = sqlx::query_scalar(
        "SELECT mentorship_id FROM escalations WHERE mentorship_id = ANY($1) AND state <> $2",
    )
    .bind(pairs)
    .bind(State::Resolved.as_str())
    .fetch_all(&mut **tx)
    .await?;
    resolve_recovered_among(tx, rules, unresolved).await
}

/// [`resolve_recovered`] for pairs already known to have an escalation that
/// is not resolved (the batch path reads that with its other reads).
pub(crate) async fn resolve_recovered_among(
    tx: &mut Transaction<'_, Postgres>,
    rules: &Rules,
    unresolved: Vec<String>,
) -> Result<usize, StoreError> {
    let mut resolved = 0;
    for id in unresolved {
        let Some(pair) = mentorship(&mut **tx, &id).await? else {
            continue;
        };
        if pair.ended_at.is_some() {
            continue;
        }
        let ledger = interactions(&mut **tx, &id).await?;
        if rule::recovered(rules, pair.with_ledger(&ledger), Utc::now())
            && resolve_in(tx, rules, &id, Resolution::Recovered)
                .await?
                .is_some()
        {
            resolved += 1;
        }
    }
    Ok(resolved)
}

/// Records that the reminder went out.
pub async fn mark_reminded(pool: &PgPool, mentorship_id: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE escalations SET reminded_at = now() WHERE mentorship_id = $1 AND reminded_at IS NULL")
        .bind(mentorship_id)
        .execute(pool)
        .await?;
    Ok(())
}
