//! The coordinators' daily digest, in each coordinator's own morning: a job
//! ticking every minute (`FIRSTWEEK_DIGEST_CRON`) adds, for every
//! coordinator whose local `digest_at` (the playbook's) has passed, the row
//! of that local date ([`store::schedule_digests`]); the heartbeat publishes
//! it like any due step. The row's unique key makes the job safe to run on
//! every scheduler replica, every minute, and again after a restart.
//!
//! Digests follow the wall clock, not `FIRSTWEEK_TIME_SCALE`: a
//! coordinator's morning is a real one.

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

/// Adds the digest job, ticking at `cron`, to `scheduler`; `wake` nudges
/// the publisher when it added a digest.
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
            let now = chrono::Utc::now();
            match store::schedule_digests(&pool, &rules, now).await {
                Ok(0) => tracing::debug!("no digest due"),
                Ok(added) => {
                    tracing::info!(added, "digests scheduled");
                    wake.notify_one();
                }
                // The next tick (or another replica) adds it.
                Err(e) => tracing::warn!(error = %e, "could not schedule the due digests"),
            }
        })
    })?;
    scheduler.add(job).await?;
    Ok(())
}
