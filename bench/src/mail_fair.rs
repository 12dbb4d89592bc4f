//! Mail, fairly compared (issue 14, item 4): the mail phase's own work minus
//! the database and the broker.
//!
//! The same welcome emails the mail phase sends (same pairs as `seed_pairs`
//! stores them, mentor and mentee, due at once), judged by the same domain
//! code (`decision::decide`, `decision::timing`), rendered from the same
//! templates into the same multipart message (`email::compose`, the
//! settings' `FIRSTWEEK_FROM`, the playbook's step and once-key, the stable
//! Message-ID) and sent with the worker's own SMTP client
//! (`firstweek_workers::mailer::Mailer`, built from the same settings: its
//! TCP_NODELAY pool of `FIRSTWEEK_MAIL_CONCURRENCY` connections, default 64)
//! by as many concurrent senders, to the same sink. What it leaves out is
//! exactly what the worker adds: the broker delivery and its ack, the read
//! of the row, pair and ledger, the three ledger writes (claim, hand-over
//! mark, finish: here the hand-over is a no-op that says "go"), metrics and
//! the log line. Rate = first to last SMTP accept, as in the mail phase.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::Utc;
use serde_json::{Value, json};

use firstweek::Rules;
use firstweek::decision::{self, Moment, Pair, Timing, Verdict};
use firstweek::email::{self, Composed, Context, Links, Templates};
use firstweek::event::MentorshipStarted;
use firstweek::rule::Recipient;
use firstweek_settings::{Environment, WorkerSettings};
use firstweek_workers::mailer::{Connection, Mailer};

use crate::Plan;
use crate::sink::Sink;

/// The settings the mail phase's worker runs with (the harness's service
/// environment and the bench's `FIRSTWEEK_SEND_WINDOW=off`, with the bench's
/// own environment underneath, as the spawned worker inherits it), so the
/// same playbook, templates, sender, SMTP URL and concurrency are used.
fn worker_settings(sink: &Sink) -> anyhow::Result<WorkerSettings> {
    let smtp = format!("smtp://127.0.0.1:{}", sink.port);
    let fixed: Vec<(&str, String)> = vec![
        // Required by the settings, never connected to here.
        ("DATABASE_URL", "postgres://unused@127.0.0.1/unused".into()),
        ("AMQP_URL", "amqp://unused@127.0.0.1:5672/unused".into()),
        (
            "FIRSTWEEK_PSEUDONYM_KEY",
            firstweek_tests::PSEUDONYM_KEY.into(),
        ),
        ("SMTP_URL", smtp),
        ("FIRSTWEEK_TIME_SCALE", "1".into()),
        ("FIRSTWEEK_ADMIN_ADDR", "off".into()),
        ("FIRSTWEEK_FROM", "firstweek <firstweek@example.org>".into()),
        ("FIRSTWEEK_DIGEST_CRON", "off".into()),
        ("FIRSTWEEK_SEND_WINDOW", "off".into()),
    ];
    Environment::new(|k: &str| {
        fixed
            .iter()
            .find(|(name, _)| *name == k)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(k).ok())
    })
    .worker_settings("127.0.0.1:0")
    .context("the worker's settings")
}

/// A pair as `seed_pairs` stores it (the `people` column is this event).
fn started(prefix: &str, i: usize, at: chrono::DateTime<Utc>) -> anyhow::Result<MentorshipStarted> {
    let id = format!("{prefix}{i}");
    serde_json::from_value(json!({
        "event_id": format!("{id}-start"), "mentorship_id": id, "program_id": "bench", "started_at": at,
        "mentor": {"id": format!("{id}-mentor"), "name": "Ada Mentor", "email": format!("mentor.{id}@example.org"), "timezone": "Europe/Berlin"},
        "mentee": {"id": format!("{id}-mentee"), "name": "Bo Mentee", "email": format!("mentee.{id}@example.org"), "timezone": "America/Sao_Paulo"},
        "coordinator": {"name": "Cy Coordinator", "email": format!("coordinator.{id}@example.org")},
    }))
    .context("a seeded pair as a mentorship.started")
}

/// What the worker does for one welcome row between reading it and handing
/// the message to the mailer: decide, check the timing, build the context
/// and compose.
fn compose_one(
    rules: &Rules,
    templates: &Templates,
    settings: &WorkerSettings,
    pair: &MentorshipStarted,
    recipient: Recipient,
    due_at: chrono::DateTime<Utc>,
) -> anyhow::Result<Composed> {
    let decision = decision::decide(
        rules,
        "welcome",
        recipient,
        due_at,
        Some(Pair::with_ledger(pair, &[])),
        Moment::Processing,
    );
    let Verdict::Send(evidence) = decision.verdict else {
        anyhow::bail!("the welcome was not to be sent: {:?}", decision.verdict);
    };
    let step = rules
        .playbook
        .step("welcome")
        .context("the playbook has no welcome step")?;
    let tz = firstweek::timeline::timezone_of(pair, recipient);
    let stale_after = settings.stale_after.map(|span| rules.scale.wall(span));
    let expiry = decision::relevance::Expiry::Fixed(stale_after);
    let timing = decision::timing(rules.window, tz, due_at, Utc::now(), &expiry);
    anyhow::ensure!(
        matches!(timing, Timing::Now),
        "the welcome may not go now: {timing:?}"
    );
    let ctx = Context::new(
        pair,
        "welcome",
        recipient,
        due_at,
        rules.scale,
        evidence.summary,
        evidence.reasons,
        Utc::now(),
    )
    .with_links(Links::default());
    let (name, address) = match recipient {
        Recipient::Mentor => (&pair.mentor.name, &pair.mentor.email),
        Recipient::Mentee => (&pair.mentee.name, &pair.mentee.email),
        Recipient::Coordinator => (&pair.coordinator.name, &pair.coordinator.email),
    };
    let message_id = email::message_id(
        &pair.mentorship_id,
        &step.once_key,
        recipient,
        settings.mail.from.email.domain(),
    );
    email::compose(
        templates,
        &step.template,
        &ctx,
        &settings.mail.from,
        name,
        address,
        message_id,
    )
    .context("composing a welcome")
}

pub(crate) async fn mail_fair(plan: &Plan, sink: &Sink, results: &mut Value) -> anyhow::Result<()> {
    let settings = worker_settings(sink)?;
    let templates = settings.templates().context("templates")?;
    let mailer = Mailer::new(
        settings.mail.smtp_url.as_deref(),
        settings.mail.outbox_dir.clone(),
        settings.mail.smtp_timeout,
        settings.mail.smtp_ca_file.as_deref(),
        settings.mail.concurrency,
    )?;
    let concurrency = settings.mail.concurrency;
    let n = plan.mail_emails;
    let now = Utc::now();
    let pairs = (0..n / 2 + 1)
        .map(|i| started("fair", i, now))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let due_at = now + chrono::Duration::seconds(2);
    let shared = Arc::new((settings, templates, mailer, pairs));
    sink.reset().await;
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (shared, next) = (shared.clone(), next.clone());
        senders.spawn(async move {
            let (settings, templates, mailer, pairs) = &*shared;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, anyhow::Error>(());
                }
                let recipient = if i % 2 == 0 {
                    Recipient::Mentor
                } else {
                    Recipient::Mentee
                };
                let pair = &pairs[i / 2];
                let composed = compose_one(
                    &settings.rules,
                    templates,
                    settings,
                    pair,
                    recipient,
                    due_at,
                )?;
                let stem = format!("{}.welcome.{recipient}", pair.mentorship_id);
                let slot = mailer.slot().await;
                // No ledger here: nothing to record between opening and sending.
                let sent = match mailer
                    .open(&slot, &composed, &stem, Connection::Pooled)
                    .await
                {
                    Ok(opened) => opened.send().await,
                    Err(e) => Err(e),
                };
                sent.with_context(|| format!("sending {stem}"))?;
            }
        });
    }
    while let Some(done) = senders.join_next().await {
        done.context("a sender panicked")??;
    }
    let wall = start.elapsed();
    let limit = Duration::from_secs(10);
    while (sink.count() as usize) < n {
        anyhow::ensure!(
            start.elapsed() < wall + limit,
            "mail_fair: {} of {n} accepted",
            sink.count()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let accepted = sink.accepted.lock().await.clone();
    sink.reset().await;
    let first = accepted.iter().map(|a| a.at_us).min().unwrap_or(0);
    let last = accepted.iter().map(|a| a.at_us).max().unwrap_or(0);
    let span = ((last - first) as f64 / 1e6).max(1e-6);
    let rate = (n as f64 - 1.0) / span;
    let mean_bytes = accepted.iter().map(|a| a.bytes).sum::<usize>() / accepted.len().max(1);
    results["mail_fair"] = json!({"emails": n, "seconds": span, "emails_per_s": rate.round(),
        "concurrency": concurrency, "email_bytes": mean_bytes, "wall_seconds": wall.as_secs_f64()});
    println!(
        "  mail_fair: {n} welcomes judged, composed and sent by the worker's mailer ({concurrency} at once, no database, no broker) in {span:.2}s: {rate:.0}/s, {mean_bytes} B each"
    );
    Ok(())
}

/// The table's second comparison for the mail phase.
pub(crate) fn rows(results: &Value) -> Vec<Value> {
    let got = results["mail"]["emails_per_s"].as_f64();
    let base = results["mail_fair"]["emails_per_s"].as_f64();
    let ratio = match (got, base) {
        (Some(g), Some(b)) if b > 0.0 => Some(g / b),
        _ => None,
    };
    vec![
        json!({"measure": "mail: vs same compose + SMTP client", "firstweek": got, "unit": "/s",
        "baseline": base, "baseline_name": "mail_fair: no database, no broker",
        "ratio": ratio, "target": ">= 0.5x", "ok": ratio.map(|r| r >= 0.5)}),
    ]
}
