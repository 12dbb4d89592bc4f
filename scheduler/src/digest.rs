//! The coordinators' daily digest: a cron job (UTC, `FIRSTWEEK_DIGEST_CRON`,
//! default 07:00) adds one timeline row per coordinator for the day; the
//! heartbeat publishes it like any due step. The row's unique key makes the job
//! safe to run on every scheduler replica, and again after a restart.

use sqlx::PgPool;
use tokio::sync::Notify;
use tokio_cron_scheduler::{Job, JobScheduler};

use firstweek::digest;
use firstweek::store::Rules;

/// Six fields, seconds first, UTC.
pub const DEFAULT_CRON: &str = "0 0 7 * * *";

/// Reads `FIRSTWEEK_DIGEST_CRON` (`off` disables the digest).
pub fn cron_from_env() -> anyhow::Result<Option<String>> {
    match std::env::var("FIRSTWEEK_DIGEST_CRON")
        .ok()
        .filter(|v| !v.is_empty())
    {
        None => Ok(Some(DEFAULT_CRON.to_string())),
        Some(v) if v.eq_ignore_ascii_case("off") => Ok(None),
        Some(v) => {
            // Validate now, so a typo stops start-up with the variable's name.
            Job::new_async(v.as_str(), |_, _| Box::pin(async {})).map_err(|e| {
                anyhow::anyhow!(
                    "FIRSTWEEK_DIGEST_CRON: {v:?} is not a six-field cron expression: {e}"
                )
            })?;
            Ok(Some(v))
        }
    }
}

/// Adds the daily digest job to `scheduler`; `wake` nudges the publisher right after.
pub async fn add_job(
    scheduler: &JobScheduler,
    cron: &str,
    pool: PgPool,
    rules: Rules,
    wake: std::sync::Arc<Notify>,
) -> anyhow::Result<()> {
    let job = Job::new_async(cron, move |_id, _scheduler| {
        let (pool, rules, wake) = (pool.clone(), rules.clone(), wake.clone());
        Box::pin(async move {
            let day = chrono::Utc::now().date_naive();
            match digest::schedule(&pool, &rules, day).await {
                Ok(added) => {
                    tracing::info!(%day, added, "daily digests scheduled");
                    wake.notify_one();
                }
                // The next run (or another replica) will add it; nothing is lost but a day's digest.
                Err(e) => tracing::warn!(error = %e, %day, "could not schedule today's digests"),
            }
        })
    })?;
    scheduler.add(job).await?;
    Ok(())
}
