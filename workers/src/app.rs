//! Wiring: settings in, roles and admin endpoints running, everything joined
//! on shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use firstweek::config::{Settings, WorkerRole};
use firstweek::email::Templates;
use firstweek_broker::{EVENTS_QUEUE, STEPS_QUEUE};
use firstweek_ops::{admin, backoff::Backoff};
use firstweek_store as store;

use crate::consumer::{self, ConsumerConfig};
use crate::intake::Intake;
use crate::mailer::Mailer;
use crate::steps::{Steps, StepsConfig};

/// How long in-flight work may take once shutdown starts.
const DRAIN: Duration = Duration::from_secs(20);

/// A worker, built and ready to run.
pub struct App {
    settings: Settings,
    templates: Templates,
    mailer: Arc<Mailer>,
    health: Arc<admin::Health>,
    metrics: PrometheusHandle,
    admin: Option<TcpListener>,
}

impl App {
    /// Checks what can be checked before running (templates against the
    /// playbook, the SMTP URL, the outbox) and binds the admin address.
    pub async fn build(settings: Settings) -> anyhow::Result<App> {
        let templates = settings.templates().context("templates")?;
        let mailer = Arc::new(Mailer::new(
            settings.smtp_url.as_deref(),
            settings.outbox_dir.clone(),
            settings.smtp_timeout,
            settings.smtp_ca_file.as_deref(),
            settings.mail_concurrency,
        )?);
        let admin = match settings.admin_addr {
            Some(addr) => Some(admin::bind(addr).await?),
            None => None,
        };
        Ok(App {
            templates,
            mailer,
            health: admin::Health::new(),
            metrics: admin::install_metrics()?,
            admin,
            settings,
        })
    }

    /// Where the admin endpoints listen, if they do.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Runs the roles until `shutdown`, then drains what is in flight and
    /// joins every task it started.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let App {
            settings,
            templates,
            mailer,
            health,
            metrics,
            admin,
        } = self;
        let role = settings.worker_role;
        tracing::info!(?role, playbook = %settings.rules.playbook.name, scale = settings.rules.scale.factor(), smtp = settings.smtp_url.is_some(), "firstweek-worker starting");
        let mut tasks: JoinSet<anyhow::Result<()>> = JoinSet::new();
        if let Some(listener) = admin {
            tasks.spawn(admin::serve(
                listener,
                health.clone(),
                metrics,
                shutdown.clone(),
            ));
        }
        let mut writers = JoinSet::new();
        if let Some(pool) = connect_database(&settings, &health, &shutdown).await? {
            let base = |queue, concurrency: usize| ConsumerConfig {
                amqp_url: settings.amqp_url.clone(),
                queue,
                prefetch: (concurrency * 2).min(u16::MAX as usize) as u16,
                concurrency,
                drain: DRAIN,
            };
            if role != WorkerRole::Steps {
                let intake = Arc::new(Intake::new(
                    pool.clone(),
                    settings.rules.clone(),
                    &mut writers,
                ));
                let cfg = base(EVENTS_QUEUE, settings.intake_concurrency);
                tasks.spawn(consume(cfg, intake, health.clone(), shutdown.clone()));
            }
            if role != WorkerRole::Intake {
                let cfg = StepsConfig {
                    rules: settings.rules.clone(),
                    templates,
                    mailer,
                    from: settings.from.clone(),
                    mail_deadline: settings.mail_deadline,
                    claim_lease: settings.claim_lease,
                };
                let steps = Arc::new(Steps::new(pool.clone(), cfg, &mut writers));
                let cfg = base(STEPS_QUEUE, settings.mail_concurrency);
                tasks.spawn(consume(cfg, steps, health.clone(), shutdown.clone()));
            }
            tasks.spawn(admin::watch_database(
                pool.clone(),
                health.clone(),
                shutdown.clone(),
            ));
            join(&mut tasks, &shutdown).await;
            // The consumers are gone and with them every handle to the
            // batchers: their writers finish what they hold and stop.
            while writers.join_next().await.is_some() {}
            pool.close().await;
        } else {
            join(&mut tasks, &shutdown).await;
        }
        tracing::info!("firstweek-worker stopped");
        Ok(())
    }
}

async fn consume<H: consumer::Handler>(
    cfg: ConsumerConfig,
    handler: Arc<H>,
    health: Arc<admin::Health>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    consumer::run(cfg, handler, health, shutdown).await;
    Ok(())
}

/// Joins every task; the first that fails stops the others.
async fn join(tasks: &mut JoinSet<anyhow::Result<()>>, shutdown: &CancellationToken) {
    while let Some(done) = tasks.join_next().await {
        let failure = match done {
            Ok(Ok(())) => continue,
            Ok(Err(e)) => format!("{e:#}"),
            Err(e) => format!("task panicked or was aborted: {e}"),
        };
        tracing::error!(error = %failure, "a task failed; shutting down");
        shutdown.cancel();
    }
}

/// Connects and migrates, waiting out a database that is still starting.
async fn connect_database(
    settings: &Settings,
    health: &admin::Health,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<PgPool>> {
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
