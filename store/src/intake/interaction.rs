//! Interactions: stored one by one or in a batch, and the pacing tip they may call for.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use firstweek::Rules;
use firstweek::decision;
use firstweek::escalation::State as EscalationState;
use firstweek::event::InteractionRecorded;
use firstweek::interaction::Interaction;
use sqlx::{Postgres, Transaction};

use crate::StoreError;
use crate::pairs::mentorship;

use super::Ingested;
use super::pair::insert_rows;

/// The interactions of a batch in one statement, which also reads their
/// pairs; the pacing tip for the few that call for it. Returns the pairs
/// with an escalation not yet resolved (which the interactions may resolve).
pub(super) async fn record_many(
    tx: &mut Transaction<'_, Postgres>,
    interactions: &[(usize, &InteractionRecorded)],
    rules: &Rules,
    outcomes: &mut [Ingested],
) -> Result<Vec<String>, StoreError> {
    let col = |f: fn(&InteractionRecorded) -> &str| {
        interactions
            .iter()
            .map(|(_, e)| f(e))
            .collect::<Vec<&str>>()
    };
    let occurred: Vec<DateTime<Utc>> = interactions.iter().map(|(_, e)| e.occurred_at).collect();
    let minutes: Vec<Option<i32>> = interactions
        .iter()
        .map(|(_, e)| e.duration_minutes.map(|d| d as i32))
        .collect();
    let mut asked: Vec<&str> = interactions
        .iter()
        .map(|(_, e)| e.mentorship_id.as_str())
        .collect();
    asked.sort_unstable();
    asked.dedup();
    // The reads see the statement's snapshot, without the rows it inserts:
    // they need none of them (pairs and escalations are not touched here).
    let rows: Vec<PairOfInteraction> = sqlx::query_as(
        "WITH stored AS (
             INSERT INTO interactions (event_id, mentorship_id, kind, actor, occurred_at, duration_minutes)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::int4[])
             ON CONFLICT DO NOTHING
         )
         SELECT m.id, m.ended_at IS NOT NULL AS ended,
                EXISTS (SELECT 1 FROM escalations e WHERE e.mentorship_id = m.id AND e.state <> $8) AS unresolved
         FROM mentorships m WHERE m.id = ANY($7)",
    )
    .bind(col(|e| &e.event_id))
    .bind(col(|e| &e.mentorship_id))
    .bind(col(|e| e.kind.as_str()))
    .bind(col(|e| e.actor.as_str()))
    .bind(occurred)
    .bind(minutes)
    .bind(&asked)
    .bind(EscalationState::Resolved.as_str())
    .fetch_all(&mut **tx)
    .await?;
    let unresolved = rows
        .iter()
        .filter(|r| r.unresolved)
        .map(|r| r.id.clone())
        .collect();
    let known: HashMap<String, bool> = rows.into_iter().map(|r| (r.id, r.ended)).collect();
    for (i, e) in interactions {
        outcomes[*i] = match known.get(&e.mentorship_id) {
            None => not_pacing(false),
            Some(true) => not_pacing(true),
            Some(false) => {
                // Which playbook the pair is pinned to is read only for the
                // few interactions that could be intense under any playbook.
                if decision::may_call_for_pacing(&interaction_of(e)) {
                    plan_pacing(tx, e, rules).await?
                } else {
                    not_pacing(true)
                }
            }
        };
    }
    Ok(unresolved)
}

/// A pair that interactions of a batch name, as [`record_many`] reads it.
#[derive(sqlx::FromRow)]
pub(super) struct PairOfInteraction {
    id: String,
    ended: bool,
    /// It has an escalation that is not resolved.
    unresolved: bool,
}

pub(super) fn not_pacing(known_pair: bool) -> Ingested {
    Ingested::Interaction {
        pacing: false,
        known_pair,
    }
}

pub(super) fn interaction_of(e: &InteractionRecorded) -> Interaction {
    Interaction {
        kind: e.kind,
        actor: e.actor,
        occurred_at: e.occurred_at,
        duration_minutes: e.duration_minutes,
    }
}

pub(super) async fn record(
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
pub(super) async fn plan_pacing(
    tx: &mut Transaction<'_, Postgres>,
    e: &InteractionRecorded,
    rules: &Rules,
) -> Result<Ingested, StoreError> {
    let Some(pair) = mentorship(&mut **tx, &e.mentorship_id).await? else {
        return Ok(not_pacing(false));
    };
    if pair.ended_at.is_some() {
        return Ok(not_pacing(true));
    }
    let rules = &*rules.pinned(pair.playbook.as_deref());
    let rows = decision::pacing(rules, &pair.started, &[interaction_of(e)]);
    if rows.is_empty() {
        return Ok(not_pacing(true));
    }
    let added = insert_rows(tx, &e.mentorship_id, &rows).await?;
    Ok(Ingested::Interaction {
        pacing: added > 0,
        known_pair: true,
    })
}
