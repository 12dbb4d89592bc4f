//! `firstweek-bench`: holds firstweek's real services against the raw limits
//! of the broker, the database and the SMTP server on this machine.
//!
//!     cargo run --release -p firstweek-bench            # full run (several minutes)
//!     cargo run -p firstweek-bench -- --smoke           # tiny counts, for CI
//!
//! Options: `--smoke`, `--json PATH` (default `target/firstweek-bench.json`),
//! `--only a,b,..` (phases: baseline, ingest, backlog, scheduler, mail,
//! mail_fair, backlog_steps, idle, lateness, cohort, scale, api, webhooks),
//! `--no-build` (do not build the service binaries first), `--cluster` (on
//! three RabbitMQ nodes of this machine: see `cluster.rs`).
//!
//! Every phase gets its own database, vhost and service processes (the
//! `firstweek-tests` harness); emails go to an in-process SMTP sink
//! (`sink.rs`), whose own limit is the mail baseline.

mod api;
mod backlog;
mod broker_raw;
mod cluster;
mod cohort;
mod mail_fair;
mod scale;
mod sink;
mod webhooks;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::Utc;
use serde_json::{Value, json};
use sqlx::PgPool;

use firstweek_broker as broker;
use firstweek_tests::{Env, Options};

use sink::Sink;

/// Sizes of one run.
#[derive(Debug, Clone)]
struct Plan {
    smoke: bool,
    broker_messages: usize,
    smtp_messages: usize,
    ingest_events: usize,
    ingest_pairs: usize,
    scheduler_steps: usize,
    mail_emails: usize,
    idle_rows: i64,
    idle_window: Duration,
    lateness_rate: usize,
    lateness_secs: usize,
    backlog_events: usize,
    backlog_steps: usize,
    cohort_pairs: usize,
}

impl Plan {
    fn full() -> Plan {
        Plan {
            smoke: false,
            broker_messages: 50_000,
            smtp_messages: 20_000,
            ingest_events: 50_000,
            ingest_pairs: 5_000,
            scheduler_steps: 50_000,
            mail_emails: 20_000,
            idle_rows: 1_000_000,
            idle_window: Duration::from_secs(10),
            lateness_rate: 1_000,
            lateness_secs: 30,
            backlog_events: 50_000,
            backlog_steps: 20_000,
            cohort_pairs: 1_000,
        }
    }
    fn smoke() -> Plan {
        Plan {
            smoke: true,
            broker_messages: 2_000,
            smtp_messages: 1_000,
            ingest_events: 1_000,
            ingest_pairs: 100,
            scheduler_steps: 3_000,
            mail_emails: 200,
            idle_rows: 10_000,
            idle_window: Duration::from_secs(3),
            lateness_rate: 100,
            lateness_secs: 3,
            backlog_events: 1_000,
            backlog_steps: 200,
            cohort_pairs: 20,
        }
    }
}

struct Args {
    plan: Plan,
    json: String,
    only: Option<Vec<String>>,
    build: bool,
    cluster: bool,
}

fn args() -> anyhow::Result<Args> {
    let mut plan = Plan::full();
    // Default: next to the build output (target/firstweek-bench.json), not in the work tree.
    let mut json = firstweek_tests::bin_dir()
        .parent()
        .map(|p| p.join("firstweek-bench.json").display().to_string())
        .unwrap_or_else(|| "firstweek-bench.json".to_string());
    let mut only = None;
    let mut build = true;
    let mut cluster = false;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--smoke" => plan = Plan::smoke(),
            "--json" => json = it.next().context("--json PATH")?,
            "--only" => {
                only = Some(
                    it.next()
                        .context("--only a,b")?
                        .split(',')
                        .map(str::to_string)
                        .collect(),
                );
            }
            "--no-build" => build = false,
            "--cluster" => cluster = true,
            "-h" | "--help" => {
                println!(
                    "firstweek-bench [--smoke] [--json PATH] [--only baseline,ingest,backlog,scheduler,mail,mail_fair,backlog_steps,idle,lateness,cohort,scale,api] [--no-build] [--cluster]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    Ok(Args {
        plan,
        json,
        only,
        build,
        cluster,
    })
}

/// Builds the service binaries next to this one (same profile, same target dir).
fn build_services() -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.args([
        "build",
        "-q",
        "-p",
        "firstweek-scheduler",
        "-p",
        "firstweek-workers",
        "-p",
        "firstweek-web",
        "--bins",
    ]);
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    cmd.current_dir(firstweek_tests::repo_root());
    let status = cmd
        .status()
        .context("running cargo build for the services")?;
    anyhow::ensure!(status.success(), "building the services failed");
    Ok(())
}

/// A private installation without services; emails go to `sink`.
async fn env(extra: &[(&str, &str)]) -> anyhow::Result<Env> {
    let mut env = vec![("FIRSTWEEK_SEND_WINDOW".to_string(), "off".to_string())];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Env::start(Options {
        scale: 1.0,
        env,
        start_services: false,
        broker: cluster::broker(),
        ..Options::default()
    })
    .await
}

async fn spawn(
    env: &mut Env,
    binary: &str,
    sink: &Sink,
    extra: &[(&str, &str)],
) -> anyhow::Result<u32> {
    let smtp = format!("smtp://127.0.0.1:{}", sink.port);
    let mut all: Vec<(&str, &str)> = vec![("SMTP_URL", smtp.as_str())];
    all.extend_from_slice(extra);
    env.spawn(binary, &all).await
}

/// Peak resident memory (VmHWM) of a process, in MiB.
fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// CPU time (user + system) a process has used, in seconds.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

async fn wait_consumers(env: &Env, queue: &str, limit: Duration) -> anyhow::Result<()> {
    let conn = broker::connect(&env.amqp_url, "firstweek-bench probe").await?;
    let channel = conn.create_channel().await?;
    let start = Instant::now();
    loop {
        if let Ok((_, consumers)) = broker_raw::depth(&channel, queue).await
            && consumers > 0
        {
            break;
        }
        if start.elapsed() > limit {
            bail!(
                "no consumer on {queue} after {limit:?}; logs in {}",
                env.log_dir.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = conn.close(200, "bye".into()).await;
    Ok(())
}

/// Inserts `n` pairs `{prefix}{i}` that started at `started_at`, as `mentorship.started` would.
async fn seed_pairs(
    pool: &PgPool,
    prefix: &str,
    n: i64,
    started_at: chrono::DateTime<Utc>,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO mentorships (id, program_id, started_at, people)
         SELECT $1 || i, 'bench', $2, jsonb_build_object(
             'event_id', $1 || i || '-start', 'mentorship_id', $1 || i, 'program_id', 'bench', 'started_at', $2,
             'mentor', jsonb_build_object('id', $1 || i || '-mentor', 'name', 'Ada Mentor', 'email', 'mentor.' || $1 || i || '@example.org', 'timezone', 'Europe/Berlin'),
             'mentee', jsonb_build_object('id', $1 || i || '-mentee', 'name', 'Bo Mentee', 'email', 'mentee.' || $1 || i || '@example.org', 'timezone', 'America/Sao_Paulo'),
             'coordinator', jsonb_build_object('name', 'Cy Coordinator', 'email', 'coordinator.' || $1 || i || '@example.org'))
         FROM generate_series(0, $3 - 1) AS i",
    )
    .bind(prefix)
    .bind(started_at)
    .bind(n)
    .execute(pool)
    .await?;
    // As intake would store them: with their coordinator's key.
    firstweek_store::fill_coordinator_keys(pool, &firstweek_tests::pseudonym_key()).await?;
    Ok(())
}

/// How seeded pairs are numbered in their ids after the prefix.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Numbering {
    /// `{prefix}{n}`, as `seed_pairs` numbers them.
    Plain,
    /// `{prefix}{n}` zero-padded to 7 digits, as the scale phase's pairs are.
    Padded,
}

/// Inserts `n` welcome rows (mentor and mentee of pairs `{prefix}{i/2}`,
/// numbered as `numbering` says), row `i` due at `first + i * spacing`.
async fn seed_due(
    pool: &PgPool,
    prefix: &str,
    numbering: Numbering,
    n: i64,
    first: chrono::DateTime<Utc>,
    spacing: chrono::Duration,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO timeline (mentorship_id, step_id, recipient, due_at, send_at, next_at)
         SELECT $1 || CASE WHEN $5 THEN lpad((i / 2)::text, 7, '0') ELSE (i / 2)::text END,
                'welcome', CASE WHEN i % 2 = 0 THEN 'mentor' ELSE 'mentee' END, d, d, d
         FROM generate_series(0, $2 - 1) AS i, LATERAL (SELECT $3 + i * $4 AS d) AS t",
    )
    .bind(prefix)
    .bind(n)
    .bind(first)
    .bind(spacing)
    .bind(matches!(numbering, Numbering::Padded))
    .execute(pool)
    .await
    .context("seeding welcome rows")?;
    Ok(())
}

/// An `interaction.recorded` body of the kind programs send most.
fn interaction(i: usize, pairs: usize, started: chrono::DateTime<Utc>) -> Vec<u8> {
    let kinds = [
        "message",
        "message",
        "message",
        "call",
        "meeting",
        "goal_set",
        "plan_shared",
    ];
    let kind = kinds[i % kinds.len()];
    let mut v = json!({
        "event_id": format!("bench-interaction-{i:08}"),
        "mentorship_id": format!("ing{}", i % pairs),
        "kind": kind,
        "actor": if i.is_multiple_of(2) { "mentor" } else { "mentee" },
        "occurred_at": (started + chrono::Duration::seconds((i % 3600) as i64)).to_rfc3339(),
    });
    if kind == "call" {
        v["duration_minutes"] = 30.into();
    }
    v.to_string().into_bytes()
}

/// A due-step message as the scheduler publishes it.
fn due_step_body(i: i64) -> Vec<u8> {
    let now = Utc::now();
    serde_json::to_vec(&firstweek_broker::DueStep {
        timeline_id: 1_000_000 + i,
        mentorship_id: format!("pair{:06}", i / 2),
        step_id: "welcome".into(),
        recipient: "mentor".into(),
        due_at: now,
        send_at: now,
    })
    .unwrap_or_default()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn record_rss(results: &mut Value, phase: &str, service: &str, pid: u32) {
    if let Some(mib) = peak_rss_mib(pid) {
        results["rss_mib"][phase][service] = json!((mib * 10.0).round() / 10.0);
    }
}

// ---------------------------------------------------------------- phases

async fn baseline(plan: &Plan, sink: &Sink, results: &mut Value) -> anyhow::Result<()> {
    let env = env(&[]).await?;
    let result = async {
        let conn = broker::connect(&env.amqp_url, "firstweek-bench raw").await?;
        let setup = conn.create_channel().await?;
        broker::declare_topology(&setup).await?;
        let channel = broker::confirm_channel(&conn).await?;
        let started = Utc::now() - chrono::Duration::days(1);
        let n = plan.broker_messages;
        let events: Vec<Vec<u8>> = (0..n).map(|i| interaction(i, 1000, started)).collect();
        let steps: Vec<Vec<u8>> = (0..n as i64).map(due_step_body).collect();
        let limit = Duration::from_secs(120);
        // Warm up the queues and the connection.
        broker_raw::publish(&channel, broker::EXCHANGE, "interaction.recorded", &events[..n / 10], 1000).await?;
        broker_raw::consume(&conn, broker::EVENTS_QUEUE, n / 10, 32, limit).await?;

        let publish_events = broker_raw::publish(&channel, broker::EXCHANGE, "interaction.recorded", &events, 10_000).await?;
        let (consume_events, _) = broker_raw::consume(&conn, broker::EVENTS_QUEUE, n, 32, limit).await?;
        // Publish and consume at once: the raw limit of the path an event takes.
        let start = Instant::now();
        let consumer = {
            let conn = broker::connect(&env.amqp_url, "firstweek-bench raw consumer").await?;
            tokio::spawn(async move {
                let r = broker_raw::consume(&conn, broker::EVENTS_QUEUE, n, 32, Duration::from_secs(120)).await;
                let _ = conn.close(200, "bye".into()).await;
                r
            })
        };
        broker_raw::publish(&channel, broker::EXCHANGE, "interaction.recorded", &events, 10_000).await?;
        let (_, last) = consumer.await??;
        let pipeline_events = n as f64 / (last - start).as_secs_f64();
        // The scheduler's side: due-step messages to the steps queue.
        let publish_steps = broker_raw::publish(&channel, "", broker::STEPS_QUEUE, &steps, 10_000).await?;
        let publish_steps_1000 = broker_raw::publish(&channel, "", broker::STEPS_QUEUE, &steps, 1000).await?;
        let (consume_steps, _) = broker_raw::consume(&conn, broker::STEPS_QUEUE, 2 * n, 32, limit).await?;
        let _ = conn.close(200, "bye".into()).await;
        results["baseline"]["event_bytes"] = json!(events.iter().map(Vec::len).sum::<usize>() / n);
        results["baseline"]["step_bytes"] = json!(steps.iter().map(Vec::len).sum::<usize>() / n);
        results["baseline"]["publish_events_per_s"] = json!(publish_events.round());
        results["baseline"]["consume_events_per_s"] = json!(consume_events.round());
        results["baseline"]["pipeline_events_per_s"] = json!(pipeline_events.round());
        results["baseline"]["publish_steps_per_s"] = json!(publish_steps.round());
        results["baseline"]["publish_steps_batch1000_per_s"] = json!(publish_steps_1000.round());
        results["baseline"]["consume_steps_per_s"] = json!(consume_steps.round());
        println!("  broker: publish {publish_events:.0}/s, consume {consume_events:.0}/s, publish+consume {pipeline_events:.0}/s (events); publish {publish_steps:.0}/s, in batches of 1000 {publish_steps_1000:.0}/s, consume {consume_steps:.0}/s (steps)");

        // The SMTP sink's own limit with a minimal TCP_NODELAY client, at a few connection counts.
        let message = sink::sample_message(results["baseline"]["email_bytes"].as_u64().unwrap_or(2400) as usize);
        let mut best: (f64, usize) = (0.0, 0);
        for connections in [1usize, 4, 8, 16] {
            sink.reset().await;
            let rate = sink::client_limit(sink.port, connections, plan.smtp_messages, &message).await?;
            results["baseline"]["smtp_by_connections"][connections.to_string()] = json!(rate.round());
            if rate > best.0 {
                best = (rate, connections);
            }
        }
        sink.reset().await;
        results["baseline"]["smtp_emails_per_s"] = json!(best.0.round());
        results["baseline"]["smtp_best_connections"] = json!(best.1);
        println!("  smtp sink: {:.0} emails/s at best ({} connections): {}", best.0, best.1, results["baseline"]["smtp_by_connections"]);
        Ok::<_, anyhow::Error>(())
    }
    .await;
    env.stop().await;
    result
}

async fn ingest(plan: &Plan, sink: &Sink, results: &mut Value) -> anyhow::Result<()> {
    let mut env = env(&[]).await?;
    let result = async {
        let started = Utc::now() - chrono::Duration::days(1);
        seed_pairs(&env.pool, "ing", plan.ingest_pairs as i64, started).await?;
        let scheduler = spawn(&mut env, "firstweek-scheduler", sink, &[]).await?;
        let worker = spawn(&mut env, "firstweek-worker", sink, &[]).await?;
        wait_consumers(&env, broker::EVENTS_QUEUE, Duration::from_secs(60)).await?;
        let n = plan.ingest_events;
        let events: Vec<Vec<u8>> = (0..n).map(|i| interaction(i, plan.ingest_pairs, started)).collect();
        let conn = broker::connect(&env.amqp_url, "firstweek-bench publisher").await?;
        let channel = broker::confirm_channel(&conn).await?;
        let start = Instant::now();
        let publishing = {
            let channel = channel.clone();
            tokio::spawn(async move { broker_raw::publish(&channel, broker::EXCHANGE, "interaction.recorded", &events, 10_000).await })
        };
        let limit = Duration::from_secs(30 + n as u64 / 100);
        let mut stored: i64;
        loop {
            stored = sqlx::query_scalar("SELECT count(*) FROM interactions").fetch_one(&env.pool).await?;
            if stored >= n as i64 {
                break;
            }
            if start.elapsed() > limit {
                bail!("ingest: {stored} of {n} stored after {limit:?}; logs in {}", env.log_dir.display());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let elapsed = start.elapsed();
        let publish_rate = publishing.await??;
        // Stored means acknowledged a moment later: wait for the queue to be empty.
        let probe = conn.create_channel().await?;
        loop {
            let (ready, _) = broker_raw::depth(&probe, broker::EVENTS_QUEUE).await?;
            if ready == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (dead, _) = broker_raw::depth(&probe, broker::DEAD_QUEUE).await?;
        anyhow::ensure!(dead == 0, "ingest: {dead} events were dead-lettered; logs in {}", env.log_dir.display());
        let _ = conn.close(200, "bye".into()).await;
        let rate = n as f64 / elapsed.as_secs_f64();
        results["ingest"] = json!({"events": n, "pairs": plan.ingest_pairs, "seconds": elapsed.as_secs_f64(),
            "events_per_s": rate.round(), "bench_publish_per_s": publish_rate.round()});
        println!("  ingest: {n} interactions stored in {:.2}s: {rate:.0}/s (the bench published at {publish_rate:.0}/s)", elapsed.as_secs_f64());
        record_rss(results, "ingest", "worker", worker);
        record_rss(results, "ingest", "scheduler", scheduler);
        Ok::<_, anyhow::Error>(())
    }
    .await;
    env.stop().await;
    result
}

async fn scheduler(plan: &Plan, sink: &Sink, results: &mut Value) -> anyhow::Result<()> {
    let mut env = env(&[]).await?;
    let result = async {
        let scheduler = spawn(&mut env, "firstweek-scheduler", sink, &[]).await?;
        let n = plan.scheduler_steps as i64;
        seed_pairs(&env.pool, "sch", n / 2 + 1, Utc::now()).await?;
        // All due at once, a little ahead so the scheduler is up; no worker consumes.
        let due = Utc::now() + chrono::Duration::seconds(3);
        seed_due(&env.pool, "sch", Numbering::Plain, n, due, chrono::Duration::zero()).await?;
        sqlx::query("ANALYZE timeline").execute(&env.pool).await?;
        let limit = Duration::from_secs(60 + n as u64 / 200);
        let start = Instant::now();
        // Watched from the broker while it runs: counting the timeline every
        // 50 ms would cost PostgreSQL a scan of it each time, on the cores the
        // scheduler is measured on. The rows are counted once it is done.
        let probe = broker::connect(&env.amqp_url, "firstweek-bench probe").await?;
        let watch = probe.create_channel().await?;
        loop {
            let (queued, _) = broker_raw::depth(&watch, broker::STEPS_QUEUE).await?;
            let published: i64 = if queued as i64 >= n {
                sqlx::query_scalar("SELECT count(*) FROM timeline WHERE status = 'published'").fetch_one(&env.pool).await?
            } else {
                0
            };
            if published >= n {
                break;
            }
            if start.elapsed() > limit {
                bail!("scheduler: {queued} of {n} queued after {limit:?}; logs in {}", env.log_dir.display());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Every batch is marked in one transaction (one published_at): time
        // from the first batch's mark to the last, for the rows after the first batch.
        let (first, last, first_batch): (f64, f64, i64) = sqlx::query_as(
            "SELECT extract(epoch FROM min(published_at))::float8, extract(epoch FROM max(published_at))::float8,
                    count(*) FILTER (WHERE published_at = (SELECT min(published_at) FROM timeline))
             FROM timeline",
        )
        .fetch_one(&env.pool)
        .await?;
        let span = (last - first).max(1e-6);
        let rate = (n - first_batch) as f64 / span;
        let (queued, _) = broker_raw::depth(&watch, broker::STEPS_QUEUE).await?;
        let _ = probe.close(200, "bye".into()).await;
        anyhow::ensure!(queued as i64 >= n, "scheduler: {queued} messages queued for {n} rows");
        results["scheduler"] = json!({"steps": n, "seconds": span, "first_batch": first_batch, "steps_per_s": rate.round()});
        println!("  scheduler: {n} due steps published with confirms: {rate:.0}/s (first batch {first_batch}, then {:.2}s)", span);
        record_rss(results, "scheduler", "scheduler", scheduler);
        Ok::<_, anyhow::Error>(())
    }
    .await;
    env.stop().await;
    result
}

async fn mail(plan: &Plan, sink: &Sink, results: &mut Value) -> anyhow::Result<()> {
    let mut env = env(&[]).await?;
    let result = async {
        let n = plan.mail_emails as i64;
        seed_pairs(&env.pool, "mail", n / 2 + 1, Utc::now()).await?;
        let scheduler = spawn(&mut env, "firstweek-scheduler", sink, &[]).await?;
        let worker = spawn(&mut env, "firstweek-worker", sink, &[]).await?;
        wait_consumers(&env, broker::STEPS_QUEUE, Duration::from_secs(60)).await?;
        sink.reset().await;
        let due = Utc::now() + chrono::Duration::seconds(2);
        seed_due(&env.pool, "mail", Numbering::Plain, n, due, chrono::Duration::zero()).await?;
        sqlx::query("ANALYZE timeline").execute(&env.pool).await?;
        let limit = Duration::from_secs(60 + n as u64 / 50);
        let start = Instant::now();
        while (sink.count() as i64) < n {
            if start.elapsed() > limit {
                bail!("mail: {} of {n} accepted after {limit:?}; logs in {}", sink.count(), env.log_dir.display());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let accepted = sink.accepted.lock().await.clone();
        let first = accepted.iter().map(|a| a.at_us).min().unwrap_or(0);
        let last = accepted.iter().map(|a| a.at_us).max().unwrap_or(0);
        let span = ((last - first) as f64 / 1e6).max(1e-6);
        let rate = (n - 1) as f64 / span;
        let mean_bytes = accepted.iter().map(|a| a.bytes).sum::<usize>() / accepted.len().max(1);
        let sent: i64 = sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE status = 'sent'").fetch_one(&env.pool).await?;
        results["mail"] = json!({"emails": n, "seconds": span, "emails_per_s": rate.round(), "recorded_sent": sent, "email_bytes": mean_bytes});
        println!("  mail: {n} due steps -> SMTP accepted in {span:.2}s: {rate:.0}/s ({sent} recorded sent)");
        let parts = breakdown(&env.pool).await?;
        println!("  mail: where the time goes: {parts}");
        results["mail"]["breakdown"] = parts;
        record_rss(results, "mail", "worker", worker);
        record_rss(results, "mail", "scheduler", scheduler);
        Ok::<_, anyhow::Error>(())
    }
    .await;
    sink.reset().await;
    env.stop().await;
    result
}

/// Where the time goes between a step falling due and its email being recorded
/// (medians and p99, seconds): due -> marked published (scheduler), marked
/// published -> delivery claimed (queue, worker reads, judging), claimed ->
/// recorded sent (compose, SMTP, handover and finish).
async fn breakdown(pool: &PgPool) -> anyhow::Result<Value> {
    let mut spans = spans(pool, 0).await?;
    // Which seconds of the run had steps published more than 0.5 s after due.
    let slow: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT floor(extract(epoch FROM due_at - (SELECT min(due_at) FROM timeline)))::int8 AS s, count(*)
         FROM timeline WHERE published_at - due_at > interval '0.5 s' GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(pool)
    .await?;
    spans["slow_publish_by_second"] = json!(slow);
    Ok(spans)
}

/// The three spans of [`breakdown`] (median and p99 of each, seconds) over
/// the emails sent from the timeline rows after `after_id`.
async fn spans(pool: &PgPool, after_id: i64) -> anyhow::Result<Value> {
    type Spans = (
        Option<f64>,
        Option<f64>,
        Option<f64>,
        Option<f64>,
        Option<f64>,
        Option<f64>,
    );
    let row: Spans = sqlx::query_as(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM t.published_at - t.due_at))::float8,
                percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM t.published_at - t.due_at))::float8,
                percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM d.claimed_at - t.published_at))::float8,
                percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM d.claimed_at - t.published_at))::float8,
                percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM d.finished_at - d.claimed_at))::float8,
                percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM d.finished_at - d.claimed_at))::float8
         FROM timeline t JOIN deliveries d ON d.timeline_id = t.id WHERE t.id > $1 AND d.status = 'sent'",
    )
    .bind(after_id)
    .fetch_one(pool)
    .await?;
    Ok(json!({
        "due_to_published_s": {"p50": row.0, "p99": row.1},
        "published_to_claimed_s": {"p50": row.2, "p99": row.3},
        "claimed_to_sent_s": {"p50": row.4, "p99": row.5},
    }))
}

/// Records how phase `name`, begun at `began`, ended: its time, and its
/// error (printed, and kept in `failed`) if it failed.
fn record_phase(
    results: &mut Value,
    failed: &mut Vec<&'static str>,
    name: &'static str,
    began: Instant,
    done: anyhow::Result<()>,
) {
    if let Err(e) = done {
        println!("  FAILED: {e:#}");
        results["errors"][name] = json!(format!("{e:#}"));
        failed.push(name);
    }
    results["phase_seconds"][name] = json!((began.elapsed().as_secs_f64() * 10.0).round() / 10.0);
}

/// Scrapes the scheduler's heartbeat histogram: (sum seconds, count).
async fn heartbeat_metric(port: u16) -> anyhow::Result<(f64, f64)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await?;
    let mut body = String::new();
    s.read_to_string(&mut body).await?;
    let get = |name: &str| {
        body.lines()
            .find_map(|l| {
                l.strip_prefix(name)
                    .and_then(|v| v.trim().parse::<f64>().ok())
            })
            .unwrap_or(0.0)
    };
    // The whole heartbeat (claim, and the next-due lookup where the scheduler has one), else the claim alone.
    let whole = (
        get("firstweek_heartbeat_seconds_sum "),
        get("firstweek_heartbeat_seconds_count "),
    );
    if whole.1 > 0.0 {
        return Ok(whole);
    }
    Ok((
        get("firstweek_heartbeat_claim_seconds_sum "),
        get("firstweek_heartbeat_claim_seconds_count "),
    ))
}

/// The idle heartbeat over a window: mean tick from the scheduler's
/// `/metrics`, its CPU, and the claim query timed inside PostgreSQL.
struct IdleTicks {
    tick_ms: f64,
    ticks: f64,
    cpu_ms_per_s: f64,
    exec_ms: f64,
    plan_text: Vec<String>,
}

impl IdleTicks {
    async fn measure(
        pool: &PgPool,
        admin_port: u16,
        scheduler: u32,
        window: Duration,
    ) -> anyhow::Result<IdleTicks> {
        let (s0, c0) = heartbeat_metric(admin_port).await?;
        let cpu0 = cpu_seconds(scheduler).unwrap_or(0.0);
        tokio::time::sleep(window).await;
        let (s1, c1) = heartbeat_metric(admin_port).await?;
        let cpu1 = cpu_seconds(scheduler).unwrap_or(0.0);
        let ticks = (c1 - c0).max(1.0);
        let plan_text: Vec<String> = sqlx::query_scalar(
            "EXPLAIN (ANALYZE, TIMING ON) SELECT id FROM timeline WHERE next_at <= now() ORDER BY next_at LIMIT 1000 FOR UPDATE SKIP LOCKED",
        )
        .fetch_all(pool)
        .await?;
        let exec_ms = plan_text
            .iter()
            .find_map(|l| {
                l.strip_prefix("Execution Time: ")
                    .and_then(|v| v.trim_end_matches(" ms").parse::<f64>().ok())
            })
            .unwrap_or(f64::NAN);
        Ok(IdleTicks {
            tick_ms: (s1 - s0) / ticks * 1000.0,
            ticks,
            cpu_ms_per_s: (cpu1 - cpu0) * 1000.0 / window.as_secs_f64(),
            exec_ms,
            plan_text,
        })
    }
}

async fn idle(plan: &Plan, sink: &Sink, results: &mut Value) -> anyhow::Result<()> {
    let mut env = env(&[]).await?;
    let result = async {
        let admin_port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let admin = format!("127.0.0.1:{admin_port}");
        let scheduler = spawn(&mut env, "firstweek-scheduler", sink, &[("FIRSTWEEK_ADMIN_ADDR", admin.as_str())]).await?;
        // Wait for the admin endpoint.
        let start = Instant::now();
        while heartbeat_metric(admin_port).await.map(|m| m.1).unwrap_or(0.0) < 2.0 {
            if start.elapsed() > Duration::from_secs(30) {
                bail!("idle: no heartbeat metric; logs in {}", env.log_dir.display());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let measure = |label: &'static str| {
            let pool = env.pool.clone();
            let window = plan.idle_window;
            async move {
                let t = IdleTicks::measure(&pool, admin_port, scheduler, window).await?;
                let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM timeline").fetch_one(&pool).await?;
                println!("  idle heartbeat ({label}, {rows} future steps): {:.3} ms per tick over {:.0} ticks, scheduler CPU {:.2} ms/s, claim query {:.3} ms in PostgreSQL", t.tick_ms, t.ticks, t.cpu_ms_per_s, t.exec_ms);
                Ok::<_, anyhow::Error>(json!({"rows": rows, "tick_ms": t.tick_ms, "ticks": t.ticks, "scheduler_cpu_ms_per_s": t.cpu_ms_per_s, "claim_exec_ms": t.exec_ms, "plan": t.plan_text}))
            }
        };
        let empty = measure("empty").await?;
        let started = Instant::now();
        sqlx::query(
            "INSERT INTO timeline (mentorship_id, step_id, recipient, due_at, send_at, next_at)
             SELECT 'future' || (i / 6), s.step, s.rcpt, t.d, t.d, t.d
             FROM generate_series(0, $1 - 1) AS i,
                  LATERAL (SELECT now() + interval '1 day' + (i % 600000) * interval '1 second' AS d) AS t,
                  LATERAL (SELECT (ARRAY['welcome','check_in','plan_reminder','wrap_up','welcome','check_in'])[i % 6 + 1] AS step,
                                  (ARRAY['mentor','mentor','mentor','mentor','mentee','mentee'])[i % 6 + 1] AS rcpt) AS s",
        )
        .bind(plan.idle_rows)
        .execute(&env.pool)
        .await?;
        sqlx::query("VACUUM ANALYZE timeline").execute(&env.pool).await?;
        println!("  idle: {} future steps stored in {:.1}s", plan.idle_rows, started.elapsed().as_secs_f64());
        let full = measure("full").await?;
        results["idle"] = json!({"empty": empty, "full": full});
        record_rss(results, "idle", "scheduler", scheduler);
        Ok::<_, anyhow::Error>(())
    }
    .await;
    env.stop().await;
    result
}

async fn lateness(plan: &Plan, sink: &Sink, results: &mut Value) -> anyhow::Result<()> {
    let mut env = env(&[]).await?;
    let result = async {
        let n = (plan.lateness_rate * plan.lateness_secs) as i64;
        seed_pairs(&env.pool, "late", n / 2 + 1, Utc::now()).await?;
        let scheduler = spawn(&mut env, "firstweek-scheduler", sink, &[]).await?;
        let worker = spawn(&mut env, "firstweek-worker", sink, &[]).await?;
        wait_consumers(&env, broker::STEPS_QUEUE, Duration::from_secs(60)).await?;
        sink.reset().await;
        let first = Utc::now() + chrono::Duration::seconds(2);
        let spacing = chrono::Duration::microseconds(1_000_000 / plan.lateness_rate as i64);
        seed_due(&env.pool, "late", Numbering::Plain, n, first, spacing).await?;
        sqlx::query("ANALYZE timeline").execute(&env.pool).await?;
        let limit = Duration::from_secs(plan.lateness_secs as u64 + 60);
        let start = Instant::now();
        while (sink.count() as i64) < n {
            if start.elapsed() > limit {
                bail!("lateness: {} of {n} accepted after {limit:?}; logs in {}", sink.count(), env.log_dir.display());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let due: Vec<(String, String, chrono::DateTime<Utc>)> =
            sqlx::query_as("SELECT mentorship_id, recipient, due_at FROM timeline").fetch_all(&env.pool).await?;
        let due: HashMap<(String, String), i64> = due.into_iter().map(|(m, r, d)| ((m, r), d.timestamp_micros())).collect();
        let accepted = sink.accepted.lock().await.clone();
        let mut late: Vec<f64> = accepted
            .iter()
            .filter(|a| a.step == "welcome")
            .filter_map(|a| {
                let role = a.rcpt.split('.').next()?.to_string();
                let d = due.get(&(a.mentorship.clone(), role))?;
                Some((a.at_us - d) as f64 / 1e6)
            })
            .collect();
        anyhow::ensure!(late.len() as i64 == n, "lateness: matched {} of {n} emails to their due time", late.len());
        late.sort_by(|a, b| a.total_cmp(b));
        let (p50, p99, max) = (percentile(&late, 50.0), percentile(&late, 99.0), percentile(&late, 100.0));
        results["lateness"] = json!({"steps": n, "per_second": plan.lateness_rate, "p50_s": p50, "p99_s": p99, "max_s": max});
        println!("  lateness at {}/s for {}s: p50 {p50:.3}s, p99 {p99:.3}s, max {max:.3}s", plan.lateness_rate, plan.lateness_secs);
        let parts = breakdown(&env.pool).await?;
        println!("  lateness: where the time goes: {parts}");
        results["lateness"]["breakdown"] = parts;
        record_rss(results, "lateness", "worker", worker);
        record_rss(results, "lateness", "scheduler", scheduler);
        Ok::<_, anyhow::Error>(())
    }
    .await;
    sink.reset().await;
    env.stop().await;
    result
}

// ---------------------------------------------------------------- report

fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().next().map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse::<f64>()
                    .unwrap_or(0.0)
                    / 1048576.0
            })
        })
        .unwrap_or(0.0);
    let out = |cmd: &str, args: &[&str]| {
        std::process::Command::new(cmd)
            .args(args)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu": cpu,
        "memory_gib": (mem * 10.0).round() / 10.0,
        "kernel": out("uname", &["-r"]),
        "postgresql": out("psql", &["-h", "127.0.0.1", "-U", "postgres", "-Atc", "SHOW server_version"]),
        "rabbitmq": out("sh", &["-c", "rabbitmqctl version 2>/dev/null"]),
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
    })
}

fn table(results: &Value) -> (String, Value) {
    let f = |v: &Value| v.as_f64();
    let mut rows: Vec<Value> = Vec::new();
    let mut throughput = |name: &str, got: Option<f64>, base: Option<f64>, base_name: &str| {
        let ratio = match (got, base) {
            (Some(g), Some(b)) if b > 0.0 => Some(g / b),
            _ => None,
        };
        rows.push(json!({"measure": name, "firstweek": got, "unit": "/s", "baseline": base, "baseline_name": base_name,
            "ratio": ratio, "target": ">= 0.8x", "ok": ratio.map(|r| r >= 0.8)}));
    };
    throughput(
        "ingest: events stored+acked",
        f(&results["ingest"]["events_per_s"]),
        f(&results["baseline"]["pipeline_events_per_s"]),
        "lapin publish+consume, confirms+acks",
    );
    throughput(
        "backlog: 50k events drained",
        f(&results["backlog_events"]["events_per_s"]),
        f(&results["backlog_events"]["raw_consume_per_s"]),
        "lapin consume+ack, same queue",
    );
    throughput(
        "scheduler: due steps published",
        f(&results["scheduler"]["steps_per_s"]),
        f(&results["baseline"]["publish_steps_per_s"]),
        "lapin publish with confirms",
    );
    throughput(
        "mail: due steps -> SMTP accepted",
        f(&results["mail"]["emails_per_s"]),
        f(&results["baseline"]["smtp_emails_per_s"]),
        "minimal TCP_NODELAY client -> sink",
    );
    throughput(
        "backlog: 20k due steps -> emails",
        f(&results["backlog_steps"]["emails_per_s"]),
        f(&results["backlog_steps"]["raw_consume_per_s"]),
        "lapin consume+ack, same queue",
    );
    rows.extend(mail_fair::rows(results));
    let idle_full = f(&results["idle"]["full"]["tick_ms"]);
    let idle_empty = f(&results["idle"]["empty"]["tick_ms"]);
    rows.push(json!({"measure": format!("idle heartbeat, {} future steps", results["idle"]["full"]["rows"]), "firstweek": idle_full, "unit": "ms/tick",
        "baseline": idle_empty, "baseline_name": "same, 0 steps stored", "ratio": match (idle_full, idle_empty) { (Some(a), Some(b)) if b > 0.0 => Some(a / b), _ => None },
        "target": "< 2 ms", "ok": idle_full.map(|v| v < 2.0)}));
    for (p, key, target) in [("p50", "p50_s", None), ("p99", "p99_s", Some(1.0))] {
        let v = f(&results["lateness"][key]);
        rows.push(json!({"measure": format!("lateness {p} at {}/s", results["lateness"]["per_second"]), "firstweek": v, "unit": "s",
            "baseline": null, "baseline_name": "", "ratio": null, "target": target.map(|t| format!("<= {t} s")).unwrap_or_default(),
            "ok": target.and_then(|t| v.map(|v| v <= t))}));
    }
    cohort::rows(results, &mut rows);
    for service in ["scheduler", "worker"] {
        let v = f(&results["rss_mib"]["lateness"][service]);
        let worst = results["rss_mib"].as_object().map(|phases| {
            phases
                .values()
                .filter_map(|p| p[service].as_f64())
                .fold(0.0_f64, f64::max)
        });
        rows.push(json!({"measure": format!("peak RSS {service} (lateness load)"), "firstweek": v, "unit": "MiB",
            "baseline": worst, "baseline_name": "worst phase", "ratio": null, "target": "< 40 MiB", "ok": v.map(|v| v < 40.0)}));
    }
    rows.extend(scale::rows(results));
    rows.extend(api::rows(results));
    let num = |v: &Value| match v.as_f64() {
        None => "-".to_string(),
        Some(x) if x.abs() >= 100.0 => format!("{x:.0}"),
        Some(x) if x.abs() >= 1.0 => format!("{x:.2}"),
        Some(x) => format!("{x:.3}"),
    };
    let mut out = String::new();
    out.push_str(&format!(
        "| {:<40} | {:>10} | {:<8} | {:>10} | {:<38} | {:>6} | {:<8} | {:<4} |\n",
        "measure", "firstweek", "unit", "baseline", "baseline is", "ratio", "target", "ok"
    ));
    out.push_str(&format!(
        "|{:-<42}|{:->12}|{:-<10}|{:->12}|{:-<40}|{:->8}|{:-<10}|{:-<6}|\n",
        "", "", "", "", "", "", "", ""
    ));
    for r in &rows {
        let ratio = r["ratio"]
            .as_f64()
            .map(|x| format!("{x:.2}x"))
            .unwrap_or_else(|| "-".into());
        let ok = match r["ok"].as_bool() {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "-",
        };
        out.push_str(&format!(
            "| {:<40} | {:>10} | {:<8} | {:>10} | {:<38} | {:>6} | {:<8} | {:<4} |\n",
            r["measure"].as_str().unwrap_or(""),
            num(&r["firstweek"]),
            r["unit"].as_str().unwrap_or(""),
            num(&r["baseline"]),
            r["baseline_name"].as_str().unwrap_or(""),
            ratio,
            r["target"].as_str().unwrap_or(""),
            ok
        ));
    }
    (out, Value::Array(rows))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let plan = args.plan.clone();
    if args.build {
        build_services()?;
    }
    if args.cluster {
        return cluster::run(&plan, &args.json, args.only.as_deref()).await;
    }
    let wanted = |phase: &str| {
        args.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|p| p == phase))
    };
    let sink = Sink::start().await?;
    let mut results = json!({"machine": machine(), "smoke": plan.smoke, "started_at": Utc::now().to_rfc3339(),
        "command": std::env::args().collect::<Vec<_>>().join(" ")});
    // The size of a firstweek welcome email as the sink receives it (the mail phase reports it as `email_bytes`).
    results["baseline"]["email_bytes"] = json!(2400);
    let total = Instant::now();
    type Phase = for<'a> fn(
        &'a Plan,
        &'a Sink,
        &'a mut Value,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = anyhow::Result<()>> + 'a>,
    >;
    let phases: Vec<(&str, Phase)> = vec![
        ("baseline", |p, s, r| Box::pin(baseline(p, s, r))),
        ("ingest", |p, s, r| Box::pin(ingest(p, s, r))),
        ("backlog", |p, s, r| Box::pin(backlog::events(p, s, r))),
        ("scheduler", |p, s, r| Box::pin(scheduler(p, s, r))),
        ("mail", |p, s, r| Box::pin(mail(p, s, r))),
        ("mail_fair", |p, s, r| {
            Box::pin(mail_fair::mail_fair(p, s, r))
        }),
        ("backlog_steps", |p, s, r| Box::pin(backlog::steps(p, s, r))),
        ("idle", |p, s, r| Box::pin(idle(p, s, r))),
        ("lateness", |p, s, r| Box::pin(lateness(p, s, r))),
        ("cohort", |p, s, r| Box::pin(cohort::run(p, s, r))),
        ("scale", |p, s, r| Box::pin(scale::scale(p, s, r))),
        ("api", |p, s, r| Box::pin(api::run(p, s, r))),
        ("webhooks", |p, s, r| Box::pin(webhooks::webhooks(p, s, r))),
    ];
    let mut failed = Vec::new();
    for (name, phase) in phases {
        if !wanted(name) {
            continue;
        }
        println!("{name}:");
        let t = Instant::now();
        let done = phase(&plan, &sink, &mut results).await;
        record_phase(&mut results, &mut failed, name, t, done);
    }
    let (text, rows) = table(&results);
    results["table"] = rows;
    results["total_seconds"] = json!(total.elapsed().as_secs_f64());
    println!("\n{text}");
    std::fs::write(&args.json, serde_json::to_string_pretty(&results)?)
        .with_context(|| format!("writing {}", args.json))?;
    println!(
        "written to {} ({:.0}s{})",
        args.json,
        total.elapsed().as_secs_f64(),
        if plan.smoke {
            ", smoke: small counts, figures not meaningful"
        } else {
            ""
        }
    );
    if !failed.is_empty() {
        bail!("phases failed: {}", failed.join(", "));
    }
    Ok(())
}
