//! Set-based variants of the storage calls for batches: the same outcome per
//! item as the one-by-one functions, in a few statements per batch instead of
//! a few per item (and one commit).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};

use super::{Ingested, Rules, StoreError, TimelineRow, end, first_intense, plan_pacing, start};
use crate::event::{Actor, Event, InteractionKind, InteractionRecorded, MentorshipStarted};
use crate::interaction::Interaction;
use crate::playbook::Recipient;

/// Stores a batch of validated events in one transaction, with the same
/// outcome per event as [`super::ingest`] one by one (an event seen before,
/// or twice in the batch, is a `Duplicate`).
///
/// One statement records the event ids (in id order, so two batches holding
/// the same redelivered event wait for each other rather than deadlock), one
/// takes the pairs' advisory locks (in lock-key order, for the same reason),
/// one stores all interactions and one reads their pairs; starts, endings and
/// the rare interaction that calls for a pacing tip take the per-event path.
/// Within the batch, starts are applied before interactions and endings after
/// them: one of the arrival orders the engine already handles, with the same
/// stored result.
///
/// On an error nothing of the batch is stored; callers may retry the events
/// one by one with [`super::ingest`] to isolate a bad one.
pub async fn ingest_batch(
    pool: &PgPool,
    events: &[&Event],
    rules: &Rules,
) -> Result<Vec<Ingested>, StoreError> {
    let mut outcomes = vec![Ingested::Duplicate; events.len()];
    if events.is_empty() {
        return Ok(outcomes);
    }
    let mut tx = pool.begin().await?;
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by(|&a, &b| events[a].event_id().cmp(events[b].event_id()));
    order.dedup_by(|a, b| events[*a].event_id() == events[*b].event_id());
    let ids: Vec<&str> = order.iter().map(|&i| events[i].event_id()).collect();
    let kinds: Vec<&str> = order.iter().map(|&i| events[i].routing_key()).collect();
    let fresh_ids: Vec<String> = sqlx::query_scalar(
        "INSERT INTO processed_events (event_id, kind)
         SELECT * FROM UNNEST($1::text[], $2::text[]) ON CONFLICT DO NOTHING RETURNING event_id",
    )
    .bind(&ids)
    .bind(&kinds)
    .fetch_all(&mut *tx)
    .await?;
    let mut fresh_set: HashSet<String> = fresh_ids.into_iter().collect();
    // The first occurrence of a fresh id is the one that counts.
    let fresh: Vec<usize> = (0..events.len())
        .filter(|&i| fresh_set.remove(events[i].event_id()))
        .collect();
    if fresh.is_empty() {
        tx.commit().await?;
        return Ok(outcomes);
    }
    let mut pairs: Vec<&str> = fresh.iter().map(|&i| events[i].mentorship_id()).collect();
    pairs.sort_unstable();
    pairs.dedup();
    // The same lock as the one-by-one path, for every pair of the batch.
    sqlx::query(
        "SELECT pg_advisory_xact_lock(k) FROM (
             SELECT DISTINCT hashtextextended(m, 7) AS k FROM UNNEST($1::text[]) AS m ORDER BY k OFFSET 0
         ) AS locks",
    )
    .bind(&pairs)
    .execute(&mut *tx)
    .await?;

    for &i in &fresh {
        if let Event::Started(e) = events[i] {
            outcomes[i] = start(&mut tx, e, rules).await?;
        }
    }
    let interactions: Vec<(usize, &InteractionRecorded)> = fresh
        .iter()
        .filter_map(|&i| match events[i] {
            Event::Interaction(e) => Some((i, e)),
            _ => None,
        })
        .collect();
    if !interactions.is_empty() {
        let col = |f: fn(&InteractionRecorded) -> &str| {
            interactions
                .iter()
                .map(|(_, e)| f(e))
                .collect::<Vec<&str>>()
        };
        let occurred: Vec<DateTime<Utc>> =
            interactions.iter().map(|(_, e)| e.occurred_at).collect();
        let minutes: Vec<Option<i32>> = interactions
            .iter()
            .map(|(_, e)| e.duration_minutes.map(|d| d as i32))
            .collect();
        sqlx::query(
            "INSERT INTO interactions (event_id, mentorship_id, kind, actor, occurred_at, duration_minutes)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::int4[])
             ON CONFLICT DO NOTHING",
        )
        .bind(col(|e| &e.event_id))
        .bind(col(|e| &e.mentorship_id))
        .bind(col(|e| e.kind.as_str()))
        .bind(col(|e| e.actor.as_str()))
        .bind(occurred)
        .bind(minutes)
        .execute(&mut *tx)
        .await?;
        let mut asked: Vec<&str> = interactions
            .iter()
            .map(|(_, e)| e.mentorship_id.as_str())
            .collect();
        asked.sort_unstable();
        asked.dedup();
        let known: HashMap<String, (DateTime<Utc>, bool)> =
            sqlx::query_as::<_, (String, DateTime<Utc>, bool)>(
                "SELECT id, started_at, ended_at IS NOT NULL FROM mentorships WHERE id = ANY($1)",
            )
            .bind(&asked)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(|(id, started_at, ended)| (id, (started_at, ended)))
            .collect();
        for (i, e) in interactions {
            outcomes[i] = match known.get(&e.mentorship_id) {
                None => Ingested::Interaction {
                    pacing: false,
                    known_pair: false,
                },
                Some((_, true)) => Ingested::Interaction {
                    pacing: false,
                    known_pair: true,
                },
                Some((started_at, false)) => {
                    let this = Interaction {
                        kind: e.kind,
                        actor: e.actor,
                        occurred_at: e.occurred_at,
                        duration_minutes: e.duration_minutes,
                    };
                    if first_intense(*started_at, std::slice::from_ref(&this), rules).is_some() {
                        plan_pacing(&mut tx, e, rules).await?
                    } else {
                        Ingested::Interaction {
                            pacing: false,
                            known_pair: true,
                        }
                    }
                }
            };
        }
    }
    for &i in &fresh {
        if let Event::Ended(e) = events[i] {
            outcomes[i] = end(&mut tx, e).await?;
        }
    }
    tx.commit().await?;
    Ok(outcomes)
}

/// What a worker reads to judge one due step: its row, its pair (the start
/// event and, if it ended, when) and the pair's interaction ledger.
#[derive(Debug, Clone)]
pub struct StepState {
    pub row: TimelineRow,
    pub pair: Option<(MentorshipStarted, Option<DateTime<Utc>>)>,
    pub ledger: Vec<Interaction>,
}

/// Reads [`StepState`] for many timeline rows in three statements (the same
/// data as [`super::timeline_row`], [`super::mentorship`] and [`super::interactions`]
/// one by one); `None` for a row that does not exist.
pub async fn load_steps(pool: &PgPool, ids: &[i64]) -> Result<Vec<Option<StepState>>, StoreError> {
    let rows = sqlx::query_as::<_, (i64, String, String, String, DateTime<Utc>, String, i32)>(
        "SELECT id, mentorship_id, step_id, recipient, due_at, status, attempts FROM timeline WHERE id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(pool)
    .await?;
    let mut pairs_wanted: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    pairs_wanted.sort_unstable();
    pairs_wanted.dedup();
    let mut pairs: HashMap<String, (MentorshipStarted, Option<DateTime<Utc>>)> = HashMap::new();
    for row in sqlx::query("SELECT id, people, ended_at FROM mentorships WHERE id = ANY($1)")
        .bind(&pairs_wanted)
        .fetch_all(pool)
        .await?
    {
        let id: String = row.try_get("id")?;
        let people: serde_json::Value = row.try_get("people")?;
        let started: MentorshipStarted = serde_json::from_value(people)
            .map_err(|e| StoreError::Corrupt(id.clone(), e.to_string()))?;
        let ended_at: Option<DateTime<Utc>> = row.try_get("ended_at")?;
        pairs.insert(id, (started, ended_at));
    }
    let mut ledgers: HashMap<String, Vec<Interaction>> = HashMap::new();
    for row in sqlx::query(
        "SELECT mentorship_id, kind, actor, occurred_at, duration_minutes FROM interactions
         WHERE mentorship_id = ANY($1) ORDER BY mentorship_id, occurred_at",
    )
    .bind(&pairs_wanted)
    .fetch_all(pool)
    .await?
    {
        let id: String = row.try_get("mentorship_id")?;
        let kind: String = row.try_get("kind")?;
        let actor: String = row.try_get("actor")?;
        let corrupt = |what: &str| StoreError::Corrupt(id.clone(), what.to_string());
        let interaction = Interaction {
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
        };
        ledgers.entry(id).or_default().push(interaction);
    }
    let mut by_id: HashMap<i64, StepState> = HashMap::with_capacity(rows.len());
    for (id, mentorship_id, step_id, recipient, due_at, status, attempts) in rows {
        let recipient = Recipient::parse(&recipient).ok_or_else(|| {
            StoreError::Corrupt(mentorship_id.clone(), format!("recipient {recipient:?}"))
        })?;
        let pair = pairs.get(&mentorship_id).cloned();
        let ledger = ledgers.get(&mentorship_id).cloned().unwrap_or_default();
        let row = TimelineRow {
            id,
            mentorship_id,
            step_id,
            recipient,
            due_at,
            status,
            attempts,
        };
        by_id.insert(id, StepState { row, pair, ledger });
    }
    Ok(ids.iter().map(|id| by_id.get(id).cloned()).collect())
}

/// One delivery to claim: (row, once-key, Message-ID).
pub type DeliveryClaim<'a> = (&'a TimelineRow, &'a str, &'a str);

/// Claims many deliveries in one statement: `true` where this call inserted
/// the claim (what [`super::claim_delivery`] answers `Granted` without
/// looking further). For the others, ask [`super::claim_delivery`]: the
/// ledger already has their key (a take-over, busy or taken).
pub async fn claim_deliveries(
    pool: &PgPool,
    claims: &[DeliveryClaim<'_>],
) -> Result<Vec<bool>, StoreError> {
    let col = |f: fn(&DeliveryClaim<'_>) -> String| claims.iter().map(f).collect::<Vec<String>>();
    let inserted: Vec<(String, String, String)> = sqlx::query_as(
        "INSERT INTO deliveries (mentorship_id, once_key, recipient, step_id, timeline_id, message_id, status)
         SELECT m, o, r, s, t, mid, 'sending'
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::text[]) AS u(m, o, r, s, t, mid)
         ON CONFLICT DO NOTHING RETURNING mentorship_id, once_key, recipient",
    )
    .bind(col(|c| c.0.mentorship_id.clone()))
    .bind(col(|c| c.1.to_string()))
    .bind(col(|c| c.0.recipient.as_str().to_string()))
    .bind(col(|c| c.0.step_id.clone()))
    .bind(claims.iter().map(|c| c.0.id).collect::<Vec<i64>>())
    .bind(col(|c| c.2.to_string()))
    .fetch_all(pool)
    .await?;
    let mut inserted: HashSet<(String, String, String)> = inserted.into_iter().collect();
    // Two claims of one key in the batch: the first inserted it, the second finds it taken.
    Ok(claims
        .iter()
        .map(|c| {
            inserted.remove(&(
                c.0.mentorship_id.clone(),
                c.1.to_string(),
                c.0.recipient.as_str().to_string(),
            ))
        })
        .collect())
}

/// [`super::mark_handing_over`] for many deliveries (pair, once-key, recipient), in one statement.
pub async fn mark_handing_over_many(
    pool: &PgPool,
    keys: &[(String, String, Recipient)],
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE deliveries d SET status = 'handing_over'
         FROM UNNEST($1::text[], $2::text[], $3::text[]) AS u(m, o, r)
         WHERE d.mentorship_id = u.m AND d.once_key = u.o AND d.recipient = u.r AND d.status IN ('sending', 'handing_over')",
    )
    .bind(keys.iter().map(|k| k.0.as_str()).collect::<Vec<&str>>())
    .bind(keys.iter().map(|k| k.1.as_str()).collect::<Vec<&str>>())
    .bind(keys.iter().map(|k| k.2.as_str()).collect::<Vec<&str>>())
    .execute(pool)
    .await?;
    Ok(())
}

/// One delivery's end: (row, once-key, status, detail).
pub type DeliveryEnd<'a> = (&'a TimelineRow, &'a str, &'a str, &'a str);

/// [`super::finish_delivery`] for many deliveries, atomically, in one statement.
pub async fn finish_deliveries(pool: &PgPool, ends: &[DeliveryEnd<'_>]) -> Result<(), StoreError> {
    sqlx::query(
        "WITH u AS (
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[])
                 AS u(m, o, r, status, detail, tid)
         ), d AS (
             UPDATE deliveries d SET status = u.status, detail = u.detail, finished_at = now()
             FROM u WHERE d.mentorship_id = u.m AND d.once_key = u.o AND d.recipient = u.r
         )
         UPDATE timeline t SET status = u.status, outcome = u.detail, next_at = NULL, finished_at = now()
         FROM u WHERE t.id = u.tid AND t.status IN ('scheduled', 'published')",
    )
    .bind(ends.iter().map(|e| e.0.mentorship_id.as_str()).collect::<Vec<&str>>())
    .bind(ends.iter().map(|e| e.1).collect::<Vec<&str>>())
    .bind(ends.iter().map(|e| e.0.recipient.as_str()).collect::<Vec<&str>>())
    .bind(ends.iter().map(|e| e.2).collect::<Vec<&str>>())
    .bind(ends.iter().map(|e| e.3).collect::<Vec<&str>>())
    .bind(ends.iter().map(|e| e.0.id).collect::<Vec<i64>>())
    .execute(pool)
    .await?;
    Ok(())
}
