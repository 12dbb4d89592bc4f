//! Wiring: settings in, roles and admin endpoints running, everything joined
//! on shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use firstweek::email::Templates;
use firstweek_broker::consume::{self, ConsumerConfig};
use firstweek_broker::{EVENTS_QUEUE, STEPS_QUEUE};
use firstweek_ops::admin::{self, Admin};
use firstweek_ops::database;
use firstweek_settings::WorkerSettings;

use crate::chat::ChatPoster;
use crate::intake::Intake;
use crate::mailer::Mailer;
use crate::steps::{Steps, StepsConfig};

/// How long in-flight work may take once shutdown starts.
const DRAIN: Duration = Duration::from_secs(20);

/// A worker, built and ready to run.
pub struct App {
    settings: WorkerSettings,
    templates: Templates,
    mailer: Arc<Mailer>,
    http: reqwest::Client,
    chat: Arc<ChatPoster>,
    admin: Admin,
}

impl App {
    /// Checks what can be checked before running (templates against the
    /// playbook, the SMTP URL, the outbox) and binds the admin address.
    pub async fn build(settings: WorkerSettings) -> anyhow::Result<App> {
        let templates = settings.templates().context("templates")?;
        let mailer = Arc::new(Mailer::new(
            settings.mail.smtp_url.as_deref(),
            settings.mail.outbox_dir.clone(),
            settings.mail.smtp_timeout,
            settings.mail.smtp_ca_file.as_deref(),
            settings.mail.concurrency,
        )?);
        let http = crate::webhooks::client(&settings.webhooks).context("webhook client")?;
        let chat = Arc::new(
            ChatPoster::new(crate::chat::TIMEOUT, Duration::from_secs(1)).context("chat")?,
        );
        let admin = Admin::bind(settings.admin_addr).await?;
        Ok(App {
            templates,
            mailer,
            http,
            chat,
            admin,
            settings,
        })
    }

    /// Where the admin endpoints listen, if they do.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.addr()
    }

    /// Runs the roles until `shutdown`, then drains what is in flight and
    /// joins every task it started.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let App {
            settings,
            templates,
            mailer,
            http,
            chat,
            admin,
        } = self;
        let role = settings.role;
        tracing::info!(?role, playbook = %settings.rules.playbook.name, scale = settings.rules.scale.factor(), smtp = settings.mail.smtp_url.is_some(), "firstweek-worker starting");
        let mut tasks: JoinSet<anyhow::Result<()>> = JoinSet::new();
        let health = admin.spawn(&mut tasks, &shutdown);
        // Beside start-up, not in its way: a warning if the broker would hand
        // a worker a body larger than firstweek allows.
        let (amqp, stop) = (settings.amqp_url.clone(), shutdown.clone());
        tasks.spawn(async move {
            tokio::select! {
                _ = crate::broker_limit::check(amqp) => {}
                _ = stop.cancelled() => {}
            }
            Ok(())
        });
        let mut writers = JoinSet::new();
        if let Some(pool) =
            database::connect_when_ready(&settings.database_url, 10, &shutdown).await
        {
            // Before any event is stored: the pseudonyms it looks up are keyed.
            if let Err(e) = database::key_pseudonyms(&pool, &settings.pseudonym_key).await {
                shutdown.cancel();
                join(&mut tasks, &shutdown).await;
                pool.close().await;
                return Err(anyhow::Error::new(e).context("keying the pseudonyms"));
            }
            health.set_database(true);
            let base = |queue, concurrency: usize| ConsumerConfig {
                amqp_url: settings.amqp_url.clone(),
                queue,
                service: "firstweek-worker",
                prefetch: (concurrency * 2).min(u16::MAX as usize) as u16,
                concurrency,
                drain: DRAIN,
            };
            // The `.eml` files this worker writes, without an SMTP server.
            let outbox = settings
                .mail
                .smtp_url
                .is_none()
                .then(|| settings.mail.outbox_dir.clone());
            if let (Some(dir), Some(days)) = (&outbox, settings.retention_days) {
                let keep = settings
                    .rules
                    .scale
                    .wall(chrono::Duration::days(i64::from(days)));
                tasks.spawn(crate::mailer::outbox::retain(
                    dir.clone(),
                    keep,
                    shutdown.clone(),
                ));
            }
            if role.intake() {
                let intake = Arc::new(
                    Intake::new(
                        pool.clone(),
                        settings.rules.clone(),
                        settings.pseudonym_key.clone(),
                        settings.amqp_url.clone(),
                        crate::intake::limits(settings.intake_concurrency, settings.batch_linger),
                        &mut writers,
                    )
                    .with_outbox(outbox.clone()),
                );
                let cfg = base(EVENTS_QUEUE, settings.intake_concurrency);
                tasks.spawn(consume(cfg, intake, health.clone(), shutdown.clone()));
            }
            if role.steps() {
                let cfg = StepsConfig {
                    rules: settings.rules.clone(),
                    templates,
                    mailer,
                    chat,
                    from: settings.mail.from.clone(),
                    mail_deadline: settings.mail.deadline,
                    claim_lease: settings.mail.claim_lease,
                    unknown_delivery: settings.mail.unknown_delivery,
                    public_url: settings.public_url.clone(),
                    stale_after: settings
                        .stale_after
                        .map(|span| settings.rules.scale.wall(span)),
                    batch_linger: settings.batch_linger,
                    pseudonym_key: settings.pseudonym_key.clone(),
                };
                let steps = Arc::new(Steps::new(pool.clone(), cfg, &mut writers));
                let cfg = base(STEPS_QUEUE, settings.steps_in_flight);
                tasks.spawn(consume(cfg, steps, health.clone(), shutdown.clone()));
            }
            if role.webhooks() {
                let dispatcher = crate::webhooks::Dispatcher::new(
                    pool.clone(),
                    http,
                    settings.webhooks.clone(),
                    settings.rules.scale,
                );
                tasks.spawn(dispatcher.run(shutdown.clone()));
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

async fn consume<H: firstweek_broker::Handler>(
    cfg: ConsumerConfig,
    handler: Arc<H>,
    health: Arc<admin::Health>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    consume::run(cfg, handler, health, shutdown).await;
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
