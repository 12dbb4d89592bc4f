//! A pair's start, its correction by a later start, and its end.

use chrono::{DateTime, Utc};
use firstweek::Rules;
use firstweek::decision;
use firstweek::erasure::{self};
use firstweek::escalation::Resolution;
use firstweek::event::{MentorshipEnded, MentorshipStarted};
use firstweek::pseudonym::PseudonymKey;
use firstweek::timeline::Planned;
use sqlx::{Postgres, Transaction};

use crate::StoreError;
use crate::erasure::erased_keys;
use crate::escalations::resolve_in;
use crate::links::{reassign_in, revoke_ended_in};
use crate::pairs::{interactions, mentorship};
use crate::status::{DeliveryStatus, RowStatus, SubjectKind};

use super::Ingested;

pub(super) async fn start(
    tx: &mut Transaction<'_, Postgres>,
    e: &MentorshipStarted,
    rules: &Rules,
    key: &PseudonymKey,
) -> Result<Ingested, StoreError> {
    // A start naming an erased person (a repeat, a correction, a new pair)
    // is stored with their placeholder: it never brings them back.
    let erased = erased_keys(tx, &erasure::keys_named(e, key)).await?;
    let scrubbed;
    let e = if erased.is_empty() {
        e
    } else {
        scrubbed = erasure::scrub_erased(e, &erased, key);
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
        "INSERT INTO mentorships (id, program_id, started_at, people, playbook_version, coordinator_key)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&e.mentorship_id)
    .bind(&e.program_id)
    .bind(e.started_at)
    .bind(people)
    .bind(&playbook.version)
    .bind(key.coordinator(&e.coordinator.email))
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return correct(tx, e, rules, key).await;
    }
    let rules = &starting;
    draw_holdouts(tx, e, playbook, key).await?;
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

/// Draws the pair's holdouts (one row per step with a holdout, held out or
/// not) once, as it starts: a correction, a replica or a restart finds
/// them stored and never draws again.
async fn draw_holdouts(
    tx: &mut Transaction<'_, Postgres>,
    e: &MentorshipStarted,
    playbook: &firstweek::playbook::Playbook,
    key: &PseudonymKey,
) -> Result<(), StoreError> {
    let drawn =
        firstweek::experiment::assign(key, e.program_id.as_deref(), &e.mentorship_id, playbook);
    if drawn.is_empty() {
        return Ok(());
    }
    let (steps, held): (Vec<String>, Vec<bool>) = drawn.into_iter().unzip();
    sqlx::query(
        "INSERT INTO holdouts (mentorship_id, step_id, held_out)
         SELECT $1, s, h FROM UNNEST($2::text[], $3::bool[]) AS t(s, h)
         ON CONFLICT (mentorship_id, step_id) DO NOTHING",
    )
    .bind(&e.mentorship_id)
    .bind(steps)
    .bind(held)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A start for a known pair: takes its people (a fixed address, name or time
/// zone) for every email not sent yet. What was sent stays sent: the ledger
/// keys deliveries by recipient role, not address, so nothing is resent to
/// the new address. The pair's identity and week (`started_at`,
/// `program_id`) are the first start's: moving them would replan a week
/// already under way.
pub(super) async fn correct(
    tx: &mut Transaction<'_, Postgres>,
    e: &MentorshipStarted,
    rules: &Rules,
    key: &PseudonymKey,
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
    sqlx::query("UPDATE mentorships SET people = $2, coordinator_key = $3 WHERE id = $1")
        .bind(&e.mentorship_id)
        .bind(people)
        .bind(key.coordinator(&corrected.coordinator.email))
        .execute(&mut **tx)
        .await?;
    // Another coordinator now: the pair's escalation is theirs, and what the
    // first one was sent about it opens nothing more.
    if was.coordinator.email != corrected.coordinator.email {
        reassign_in(
            tx,
            &e.mentorship_id,
            &key.coordinator(&corrected.coordinator.email),
        )
        .await?;
    }
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

pub(super) async fn end(
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
    // "We've been in touch" means nothing for a pair that ended.
    revoke_ended_in(tx, &e.mentorship_id).await?;
    Ok(Ingested::Ended { cancelled })
}

pub(super) async fn insert_rows(
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
