//! Reaching PostgreSQL at start-up: connect and migrate (or, for a service
//! that may not migrate, wait until the schema is current), waiting out a
//! database that is still starting (or restarting) with the usual backoff.

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;

/// A pool of `max_connections` on `url`, migrated; `None` if `shutdown` came first.
pub async fn connect_when_ready(
    url: &str,
    max_connections: u32,
    shutdown: &CancellationToken,
) -> Option<PgPool> {
    connect(url, max_connections, shutdown, Schema::Migrate).await
}

/// A pool of `max_connections` on `url` once every migration this build
/// knows has been applied (by the scheduler or the workers); `None` if
/// `shutdown` came first. For `firstweek-web`, whose least-privileged role
/// cannot create tables: it waits for the schema instead of changing it.
pub async fn connect_when_migrated(
    url: &str,
    max_connections: u32,
    shutdown: &CancellationToken,
) -> Option<PgPool> {
    connect(url, max_connections, shutdown, Schema::AwaitMigrated).await
}

#[derive(Clone, Copy)]
enum Schema {
    Migrate,
    AwaitMigrated,
}

async fn connect(
    url: &str,
    max_connections: u32,
    shutdown: &CancellationToken,
    schema: Schema,
) -> Option<PgPool> {
    let mut backoff = Backoff::default();
    loop {
        let attempt = async {
            let pool = firstweek_store::connect(url, max_connections).await?;
            let pending = match schema {
                Schema::Migrate => {
                    firstweek_store::migrate(&pool).await?;
                    0
                }
                Schema::AwaitMigrated => firstweek_store::pending_migrations(&pool).await?,
            };
            Ok::<_, firstweek_store::StoreError>((pool, pending))
        };
        let delay = backoff.next_delay();
        match attempt.await {
            Ok((pool, 0)) => return Some(pool),
            Ok((pool, pending)) => {
                tracing::warn!(
                    pending,
                    retry_in_ms = delay.as_millis() as u64,
                    "the database schema is older than this build; waiting for the scheduler or workers to migrate it"
                );
                pool.close().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "database not ready");
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// Keys the database's pseudonyms with `key` once (the first service with
/// it to start does; [`firstweek_store::key_pseudonyms`]). A database keyed
/// with another key is refused: the service must not start.
pub async fn key_pseudonyms(
    pool: &PgPool,
    key: &firstweek::pseudonym::PseudonymKey,
) -> Result<(), firstweek_store::StoreError> {
    if let Some(done) = firstweek_store::key_pseudonyms(pool, key).await? {
        tracing::info!(
            erasures = done.erasures,
            pairs = done.pairs,
            coordinator_keys = done.coordinator_keys,
            "pseudonyms keyed with FIRSTWEEK_PSEUDONYM_KEY"
        );
    }
    Ok(())
}
