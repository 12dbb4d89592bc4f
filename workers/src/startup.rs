//! Wiring: settings, logs, database, roles, admin endpoints, shutdown.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::task::JoinSet;

use firstweek::broker::{EVENTS_QUEUE, STEPS_QUEUE};
use firstweek::config::Settings;
use firstweek::{store, telemetry};
use firstweek_ops::{admin, backoff::Backoff, shutdown};

use crate::consumer::{self, ConsumerConfig};
use crate::intake::Intake;
use crate::mailer::Mailer;
use crate::steps::Steps;

/// Which queues this process consumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    All,
    Intake,
    Steps,
}

fn role() -> anyhow::Result<Role> {
    let arg = std::env::args().nth(1);
    let value = arg
        .or_else(|| std::env::var("FIRSTWEEK_WORKER_ROLE").ok())
        .unwrap_or_else(|| "all".into());
    match value.as_str() {
        "all" => Ok(Role::All),
        "intake" => Ok(Role::Intake),
        "steps" => Ok(Role::Steps),
        other => anyhow::bail!("FIRSTWEEK_WORKER_ROLE: {other:?} is not all, intake or steps"),
    }
}

/// Runs the worker until SIGTERM.
pub async fn run() -> anyhow::Result<()> {
    let settings = Settings::from_env("0.0.0.0:9101")?;
    telemetry::init(settings.log_format);
    let role = role()?;
    let templates = settings.templates().context("templates")?;
    let mailer = Arc::new(Mailer::new(
        settings.smtp_url.as_deref(),
        settings.outbox_dir.clone(),
        settings.smtp_timeout,
        settings.smtp_ca_file.as_deref(),
    )?);
    let shutdown = shutdown::on_signal();
    let health = admin::Health::new();
    let metrics = admin::install_metrics()?;
    tracing::info!(?role, playbook = %settings.rules.playbook.name, scale = settings.rules.scale.factor(), smtp = settings.smtp_url.is_some(), "firstweek-worker starting");

    let mut tasks = JoinSet::new();
    if let Some(addr) = settings.admin_addr {
        tasks.spawn(admin::serve(
            addr,
            health.clone(),
            metrics,
            shutdown.clone(),
        ));
    }
    let pool = connect_database(&settings, &health, &shutdown).await?;
    let Some(pool) = pool else { return Ok(()) };

    let base = |queue, concurrency: usize| ConsumerConfig {
        amqp_url: settings.amqp_url.clone(),
        queue,
        prefetch: (concurrency * 2).min(u16::MAX as usize) as u16,
        concurrency,
        drain: Duration::from_secs(20),
    };
    if role != Role::Steps {
        let intake = Arc::new(Intake {
            pool: pool.clone(),
            rules: settings.rules.clone(),
        });
        let (cfg, h, s) = (
            base(EVENTS_QUEUE, settings.intake_concurrency),
            health.clone(),
            shutdown.clone(),
        );
        tasks.spawn(async move {
            consumer::run(cfg, intake, h, s).await;
            Ok(())
        });
    }
    if role != Role::Intake {
        let steps = Arc::new(Steps {
            pool: pool.clone(),
            rules: settings.rules.clone(),
            templates,
            mailer,
            from: settings.from.clone(),
            mail_deadline: settings.mail_deadline,
            claim_lease: settings.claim_lease,
        });
        let (cfg, h, s) = (
            base(STEPS_QUEUE, settings.mail_concurrency),
            health.clone(),
            shutdown.clone(),
        );
        tasks.spawn(async move {
            consumer::run(cfg, steps, h, s).await;
            Ok(())
        });
    }
    tasks.spawn(firstweek_ops::admin::watch_database(
        pool.clone(),
        health.clone(),
        shutdown.clone(),
    ));

    while let Some(done) = tasks.join_next().await {
        if let Ok(Err(e)) = done {
            tracing::error!(error = %format!("{e:#}"), "a task failed; shutting down");
            shutdown.cancel();
        }
    }
    pool.close().await;
    tracing::info!("firstweek-worker stopped");
    Ok(())
}

/// Connects and migrates, waiting out a database that is still starting.
async fn connect_database(
    settings: &Settings,
    health: &admin::Health,
    shutdown: &tokio_util::sync::CancellationToken,
) -> anyhow::Result<Option<sqlx::PgPool>> {
    let mut backoff = Backoff::default();
    loop {
        let attempt = async {
            let pool = store::connect(&settings.database_url, 10).await?;
            store::migrate(&pool).await?;
            Ok::<_, store::StoreError>(pool)
        };
        match attempt.await {
            Ok(pool) => {
                health.set_database(true);
                return Ok(Some(pool));
            }
            Err(e) => {
                let delay = backoff.next_delay();
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "database not ready");
                tokio::select! {
                    _ = shutdown.cancelled() => return Ok(None),
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}
