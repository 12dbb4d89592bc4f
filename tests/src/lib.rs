//! Test harness: a private firstweek installation per test.
//!
//! [`Env::start`] creates its own PostgreSQL database, its own RabbitMQ vhost
//! and its own SMTP capture server (aiosmtpd, `scripts/smtp_capture.py`), then
//! starts the real `firstweek-scheduler` and `firstweek-worker` binaries
//! against them. Tests publish contract events like any program would and
//! read back what the SMTP server received.
//!
//! [`web::CoordinatorPages`] adds a coordinator with their pairs and
//! `firstweek-web`; [`browser::Browser`] opens its pages in headless Chromium.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use lapin::options::BasicGetOptions;
use lapin::{Channel, Connection};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use firstweek_broker as broker;

pub mod browser;
pub mod cluster;
pub mod cohort;
mod resources;
pub mod web;
pub use resources::{Drained, TestDb, TestVhost};

/// Local services, as on the CI machine.
pub const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// RabbitMQ host (per-test vhosts are appended).
pub const AMQP_BASE: &str = "amqp://guest:guest@127.0.0.1:5672";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A unique, readable name for this test's resources.
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = Utc::now().timestamp_millis() % 100_000_000;
    format!("{prefix}_{}_{t}_{n}", std::process::id())
}

/// The workspace's build output, where the service binaries are.
pub fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("FIRSTWEEK_BIN_DIR") {
        return PathBuf::from(dir);
    }
    // target/<profile>/deps/<test-binary> or target/<profile>/<binary> -> target/<profile>
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.parent().map(Path::to_path_buf).unwrap_or_default()
    } else {
        dir
    }
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

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
    /// Where the test's vhost is: the system broker, or a [`cluster::Cluster`].
    pub broker: Broker,
}

/// The RabbitMQ a test's vhost is created on.
#[derive(Debug, Clone, Default)]
pub enum Broker {
    /// The machine's broker on 127.0.0.1:5672 ([`AMQP_BASE`]).
    #[default]
    System,
    /// Nodes of a cluster on this machine (see [`cluster::Cluster::broker`]):
    /// `AMQP_URL` lists one URL per node.
    Cluster {
        /// Node names, for `rabbitmqctl -n` (the first running one is used).
        nodes: Vec<String>,
        /// Their AMQP ports on 127.0.0.1, in the same order.
        ports: Vec<u16>,
    },
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
    smtp: Option<Child>,
    services: Vec<(String, Child)>,
    spawned: usize,
    amqp: Connection,
    channel: Channel,
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
            spawned: 0,
            amqp,
            channel,
            _db: db,
            _vhost: vhost,
        };
        env.start_smtp().await?;
        if options.start_services {
            env.spawn("firstweek-scheduler", &[]).await?;
            env.spawn("firstweek-workers", &[]).await?;
        }
        Ok(env)
    }

    /// Starts (or restarts) the SMTP capture server on this env's port.
    pub async fn start_smtp(&mut self) -> anyhow::Result<()> {
        if self.smtp_port == 0 {
            self.smtp_port = free_port();
        }
        let script = repo_root().join("scripts/smtp_capture.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script)
            .args(["--port", &self.smtp_port.to_string(), "--dir"])
            .arg(&self.mail_dir);
        if self.options.smtp_tls {
            let (cert, key) = self.self_signed().await?;
            cmd.arg("--tls-cert").arg(cert).arg("--tls-key").arg(key);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting the SMTP capture server (python3 -m pip install aiosmtpd)")?;
        let stdout = child.stdout.take().context("smtp stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(15), lines.next_line()).await;
        match ready {
            Ok(Ok(Some(l))) if l.starts_with("READY") => {}
            other => bail!("SMTP capture server did not start: {other:?}"),
        }
        self.smtp = Some(child);
        Ok(())
    }

    /// A private CA (`smtp-ca.pem`) and a certificate it signed for `localhost` (made once per env).
    async fn self_signed(&self) -> anyhow::Result<(PathBuf, PathBuf)> {
        let d = &self.log_dir;
        let (ca, ca_key, cert, key, csr, ext) = (
            d.join("smtp-ca.pem"),
            d.join("smtp-ca-key.pem"),
            d.join("smtp-cert.pem"),
            d.join("smtp-key.pem"),
            d.join("smtp.csr"),
            d.join("smtp-ext.cnf"),
        );
        if !cert.exists() {
            std::fs::write(
                &ext,
                "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
            )?;
            let p = |x: &PathBuf| x.display().to_string();
            let steps: [Vec<String>; 3] = [
                [
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-days",
                    "1",
                    "-subj",
                    "/CN=firstweek test CA",
                    "-addext",
                    "basicConstraints=critical,CA:TRUE",
                    "-addext",
                    "keyUsage=critical,keyCertSign",
                    "-keyout",
                    &p(&ca_key),
                    "-out",
                    &p(&ca),
                ]
                .map(String::from)
                .to_vec(),
                [
                    "req",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-subj",
                    "/CN=localhost",
                    "-keyout",
                    &p(&key),
                    "-out",
                    &p(&csr),
                ]
                .map(String::from)
                .to_vec(),
                [
                    "x509",
                    "-req",
                    "-in",
                    &p(&csr),
                    "-CA",
                    &p(&ca),
                    "-CAkey",
                    &p(&ca_key),
                    "-CAcreateserial",
                    "-days",
                    "1",
                    "-extfile",
                    &p(&ext),
                    "-out",
                    &p(&cert),
                ]
                .map(String::from)
                .to_vec(),
            ];
            for args in steps {
                let status = Command::new("openssl")
                    .args(&args)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .await
                    .context("running openssl")?;
                anyhow::ensure!(status.success(), "openssl {args:?} failed");
            }
        }
        Ok((cert, key))
    }

    /// Stops the SMTP server (an outage).
    pub async fn stop_smtp(&mut self) {
        if let Some(mut c) = self.smtp.take() {
            let _ = c.kill().await;
        }
    }

    /// Sets the SMTP server's fault mode (`ok`, `4xx`, `5xx`, `5xx:ADDR`, `slow:SECS`).
    pub fn smtp_mode(&self, mode: &str) -> anyhow::Result<()> {
        std::fs::write(self.mail_dir.join("mode"), mode)?;
        Ok(())
    }

    /// Environment variables the services get.
    pub fn service_env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("DATABASE_URL".to_string(), self.database_url.clone()),
            ("AMQP_URL".into(), self.amqp_url.clone()),
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

    /// The services' `SMTP_URL`.
    pub fn smtp_url(&self) -> String {
        if self.options.smtp_tls {
            format!("smtps://localhost:{}", self.smtp_port)
        } else {
            format!("smtp://127.0.0.1:{}", self.smtp_port)
        }
    }

    /// Starts one service binary; `label` names its log file.
    pub async fn spawn(&mut self, binary: &str, extra_env: &[(&str, &str)]) -> anyhow::Result<u32> {
        self.spawn_without(binary, &[], extra_env).await
    }

    /// [`Env::spawn`], with the variables in `unset` left out of its
    /// environment (even those [`Env::service_env`] sets), so the binary
    /// falls back to its own default for them.
    pub async fn spawn_without(
        &mut self,
        binary: &str,
        unset: &[&str],
        extra_env: &[(&str, &str)],
    ) -> anyhow::Result<u32> {
        let exe_name = match binary {
            "firstweek-workers" | "firstweek-worker" => "firstweek-worker",
            other => other,
        };
        let path = bin_dir().join(exe_name);
        if !path.exists() {
            bail!(
                "{} not found: run `cargo build --workspace --bins` first (or set FIRSTWEEK_BIN_DIR)",
                path.display()
            );
        }
        let n = self.spawned;
        self.spawned += 1;
        let log = std::fs::File::create(self.log_dir.join(format!("{exe_name}-{n}.log")))?;
        let mut cmd = Command::new(&path);
        let mut env = self.service_env();
        env.retain(|(k, _)| !unset.contains(&k.as_str()));
        for k in unset {
            // Not inherited from the test's own environment either.
            cmd.env_remove(k);
        }
        cmd.envs(env)
            .envs(
                extra_env
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string())),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", path.display()))?;
        let pid = child.id().unwrap_or(0);
        self.services.push((exe_name.to_string(), child));
        Ok(pid)
    }

    /// How many services named `binary` are still running.
    pub fn running(&mut self, binary: &str) -> usize {
        self.services
            .iter_mut()
            .map(|(name, child)| name.starts_with(binary) && matches!(child.try_wait(), Ok(None)))
            .filter(|running| *running)
            .count()
    }

    /// The log (stderr) of every service named `binary` started so far, in start order.
    pub fn logs(&self, binary: &str) -> Vec<String> {
        (0..self.spawned)
            .filter_map(|n| {
                std::fs::read_to_string(self.log_dir.join(format!("{binary}-{n}.log"))).ok()
            })
            .collect()
    }

    /// Sends a signal to every running service whose name starts with `binary`; returns how many.
    pub async fn signal(&mut self, binary: &str, signal: &str) -> usize {
        let mut n = 0;
        for (name, child) in &mut self.services {
            if name.starts_with(binary)
                && let Some(pid) = child.id()
            {
                let _ = Command::new("kill")
                    .args([&format!("-{signal}"), &pid.to_string()])
                    .status()
                    .await;
                n += 1;
            }
        }
        n
    }

    /// Sends `signal` (`STOP`, `CONT`, ...) to the service with this pid.
    pub async fn signal_pid(&self, pid: u32, signal: &str) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status()
            .await?;
        anyhow::ensure!(status.success(), "kill -{signal} {pid} failed");
        Ok(())
    }

    /// SIGKILLs the most recently started service named `binary` (a crash).
    pub async fn kill_newest(&mut self, binary: &str) {
        if let Some(i) = self
            .services
            .iter()
            .rposition(|(name, _)| name.starts_with(binary))
        {
            let (_, mut child) = self.services.remove(i);
            let _ = child.kill().await;
        }
    }

    /// Waits for every service named `binary` to exit; returns how long it took.
    pub async fn wait_exit(&mut self, binary: &str, limit: Duration) -> anyhow::Result<Duration> {
        let start = Instant::now();
        for (name, child) in &mut self.services {
            if name.starts_with(binary) {
                let left = limit.saturating_sub(start.elapsed());
                tokio::time::timeout(left, child.wait())
                    .await
                    .context("service did not exit in time")??;
            }
        }
        self.services
            .retain_mut(|(_, c)| matches!(c.try_wait(), Ok(None)));
        Ok(start.elapsed())
    }

    /// Opens a new broker connection for publishing (after a broker restart).
    pub async fn reconnect_amqp(&mut self) -> anyhow::Result<()> {
        self.amqp = broker::connect(&self.amqp_url, "firstweek-tests").await?;
        self.channel = broker::confirm_channel(&self.amqp).await?;
        Ok(())
    }

    /// Publishes a contract event (or anything) to the `firstweek` exchange with a confirm.
    pub async fn publish(&self, routing_key: &str, body: &[u8]) -> anyhow::Result<()> {
        broker::publish_confirmed(
            &self.channel,
            broker::EXCHANGE,
            routing_key,
            body,
            broker::persistent_json(),
        )
        .await?;
        Ok(())
    }

    /// Publishes a JSON event.
    pub async fn publish_json(&self, routing_key: &str, body: &Value) -> anyhow::Result<()> {
        self.publish(routing_key, body.to_string().as_bytes()).await
    }

    /// Publishes with explicit properties.
    pub async fn publish_with(
        &self,
        routing_key: &str,
        body: &[u8],
        props: lapin::BasicProperties,
    ) -> anyhow::Result<()> {
        broker::publish_confirmed(&self.channel, broker::EXCHANGE, routing_key, body, props)
            .await?;
        Ok(())
    }

    /// Declares a private queue bound to the `firstweek` exchange with
    /// `binding`, as a program's own consumer of firstweek's events would.
    pub async fn listen(&self, binding: &str) -> anyhow::Result<String> {
        let q = self
            .channel
            .queue_declare(
                "".into(),
                lapin::options::QueueDeclareOptions {
                    exclusive: true,
                    ..Default::default()
                },
                lapin::types::FieldTable::default(),
            )
            .await?;
        let name = q.name().as_str().to_string();
        self.channel
            .queue_bind(
                name.as_str().into(),
                broker::EXCHANGE.into(),
                binding.into(),
                lapin::options::QueueBindOptions::default(),
                lapin::types::FieldTable::default(),
            )
            .await?;
        Ok(name)
    }

    /// Takes what waits in a queue from [`Env::listen`]: (routing key, JSON body).
    pub async fn take(&self, queue: &str) -> anyhow::Result<Vec<(String, Value)>> {
        let mut out = Vec::new();
        while let Some(m) = self
            .channel
            .basic_get(queue.into(), BasicGetOptions { no_ack: true })
            .await?
        {
            let body = serde_json::from_slice(&m.delivery.data)?;
            out.push((m.delivery.routing_key.as_str().to_string(), body));
        }
        Ok(out)
    }

    /// Waits for the first captured email to `rcpt` of `step`.
    pub async fn wait_mail(&self, rcpt: &str, step: &str, limit: Duration) -> anyhow::Result<Mail> {
        let start = std::time::Instant::now();
        loop {
            if let Some(m) = self
                .mails()
                .into_iter()
                .find(|m| m.rcpt == rcpt && m.step == step)
            {
                return Ok(m);
            }
            anyhow::ensure!(
                start.elapsed() < limit,
                "no {step} email to {rcpt} within {limit:?}; logs in {}",
                self.log_dir.display()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Messages ready in `queue` (waiting for a consumer).
    pub async fn queue_depth(&self, queue: &str) -> anyhow::Result<u32> {
        let passive = lapin::options::QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let q = self
            .channel
            .queue_declare(queue.into(), passive, lapin::types::FieldTable::default())
            .await?;
        Ok(q.message_count())
    }

    /// Drains the dead-letter queue: (routing key, reason, body) of each message.
    pub async fn dead_letters(&self) -> anyhow::Result<Vec<(String, String, Vec<u8>)>> {
        let mut out = Vec::new();
        loop {
            let got = self
                .channel
                .basic_get(broker::DEAD_QUEUE.into(), BasicGetOptions { no_ack: true })
                .await?;
            let Some(msg) = got else { break };
            let props = &msg.delivery.properties;
            out.push((
                broker::header_text(props, broker::ROUTING_KEY_HEADER).unwrap_or_default(),
                broker::header_text(props, broker::ERROR_HEADER).unwrap_or_default(),
                msg.delivery.data.clone(),
            ));
        }
        Ok(out)
    }

    /// Every email the SMTP server accepted so far.
    pub fn mails(&self) -> Vec<Mail> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.mail_dir)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|e| e == "eml"));
        files.sort();
        files
            .iter()
            .filter_map(|p| std::fs::read(p).ok())
            .map(|raw| Mail::parse(&raw))
            .collect()
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

    /// Holds for `hold` and fails as soon as another email arrives meanwhile:
    /// for "nothing more is sent" checks, which no condition can end early.
    pub async fn expect_no_more_mail(&self, hold: Duration) -> anyhow::Result<()> {
        self.expect_no_more_mail_where(hold, |_| true).await
    }

    /// [`Env::expect_no_more_mail`], counting only the emails `counts` picks.
    pub async fn expect_no_more_mail_where(
        &self,
        hold: Duration,
        counts: impl Fn(&Mail) -> bool,
    ) -> anyhow::Result<()> {
        let seen = || self.mails().iter().filter(|m| counts(m)).count();
        let before = seen();
        let deadline = Instant::now() + hold;
        while Instant::now() < deadline {
            let now = seen();
            if now > before {
                bail!("{} more email(s) arrived while none should", now - before);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(())
    }

    /// The wall-clock length of `days` program days.
    pub fn days(&self, days: f64) -> chrono::Duration {
        chrono::Duration::milliseconds((days * 86_400_000.0 / self.options.scale) as i64)
    }

    /// Stops the services and the SMTP server, keeping database, vhost and mail.
    pub async fn stop_processes(&mut self) {
        for (_, c) in &mut self.services {
            let _ = c.kill().await;
        }
        self.services.clear();
        self.stop_smtp().await;
    }

    /// Stops everything and removes the database, vhost and files (what
    /// dropping the `Env` does too, after a failure).
    pub async fn stop(mut self) {
        self.stop_processes().await;
        let _ = self.amqp.close(200, "bye".into()).await;
        self.pool.close().await;
    }
}

/// Services are killed (`kill_on_drop`), then the database and vhost guards
/// drop; the files go here.
impl Drop for Env {
    fn drop(&mut self) {
        if std::env::var_os("FIRSTWEEK_KEEP_TEST_FILES").is_none() {
            let _ = std::fs::remove_dir_all(std::env::temp_dir().join(&self.name));
        }
    }
}

/// One received email.
#[derive(Debug, Clone)]
pub struct Mail {
    /// Envelope recipients, comma-separated (`X-Rcpt-To`).
    pub rcpt: String,
    /// The `X-Firstweek-Step` header.
    pub step: String,
    /// The `X-Firstweek-Mentorship` header.
    pub mentorship: String,
    /// The `Message-ID` header.
    pub message_id: String,
    /// The `Subject` header, as sent (possibly encoded).
    pub subject: String,
    /// When the server received it, in Unix seconds (`X-Received-At`).
    pub received_at: f64,
    /// The header block, unfolded.
    pub headers: String,
    /// The decoded text of the message (quoted-printable undone).
    pub text: String,
}

impl Mail {
    fn parse(raw: &[u8]) -> Mail {
        let s = String::from_utf8_lossy(raw).replace("\r\n", "\n");
        let (headers, body) = s.split_once("\n\n").unwrap_or((&s, ""));
        let unfolded = headers.replace("\n ", " ").replace("\n\t", " ");
        let get = |name: &str| {
            unfolded
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
                })
                .unwrap_or_default()
        };
        Mail {
            rcpt: get("X-Rcpt-To"),
            step: get("X-Firstweek-Step"),
            mentorship: get("X-Firstweek-Mentorship"),
            message_id: get("Message-ID"),
            subject: get("Subject"),
            received_at: get("X-Received-At").parse().unwrap_or(0.0),
            headers: unfolded.clone(),
            text: decode_qp(body),
        }
    }
}

fn decode_qp(s: &str) -> String {
    let s = s.replace("=\n", "");
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 3 <= bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What each pair received: mentorship -> sorted "step->role" list.
pub fn received(mails: &[Mail], roles: &BTreeMap<String, String>) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for m in mails {
        let role = roles
            .get(&m.rcpt)
            .cloned()
            .unwrap_or_else(|| m.rcpt.clone());
        out.entry(m.mentorship.clone())
            .or_default()
            .push(format!("{}->{role}", m.step));
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

/// A pair of the test cohort, with addresses that say who is who.
#[derive(Debug, Clone)]
pub struct Pair {
    /// The `mentorship_id`; also in the pair's addresses.
    pub id: String,
    /// The pair's `started_at`.
    pub started_at: DateTime<Utc>,
    /// The mentor's time zone (default `Europe/Berlin`).
    pub tz_mentor: String,
    /// The mentee's time zone (default `America/Sao_Paulo`).
    pub tz_mentee: String,
}

impl Pair {
    /// A pair starting at `started_at`.
    pub fn new(id: &str, started_at: DateTime<Utc>) -> Pair {
        Pair {
            id: id.into(),
            started_at,
            tz_mentor: "Europe/Berlin".into(),
            tz_mentee: "America/Sao_Paulo".into(),
        }
    }

    /// The mentor's address.
    pub fn mentor(&self) -> String {
        format!("mentor.{}@example.org", self.id)
    }
    /// The mentee's address.
    pub fn mentee(&self) -> String {
        format!("mentee.{}@example.org", self.id)
    }
    /// The coordinator's address.
    pub fn coordinator(&self) -> String {
        format!("coordinator.{}@example.org", self.id)
    }

    /// Address -> role, for [`received`].
    pub fn roles(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (self.mentor(), "mentor".to_string()),
            (self.mentee(), "mentee".to_string()),
            (self.coordinator(), "coordinator".to_string()),
        ])
    }

    /// The `mentorship.started` body.
    pub fn started(&self, event_id: &str) -> Value {
        json!({
            "event_id": event_id,
            "mentorship_id": self.id,
            "program_id": "test-program",
            "started_at": self.started_at.to_rfc3339(),
            "mentor": {"id": format!("{}-mentor", self.id), "name": "Ada Mentor", "email": self.mentor(), "timezone": self.tz_mentor},
            "mentee": {"id": format!("{}-mentee", self.id), "name": "Bo Mentee", "email": self.mentee(), "timezone": self.tz_mentee},
            "coordinator": {"name": "Cy Coordinator", "email": self.coordinator()}
        })
    }

    /// An `interaction.recorded` body at `at` after the start.
    pub fn interaction(
        &self,
        n: u32,
        kind: &str,
        actor: &str,
        at: chrono::Duration,
        minutes: Option<u32>,
    ) -> Value {
        let mut v = json!({
            "event_id": format!("{}-i{n}", self.id),
            "mentorship_id": self.id,
            "kind": kind,
            "actor": actor,
            "occurred_at": (self.started_at + at).to_rfc3339(),
        });
        if let Some(m) = minutes {
            v["duration_minutes"] = m.into();
        }
        v
    }

    /// A `mentorship.ended` body.
    pub fn ended(&self, at: chrono::Duration) -> Value {
        json!({"event_id": format!("{}-end", self.id), "mentorship_id": self.id,
               "ended_at": (self.started_at + at).to_rfc3339(), "reason": "rematched"})
    }
}

/// A free TCP port on loopback.
pub fn port() -> u16 {
    free_port()
}

/// GET `path` on 127.0.0.1:`port`; the whole response ("" when nothing answers).
pub async fn http_get(port: u16, path: &str) -> String {
    http(
        port,
        &format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"),
    )
    .await
}

/// POST a form (`application/x-www-form-urlencoded`) to `path` on
/// 127.0.0.1:`port`; the whole response ("" when nothing answers).
pub async fn http_post(port: u16, path: &str, form: &str) -> String {
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n\r\n{form}",
        form.len()
    );
    http(port, &request).await
}

/// Sends one raw HTTP/1.1 request and reads the whole response (3 s at most).
async fn http(port: u16, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let attempt = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()?;
        s.write_all(request.as_bytes()).await.ok()?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.ok()?;
        Some(String::from_utf8_lossy(&buf).into_owned())
    };
    tokio::time::timeout(Duration::from_secs(3), attempt)
        .await
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// The first link in `text` that starts with `prefix`, up to its token's end.
pub fn link_in(text: &str, prefix: &str) -> Option<String> {
    text.split_whitespace()
        .find_map(|w| w.strip_prefix(prefix))
        .map(|t| {
            t.trim_end_matches(|c: char| !c.is_ascii_hexdigit())
                .to_string()
        })
}

/// GET `path` on 127.0.0.1:`port`; returns the status code (0 when nothing answers).
pub async fn http_status(port: u16, path: &str) -> u16 {
    http_get(port, path)
        .await
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// The built-in playbook with the digest at `digest_at` (`"HH:MM"`, each
/// coordinator's local time) and `digest_all_quiet`, written to a file for
/// `FIRSTWEEK_PLAYBOOK`. Digests follow the wall clock: a test picks a
/// `digest_at` (and zones) relative to the time it runs.
pub fn digest_playbook(label: &str, digest_at: &str, all_quiet: bool) -> anyhow::Result<PathBuf> {
    let built_in = firstweek::playbook::BUILT_IN;
    let text = built_in
        .replace(
            "digest_at = \"08:00\"",
            &format!("digest_at = \"{digest_at}\""),
        )
        .replace(
            "digest_all_quiet = false",
            &format!("digest_all_quiet = {all_quiet}"),
        );
    anyhow::ensure!(
        text != built_in || (digest_at == "08:00" && !all_quiet),
        "the built-in playbook no longer sets digest_at and digest_all_quiet as expected"
    );
    let path = std::env::temp_dir().join(format!("{}.toml", unique(label)));
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The built-in playbook's early and day-7 escalations share one once-key
/// (one escalation per pair): an outage that holds the early one past day 7
/// lets either send it, and the other is added to it.
pub fn once_key(step: &str) -> &str {
    if step == "escalation_early" {
        "escalation"
    } else {
        step
    }
}
