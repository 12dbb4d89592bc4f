//! The events API's keys (created, listed and revoked by the CLI; only
//! their hash is stored) and the one function the web calls to accept an
//! event with one (`firstweek_web_accept_event`, migration `events_api`).

use chrono::{DateTime, Utc};
use firstweek::api_key::{ApiKey, KEY_BYTES};
use sqlx::{PgConnection, PgPool};

use crate::StoreError;

/// A key as the CLI lists it (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ApiKeyRecord {
    /// The key's id (what logs and `revoke` name).
    pub id: i64,
    /// The program it may publish for.
    pub program_id: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last used to publish, to the minute, if ever.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Creates a key for `program_id`; the key is returned once and never again.
pub async fn create_api_key(pool: &PgPool, program_id: &str) -> Result<(i64, ApiKey), StoreError> {
    let mut bytes = [0u8; KEY_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::Randomness(e.to_string()))?;
    let key = ApiKey::from_random(bytes);
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO api_keys (key_hash, program_id) VALUES ($1, $2) RETURNING id",
    )
    .bind(&key.hash()[..])
    .bind(program_id)
    .fetch_one(pool)
    .await?;
    Ok((id, key))
}

/// Every key, oldest first.
pub async fn api_keys(pool: &PgPool) -> Result<Vec<ApiKeyRecord>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, program_id, created_at, last_used_at, revoked_at FROM api_keys ORDER BY id",
    )
    .fetch_all(pool)
    .await?)
}

/// Revokes a key at once; `false` if there is no such live key.
pub async fn revoke_api_key(pool: &PgPool, id: i64) -> Result<bool, StoreError> {
    let done =
        sqlx::query("UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .execute(pool)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// What became of an event offered with a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acceptance {
    /// No such key, or revoked.
    UnknownKey,
    /// The key used up its minute; try again after this many seconds.
    RateLimited {
        /// The key's id.
        key_id: i64,
        /// Seconds until its next window.
        retry_after: u32,
    },
    /// Stored, to be relayed to the exchange.
    Accepted {
        /// The key's id.
        key_id: i64,
    },
    /// This `event_id` was accepted before with this content.
    Repeat {
        /// The key's id.
        key_id: i64,
    },
    /// This `event_id` was accepted before with other content.
    Conflict {
        /// The key's id.
        key_id: i64,
    },
    /// A start naming another program than the key's.
    Forbidden {
        /// The key's id.
        key_id: i64,
    },
    /// The pair or person is not one of the key's program's.
    NotFound {
        /// The key's id.
        key_id: i64,
    },
}

/// Offers one validated event (its routing key, its JSON as sent, and its
/// body as parsed, [`firstweek::event::Event::to_json`], which intake
/// fingerprints too) with `key`,
/// `per_minute` events a key may publish a minute; on `conn`, so a batch's
/// events share a transaction.
pub async fn accept_event(
    conn: &mut PgConnection,
    key: &ApiKey,
    routing_key: &str,
    payload: &serde_json::Value,
    parsed: &[u8],
    per_minute: u32,
) -> Result<Acceptance, StoreError> {
    let (outcome, key_id, retry_after): (String, Option<i64>, i32) = sqlx::query_as(
        "SELECT outcome, key_id, retry_after FROM firstweek_web_accept_event($1, $2, $3::jsonb, $4, $5)",
    )
    .bind(&key.hash()[..])
    .bind(routing_key)
    .bind(payload.to_string())
    .bind(parsed)
    .bind(i32::try_from(per_minute).unwrap_or(i32::MAX))
    .fetch_one(conn)
    .await?;
    let key_id = match (outcome.as_str(), key_id) {
        ("unknown_key", _) => return Ok(Acceptance::UnknownKey),
        (_, Some(id)) => id,
        (other, None) => return Err(corrupt(other)),
    };
    Ok(match outcome.as_str() {
        "rate_limited" => Acceptance::RateLimited {
            key_id,
            retry_after: u32::try_from(retry_after).unwrap_or(1).max(1),
        },
        "accepted" => Acceptance::Accepted { key_id },
        "repeat" => Acceptance::Repeat { key_id },
        "conflict" => Acceptance::Conflict { key_id },
        "forbidden" => Acceptance::Forbidden { key_id },
        "not_found" => Acceptance::NotFound { key_id },
        other => return Err(corrupt(other)),
    })
}

fn corrupt(word: &str) -> StoreError {
    StoreError::Corrupt(
        "accepting an event".to_string(),
        format!("database function answered {word:?}"),
    )
}
