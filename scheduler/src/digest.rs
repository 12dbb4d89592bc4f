//! The coordinators' daily digest: a cron job (UTC, `FIRSTWEEK_DIGEST_CRON`,
//! default 07:00) adds one timeline row per coordinator for the day; the
//! heartbeat publishes it like any due step. The row's unique key makes the job
//! safe to run on every scheduler replica, and again after a restart.

use sqlx::PgPool;
use tokio::sync::Notify;
use tokio_cron_scheduler::{Job, JobScheduler};

use firstweek::Rules;
use firstweek_store as store;

/// Checks the expression now, so a typo stops start-up with the variable's name.
pub fn check_cron(expr: &str) -> anyhow::Result<()> {
    Job::new_async(expr, |_, _| Box::pin(async {})).map_err(|e| {
        anyhow::anyhow!("FIRSTWEEK_DIGEST_CRON: {expr:?} is not a six-field cron expression: {e}")
    })?;
    Ok(())
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
            match store::schedule_digests(&pool, &rules, day).await {
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
