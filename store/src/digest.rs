//! The digests' queries: which coordinators' digests are due, and the pairs
//! and escalations a digest reports (what it says is [`firstweek::digest`]'s).

use chrono::{DateTime, Utc};
use firstweek::Rules;
use firstweek::digest;
use firstweek::escalation::Escalation;
use firstweek::rule::Recipient;
use sqlx::PgPool;

use crate::StoreError;
use crate::escalations::{EscalationFilter, escalations};
use crate::pairs::{StoredPair, ledgers, mentorships};
use crate::status::SubjectKind;

/// Adds, for every coordinator with open pairs started within the digest's
/// horizon of `now`, the row of their local today once its digest is due
/// ([`digest::due_today`] at the playbook's `digest_at`, in the zone of the
/// coordinator's most recent pair, UTC without one); returns how many were
/// new. The row's unique key makes any number of runs, on any number of
/// replicas, add one per coordinator and local date.
pub async fn schedule_digests(
    pool: &PgPool,
    rules: &Rules,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    // One row per coordinator: the zone their latest pair names (the same
    // pair the worker takes their name and zone from).
    // A pair without a coordinator key is from before its database's
    // pseudonyms were keyed (a worker keys them at start-up), or its
    // coordinator was erased: no digest until it has one.
    let coordinators: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT DISTINCT ON (email) email, coordinator_key, timezone
         FROM (SELECT people -> 'coordinator' ->> 'email' AS email, coordinator_key,
                      people -> 'coordinator' ->> 'timezone' AS timezone, started_at, id
               FROM mentorships WHERE ended_at IS NULL AND started_at > $1 - $2
                 AND people_erased_at IS NULL AND coordinator_key IS NOT NULL) AS m
         -- An erased coordinator's pairs carry their placeholder: no digest to it.
         WHERE NOT EXISTS (SELECT 1 FROM erasures e WHERE e.placeholder_email = m.email)
         ORDER BY email, started_at DESC, id DESC",
    )
    .bind(now)
    .bind(digest::horizon(rules))
    .fetch_all(pool)
    .await?;
    let at = rules.playbook.coordinators.digest_at;
    let mut emails = Vec::new();
    let mut keys = Vec::new();
    let mut steps = Vec::new();
    for (email, key, tz) in coordinators {
        // Intake refuses a zone that does not parse; UTC is the contract's default.
        let tz = tz.and_then(|t| t.parse().ok());
        if let Some(day) = digest::due_today(at, tz, now) {
            emails.push(email);
            keys.push(key);
            steps.push(digest::step_id(day));
        }
    }
    if emails.is_empty() {
        return Ok(0);
    }
    // The job runs every minute: rows already there are filtered out before
    // the insert, so a run that adds nothing writes nothing (not even a
    // sequence value); ON CONFLICT settles a race with another replica.
    let added = sqlx::query(
        "INSERT INTO timeline (mentorship_id, subject, coordinator_email, step_id, recipient, due_at, send_at, next_at)
         SELECT c.key, $3, c.email, c.step_id, $4, now(), now(), now()
         FROM UNNEST($1::text[], $2::text[], $5::text[]) AS c(email, step_id, key)
         WHERE NOT EXISTS (SELECT 1 FROM timeline t
                           WHERE t.mentorship_id = c.key AND t.step_id = c.step_id AND t.recipient = $4)
         ON CONFLICT (mentorship_id, step_id, recipient) DO NOTHING",
    )
    .bind(&emails)
    .bind(&steps)
    .bind(SubjectKind::Digest)
    .bind(Recipient::Coordinator.as_str())
    .bind(&keys)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(added)
}

/// What one coordinator's digest is made of.
#[derive(Debug, Clone)]
pub struct CoordinatorDigest {
    /// Their open pairs within the digest's horizon, oldest first (the
    /// latest names the coordinator and their zone).
    pub pairs: Vec<StoredPair>,
    /// The pairs of their unresolved escalations that are not among `pairs`
    /// (past the horizon, say): an escalation waits until someone acts.
    pub escalated: Vec<StoredPair>,
    /// Their unresolved escalations.
    pub escalations: Vec<Escalation>,
}

/// One coordinator's pairs and unresolved escalations as of `now`.
pub async fn coordinator_digest(
    pool: &PgPool,
    rules: &Rules,
    coordinator_key: &str,
    coordinator_email: &str,
    now: DateTime<Utc>,
) -> Result<CoordinatorDigest, StoreError> {
    let pairs = coordinator_pairs(pool, rules, coordinator_email, now).await?;
    let escalations = escalations(
        pool,
        &EscalationFilter {
            unresolved_only: true,
            coordinator_key: Some(coordinator_key.to_string()),
            limit: None,
        },
    )
    .await?;
    let missing: Vec<&str> = escalations
        .iter()
        .map(|e| e.mentorship_id.as_str())
        .filter(|id| !pairs.iter().any(|p| p.id() == *id))
        .collect();
    let escalated = if missing.is_empty() {
        Vec::new()
    } else {
        with_ledgers(pool, &missing).await?
    };
    Ok(CoordinatorDigest {
        pairs,
        escalated,
        escalations,
    })
}

async fn with_ledgers(pool: &PgPool, ids: &[&str]) -> Result<Vec<StoredPair>, StoreError> {
    let mut pairs = mentorships(pool, ids).await?;
    let mut ledgers = ledgers(pool, ids).await?;
    Ok(ids
        .iter()
        .filter_map(|id| {
            Some(StoredPair {
                record: pairs.remove(*id)?,
                ledger: ledgers.remove(*id).unwrap_or_default(),
            })
        })
        .collect())
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
    with_ledgers(pool, &wanted).await
}

/// The address behind a coordinator's opaque key (what a page link names).
pub async fn coordinator_email(pool: &PgPool, key: &str) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT people -> 'coordinator' ->> 'email' FROM mentorships
         WHERE coordinator_key = $1 LIMIT 1",
    )
    .bind(key)
    .fetch_optional(pool)
    .await?)
}
