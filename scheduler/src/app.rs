//! Wiring: settings in, heartbeat, jobs and admin endpoints running,
//! everything joined on shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use sqlx::PgPool;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use firstweek_ops::admin::{self, Admin};
use firstweek_ops::{backoff::Backoff, database};
use firstweek_settings::SchedulerSettings;
use firstweek_store as store;

use crate::cron::{Jobs, Schedule};
use crate::publisher::Publisher;
use crate::{backlog, digest, heartbeat, retention};

/// Heartbeats are a second apart; a row due before the next one is woken for
/// (at most every `MIN_GAP`, so a steady stream of due rows is published in
/// small batches rather than polled for).
const MIN_GAP: std::time::Duration = std::time::Duration::from_millis(50);

/// A scheduler, built and ready to run.
pub struct App {
    settings: SchedulerSettings,
    /// `FIRSTWEEK_DIGEST_CRON`, checked at build.
    digest: Option<Schedule>,
    admin: Admin,
}

impl App {
    /// Checks the digest schedule and binds the admin address.
    pub async fn build(settings: SchedulerSettings) -> anyhow::Result<App> {
        let digest = settings
            .digest_cron
            .as_deref()
            .map(digest::check_cron)
            .transpose()?;
        let admin = Admin::bind(settings.admin_addr).await?;
        Ok(App {
            settings,
            digest,
            admin,
        })
    }

    /// Where the admin endpoints listen, if they do.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.addr()
    }

    /// Publishes due steps until `shutdown`, then settles the batches in
    /// flight and joins every task it started.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let App {
            settings,
            digest,
            admin,
        } = self;
        tracing::info!(playbook = %settings.rules.playbook.name, scale = settings.rules.scale.factor(), "firstweek-scheduler starting");
        let mut tasks: JoinSet<anyhow::Result<()>> = JoinSet::new();
        let health = admin.spawn(&mut tasks, &shutdown);
        let result = match database::connect_when_ready(&settings.database_url, 4, &shutdown).await
        {
            Some(pool) => {
                health.set_database(true);
                tasks.spawn(admin::watch_database(
                    pool.clone(),
                    health.clone(),
                    shutdown.clone(),
                ));
                let published = match database::key_pseudonyms(&pool, &settings.pseudonym_key).await
                {
                    Ok(()) => publish(&settings, digest, &pool, &health, &shutdown).await,
                    Err(e) => Err(anyhow::Error::new(e).context("keying the pseudonyms")),
                };
                pool.close().await;
                published
            }
            None => Ok(()),
        };
        // Stop the admin server and the database watch too, whatever ended the run.
        shutdown.cancel();
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %format!("{e:#}"), "a task failed"),
                Err(e) => tracing::error!(error = %e, "a task panicked"),
            }
        }
        tracing::info!("firstweek-scheduler stopped");
        result
    }
}

/// The heartbeat loop, the wall-clock jobs and the publisher, until `shutdown`.
async fn publish(
    settings: &SchedulerSettings,
    digest: Option<Schedule>,
    pool: &PgPool,
    health: &Arc<admin::Health>,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    // Woken by the heartbeat's ticks, and by jobs that leave work (the digest).
    let wake = Arc::new(Notify::new());
    let mut ticks = heartbeat::ticks();
    let mut jobs = Jobs::start().await.context("starting the cron scheduler")?;
    if let Some(schedule) = digest {
        digest::add_job(
            &mut jobs,
            &schedule,
            pool.clone(),
            settings.rules.clone(),
            wake.clone(),
        )
        .await
        .context("starting the daily digest")?;
    }
    if let Some(days) = settings.retention_days {
        let key = settings.pseudonym_key.clone();
        retention::add_job(&mut jobs, days, pool.clone(), settings.rules.clone(), key)
            .await
            .context("starting the retention job")?;
    }
    backlog::add_job(&mut jobs, pool.clone(), settings.amqp_url.clone())
        .await
        .context("starting the backlog gauges")?;
    let mut publisher = Publisher::new(
        pool.clone(),
        settings.amqp_url.clone(),
        health.clone(),
        settings.redeliver_after,
    );
    let mut probe = store::Dedicated::new(pool.clone());
    let mut backoff = Backoff::default();
    // Between heartbeats, wake early for a row due sooner than the next tick.
    let mut early: Option<std::time::Duration> = None;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = ticks.tick() => {}
            _ = wake.notified() => {}
            _ = tokio::time::sleep(early.unwrap_or_default()), if early.is_some() => {}
        }
        let started = std::time::Instant::now();
        let ticked = beat(&mut publisher, &mut probe, pool, health).await;
        early = ticked.as_ref().ok().and_then(|b| b.wake_in);
        let ticked = ticked.map(|b| b.published);
        metrics::histogram!("firstweek_heartbeat_seconds").record(started.elapsed().as_secs_f64());
        match ticked {
            Ok(n) => {
                backoff.reset();
                if n > 0 {
                    tracing::debug!(published = n, "due steps published");
                }
            }
            Err(e) => {
                // The next tick retries; back off so an outage is not hammered.
                let delay = backoff.next_delay();
                tracing::warn!(error = %format!("{e:#}"), retry_in_ms = delay.as_millis() as u64, "tick failed");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
    publisher.drain().await;
    probe.close().await;
    jobs.stop().await;
    Ok(())
}

/// What one heartbeat did.
struct Beat {
    /// Rows confirmed and marked published.
    published: usize,
    /// Wake before the next heartbeat, for a row due sooner than that.
    wake_in: Option<std::time::Duration>,
}

/// One heartbeat: one look at what waits ([`store::waiting`]), then only the
/// work that is there. Most heartbeats find nothing due and cost that query.
async fn beat(
    publisher: &mut Publisher,
    probe: &mut store::Dedicated,
    pool: &PgPool,
    health: &admin::Health,
) -> anyhow::Result<Beat> {
    // Keeps the broker link (and readiness) up even when nothing is due; no round trip once connected.
    publisher.connect().await?;
    let waiting = match store::waiting(probe.get().await?).await {
        Ok(w) => w,
        Err(e) => {
            probe.reset();
            return Err(e.into());
        }
    };
    // The readiness watch need not ping: this answer stands for it.
    health.database_answered();
    let mut published = 0;
    if waiting.due || publisher.busy() {
        published = publisher.tick().await?;
    }
    if waiting.announcements {
        publisher
            .announce()
            .await
            .context("relaying announcements")?;
    }
    if waiting.inbound {
        publisher
            .relay_inbound()
            .await
            .context("relaying the events API's events")?;
    }
    let next = if waiting.due {
        // The claim moved the head of the index.
        store::next_due(pool).await.ok().flatten()
    } else {
        waiting.next_at
    };
    Ok(Beat {
        published,
        wake_in: next.and_then(wake_in),
    })
}

/// How long to sleep before looking again, if sooner than the next heartbeat.
fn wake_in(next: chrono::DateTime<chrono::Utc>) -> Option<std::time::Duration> {
    let wait = (next - chrono::Utc::now())
        .to_std()
        .unwrap_or_default()
        .max(MIN_GAP);
    (wait < std::time::Duration::from_secs(1)).then_some(wait)
}
