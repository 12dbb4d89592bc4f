//! A webhook receiver a test's endpoints post to (`scripts/webhook_receiver.py`:
//! it verifies every signature with the Standard Webhooks reference library,
//! `standardwebhooks` on PyPI), and the `firstweek webhook` CLI.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::{Env, bin_dir, port, repo_root};

/// What a receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answers {
    /// 204 when the signature verifies, 400 when not.
    Promptly,
    /// Nothing, ever (the request is recorded first).
    Never,
}

/// One request a receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    /// Its `webhook-id`.
    pub webhook_id: String,
    /// Its `webhook-timestamp`.
    pub timestamp: String,
    /// Its `content-type`.
    pub content_type: Option<String>,
    /// The body, as sent.
    pub body: String,
    /// Whether `standardwebhooks` verified its signature.
    pub verified: bool,
}

/// A receiver on a port of its own, kept across restarts.
pub struct Receiver {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The endpoint's signing secret it verifies with (set before starting).
    pub secret: String,
    answers: Answers,
    log: PathBuf,
    child: Option<Child>,
}

impl Receiver {
    /// A receiver (not started yet: its endpoint is down).
    pub fn new(env: &Env, label: &str, answers: Answers) -> Receiver {
        Receiver {
            port: port(),
            secret: String::new(),
            answers,
            log: env.log_dir.join(format!("webhooks-{label}.jsonl")),
            child: None,
        }
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks", self.port)
    }

    /// Starts (or restarts) it.
    pub async fn start(&mut self) -> anyhow::Result<()> {
        let mode = match self.answers {
            Answers::Promptly => "ok",
            Answers::Never => "slow",
        };
        let mut child = Command::new("python3")
            .arg(repo_root().join("scripts/webhook_receiver.py"))
            .arg(self.port.to_string())
            .arg(&self.log)
            .arg(mode)
            .env("WEBHOOK_SECRET", &self.secret)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting the webhook receiver (python3 -m pip install standardwebhooks)")?;
        let stdout = child.stdout.take().context("receiver stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        match tokio::time::timeout(Duration::from_secs(15), lines.next_line()).await {
            Ok(Ok(Some(l))) if l.starts_with("READY") => {}
            other => bail!("the webhook receiver did not start: {other:?}"),
        }
        self.child = Some(child);
        Ok(())
    }

    /// Stops it (an outage).
    pub async fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill().await;
        }
    }

    /// Every request it got so far, in order.
    pub fn received(&self) -> anyhow::Result<Vec<Received>> {
        let text = match std::fs::read_to_string(&self.log) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        text.lines().map(parse).collect()
    }
}

fn parse(line: &str) -> anyhow::Result<Received> {
    let v: serde_json::Value =
        serde_json::from_str(line).with_context(|| format!("receiver log line {line}"))?;
    let text = |k: &str| v[k].as_str().map(str::to_string);
    Ok(Received {
        webhook_id: text("webhook_id").context("webhook-id")?,
        timestamp: text("timestamp").context("webhook-timestamp")?,
        content_type: text("content_type"),
        body: text("body").context("body")?,
        verified: v["verified"].as_bool() == Some(true),
    })
}

impl Env {
    /// Runs `firstweek ARGS` on this env's database and clock; its standard output.
    pub async fn cli(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = Command::new(bin_dir().join("firstweek"))
            .args(args)
            .env("DATABASE_URL", &self.database_url)
            .env("FIRSTWEEK_TIME_SCALE", self.options.scale.to_string())
            .output()
            .await
            .context("running firstweek (cargo build --workspace --bins first)")?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            bail!(
                "firstweek {args:?} failed: {}{stdout}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(stdout)
    }

    /// Registers an endpoint with `firstweek webhook add`; its id and secret.
    pub async fn add_webhook(
        &self,
        program: &str,
        url: &str,
        events: &str,
    ) -> anyhow::Result<(i64, String)> {
        let out = self
            .cli(&[
                "webhook",
                "add",
                "--program",
                program,
                "--url",
                url,
                "--events",
                events,
            ])
            .await?;
        let id = out
            .split_whitespace()
            .nth(1)
            .and_then(|w| w.trim_end_matches(':').parse().ok())
            .with_context(|| format!("no endpoint id in {out:?}"))?;
        let secret = out
            .split_whitespace()
            .find(|w| w.starts_with("whsec_"))
            .with_context(|| format!("no secret in {out:?}"))?;
        Ok((id, secret.to_string()))
    }
}
