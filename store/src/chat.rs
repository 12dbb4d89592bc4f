//! Chat routes (`chat_routes`): which programs' coordinator messages are
//! also posted to a Slack or Teams webhook, and the ledger's end of one such
//! post. A post is a delivery of its own in the ledger (its once-key is the
//! message's with the route appended, [`chat_once_key`]): claimed,
//! handed over and ended like an email ([`crate::claim_delivery`],
//! [`crate::mark_handing_over`], [`finish_chat`]), so a step delivered twice
//! posts once. A route's URL is a secret: nothing here prints it
//! ([`ChatRoute`]'s `Debug` and [`ChatRoute::shown_url`] show its host).

use chrono::{DateTime, Utc};
use firstweek::chat::Platform;
use sqlx::{PgPool, Row};

use crate::StoreError;
use crate::ledger::HeldClaim;
use crate::status::DeliveryStatus;

/// What a route carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatPurpose {
    /// A pair's escalation (every route carries these).
    Escalation,
    /// A coordinator's daily digest (routes added with `--digest`).
    Digest,
}

/// One route, as stored.
#[derive(Clone)]
pub struct ChatRoute {
    /// Its id (`firstweek chat remove ID`).
    pub id: i64,
    /// The program whose coordinators' messages it carries.
    pub program_id: String,
    /// Slack or Teams.
    pub platform: Platform,
    /// The webhook's URL: a secret.
    pub url: String,
    /// The daily digest too.
    pub digest: bool,
    /// No email while a post succeeds.
    pub instead_of_email: bool,
    /// When it was added.
    pub created_at: DateTime<Utc>,
}

impl ChatRoute {
    /// The URL as it may be shown: its scheme and host, the secret path elided.
    pub fn shown_url(&self) -> String {
        let (scheme, rest) = self.url.split_once("://").unwrap_or(("", &self.url));
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        format!("{scheme}://{host}/…")
    }
}

impl std::fmt::Debug for ChatRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatRoute")
            .field("id", &self.id)
            .field("program_id", &self.program_id)
            .field("platform", &self.platform)
            .field("url", &self.shown_url())
            .field("digest", &self.digest)
            .field("instead_of_email", &self.instead_of_email)
            .finish()
    }
}

/// A route to add.
pub struct NewChatRoute<'a> {
    /// The program.
    pub program_id: &'a str,
    /// Slack or Teams.
    pub platform: Platform,
    /// The webhook's URL (`http://` or `https://`).
    pub url: &'a str,
    /// The daily digest too.
    pub digest: bool,
    /// No email while a post succeeds.
    pub instead_of_email: bool,
}

/// The ledger's once-key of a post of the message `once_key` through `route`.
pub fn chat_once_key(once_key: &str, route: &ChatRoute) -> String {
    format!("{once_key}@{}:{}", route.platform, route.id)
}

/// Adds a route, or changes the options of the same program, platform and
/// URL; its id.
pub async fn add_chat_route(pool: &PgPool, route: &NewChatRoute<'_>) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO chat_routes (program_id, platform, url, digest, instead_of_email)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (program_id, platform, url)
         DO UPDATE SET digest = EXCLUDED.digest, instead_of_email = EXCLUDED.instead_of_email
         RETURNING id",
    )
    .bind(route.program_id)
    .bind(route.platform.as_str())
    .bind(route.url)
    .bind(route.digest)
    .bind(route.instead_of_email)
    .fetch_one(pool)
    .await?)
}

/// Removes a route; `false` when there was none of that id.
pub async fn remove_chat_route(pool: &PgPool, id: i64) -> Result<bool, StoreError> {
    let removed = sqlx::query("DELETE FROM chat_routes WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?
        .rows_affected();
    Ok(removed == 1)
}

/// Every route, by program and id.
pub async fn chat_routes(pool: &PgPool) -> Result<Vec<ChatRoute>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, program_id, platform, url, digest, instead_of_email, created_at
         FROM chat_routes ORDER BY program_id, id",
    )
    .fetch_all(pool)
    .await?;
    rows.iter().map(decode).collect()
}

/// The routes of `program_id` that carry `purpose`.
pub async fn chat_routes_of(
    pool: &PgPool,
    program_id: &str,
    purpose: ChatPurpose,
) -> Result<Vec<ChatRoute>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, program_id, platform, url, digest, instead_of_email, created_at
         FROM chat_routes WHERE program_id = $1 AND (digest OR NOT $2) ORDER BY id",
    )
    .bind(program_id)
    .bind(purpose == ChatPurpose::Digest)
    .fetch_all(pool)
    .await?;
    rows.iter().map(decode).collect()
}

fn decode(row: &sqlx::postgres::PgRow) -> Result<ChatRoute, StoreError> {
    let id: i64 = row.try_get("id")?;
    let platform: String = row.try_get("platform")?;
    let platform = Platform::parse(&platform).ok_or_else(|| {
        StoreError::Corrupt(format!("chat route {id}"), format!("platform {platform:?}"))
    })?;
    Ok(ChatRoute {
        id,
        program_id: row.try_get("program_id")?,
        platform,
        url: row.try_get("url")?,
        digest: row.try_get("digest")?,
        instead_of_email: row.try_get("instead_of_email")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Records how a post ended (`Sent`, `Failed` or `Unknown`), in the ledger
/// only: the message's timeline row is its email's (or closed by the
/// worker when no email goes). `false` when the claim was no longer the
/// holder's (nothing was changed).
pub async fn finish_chat(
    pool: &PgPool,
    held: &HeldClaim,
    status: DeliveryStatus,
    detail: &str,
) -> Result<bool, StoreError> {
    let key = &held.key;
    let changed = sqlx::query(
        "UPDATE deliveries SET status = $5, detail = $6, finished_at = now()
         WHERE mentorship_id = $1 AND once_key = $2 AND recipient = $3
           AND attempt = $4 AND status = ANY($7)",
    )
    .bind(&key.subject_id)
    .bind(&key.once_key)
    .bind(key.recipient.as_str())
    .bind(held.attempt)
    .bind(status)
    .bind(detail)
    .bind(DeliveryStatus::IN_FLIGHT)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(changed == 1)
}
