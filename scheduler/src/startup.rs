//! Wiring: settings, logs, database, heartbeat, admin endpoints, shutdown.

use std::sync::Arc;

use anyhow::Context as _;
use tokio::sync::Notify;

use firstweek::config::Settings;
use firstweek::{store, telemetry};
use firstweek_ops::{admin, backoff::Backoff, shutdown};

use crate::publisher::Publisher;
use crate::{backlog, digest, heartbeat};

/// Runs the scheduler until SIGTERM.
pub async fn run() -> anyhow::Result<()> {
    let settings = Settings::from_env("0.0.0.0:9100")?;
    telemetry::init(settings.log_format);
    let shutdown = shutdown::on_signal();
    let health = admin::Health::new();
    let metrics = admin::install_metrics()?;
    let digest_cron = digest::cron_from_env()?;
    tracing::info!(playbook = %settings.rules.playbook.name, scale = settings.rules.scale.factor(), "firstweek-scheduler starting");
    if let Some(addr) = settings.admin_addr {
        tokio::spawn(admin::serve(
            addr,
            health.clone(),
            metrics,
            shutdown.clone(),
        ));
    }

    let mut backoff = Backoff::default();
    let pool = loop {
        let attempt = async {
            let pool = store::connect(&settings.database_url, 4).await?;
            store::migrate(&pool).await?;
            Ok::<_, store::StoreError>(pool)
        };
        match attempt.await {
            Ok(pool) => break pool,
            Err(e) => {
                let delay = backoff.next_delay();
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "database not ready");
                tokio::select! {
                    _ = shutdown.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    };
    health.set_database(true);
    tokio::spawn(admin::watch_database(
        pool.clone(),
        health.clone(),
        shutdown.clone(),
    ));

    let wake = Arc::new(Notify::new());
    let mut cron = heartbeat::start(wake.clone())
        .await
        .context("starting the heartbeat")?;
    if let Some(expr) = &digest_cron {
        digest::add_job(
            &cron,
            expr,
            pool.clone(),
            settings.rules.clone(),
            wake.clone(),
        )
        .await
        .context("starting the daily digest")?;
    }
    backlog::add_job(&cron, pool.clone(), settings.amqp_url.clone())
        .await
        .context("starting the backlog gauges")?;
    let mut publisher = Publisher::new(
        pool.clone(),
        settings.amqp_url.clone(),
        health.clone(),
        settings.redeliver_after,
    );
    let mut backoff = Backoff::default();
    // Between heartbeats, wake early for a row due sooner than the next tick.
    let mut early: Option<std::time::Duration> = None;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(early.unwrap_or_default()), if early.is_some() => {}
        }
        early = None;
        let started = std::time::Instant::now();
        let ticked = publisher.tick().await;
        if ticked.is_ok() {
            early = next_wake(&pool).await;
        }
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
    let _ = cron.shutdown().await;
    pool.close().await;
    tracing::info!("firstweek-scheduler stopped");
    Ok(())
}

/// Heartbeats are a second apart; a row due before the next one is woken for
/// (at most every `MIN_GAP`, so a steady stream of due rows is published in
/// small batches rather than polled for).
const MIN_GAP: std::time::Duration = std::time::Duration::from_millis(50);

/// How long to sleep before looking again, if sooner than the next heartbeat.
async fn next_wake(pool: &sqlx::PgPool) -> Option<std::time::Duration> {
    let next = store::next_due(pool).await.ok()??;
    let wait = (next - chrono::Utc::now())
        .to_std()
        .unwrap_or_default()
        .max(MIN_GAP);
    (wait < std::time::Duration::from_secs(1)).then_some(wait)
}
