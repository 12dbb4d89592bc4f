//! Intake: storing validated events, exactly once per `event_id`, and the
//! timeline rows they call for (planned by [`firstweek::decision`]).
//!
//! Each accepted event's id is kept with its kind and a fingerprint of its
//! validated body, so a repeat is told apart: the same content is a retry
//! (counted once), other content is a conflicting duplicate (refused). A new
//! `mentorship.started` for a known pair corrects its people.

use std::collections::HashSet;

use firstweek::Rules;
use firstweek::erasure::Target;
use firstweek::event::{Event, InteractionRecorded};
use firstweek::pseudonym::PseudonymKey;
use sqlx::{Connection, PgConnection, PgPool, Postgres, Transaction};

use crate::StoreError;
use crate::erasure::{Erased, erase_in};
use crate::escalations::{resolve_recovered, resolve_recovered_among};
use crate::status::ErasedVia;

mod interaction;
mod outcome;
mod pair;
mod person;

use interaction::{record, record_many};
use outcome::record_outcome;
use pair::{end, start};
use person::unsubscribe;

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

/// Stores one validated event, exactly once per `event_id`; `key` makes the
/// pseudonyms it stores or looks up (erasures, coordinator keys).
pub async fn ingest(
    pool: &PgPool,
    event: &Event,
    rules: &Rules,
    key: &PseudonymKey,
) -> Result<Ingested, StoreError> {
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
        Event::Started(e) => start(&mut tx, e, rules, key).await?,
        Event::Interaction(e) => {
            let outcome = record(&mut tx, e, rules).await?;
            resolve_recovered(&mut tx, rules, &[e.mentorship_id.as_str()]).await?;
            outcome
        }
        Event::Ended(e) => end(&mut tx, e, rules).await?,
        Event::Unsubscribed(e) => unsubscribe(&mut tx, e).await?,
        Event::Erased(e) => {
            let target = Target::new(&e.person_id, key);
            Ingested::Erased(erase_in(&mut tx, &target, ErasedVia::Event, key).await?)
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
    key: &PseudonymKey,
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
            Event::Started(e) => outcomes[i] = start(&mut tx, e, rules, key).await?,
            Event::Unsubscribed(e) => outcomes[i] = unsubscribe(&mut tx, e).await?,
            Event::Erased(e) => {
                let target = Target::new(&e.person_id, key);
                outcomes[i] =
                    Ingested::Erased(erase_in(&mut tx, &target, ErasedVia::Event, key).await?);
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
