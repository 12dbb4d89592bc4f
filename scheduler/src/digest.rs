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

use firstweek::Rules;
use firstweek_store as store;

use crate::cron::{CronError, Jobs, Schedule};

/// Checks the expression now, so a typo stops start-up with the variable's name.
pub fn check_cron(expr: &str) -> anyhow::Result<Schedule> {
    Schedule::parse(expr).map_err(|e| anyhow::anyhow!("FIRSTWEEK_DIGEST_CRON: {e}"))
}

/// Adds the digest job, at `schedule`, to `jobs`; `wake` nudges the
/// publisher when it added a digest.
pub async fn add_job(
    jobs: &mut Jobs,
    schedule: &Schedule,
    pool: PgPool,
    rules: Rules,
    wake: std::sync::Arc<Notify>,
) -> Result<(), CronError> {
    jobs.add("digest", schedule, move || {
        let (pool, rules, wake) = (pool.clone(), rules.clone(), wake.clone());
        async move {
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
        }
    })
    .await
}
