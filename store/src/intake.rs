//! Intake: storing validated events, exactly once per `event_id`, and the
//! timeline rows they call for (planned by [`firstweek::decision`]).
//!
//! Each accepted event's id is kept with its kind and a fingerprint of its
//! validated body, so a repeat is told apart: the same content is a retry
//! (counted once), other content is a conflicting duplicate (refused). A new
//! `mentorship.started` for a known pair corrects its people.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use firstweek::Rules;
use firstweek::decision;
use firstweek::erasure::{self, Target};
use firstweek::escalation::{Resolution, State as EscalationState};
use firstweek::event::{
    Event, InteractionRecorded, MentorshipEnded, MentorshipOutcome, MentorshipStarted,
    ParticipantUnsubscribed,
};
use firstweek::interaction::Interaction;
use firstweek::timeline::Planned;
use sqlx::{Connection, PgConnection, PgPool, Postgres, Transaction};

use crate::StoreError;
use crate::erasure::{Erased, erase_in, erased_keys};
use crate::escalations::{resolve_in, resolve_recovered, resolve_recovered_among};
use crate::pairs::{interactions, mentorship};
use crate::status::ErasedVia;
use crate::status::{DeliveryStatus, RowStatus, SubjectKind};

/// What storing an event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingested {
    /// The `event_id` was seen before with the same content: nothing changed.
    Duplicate,
    /// The `event_id` was seen before with other content (another body or
    /// another kind): nothing changed, and the event is to be refused.
    ConflictingDuplicate,
    /// A new pair, with this many timeline rows.
    Started {
        /// Timeline rows planned.
        rows: usize,
    },
    /// A `mentorship.started` for a pair already known, with the same people:
    /// nothing changed.
    AlreadyStarted,
    /// A `mentorship.started` for a pair already known, with other people (a
    /// fixed address, name or time zone): they are stored for the emails not
    /// sent yet, and the unsent rows' send times follow the new time zones.
    Corrected {
        /// Timeline rows whose send time moved.
        rescheduled: u64,
        /// The correction gave another `started_at`, which was not applied:
        /// the pair's week is the one its first start announced.
        started_at_ignored: bool,
    },
    /// An interaction stored.
    Interaction {
        /// It triggered the pacing tip.
        pacing: bool,
        /// Its pair is stored already (else it waits for its start).
        known_pair: bool,
    },
    /// An ending stored.
    Ended {
        /// Pending rows cancelled.
        cancelled: u64,
    },
    /// A person's unsubscribe stored.
    Unsubscribed {
        /// They had not unsubscribed before.
        new: bool,
    },
    /// A person erased (`person.erased`).
    Erased(Erased),
    /// An outcome stored (the latest `recorded_at` of a pair counts).
    Outcome {
        /// Its pair is stored already (else it waits for its start).
        known_pair: bool,
    },
}

/// Stores one validated event, exactly once per `event_id`.
pub async fn ingest(pool: &PgPool, event: &Event, rules: &Rules) -> Result<Ingested, StoreError> {
    let mut tx = pool.begin().await?;
    let fresh = sqlx::query(
        "INSERT INTO processed_events (event_id, kind, fingerprint) VALUES ($1, $2, sha256($3))
         ON CONFLICT DO NOTHING",
    )
    .bind(event.event_id())
    .bind(event.routing_key())
    .bind(event.to_json())
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !fresh {
        return Ok(if conflicting(&mut tx, &[event]).await?.is_empty() {
            Ingested::Duplicate
        } else {
            Ingested::ConflictingDuplicate
        });
    }
    // Start, interactions and end of one pair may be ingested by different
    // workers at once; this lock makes each see the others' committed rows.
    sqlx::query("SELECT pg_advisory_xact_lock(firstweek_pair_lock($1))")
        .bind(event.lock_key())
        .execute(&mut *tx)
        .await?;
    let outcome = match event {
        Event::Started(e) => start(&mut tx, e, rules).await?,
        Event::Interaction(e) => {
            let outcome = record(&mut tx, e, rules).await?;
            resolve_recovered(&mut tx, rules, &[e.mentorship_id.as_str()]).await?;
            outcome
        }
        Event::Ended(e) => end(&mut tx, e, rules).await?,
        Event::Unsubscribed(e) => unsubscribe(&mut tx, e).await?,
        Event::Erased(e) => {
            Ingested::Erased(erase_in(&mut tx, &Target::new(&e.person_id), ErasedVia::Event).await?)
        }
        Event::Outcome(e) => record_outcome(&mut tx, e).await?,
    };
    tx.commit().await?;
    Ok(outcome)
}

/// Stores a batch of validated events in one transaction, with the same
/// outcome per event as [`ingest`] one by one (an event seen before, or twice
/// in the batch, is a `Duplicate`, or a `ConflictingDuplicate` when its
/// content differs from the one that counted).
///
/// Each statement is a round trip, and at a cohort's pace a batch is often
/// one event: so one statement takes the pairs' advisory locks (in lock-key
/// order, so two batches sharing pairs wait for each other rather than
/// deadlock) and then records the event ids (in id order, for the same
/// reason), and one stores all interactions and reads their pairs;
/// starts, endings and the rare interaction that calls for a pacing tip or
/// may resolve an escalation take the per-event path.
/// Within the batch, starts are applied before interactions and endings after
/// them: one of the arrival orders the engine already handles, with the same
/// stored result.
///
/// On an error nothing of the batch is stored; callers may retry the events
/// one by one with [`ingest`] to isolate a bad one.
pub async fn ingest_batch(
    conn: &mut PgConnection,
    events: &[&Event],
    rules: &Rules,
) -> Result<Vec<Ingested>, StoreError> {
    let mut outcomes = vec![Ingested::Duplicate; events.len()];
    if events.is_empty() {
        return Ok(outcomes);
    }
    let mut tx = conn.begin().await?;
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by(|&a, &b| events[a].event_id().cmp(events[b].event_id()));
    order.dedup_by(|a, b| events[*a].event_id() == events[*b].event_id());
    let ids: Vec<&str> = order.iter().map(|&i| events[i].event_id()).collect();
    let kinds: Vec<&str> = order.iter().map(|&i| events[i].routing_key()).collect();
    let bodies: Vec<Vec<u8>> = order.iter().map(|&i| events[i].to_json()).collect();
    // Locks for every pair of the batch, repeats' too: which events are
    // fresh is known only after the insert, and a lock more costs nothing.
    let mut pairs: Vec<&str> = events.iter().map(|e| e.lock_key()).collect();
    pairs.sort_unstable();
    pairs.dedup();
    // The same lock as the one-by-one path, for every pair of the batch.
    // As an uncorrelated subquery it is an InitPlan: PostgreSQL runs it once,
    // before the first row is inserted. Reads that need the lock come in
    // later statements (each takes its snapshot after the lock is held); the
    // insert itself needs none: ON CONFLICT sees rows committed meanwhile.
    let fresh_ids: Vec<String> = sqlx::query_scalar(
        "INSERT INTO processed_events (event_id, kind, fingerprint)
         SELECT id, kind, sha256(body) FROM UNNEST($1::text[], $2::text[], $3::bytea[]) AS u(id, kind, body)
         WHERE (SELECT count(pg_advisory_xact_lock(k)) FROM (
                    SELECT DISTINCT firstweek_pair_lock(m) AS k FROM UNNEST($4::text[]) AS m ORDER BY k OFFSET 0
                ) AS locks) >= 0
         ON CONFLICT DO NOTHING RETURNING event_id",
    )
    .bind(&ids)
    .bind(&kinds)
    .bind(&bodies)
    .bind(&pairs)
    .fetch_all(&mut *tx)
    .await?;
    let mut fresh_set: HashSet<String> = fresh_ids.into_iter().collect();
    // The first occurrence of a fresh id is the one that counts.
    let fresh: Vec<usize> = (0..events.len())
        .filter(|&i| fresh_set.remove(events[i].event_id()))
        .collect();
    // Every other one repeats an id accepted before or earlier in this batch
    // (visible here: the same transaction inserted it).
    let repeats: Vec<usize> = {
        let counted: HashSet<usize> = fresh.iter().copied().collect();
        (0..events.len()).filter(|i| !counted.contains(i)).collect()
    };
    if !repeats.is_empty() {
        let asked: Vec<&Event> = repeats.iter().map(|&i| events[i]).collect();
        for k in conflicting(&mut tx, &asked).await? {
            outcomes[repeats[k]] = Ingested::ConflictingDuplicate;
        }
    }
    if fresh.is_empty() {
        tx.commit().await?;
        return Ok(outcomes);
    }

    for &i in &fresh {
        match events[i] {
            Event::Started(e) => outcomes[i] = start(&mut tx, e, rules).await?,
            Event::Unsubscribed(e) => outcomes[i] = unsubscribe(&mut tx, e).await?,
            Event::Erased(e) => {
                let target = Target::new(&e.person_id);
                outcomes[i] = Ingested::Erased(erase_in(&mut tx, &target, ErasedVia::Event).await?);
            }
            Event::Outcome(e) => outcomes[i] = record_outcome(&mut tx, e).await?,
            _ => {}
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
        let unresolved = record_many(&mut tx, &interactions, rules, &mut outcomes).await?;
        resolve_recovered_among(&mut tx, rules, unresolved).await?;
    }
    for &i in &fresh {
        if let Event::Ended(e) = events[i] {
            outcomes[i] = end(&mut tx, e, rules).await?;
        }
    }
    tx.commit().await?;
    Ok(outcomes)
}

/// Which of these events (by position) repeat an accepted `event_id` with
/// other content: another kind, or another body than the one that counted.
/// An id accepted before fingerprints were kept compares as the same.
async fn conflicting(
    tx: &mut Transaction<'_, Postgres>,
    events: &[&Event],
) -> Result<Vec<usize>, StoreError> {
    let ids: Vec<&str> = events.iter().map(|e| e.event_id()).collect();
    let kinds: Vec<&str> = events.iter().map(|e| e.routing_key()).collect();
    let bodies: Vec<Vec<u8>> = events.iter().map(|e| e.to_json()).collect();
    let positions: Vec<i64> = sqlx::query_scalar(
        "SELECT u.n FROM UNNEST($1::text[], $2::text[], $3::bytea[]) WITH ORDINALITY AS u(id, kind, body, n)
         JOIN processed_events p ON p.event_id = u.id
         WHERE p.kind <> u.kind OR p.fingerprint <> sha256(u.body)",
    )
    .bind(&ids)
    .bind(&kinds)
    .bind(&bodies)
    .fetch_all(&mut **tx)
    .await?;
    // WITH ORDINALITY counts from 1.
    Ok(positions
        .into_iter()
        .filter_map(|n| usize::try_from(n - 1).ok())
        .collect())
}

/// The interactions of a batch in one statement, which also reads their
/// pairs; the pacing tip for the few that call for it. Returns the pairs
/// with an escalation not yet resolved (which the interactions may resolve).
async fn record_many(
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
struct PairOfInteraction {
    id: String,
    ended: bool,
    /// It has an escalation that is not resolved.
    unresolved: bool,
}

fn not_pacing(known_pair: bool) -> Ingested {
    Ingested::Interaction {
        pacing: false,
        known_pair,
    }
}

fn interaction_of(e: &InteractionRecorded) -> Interaction {
    Interaction {
        kind: e.kind,
        actor: e.actor,
        occurred_at: e.occurred_at,
        duration_minutes: e.duration_minutes,
    }
}

async fn start(
    tx: &mut Transaction<'_, Postgres>,
    e: &MentorshipStarted,
    rules: &Rules,
) -> Result<Ingested, StoreError> {
    // A start naming an erased person (a repeat, a correction, a new pair)
    // is stored with their placeholder: it never brings them back.
    let erased = erased_keys(tx, &erasure::keys_named(e)).await?;
    let scrubbed;
    let e = if erased.is_empty() {
        e
    } else {
        scrubbed = erasure::scrub_erased(e, &erased);
        &scrubbed
    };
    let people = serde_json::to_value(e)
        .map_err(|err| StoreError::Corrupt(e.mentorship_id.clone(), err.to_string()))?;
    // The pair is pinned to the playbook it starts under: its program's, or the default.
    let starting = rules.for_program(e.program_id.as_deref());
    let playbook = &starting.playbook;
    let own = e
        .program_id
        .as_deref()
        .filter(|p| rules.programs.contains_key(*p));
    sqlx::query(
        "INSERT INTO playbooks (version, name, program_id, source) VALUES ($1, $2, $3, $4)
         ON CONFLICT (version) DO NOTHING",
    )
    .bind(&playbook.version)
    .bind(&playbook.name)
    .bind(own)
    .bind(&playbook.source)
    .execute(&mut **tx)
    .await?;
    let inserted = sqlx::query(
        "INSERT INTO mentorships (id, program_id, started_at, people, playbook_version) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&e.mentorship_id)
    .bind(&e.program_id)
    .bind(e.started_at)
    .bind(people)
    .bind(&playbook.version)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return correct(tx, e, rules).await;
    }
    let rules = &starting;
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
    // Interactions that arrived before the pair may already call for a pacing tip.
    let earlier = interactions(&mut **tx, &e.mentorship_id).await?;
    let rows = decision::plan(rules, e, &earlier);
    insert_rows(tx, &e.mentorship_id, &rows).await?;
    Ok(Ingested::Started { rows: rows.len() })
}

/// A start for a known pair: takes its people (a fixed address, name or time
/// zone) for every email not sent yet. What was sent stays sent: the ledger
/// keys deliveries by recipient role, not address, so nothing is resent to
/// the new address. The pair's identity and week (`started_at`,
/// `program_id`) are the first start's: moving them would replan a week
/// already under way.
async fn correct(
    tx: &mut Transaction<'_, Postgres>,
    e: &MentorshipStarted,
    rules: &Rules,
) -> Result<Ingested, StoreError> {
    let Some(stored) = mentorship(&mut **tx, &e.mentorship_id).await? else {
        return Ok(Ingested::AlreadyStarted);
    };
    // The retention job forgot this pair's people: they stay forgotten.
    let retained: bool =
        sqlx::query_scalar("SELECT people_erased_at IS NOT NULL FROM mentorships WHERE id = $1")
            .bind(&e.mentorship_id)
            .fetch_one(&mut **tx)
            .await?;
    if retained {
        return Ok(Ingested::AlreadyStarted);
    }
    let was = &stored.started;
    if was.mentor == e.mentor && was.mentee == e.mentee && was.coordinator == e.coordinator {
        return Ok(Ingested::AlreadyStarted);
    }
    let corrected = MentorshipStarted {
        event_id: e.event_id.clone(),
        mentor: e.mentor.clone(),
        mentee: e.mentee.clone(),
        coordinator: e.coordinator.clone(),
        ..was.clone()
    };
    let people = serde_json::to_value(&corrected)
        .map_err(|err| StoreError::Corrupt(e.mentorship_id.clone(), err.to_string()))?;
    sqlx::query("UPDATE mentorships SET people = $2 WHERE id = $1")
        .bind(&e.mentorship_id)
        .bind(people)
        .execute(&mut **tx)
        .await?;
    // A recipient's send window is in their time zone: the domain plans the
    // week again with the new people, and rows not yet tried take its send
    // times. Rows being published, sent or retried keep theirs (a retry's
    // time is the worker's backoff, not the plan's).
    let ledger = interactions(&mut **tx, &e.mentorship_id).await?;
    let rules = &*rules.pinned(stored.playbook.as_deref());
    let rows = decision::plan(rules, &corrected, &ledger);
    let steps: Vec<&str> = rows.iter().map(|r| r.step_id.as_str()).collect();
    let recipients: Vec<&str> = rows.iter().map(|r| r.recipient.as_str()).collect();
    let send: Vec<DateTime<Utc>> = rows.iter().map(|r| r.send_at).collect();
    let rescheduled = sqlx::query(
        "UPDATE timeline t SET send_at = u.w, next_at = u.w
         FROM UNNEST($2::text[], $3::text[], $4::timestamptz[]) AS u(s, r, w)
         WHERE t.mentorship_id = $1 AND t.subject = $5 AND t.step_id = u.s AND t.recipient = u.r
           AND t.status = $6 AND t.attempts = 0 AND t.send_at IS DISTINCT FROM u.w",
    )
    .bind(&e.mentorship_id)
    .bind(steps)
    .bind(recipients)
    .bind(send)
    .bind(SubjectKind::Pair)
    .bind(RowStatus::Scheduled)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(Ingested::Corrected {
        rescheduled,
        started_at_ignored: e.started_at != was.started_at,
    })
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

async fn end(
    tx: &mut Transaction<'_, Postgres>,
    e: &MentorshipEnded,
    rules: &Rules,
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
    // A row whose email is being handed to the SMTP server right now went
    // out before this ending: its worker records how it ended, so the
    // timeline and the ledger agree (the hand-over waits on the pair's row,
    // which this transaction has just locked, and sees the ending).
    let cancelled = sqlx::query(
        "UPDATE timeline t SET status = $2, outcome = 'mentorship ended', next_at = NULL, finished_at = now()
         WHERE t.mentorship_id = $1 AND t.subject = $4 AND t.status = ANY($3)
           AND NOT EXISTS (SELECT 1 FROM deliveries d
                           WHERE d.mentorship_id = t.mentorship_id AND d.timeline_id = t.id AND d.status = $5)",
    )
    .bind(&e.mentorship_id)
    .bind(RowStatus::Cancelled)
    .bind(RowStatus::OPEN)
    .bind(SubjectKind::Pair)
    .bind(DeliveryStatus::HandingOver)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    // After the cancelling above, so the resolution notice it plans stands.
    resolve_in(tx, rules, &e.mentorship_id, Resolution::Ended).await?;
    Ok(Ingested::Ended { cancelled })
}

/// A person asked for no more email (their program's preference center, or
/// firstweek's own link announcing it back): later emails to them are skipped.
async fn unsubscribe(
    tx: &mut Transaction<'_, Postgres>,
    e: &ParticipantUnsubscribed,
) -> Result<Ingested, StoreError> {
    let new = sqlx::query(
        "INSERT INTO unsubscribed (person_id, unsubscribed_at, via) VALUES ($1, $2, 'event')
         ON CONFLICT (person_id) DO NOTHING",
    )
    .bind(&e.person_id)
    .bind(e.unsubscribed_at)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1;
    Ok(Ingested::Unsubscribed { new })
}

/// A program's judgement of how a pair is doing: kept with the others (the
/// report takes the latest), and changing nothing the engine decides.
async fn record_outcome(
    tx: &mut Transaction<'_, Postgres>,
    e: &MentorshipOutcome,
) -> Result<Ingested, StoreError> {
    sqlx::query(
        "INSERT INTO outcomes (event_id, mentorship_id, outcome, rating, recorded_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(&e.event_id)
    .bind(&e.mentorship_id)
    .bind(e.outcome.as_str())
    .bind(e.rating.map(i16::from))
    .bind(e.recorded_at)
    .execute(&mut **tx)
    .await?;
    let known_pair: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM mentorships WHERE id = $1)")
            .bind(&e.mentorship_id)
            .fetch_one(&mut **tx)
            .await?;
    Ok(Ingested::Outcome { known_pair })
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
