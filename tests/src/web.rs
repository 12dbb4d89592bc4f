//! A coordinator and their pages, ready to open: the setup the
//! `firstweek-web` tests share (`tests/web.rs` over HTTP, `tests/browser.rs`
//! in a real browser).

use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use serde_json::{Value, json};

use crate::cohort::talk_and_plan;
use crate::{Env, Options, Pair, link_in, port};

/// One coordinator with an at-risk pair and an on-track one, a pair of
/// another coordinator's, the scheduler, a worker and `firstweek-web`
/// running, and the page link from the coordinator's daily digest.
pub struct CoordinatorPages {
    /// The installation; the test stops it.
    pub env: Env,
    /// Where `firstweek-web` listens on 127.0.0.1.
    pub web_port: u16,
    /// The coordinator's address.
    pub coordinator: String,
    /// Three days in and silent: at risk.
    pub silent: Pair,
    /// Started now; both sides wrote and a plan is shared: on track.
    pub engaged: Pair,
    /// Another coordinator's pair, which these pages must never show.
    pub elsewhere: Pair,
    /// The 64-hex-digit token of the digest's page link.
    pub token: String,
}

/// The silent pair's mentor, as the pages name them.
pub const SILENT_MENTOR: &str = "Sia Silent";
/// The engaged pair's mentor, as the pages name them.
pub const ENGAGED_MENTOR: &str = "Ada Engaged";

impl CoordinatorPages {
    /// Starts everything and waits for the digest. `web_env` is extra
    /// environment for `firstweek-web`, which runs without `AMQP_URL` or
    /// `SMTP_URL` (it needs neither).
    pub async fn start(web_env: &[(&str, &str)]) -> anyhow::Result<CoordinatorPages> {
        CoordinatorPages::start_with(web_env, &[]).await
    }

    /// As [`CoordinatorPages::start`], with `holdouts` (a step and its
    /// share, `("check_in", 0.5)`) in the services' playbook.
    pub async fn start_with(
        web_env: &[(&str, &str)],
        holdouts: &[(&str, f64)],
    ) -> anyhow::Result<CoordinatorPages> {
        let web_port = port();
        let mut options = Options {
            // A program day lasts 10 s: every pair stays in its first week for the test.
            scale: 8_640.0,
            start_services: false,
            ..Options::default()
        };
        // Digests follow the wall clock: 00:00 UTC has passed today, whenever this runs.
        let playbook = crate::digest_playbook("fw-web-digest", "00:00", false)?;
        hold_out(&playbook, holdouts)?;
        for (k, v) in [
            ("FIRSTWEEK_DIGEST_CRON", "*/2 * * * * *".to_string()),
            ("FIRSTWEEK_PLAYBOOK", playbook.display().to_string()),
            // The trailing slash is how operators often write it; links must not double it.
            (
                "FIRSTWEEK_PUBLIC_URL",
                format!("http://127.0.0.1:{web_port}/"),
            ),
        ] {
            options.env.push((k.into(), v));
        }
        let mut env = Env::start(options).await?;
        let coordinator = format!("coord.{}@example.org", env.name);
        let now = Utc::now();
        let engaged = Pair::new(&format!("{}-engaged", env.name), now);
        let silent = Pair::new(&format!("{}-silent", env.name), now - env.days(3.0));
        let elsewhere = Pair::new(&format!("{}-elsewhere", env.name), now);
        env.spawn("firstweek-worker", &[]).await?;
        env.publish_json(
            "mentorship.started",
            &started(&engaged, ENGAGED_MENTOR, &coordinator),
        )
        .await?;
        env.publish_json(
            "mentorship.started",
            &started(&silent, SILENT_MENTOR, &coordinator),
        )
        .await?;
        env.publish_json("mentorship.started", &elsewhere.started("elsewhere-start"))
            .await?;
        for body in talk_and_plan(&engaged, env.days(0.01)) {
            env.publish_json("interaction.recorded", &body).await?;
        }
        // The digest must see the engaged pair's interactions, or it would be at risk too.
        env.wait_count(
            "SELECT count(*) FROM interactions",
            3,
            Duration::from_secs(20),
        )
        .await?;
        env.spawn("firstweek-scheduler", &[]).await?;
        let addr = format!("127.0.0.1:{web_port}");
        let mut extra = vec![("FIRSTWEEK_WEB_ADDR", addr.as_str())];
        extra.extend_from_slice(web_env);
        env.spawn_without("firstweek-web", &["AMQP_URL", "SMTP_URL"], &extra)
            .await?;

        let digest = env
            .wait_mail_where("digest", Duration::from_secs(40), |m| {
                m.step.starts_with("digest-") && m.rcpt == coordinator
            })
            .await?;
        let prefix = format!("http://127.0.0.1:{web_port}/c/");
        let token = link_in(&digest.text, &prefix).context("the digest carries no page link")?;
        Ok(CoordinatorPages {
            env,
            web_port,
            coordinator,
            silent,
            engaged,
            elsewhere,
            token,
        })
    }

    /// The path of the coordinator's page.
    pub fn page(&self) -> String {
        format!("/c/{}", self.token)
    }

    /// The full URL of `path` on `firstweek-web`, as a browser opens it.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.web_port)
    }

    /// Waits until `pair` was sent its `step` (so its timeline shows it sent).
    pub async fn wait_sent(&self, pair: &Pair, step: &str) -> anyhow::Result<()> {
        let what = format!("{step} to {}", pair.id);
        self.env
            .wait_mail_where(&what, Duration::from_secs(40), |m| {
                m.mentorship == pair.id && m.step == step
            })
            .await?;
        Ok(())
    }
}

/// Writes each step's `holdout` into the playbook file at `path`.
fn hold_out(path: &std::path::Path, holdouts: &[(&str, f64)]) -> anyhow::Result<()> {
    if holdouts.is_empty() {
        return Ok(());
    }
    let mut text = std::fs::read_to_string(path)?;
    for (step, share) in holdouts {
        let id = format!("id = \"{step}\"\n");
        anyhow::ensure!(text.contains(&id), "the playbook has no step {step}");
        text = text.replacen(&id, &format!("{id}holdout = {share}\n"), 1);
    }
    std::fs::write(path, text)?;
    Ok(())
}

/// `pair`'s start, with its own mentor's name and `coordinator` as coordinator.
fn started(pair: &Pair, mentor: &str, coordinator: &str) -> Value {
    let mut v = pair.started(&format!("{}-start", pair.id));
    v["mentor"]["name"] = mentor.into();
    v["coordinator"] = json!({"name": "Cy Coordinator", "email": coordinator});
    v
}
