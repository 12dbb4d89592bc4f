//! firstweek's PostgreSQL adapter: the pairs, the interaction ledger, the
//! timeline, the delivery ledger, the digests' queries and the read models the
//! CLI prints. Every SQL statement of firstweek lives in this crate.
//!
//! Every write is idempotent so replicas and redeliveries are harmless;
//! concurrent writers about one pair serialise on an advisory lock
//! (`firstweek_pair_lock` in the schema). What to write is decided by the
//! domain ([`firstweek::decision`]); this crate only stores it.

use std::str::FromStr;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

mod api_keys;
mod backlog;
mod budget;
mod chat;
mod dedicated;
mod digest;
mod erasure;
mod escalations;
pub mod experiments;
mod inbound;
mod intake;
mod ledger;
mod links;
pub mod outage;
mod outbox;
mod pairs;
mod participants;
mod pseudonyms;
pub mod read;
mod reminders;
mod resend;
mod schedule;
pub mod status;
mod steps;
mod web;
mod webhooks;

pub use api_keys::{
    Acceptance, ApiKeyRecord, accept_event, api_keys, create_api_key, revoke_api_key,
};
pub use backlog::{Backlog, backlog};
pub use budget::{Budget, claim_within_budget};
pub use chat::{
    ChatPurpose, ChatRoute, NewChatRoute, add_chat_route, chat_once_key, chat_routes,
    chat_routes_of, finish_chat, remove_chat_route,
};
pub use dedicated::Dedicated;
pub use digest::{
    CoordinatorDigest, coordinator_digest, coordinator_email, coordinator_pairs, schedule_digests,
};
pub use erasure::{Erased, Reach, erase, erase_retained, erasure_reach, erasure_traces};
pub use escalations::{
    Change, EscalationFilter, Opening, acknowledge, close_escalation, escalation, escalations,
    mark_reminded, open_escalation,
};
pub use inbound::{claim_inbound, mark_inbound_published, release_inbound};
pub use intake::{Ingested, ingest, ingest_batch};
pub use ledger::{
    Claim, DeliveryClaim, DeliveryEnd, DeliveryKey, Handover, HeldClaim, UnknownDelivery,
    claim_deliveries, claim_delivery, finish_deliveries, finish_delivery, mark_handing_over,
    mark_handing_over_many, release_delivery,
};
pub use links::{
    Issued, Link, Refused, find_link, issue_link, issue_personal_link, open_link, revoke_links,
    revoke_links_of_coordinator, revoke_links_of_pair, revoke_links_of_person, use_link,
};
pub use outbox::{
    Pending, claim_announcements, hold_announcements, mark_announced, release_announcements,
};
pub use pairs::{PairRecord, StoredPair, interactions, ledgers, mentorship};
pub use participants::is_unsubscribed;
pub use pseudonyms::{Keyed, fill_coordinator_keys, key_pseudonyms};
pub use reminders::{Reminder, reminders};
pub use resend::{Resend, resend};
pub use schedule::{
    ClaimedStep, StepsQueue, Waiting, claim_due, mark_published, next_due, release, waiting,
};
pub use status::{DeliveryStatus, EndpointState, ErasedVia, RowStatus, SubjectKind, WebhookStatus};
pub use steps::{
    StepState, Subject, TimelineRow, defer_row, finish_row, load_steps, pick_steps, recheck_at,
    retry_row, timeline_row,
};
pub use web::{Acted, web_acknowledge, web_answer, web_resolve, web_unsubscribe};
pub use webhooks::{
    Attempted, ClaimedWebhook, Endpoint, WebhookDelivery, add_endpoint, claim_webhooks, endpoints,
    failing_endpoints, fan_out, message_id, record_webhook, remove_endpoint, replay_webhook,
    webhook_deliveries,
};

/// Storage failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// PostgreSQL refused or could not be reached.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration could not be applied.
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored row does not decode (the first field names what it is about).
    #[error("stored mentorship {0} cannot be read: {1}")]
    Corrupt(String, String),
    /// The operating system gave no random bytes for a link token.
    #[error("no randomness for a link token: {0}")]
    Randomness(String),
    /// The database's pseudonyms were keyed with another key.
    #[error(
        "FIRSTWEEK_PSEUDONYM_KEY is not the key this database's pseudonyms were made with; \
         give the one it was keyed with (pseudonyms cannot be rekeyed without their addresses)"
    )]
    PseudonymKeyChanged,
}

/// The embedded migrations (`migrations/` at the workspace root).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// A pooled connection idle for longer than this is pinged before use.
const PING_AFTER_IDLE: std::time::Duration = std::time::Duration::from_secs(10);

/// Opens a pool. The URL is never logged: it may hold a password.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, StoreError> {
    // Custom plans for every statement: the batch statements join arrays of
    // keys to tables that start empty and grow fast; a generic plan made while
    // a table was empty (hash join over a sequential scan) would stay in use
    // until autovacuum analyzes it, rescanning the whole table per batch.
    // Planning these small statements costs microseconds.
    let options = PgConnectOptions::from_str(url)?
        .application_name("firstweek")
        .options([("plan_cache_mode", "force_custom_plan")]);
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(std::time::Duration::from_secs(5))
        // sqlx pings every idle connection before handing it out: a round
        // trip (and its syscalls on both sides) per statement, doubling the
        // CPU of every short query. A connection used within the last few
        // seconds is taken as alive; one that breaks anyway (PostgreSQL
        // restarted) fails its statement with an I/O error, which every
        // caller treats as an outage and retries, and is then discarded.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_AFTER_IDLE {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
        .connect_with(options)
        .await?;
    Ok(pool)
}

/// How many of this build's migrations the database has not applied yet, for
/// a service that must not migrate (its role cannot create tables). A
/// database no service has migrated yet has no `_sqlx_migrations` table: an
/// error, like an unreachable one.
pub async fn pending_migrations(pool: &PgPool) -> Result<usize, StoreError> {
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(pool)
            .await?;
    Ok(MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration() && !applied.contains(&m.version))
        .count())
}

/// Applies pending migrations; safe when replicas start together (sqlx holds an advisory lock).
pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}
