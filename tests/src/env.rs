//! One private installation: a database, a vhost and an SMTP capture
//! server of its own, and the services started against them (as processes,
//! see `processes.rs`, or inside the test process, see `in_process.rs`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::bail;
use lapin::{Channel, Connection};
use sqlx::PgPool;
use tokio::process::Child;

use firstweek_broker as broker;

use crate::in_process::InProcess;
use crate::{TestDb, TestVhost};

/// Options for one environment.
#[derive(Debug, Clone)]
pub struct Options {
    /// `FIRSTWEEK_TIME_SCALE` (a program day lasts 86400/scale seconds).
    pub scale: f64,
    /// Extra environment for both services.
    pub env: Vec<(String, String)>,
    /// Start the services right away.
    pub start_services: bool,
    /// Serve SMTP over implicit TLS (`smtps://localhost`) with a fresh self-signed certificate.
    pub smtp_tls: bool,
    /// Where the test's vhost is: the system broker, or a [`crate::cluster::Cluster`].
    pub broker: Broker,
    /// Where [`Env::start`] runs the services it starts.
    pub launch: Launch,
}

/// The RabbitMQ a test's vhost is created on.
#[derive(Debug, Clone, Default)]
pub enum Broker {
    /// The machine's broker on 127.0.0.1:5672 ([`AMQP_BASE`]).
    #[default]
    System,
    /// Nodes of a cluster on this machine (see [`crate::cluster::Cluster::broker`]):
    /// `AMQP_URL` lists one URL per node.
    Cluster {
        /// Node names, for `rabbitmqctl -n` (the first running one is used).
        nodes: Vec<String>,
        /// Their AMQP ports on 127.0.0.1, in the same order.
        ports: Vec<u16>,
    },
}

/// Where the services run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Launch {
    /// The real binaries, as processes a test can signal, kill and restart.
    #[default]
    Processes,
    /// Their libraries' `App`s inside the test process, for tests that need
    /// no process killed: quicker to start, no binaries to build first.
    InProcess,
}

impl Options {
    /// Services started by the test (not at once), this clock, and links in
    /// emails pointing at a `firstweek-web` the test runs on `web_port`.
    pub fn with_links(scale: f64, web_port: u16) -> Options {
        let mut options = Options {
            scale,
            start_services: false,
            ..Options::default()
        };
        options.env.push((
            "FIRSTWEEK_PUBLIC_URL".into(),
            format!("http://127.0.0.1:{web_port}"),
        ));
        options
    }
}

impl Options {
    /// Services started by the test (not at once), on `broker`, with the
    /// timeouts short enough for a fault suite's outages and killed workers
    /// to be recovered from within its run: SMTP 2 s, claim lease 6 s,
    /// redelivery after 10 s.
    pub fn for_faults(broker: Broker) -> Options {
        let mut options = Options {
            start_services: false,
            broker,
            ..Options::default()
        };
        for (k, v) in [
            ("FIRSTWEEK_SMTP_TIMEOUT_SECS", "2"),
            ("FIRSTWEEK_CLAIM_LEASE_SECS", "6"),
            ("FIRSTWEEK_REDELIVER_AFTER_SECS", "10"),
        ] {
            options.env.push((k.into(), v.into()));
        }
        options
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            scale: 43_200.0,
            env: vec![
                ("FIRSTWEEK_SEND_WINDOW".into(), "off".into()),
                // A compressed program day lasts seconds: the default (one
                // program day) would call a step stale after an ordinary
                // hiccup. The stale tests turn it on.
                ("FIRSTWEEK_STALE_AFTER".into(), "off".into()),
            ],
            start_services: true,
            smtp_tls: false,
            broker: Broker::System,
            launch: Launch::Processes,
        }
    }
}

/// One private installation.
pub struct Env {
    /// The test database's name; also names this env's temporary directory.
    pub name: String,
    /// `DATABASE_URL` of the test database.
    pub database_url: String,
    /// `AMQP_URL` of the test vhost (on a cluster, one URL per node, comma-separated).
    pub amqp_url: String,
    /// The test vhost's name.
    pub vhost: String,
    /// Port of the SMTP capture server on 127.0.0.1 (kept across restarts).
    pub smtp_port: u16,
    /// Where the SMTP capture server writes received `.eml` files (and reads its fault mode).
    pub mail_dir: PathBuf,
    /// Where the services' logs (and the test TLS certificates) are written.
    pub log_dir: PathBuf,
    /// A pool on the test database, already migrated.
    pub pool: PgPool,
    /// The options this env was started with.
    pub options: Options,
    pub(crate) smtp: Option<Child>,
    pub(crate) services: Vec<(String, Child)>,
    pub(crate) in_process: InProcess,
    pub(crate) spawned: usize,
    pub(crate) amqp: Connection,
    pub(crate) channel: Channel,
    // Dropped last, after the services: the database and vhost go when the
    // test ends, even when it fails early.
    _db: TestDb,
    _vhost: TestVhost,
}

impl Env {
    /// Creates database, vhost and SMTP server; starts a scheduler and a worker.
    pub async fn start(options: Options) -> anyhow::Result<Env> {
        // Migrated here so tests can read tables before the services are up.
        let db = TestDb::create("fw").await?;
        let vhost = TestVhost::create_on(&options.broker, "fw").await?;
        let (name, database_url, amqp_url) = (db.name.clone(), db.url.clone(), vhost.url.clone());

        let dir = std::env::temp_dir().join(&name);
        let mail_dir = dir.join("mail");
        let log_dir = dir.join("logs");
        std::fs::create_dir_all(&mail_dir)?;
        std::fs::create_dir_all(&log_dir)?;

        let amqp = broker::connect(&amqp_url, "firstweek-tests").await?;
        let channel = broker::confirm_channel(&amqp).await?;
        let pool = db.pool.clone();

        let mut env = Env {
            name,
            database_url,
            amqp_url,
            vhost: vhost.name.clone(),
            smtp_port: 0,
            mail_dir,
            log_dir,
            pool,
            options: options.clone(),
            smtp: None,
            services: Vec::new(),
            in_process: InProcess::default(),
            spawned: 0,
            amqp,
            channel,
            _db: db,
            _vhost: vhost,
        };
        env.start_smtp().await?;
        if options.start_services {
            env.launch("firstweek-scheduler", &[]).await?;
            env.launch("firstweek-worker", &[]).await?;
        }
        Ok(env)
    }

    /// Starts `binary` with `extra_env`, where [`Options::launch`] says:
    /// [`Env::spawn`] or [`Env::run_in_process`].
    pub async fn launch(&mut self, binary: &str, extra_env: &[(&str, &str)]) -> anyhow::Result<()> {
        match self.options.launch {
            Launch::Processes => {
                self.spawn(binary, extra_env).await?;
            }
            Launch::InProcess => {
                self.run_in_process(binary, extra_env).await?;
            }
        }
        Ok(())
    }

    /// Starts a worker, a scheduler and `firstweek-web` on `web_port`.
    pub async fn launch_with_web(&mut self, web_port: u16) -> anyhow::Result<()> {
        self.launch("firstweek-worker", &[]).await?;
        self.launch("firstweek-scheduler", &[]).await?;
        let addr = format!("127.0.0.1:{web_port}");
        self.launch("firstweek-web", &[("FIRSTWEEK_WEB_ADDR", &addr)])
            .await
    }

    /// Environment variables the services get.
    pub fn service_env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("DATABASE_URL".to_string(), self.database_url.clone()),
            ("AMQP_URL".into(), self.amqp_url.clone()),
            (
                "FIRSTWEEK_PSEUDONYM_KEY".into(),
                crate::PSEUDONYM_KEY.into(),
            ),
            ("SMTP_URL".into(), self.smtp_url()),
            (
                "FIRSTWEEK_TIME_SCALE".into(),
                self.options.scale.to_string(),
            ),
            ("FIRSTWEEK_ADMIN_ADDR".into(), "off".into()),
            (
                "FIRSTWEEK_FROM".into(),
                "firstweek <firstweek@example.org>".into(),
            ),
            ("FIRSTWEEK_LOG_FORMAT".into(), "json".into()),
            ("RUST_LOG".into(), "info".into()),
            // Tests that assert exact emails must meet no digest; digest tests turn the job on.
            ("FIRSTWEEK_DIGEST_CRON".into(), "off".into()),
        ];
        if self.options.smtp_tls {
            env.push((
                "FIRSTWEEK_SMTP_CA_FILE".into(),
                self.log_dir.join("smtp-ca.pem").display().to_string(),
            ));
        }
        env.extend(self.options.env.iter().cloned());
        env
    }

    /// Waits until every timeline row of the listed pairs is final (sent, skipped, ...).
    pub async fn wait_settled(&self, mentorships: &[&str], limit: Duration) -> anyhow::Result<()> {
        let ids: Vec<String> = mentorships.iter().map(|s| s.to_string()).collect();
        let start = Instant::now();
        loop {
            // Tolerates a PostgreSQL restart: a failed poll is just retried.
            let (known, open): (i64, i64) = sqlx::query_as(
                "SELECT (SELECT count(*) FROM mentorships WHERE id = ANY($1)),
                        (SELECT count(*) FROM timeline WHERE mentorship_id = ANY($1) AND status IN ('scheduled', 'published'))",
            )
            .bind(&ids)
            .fetch_one(&self.pool)
            .await
            .unwrap_or((-1, -1));
            if known == ids.len() as i64 && open == 0 {
                return Ok(());
            }
            if start.elapsed() > limit {
                bail!(
                    "not settled after {limit:?}: {known}/{} pairs known, {open} rows open; logs in {}",
                    ids.len(),
                    self.log_dir.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until `sql` (a count) reaches `want`.
    pub async fn wait_count(
        &self,
        sql: &'static str,
        want: i64,
        limit: Duration,
    ) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            let n: i64 = sqlx::query_scalar(sql)
                .fetch_one(&self.pool)
                .await
                .unwrap_or(-1);
            if n >= want {
                return Ok(());
            }
            if start.elapsed() > limit {
                bail!(
                    "{sql}: {n} < {want} after {limit:?}; logs in {}",
                    self.log_dir.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The wall-clock length of `days` program days.
    pub fn days(&self, days: f64) -> chrono::Duration {
        chrono::Duration::milliseconds((days * 86_400_000.0 / self.options.scale) as i64)
    }

    /// Stops everything and removes the database, vhost and files (what
    /// dropping the `Env` does too, after a failure).
    pub async fn stop(mut self) {
        self.stop_processes().await;
        self.stop_in_process().await;
        let _ = self.amqp.close(200, "bye".into()).await;
        self.pool.close().await;
    }
}

/// Services are killed (`kill_on_drop`, and in-process ones told to stop),
/// then the database and vhost guards drop; the files go here.
impl Drop for Env {
    fn drop(&mut self) {
        self.in_process.cancel();
        if std::env::var_os("FIRSTWEEK_KEEP_TEST_FILES").is_none() {
            let _ = std::fs::remove_dir_all(std::env::temp_dir().join(&self.name));
        }
    }
}
