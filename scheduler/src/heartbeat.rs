//! The heartbeat: tokio-cron-scheduler ticks once a second and wakes the
//! publisher. Ticks only wake; all state lives in PostgreSQL, so a missed or
//! doubled tick (or a second scheduler replica) changes nothing.

use std::sync::Arc;

use tokio::sync::Notify;
use tokio_cron_scheduler::{Job, JobScheduler};

/// Every second (six fields, seconds first; UTC).
const EVERY_SECOND: &str = "* * * * * *";

/// Starts the cron scheduler; each tick notifies `wake`. Ticks coalesce
/// while the publisher is busy, so they never pile up.
pub async fn start(wake: Arc<Notify>) -> anyhow::Result<JobScheduler> {
    let scheduler = JobScheduler::new().await?;
    let job = Job::new_async(EVERY_SECOND, move |_id, _scheduler| {
        let wake = wake.clone();
        Box::pin(async move { wake.notify_one() })
    })?;
    scheduler.add(job).await?;
    scheduler.start().await?;
    Ok(scheduler)
}
