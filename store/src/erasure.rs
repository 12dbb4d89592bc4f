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
/// in dead letters before [`erase`] replaces them. Read-only; never log it.
pub async fn erasure_traces(pool: &PgPool, target: &Target) -> Result<Traces, StoreError> {
    let mut traces = Traces::of(target);
    let rows: Vec<(String, serde_json::Value)> = sqlx::query_as(PEOPLE_NAMING)
        .bind(target.as_str())
        .bind(target.is_address())
        .fetch_all(pool)
        .await?;
    for (id, people) in rows {
        let started = started_of(&id, people)?;
        if let Some((_, found)) = erasure::scrub(&started, target) {
            traces.extend(found);
        }
    }
    Ok(traces)
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

/// Erases a person in `tx`: records the erasure (its hash and placeholder),
/// replaces them in every pair naming them (under each pair's lock, so a
/// correction being ingested cannot put them back), removes their name or
/// address from the delivery ledger's and timeline's texts, renames their
/// digest rows and cancels those not sent, forgets their unsubscribe and
/// takes their id out of the outbox. Interactions and rows stay: the
/// pairs' counts are the program's. Their sides are skipped from now on
/// (the placeholder is in `erasures`).
pub(crate) async fn erase_in(
    tx: &mut Transaction<'_, Postgres>,
    target: &Target,
    via: ErasedVia,
    key: &PseudonymKey,
) -> Result<Erased, StoreError> {
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
    let mut pairs = 0;
    for id in &ids {
        let Some(record) = mentorship(&mut **tx, id).await? else {
            continue;
        };
        let Some((scrubbed, found)) = erasure::scrub(&record.started, target) else {
            continue;
        };
        store_people(tx, &scrubbed, false, key).await?;
        traces.extend(found);
        pairs += 1;
    }
    scrub_texts(tx, &ids, &traces).await?;
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
    Ok(Erased {
        new,
        pairs,
        digests_cancelled,
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
/// the needles (`$2`) in the pairs `$1`. A literal, so no SQL is built at run
/// time.
macro_rules! scrub_sql {
    ($table:literal, $column:literal) => {
        concat!(
            "UPDATE ",
            $table,
            " SET ",
            $column,
            " = 'erased'
         WHERE mentorship_id = ANY($1) AND ",
            $column,
            " IS NOT NULL
           AND EXISTS (SELECT 1 FROM UNNEST($2::text[]) AS n WHERE strpos(lower(",
            $column,
            "), n) > 0)"
        )
    };
}

/// The free texts that may quote an address: a delivery's SMTP detail, a
/// timeline row's outcome.
const SCRUBS: [&str; 2] = [
    scrub_sql!("deliveries", "detail"),
    scrub_sql!("timeline", "outcome"),
];

/// A delivery's SMTP detail or a row's outcome may quote an address (a
/// server's refusal does): any naming one of the traces is replaced.
async fn scrub_texts(
    tx: &mut Transaction<'_, Postgres>,
    ids: &[String],
    traces: &Traces,
) -> Result<(), StoreError> {
    // Ids and short names would match inside unrelated words.
    let needles: Vec<String> = traces
        .values
        .iter()
        .filter(|v| v.chars().count() >= 3)
        .map(|v| v.to_lowercase())
        .collect();
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
