//! Erasure: replacing a person's name, address and time zone in every
//! table (what replaces them is [`firstweek::erasure`]'s), keeping a hash
//! in `erasures`; and the retention job's forgetting of old pairs' people.

use chrono::Utc;
use firstweek::erasure::{self, Retention, Target, Traces};
use firstweek::event::MentorshipStarted;
use firstweek::pseudonym::PseudonymKey;
use sqlx::{PgPool, Postgres, Transaction};

use crate::StoreError;
use crate::pairs::{mentorship, started_of};
use crate::status::{DeliveryStatus, ErasedVia, RowStatus, SubjectKind};

/// What an erasure did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erased {
    /// The person had not been erased before.
    pub new: bool,
    /// Pairs whose people changed.
    pub pairs: u64,
    /// Coordinator digests not sent yet, cancelled.
    pub digests_cancelled: u64,
}

/// The pairs naming the target: a mentor or mentee by id, anyone by address.
macro_rules! naming {
    ($columns:literal) => {
        concat!(
            "SELECT ",
            $columns,
            " FROM mentorships
     WHERE people -> 'mentor' ->> 'id' = $1 OR people -> 'mentee' ->> 'id' = $1
        OR ($2 AND (lower(people -> 'mentor' ->> 'email') = lower($1)
                 OR lower(people -> 'mentee' ->> 'email') = lower($1)
                 OR lower(people -> 'coordinator' ->> 'email') = lower($1)))
     ORDER BY id"
        )
    };
}
const NAMING: &str = naming!("id");
const PEOPLE_NAMING: &str = naming!("id, people");

/// Erasures and starts serialise on this key: an erasure holds it alone
/// while it looks for the pairs naming its person a second time, and a
/// start holds it shared from reading the erasures to its commit. So a pair
/// started (or corrected) to name a person at the moment they are erased
/// is either found by the erasure or sees its record.
pub(crate) const ERASURE_LOCK: &str = "firstweek-erasure";

/// Everything stored of the target (ids, names, addresses), to find them
/// in dead letters before [`erase`] replaces them: see [`erasure_reach`].
pub async fn erasure_traces(
    pool: &PgPool,
    target: &Target,
    key: &PseudonymKey,
) -> Result<Traces, StoreError> {
    Ok(erasure_reach(pool, target, key).await?.traces)
}

/// What an erasure of the target will reach, found before it is stored.
#[derive(Debug, Clone, Default)]
pub struct Reach {
    /// Their ids, names and addresses as stored. Never log them.
    pub traces: Traces,
    /// The pairs naming them.
    pub pairs: Vec<String>,
}

/// The traces and pairs of the target: the target's pairs give the ids and
/// addresses of its sides, and those name more pairs (the same person
/// under another id, or as a coordinator), as [`erase`] follows them.
/// Read-only.
pub async fn erasure_reach(
    pool: &PgPool,
    target: &Target,
    key: &PseudonymKey,
) -> Result<Reach, StoreError> {
    let mut traces = Traces::of(target);
    let mut pairs: Vec<String> = Vec::new();
    let mut pending = vec![target.clone()];
    let mut seen: Vec<String> = Vec::new();
    while let Some(t) = pending.pop() {
        if !first_visit(&mut seen, &t) {
            continue;
        }
        let rows: Vec<(String, serde_json::Value)> = sqlx::query_as(PEOPLE_NAMING)
            .bind(t.as_str())
            .bind(t.is_address())
            .fetch_all(pool)
            .await?;
        for (id, people) in rows {
            let started = started_of(&id, people)?;
            if let Some((scrubbed, found)) = erasure::scrub(&started, &t) {
                traces.extend(found);
                pending.extend(named_by(&started, &scrubbed, key));
                if !pairs.contains(&id) {
                    pairs.push(id);
                }
            }
        }
    }
    Ok(Reach { traces, pairs })
}

/// Whether `target` is seen for the first time (ids as given, addresses
/// without regard to case); records it.
fn first_visit(seen: &mut Vec<String>, target: &Target) -> bool {
    let key = if target.is_address() {
        target.as_str().to_lowercase()
    } else {
        target.as_str().to_string()
    };
    if seen.contains(&key) {
        return false;
    }
    seen.push(key);
    true
}

/// The ids and addresses of the sides a scrub replaced: the same person
/// (or people) by their other names, to erase as well. A mentor or mentee
/// erased by address leaves their id in rows keyed by it (an unsubscribe,
/// an announcement), and one erased by id may be a coordinator elsewhere.
fn named_by(
    before: &MentorshipStarted,
    after: &MentorshipStarted,
    key: &PseudonymKey,
) -> Vec<Target> {
    let mut found = Vec::new();
    for (was, now) in [
        (&before.mentor, &after.mentor),
        (&before.mentee, &after.mentee),
    ] {
        if was != now {
            found.push(Target::new(&was.id, key));
            found.push(Target::new(&was.email, key));
        }
    }
    if before.coordinator != after.coordinator {
        found.push(Target::new(&before.coordinator.email, key));
    }
    found
}

/// Erases a person (`firstweek erase`): see [`erase_in`].
pub async fn erase(
    pool: &PgPool,
    target: &Target,
    via: ErasedVia,
    key: &PseudonymKey,
) -> Result<Erased, StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(firstweek_pair_lock($1))")
        .bind(target.as_str())
        .execute(&mut *tx)
        .await?;
    let erased = erase_in(&mut tx, target, via, key).await?;
    tx.commit().await?;
    Ok(erased)
}

/// Erases a person in `tx`, by the id or address the request named and by
/// every other id and address of theirs that the pairs naming them hold
/// (each erased as [`erase_one`] does, each with its own entry in
/// `erasures`), then removes what the free texts of those pairs quote of
/// them (see [`scrub_texts`]). Interactions and rows stay: the pairs'
/// counts are the program's.
pub(crate) async fn erase_in(
    tx: &mut Transaction<'_, Postgres>,
    target: &Target,
    via: ErasedVia,
    key: &PseudonymKey,
) -> Result<Erased, StoreError> {
    let mut pending = vec![target.clone()];
    let mut seen: Vec<String> = Vec::new();
    let mut traces = Traces::of(target);
    let mut ids: Vec<String> = Vec::new();
    let mut changed: Vec<String> = Vec::new();
    let mut erased = Erased {
        new: false,
        pairs: 0,
        digests_cancelled: 0,
    };
    while let Some(t) = pending.pop() {
        if !first_visit(&mut seen, &t) {
            continue;
        }
        let one = erase_one(tx, &t, via, key).await?;
        if &t == target {
            erased.new = one.new;
        }
        erased.digests_cancelled += one.digests_cancelled;
        for id in one.changed {
            if !changed.contains(&id) {
                changed.push(id);
            }
        }
        traces.extend(one.traces);
        for id in one.pairs {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        pending.extend(one.more);
    }
    erased.pairs = changed.len() as u64;
    scrub_texts(tx, &ids, &traces).await?;
    Ok(erased)
}

/// What erasing one id or address found.
struct ErasedOne {
    /// It had not been erased before.
    new: bool,
    /// Digests to it not sent yet, cancelled.
    digests_cancelled: u64,
    /// The pairs whose people changed.
    changed: Vec<String>,
    /// The pairs naming it.
    pairs: Vec<String>,
    /// What was stored of the person there.
    traces: Traces,
    /// Their other ids and addresses.
    more: Vec<Target>,
}

/// Erases one id or address in `tx`: records the erasure (its hash and
/// placeholder), replaces them in every pair naming them (under each pair's
/// lock, so a correction being ingested cannot put them back), renames
/// their digest rows and cancels those not sent, forgets their unsubscribe
/// and takes their id out of the outbox. Their sides are skipped from now
/// on (the placeholder is in `erasures`).
async fn erase_one(
    tx: &mut Transaction<'_, Postgres>,
    target: &Target,
    via: ErasedVia,
    key: &PseudonymKey,
) -> Result<ErasedOne, StoreError> {
    let placeholder = target.placeholder();
    let new = sqlx::query(
        "INSERT INTO erasures (subject_hash, placeholder_id, placeholder_email, via)
         VALUES ($1, $2, $3, $4) ON CONFLICT (subject_hash) DO NOTHING",
    )
    .bind(target.key())
    .bind(&placeholder.id)
    .bind(&placeholder.email)
    .bind(via)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        == 1;
    let mut ids = naming_locked(tx, target, &[]).await?;
    sqlx::query("SELECT pg_advisory_xact_lock(firstweek_pair_lock($1))")
        .bind(ERASURE_LOCK)
        .execute(&mut **tx)
        .await?;
    let more = naming_locked(tx, target, &ids).await?;
    ids.extend(more);
    let mut traces = Traces::of(target);
    let mut others = Vec::new();
    let mut changed = Vec::new();
    for id in &ids {
        let Some(record) = mentorship(&mut **tx, id).await? else {
            continue;
        };
        let Some((scrubbed, found)) = erasure::scrub(&record.started, target) else {
            continue;
        };
        store_people(tx, &scrubbed, false, key).await?;
        others.extend(named_by(&record.started, &scrubbed, key));
        traces.extend(found);
        changed.push(id.clone());
    }
    crate::links::revoke_links_of_erased(
        tx,
        &ids,
        target
            .is_address()
            .then(|| key.coordinator(target.as_str())),
    )
    .await?;
    let mut digests_cancelled = 0;
    if target.is_address() {
        digests_cancelled = sqlx::query(
            "UPDATE timeline SET status = CASE WHEN status = ANY($3) THEN $4 ELSE status END,
                    outcome = CASE WHEN status = ANY($3) THEN 'person erased' ELSE outcome END,
                    next_at = CASE WHEN status = ANY($3) THEN NULL ELSE next_at END,
                    finished_at = CASE WHEN status = ANY($3) THEN now() ELSE finished_at END,
                    coordinator_email = $2
             WHERE subject = $5 AND lower(coordinator_email) = lower($1)
               AND NOT EXISTS (SELECT 1 FROM deliveries d
                               WHERE d.mentorship_id = timeline.mentorship_id AND d.timeline_id = timeline.id
                                 AND d.status = $6)",
        )
        .bind(target.as_str())
        .bind(&placeholder.email)
        .bind(RowStatus::OPEN)
        .bind(RowStatus::Cancelled)
        .bind(SubjectKind::Digest)
        .bind(DeliveryStatus::HandingOver)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    }
    // Rows keyed by a person's id (a program may use addresses as ids).
    {
        sqlx::query("DELETE FROM unsubscribed WHERE person_id = $1")
            .bind(target.as_str())
            .execute(&mut **tx)
            .await?;
        sqlx::query(
            "UPDATE outbox SET payload = jsonb_set(payload, '{person_id}', to_jsonb($2::text))
             WHERE payload ->> 'person_id' = $1",
        )
        .bind(target.as_str())
        .bind(&placeholder.id)
        .execute(&mut **tx)
        .await?;
        // Its copies waiting for (or kept after) their webhook deliveries.
        sqlx::query(
            "UPDATE webhook_deliveries
             SET body = jsonb_set(body::jsonb, '{person_id}', to_jsonb($2::text))::text
             WHERE event_type = $3 AND body::jsonb ->> 'person_id' = $1",
        )
        .bind(target.as_str())
        .bind(&placeholder.id)
        .bind(firstweek::event::PARTICIPANT_UNSUBSCRIBED)
        .execute(&mut **tx)
        .await?;
    }
    Ok(ErasedOne {
        new,
        digests_cancelled,
        changed,
        pairs: ids,
        traces,
        more: others,
    })
}

/// The pairs naming the target, other than `known`, each locked (in id
/// order: a batch holding some of them waits; a deadlock is retried as an
/// outage).
async fn naming_locked(
    tx: &mut Transaction<'_, Postgres>,
    target: &Target,
    known: &[String],
) -> Result<Vec<String>, StoreError> {
    let ids: Vec<String> = sqlx::query_scalar::<_, String>(NAMING)
        .bind(target.as_str())
        .bind(target.is_address())
        .fetch_all(&mut **tx)
        .await?
        .into_iter()
        .filter(|id| !known.contains(id))
        .collect();
    sqlx::query(
        "SELECT pg_advisory_xact_lock(firstweek_pair_lock(m)) FROM UNNEST($1::text[]) AS m",
    )
    .bind(&ids)
    .execute(&mut **tx)
    .await?;
    Ok(ids)
}

/// The erasure keys among these that the ledger holds (under the shared
/// [`ERASURE_LOCK`], held to the commit).
pub(crate) async fn erased_keys(
    tx: &mut Transaction<'_, Postgres>,
    keys: &[String],
) -> Result<Vec<String>, StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock_shared(firstweek_pair_lock($1))")
        .bind(ERASURE_LOCK)
        .execute(&mut **tx)
        .await?;
    Ok(
        sqlx::query_scalar("SELECT subject_hash FROM erasures WHERE subject_hash = ANY($1)")
            .bind(keys)
            .fetch_all(&mut **tx)
            .await?,
    )
}

/// Forgets the people of pairs past retention (ended before
/// `ended_before`, or started before `started_before`), at most `limit`
/// pairs a call, oldest first; returns how many. Each side gets a
/// placeholder of its own pair; rows still open are cancelled (nothing
/// more goes to them) and a later start for the pair changes nothing.
pub async fn erase_retained(
    pool: &PgPool,
    retention: Retention,
    limit: i64,
    key: &PseudonymKey,
) -> Result<u64, StoreError> {
    let mut tx = pool.begin().await?;
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM mentorships
         WHERE people_erased_at IS NULL AND (ended_at < $1 OR started_at < $2)
         ORDER BY started_at, id LIMIT $3
         FOR UPDATE SKIP LOCKED",
    )
    .bind(retention.ended_before)
    .bind(retention.started_before)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    sqlx::query(
        "SELECT pg_advisory_xact_lock(firstweek_pair_lock(m)) FROM UNNEST($1::text[]) AS m",
    )
    .bind(&ids)
    .execute(&mut *tx)
    .await?;
    for id in &ids {
        let Some(record) = mentorship(&mut *tx, id).await? else {
            continue;
        };
        let mut traces = Traces::default();
        let s = &record.started;
        for v in [
            &s.mentor.id,
            &s.mentor.name,
            &s.mentor.email,
            &s.mentee.id,
            &s.mentee.name,
            &s.mentee.email,
            &s.coordinator.name,
            &s.coordinator.email,
        ] {
            traces.extend(Traces {
                values: vec![v.clone()],
            });
        }
        store_people(&mut tx, &erasure::scrub_all(s), true, key).await?;
        scrub_texts(&mut tx, std::slice::from_ref(id), &traces).await?;
        for sql in FORGET_REASONS {
            sqlx::query(sql)
                .bind(std::slice::from_ref(id))
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "UPDATE timeline SET status = $2, outcome = 'people erased (retention)', next_at = NULL, finished_at = now()
             WHERE mentorship_id = $1 AND subject = $4 AND status = ANY($3)
               AND NOT EXISTS (SELECT 1 FROM deliveries d
                               WHERE d.mentorship_id = timeline.mentorship_id AND d.timeline_id = timeline.id
                                 AND d.status = $5)",
        )
        .bind(id)
        .bind(RowStatus::Cancelled)
        .bind(RowStatus::OPEN)
        .bind(SubjectKind::Pair)
        .bind(DeliveryStatus::HandingOver)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(ids.len() as u64)
}

async fn store_people(
    tx: &mut Transaction<'_, Postgres>,
    started: &MentorshipStarted,
    retained: bool,
    key: &PseudonymKey,
) -> Result<(), StoreError> {
    let people = serde_json::to_value(started)
        .map_err(|err| StoreError::Corrupt(started.mentorship_id.clone(), err.to_string()))?;
    sqlx::query(
        "UPDATE mentorships SET people = $2, coordinator_key = $5,
                people_erased_at = CASE WHEN $3 THEN $4 ELSE people_erased_at END
         WHERE id = $1",
    )
    .bind(&started.mentorship_id)
    .bind(people)
    .bind(retained)
    .bind(Utc::now())
    .bind(key.coordinator(&started.coordinator.email))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The statement that replaces a free text (a table's column) naming any of
/// the needles (`$2`) in the pairs `$1` (the table's column `$key` names
/// the pair). A literal, so no SQL is built at run time.
macro_rules! scrub_sql {
    ($table:literal, $key:literal, $column:literal) => {
        concat!(
            "UPDATE ",
            $table,
            " SET ",
            $column,
            " = 'erased'
         WHERE ",
            $key,
            " = ANY($1) AND ",
            $column,
            " IS NOT NULL
           AND EXISTS (SELECT 1 FROM UNNEST($2::text[]) AS n WHERE strpos(lower(",
            $column,
            "), n) > 0)"
        )
    };
}

/// The free texts that may quote a person: a delivery's SMTP detail, a
/// timeline row's outcome, and the reason a pair ended (given by the
/// program, as the pair and as an ending that came before its start).
/// `holdouts` is not among them: it holds a pair's id, a step id and a
/// flag, nothing a person wrote or is named by, and is kept with the
/// pair's timeline rows, as they are.
const SCRUBS: [&str; 4] = [
    scrub_sql!("deliveries", "mentorship_id", "detail"),
    scrub_sql!("timeline", "mentorship_id", "outcome"),
    scrub_sql!("mentorships", "id", "ended_reason"),
    scrub_sql!("mentorship_endings", "mentorship_id", "reason"),
];

/// A free text of the pairs `ids` (see [`SCRUBS`]) naming one of the
/// traces (an address, an id, a name or a word of it, without regard to
/// case) is replaced: a server's refusal quotes an address, a program's
/// reason for an ending may say "asked to stop; contact <address>".
async fn scrub_texts(
    tx: &mut Transaction<'_, Postgres>,
    ids: &[String],
    traces: &Traces,
) -> Result<(), StoreError> {
    let needles = needles(traces);
    if ids.is_empty() || needles.is_empty() {
        return Ok(());
    }
    for sql in SCRUBS {
        sqlx::query(sql)
            .bind(ids)
            .bind(&needles)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// What a free text is searched for: each trace and each word of a name
/// ("Zora" of "Zora Erasable"), lowercased. Shorter than three characters
/// they would match inside too many unrelated words; a longer one matching
/// inside another word only costs that text.
fn needles(traces: &Traces) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in &traces.values {
        let v = v.to_lowercase();
        let words = v.split_whitespace().map(str::to_string);
        for n in std::iter::once(v.clone()).chain(words) {
            if n.chars().count() >= 3 && !out.contains(&n) {
                out.push(n);
            }
        }
    }
    out
}

/// The retention job forgets every person of these pairs: the reasons they
/// ended are the program's free text about them, replaced whatever they say.
const FORGET_REASONS: [&str; 2] = [
    "UPDATE mentorships SET ended_reason = 'erased' WHERE id = ANY($1) AND ended_reason IS NOT NULL",
    "UPDATE mentorship_endings SET reason = 'erased' WHERE mentorship_id = ANY($1) AND reason IS NOT NULL",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_texts_are_searched_for_each_trace_and_each_word_of_a_name() {
        let traces = Traces {
            values: vec!["Zora Erasable".into(), "z@Example.org".into(), "p1".into()],
        };
        assert_eq!(
            needles(&traces),
            ["zora erasable", "zora", "erasable", "z@example.org"]
        );
    }
}
