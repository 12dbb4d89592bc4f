//! The digests' queries: which coordinators get one today, and the pairs a
//! digest reports (what it says is [`firstweek::digest`]'s).

use chrono::{DateTime, NaiveDate, Utc};
use firstweek::Rules;
use firstweek::digest;
use firstweek::playbook::Recipient;
use sqlx::PgPool;

use crate::StoreError;
use crate::pairs::{StoredPair, ledgers, mentorships};
use crate::status::SubjectKind;

/// Adds `day`'s digest row for every coordinator with open pairs started
/// within the digest's horizon of `now`; returns how many were new (the
/// row's unique key makes a second run add none).
pub async fn schedule_digests(
    pool: &PgPool,
    rules: &Rules,
    day: NaiveDate,
) -> Result<u64, StoreError> {
    let added = sqlx::query(
        "INSERT INTO timeline (mentorship_id, subject, coordinator_email, step_id, recipient, due_at, send_at, next_at)
         SELECT firstweek_coordinator_key(email), $4, email, $1, $3, now(), now(), now()
         FROM (SELECT DISTINCT people -> 'coordinator' ->> 'email' AS email FROM mentorships
               WHERE ended_at IS NULL AND started_at > now() - $2) AS c
         ON CONFLICT (mentorship_id, step_id, recipient) DO NOTHING",
    )
    .bind(digest::step_id(day))
    .bind(digest::horizon(rules))
    .bind(Recipient::Coordinator.as_str())
    .bind(SubjectKind::Digest)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(added)
}

/// The open pairs of one coordinator within the digest's horizon of `now`,
/// oldest first, each with its interaction ledger.
pub async fn coordinator_pairs(
    pool: &PgPool,
    rules: &Rules,
    coordinator_email: &str,
    now: DateTime<Utc>,
) -> Result<Vec<StoredPair>, StoreError> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM mentorships
         WHERE people -> 'coordinator' ->> 'email' = $1 AND ended_at IS NULL AND started_at > $3 - $2
         ORDER BY started_at, id",
    )
    .bind(coordinator_email)
    .bind(digest::horizon(rules))
    .bind(now)
    .fetch_all(pool)
    .await?;
    let wanted: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut pairs = mentorships(pool, &wanted).await?;
    let mut ledgers = ledgers(pool, &wanted).await?;
    Ok(ids
        .iter()
        .filter_map(|id| {
            Some(StoredPair {
                record: pairs.remove(id)?,
                ledger: ledgers.remove(id).unwrap_or_default(),
            })
        })
        .collect())
}

/// The address behind a coordinator's opaque key (what a page link names).
pub async fn coordinator_email(pool: &PgPool, key: &str) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT people -> 'coordinator' ->> 'email' FROM mentorships
         WHERE firstweek_coordinator_key(people -> 'coordinator' ->> 'email') = $1 LIMIT 1",
    )
    .bind(key)
    .fetch_optional(pool)
    .await?)
}
