//! Keying a database's pseudonyms with the operator's key
//! (`FIRSTWEEK_PSEUDONYM_KEY`, [`firstweek::pseudonym`]): once, at the
//! start-up of the services that compute pseudonyms, under a lock, marked
//! done in `pseudonym_key` with the key's fingerprint.
//!
//! Values stored before keying were unkeyed SHA-256s; each becomes the HMAC
//! of its old value, which is what the same id or address gives now: so
//! erasures recorded before still stop the person's return, and nobody's
//! address is needed to do it. A database keyed with one key refuses
//! another: its pseudonyms could no longer be matched.

use firstweek::erasure::Placeholder;
use firstweek::pseudonym::PseudonymKey;
use sqlx::{PgPool, Postgres, Transaction};

use crate::StoreError;
use crate::erasure::ERASURE_LOCK;
use crate::status::SubjectKind;

/// What keying a database changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keyed {
    /// Erasures whose key and placeholder were keyed.
    pub erasures: u64,
    /// Pairs given their coordinator's key.
    pub pairs: u64,
    /// Coordinator keys stored elsewhere (escalations, digests, links, outbox).
    pub coordinator_keys: u64,
}

/// The advisory lock keying runs under (replicas start together).
const PSEUDONYM_LOCK: &str = "firstweek-pseudonyms";

/// Keys the database's pseudonyms with `key` unless done before; `None`
/// when it was. Refused ([`StoreError::PseudonymKeyChanged`]) when they were
/// keyed with another key.
pub async fn key_pseudonyms(
    pool: &PgPool,
    key: &PseudonymKey,
) -> Result<Option<Keyed>, StoreError> {
    let mut tx = pool.begin().await?;
    // Erasures and starts wait (they read or write the ledger under this lock).
    for lock in [PSEUDONYM_LOCK, ERASURE_LOCK] {
        sqlx::query("SELECT pg_advisory_xact_lock(firstweek_pair_lock($1))")
            .bind(lock)
            .execute(&mut *tx)
            .await?;
    }
    let stored: Option<String> = sqlx::query_scalar("SELECT fingerprint FROM pseudonym_key")
        .fetch_optional(&mut *tx)
        .await?;
    match stored {
        Some(f) if f == key.fingerprint() => return Ok(None),
        Some(_) => return Err(StoreError::PseudonymKeyChanged),
        None => {}
    }
    let erasures = key_erasures(&mut tx, key).await?;
    let pairs = key_pairs(&mut tx, key).await?;
    let coordinator_keys = key_coordinator_keys(&mut tx, key).await?;
    sqlx::query("INSERT INTO pseudonym_key (fingerprint) VALUES ($1)")
        .bind(key.fingerprint())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(Keyed {
        erasures,
        pairs,
        coordinator_keys,
    }))
}

/// Each erasure's key becomes the HMAC of its SHA-256, and its placeholder
/// the one of that key, wherever the placeholder went (the pairs' people,
/// the digests' recipient, the outbox's `person_id`).
async fn key_erasures(
    tx: &mut Transaction<'_, Postgres>,
    key: &PseudonymKey,
) -> Result<u64, StoreError> {
    let rows: Vec<(String, String, String)> =
        sqlx::query_as("SELECT subject_hash, placeholder_id, placeholder_email FROM erasures")
            .fetch_all(&mut **tx)
            .await?;
    for (hash, old_id, old_email) in &rows {
        let new_hash = key.keyed(hash);
        let new = Placeholder::from_key(&new_hash);
        sqlx::query(
            "UPDATE erasures SET subject_hash = $2, placeholder_id = $3, placeholder_email = $4
             WHERE subject_hash = $1",
        )
        .bind(hash)
        .bind(&new_hash)
        .bind(&new.id)
        .bind(&new.email)
        .execute(&mut **tx)
        .await?;
        for sql in [
            "UPDATE mentorships SET people = replace(replace(people::text, $1, $2), $3, $4)::jsonb
             WHERE strpos(people::text, $1) > 0 OR strpos(people::text, $3) > 0",
            "UPDATE timeline SET coordinator_email = $4 WHERE coordinator_email = $3",
            "UPDATE outbox SET payload = jsonb_set(payload, '{person_id}', to_jsonb($2::text))
             WHERE payload ->> 'person_id' = $1",
        ] {
            sqlx::query(sql)
                .bind(old_id)
                .bind(&new.id)
                .bind(old_email)
                .bind(&new.email)
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(rows.len() as u64)
}

/// Gives every pair stored without a coordinator key (rows written by hand,
/// a benchmark's seeds) the one of its coordinator's address; returns how many.
pub async fn fill_coordinator_keys(pool: &PgPool, key: &PseudonymKey) -> Result<u64, StoreError> {
    let mut tx = pool.begin().await?;
    let filled = key_pairs(&mut tx, key).await?;
    tx.commit().await?;
    Ok(filled)
}

/// Every pair without a coordinator key gets the one of its coordinator's address.
async fn key_pairs(
    tx: &mut Transaction<'_, Postgres>,
    key: &PseudonymKey,
) -> Result<u64, StoreError> {
    let emails: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT people -> 'coordinator' ->> 'email' FROM mentorships
         WHERE coordinator_key IS NULL AND people -> 'coordinator' ->> 'email' IS NOT NULL",
    )
    .fetch_all(&mut **tx)
    .await?;
    let keys: Vec<String> = emails.iter().map(|e| key.coordinator(e)).collect();
    Ok(sqlx::query(
        "UPDATE mentorships m SET coordinator_key = u.key
         FROM UNNEST($1::text[], $2::text[]) AS u(email, key)
         WHERE m.coordinator_key IS NULL AND m.people -> 'coordinator' ->> 'email' = u.email",
    )
    .bind(&emails)
    .bind(&keys)
    .execute(&mut **tx)
    .await?
    .rows_affected())
}

/// Every coordinator key stored before keying (escalations, digest rows and
/// their deliveries, page links, announced events) becomes its keyed form.
async fn key_coordinator_keys(
    tx: &mut Transaction<'_, Postgres>,
    key: &PseudonymKey,
) -> Result<u64, StoreError> {
    let old: Vec<String> = sqlx::query_scalar(
        "SELECT coordinator_key FROM escalations
         UNION SELECT mentorship_id FROM timeline WHERE subject = $1
         UNION SELECT subject_id FROM links WHERE purpose = 'coordinator_page'
         UNION SELECT payload ->> 'coordinator_key' FROM outbox WHERE payload ? 'coordinator_key'",
    )
    .bind(SubjectKind::Digest)
    .fetch_all(&mut **tx)
    .await?;
    let new: Vec<String> = old.iter().map(|k| key.coordinator_of(k)).collect();
    let mut changed = 0;
    for (sql, digests) in [
        (
            "UPDATE escalations e SET coordinator_key = u.new
             FROM UNNEST($1::text[], $2::text[]) AS u(old, new) WHERE e.coordinator_key = u.old",
            false,
        ),
        // A digest's deliveries first: they are found through its row's old key.
        (
            "UPDATE deliveries d SET mentorship_id = u.new
             FROM UNNEST($1::text[], $2::text[]) AS u(old, new), timeline t
             WHERE d.mentorship_id = u.old AND t.id = d.timeline_id AND t.mentorship_id = u.old
               AND t.subject = $3",
            true,
        ),
        (
            "UPDATE timeline t SET mentorship_id = u.new
             FROM UNNEST($1::text[], $2::text[]) AS u(old, new)
             WHERE t.mentorship_id = u.old AND t.subject = $3",
            true,
        ),
        (
            "UPDATE links l SET subject_id = u.new
             FROM UNNEST($1::text[], $2::text[]) AS u(old, new)
             WHERE l.subject_id = u.old AND l.purpose = 'coordinator_page'",
            false,
        ),
        (
            "UPDATE outbox o SET payload = jsonb_set(o.payload, '{coordinator_key}', to_jsonb(u.new))
             FROM UNNEST($1::text[], $2::text[]) AS u(old, new)
             WHERE o.payload ->> 'coordinator_key' = u.old",
            false,
        ),
    ] {
        let query = sqlx::query(sql).bind(&old).bind(&new);
        let query = if digests {
            query.bind(SubjectKind::Digest)
        } else {
            query
        };
        changed += query.execute(&mut **tx).await?.rows_affected();
    }
    Ok(changed)
}
