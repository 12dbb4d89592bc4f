//! Scale (issue 14, item 5): the services with a million pairs stored.
//!
//! The database holds 1,000,000 pairs (`mentorships`), seeded in SQL with
//! `generate_series` in chunks, two at a time:
//! - most of them (all but the two groups below) started over the last ~600
//!   days and are past their week: each has its ten timeline rows finished
//!   (`sent` or `skipped` by a fixed mix: every welcome and wrap-up sent,
//!   3 in 10 check-ins, 4 in 10 plan reminders, 3 in 10 escalations), a
//!   `sent` delivery per sent row, three interactions; a quarter have ended;
//! - 100,000 pairs started within the last hour: their eight later rows
//!   (check-in to escalation) scheduled days ahead (in `timeline_next`), and
//!   their welcome rows, mentor and mentee, added later, all due at one
//!   instant: the welcome burst (the hour compressed to a moment, so the
//!   phase takes minutes, not an hour);
//! - 15,000 pairs started now, whose welcomes fall due 1 ms apart for the
//!   lateness measure.
//!
//! Then, scheduler (with its admin endpoint) and worker running:
//! 1. idle heartbeat (`/metrics`, as the `idle` phase) with all that stored;
//! 2. the welcome burst: 200,000 emails, rate = first to last SMTP accept
//!    (compared with the mail phase's rate when it ran in the same run);
//! 3. lateness at 1,000 due/s for 30 s (as the `lateness` phase);
//! 4. idle heartbeat again, after the burst.
//!
//! Each service's RSS (`VmRSS`) is sampled every second throughout; start,
//! peak and end are reported with `VmHWM`, and "flat" is judged by the
//! growth from the first half of the samples to the second.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use futures_util::{StreamExt as _, TryStreamExt as _};
use serde_json::{Value, json};
use sqlx::PgPool;

use firstweek_broker as broker;

use crate::sink::Sink;
use crate::{
    IdleTicks, Numbering, Plan, heartbeat_metric, percentile, record_rss, seed_due, spans, spawn,
    wait_consumers,
};

/// Sizes of the phase (derived from `--smoke`).
struct Sizes {
    /// Pairs stored in all.
    pairs: i64,
    /// Pairs whose welcomes fall due at once.
    burst: i64,
    /// Welcome rows due per second for the lateness measure, and for how long.
    paced_rate: i64,
    paced_secs: i64,
    /// Pairs per seeding statement.
    chunk: i64,
    /// Window of each idle heartbeat measure.
    idle_window: Duration,
}

impl Sizes {
    fn of(plan: &Plan) -> Sizes {
        if plan.smoke {
            Sizes {
                pairs: 3_000,
                burst: 300,
                paced_rate: 100,
                paced_secs: 2,
                chunk: 1_000,
                idle_window: Duration::from_secs(2),
            }
        } else {
            Sizes {
                pairs: 1_000_000,
                burst: 100_000,
                paced_rate: 1_000,
                paced_secs: 30,
                chunk: 50_000,
                idle_window: Duration::from_secs(10),
            }
        }
    }
    fn paced_rows(&self) -> i64 {
        self.paced_rate * self.paced_secs
    }
    fn paced_pairs(&self) -> i64 {
        self.paced_rows() / 2 + 1
    }
    fn past(&self) -> i64 {
        self.pairs - self.burst - self.paced_pairs()
    }
}

/// What the past pairs are seeded with, in order: each statement takes the
/// pair numbers `$1..$2` and `now` (`$3`).
const PAST_SEEDS: [Seed; 3] = [
    Seed {
        what: "seeding past pairs",
        sql: "INSERT INTO mentorships (id, program_id, started_at, people, ended_at, ended_reason)
         SELECT p.id, 'bench', p.s, jsonb_build_object(
             'event_id', p.id || '-start', 'mentorship_id', p.id, 'program_id', 'bench', 'started_at', p.s,
             'mentor', jsonb_build_object('id', p.id || '-mentor', 'name', 'Ada Mentor', 'email', 'mentor.' || p.id || '@example.org', 'timezone', 'Europe/Berlin'),
             'mentee', jsonb_build_object('id', p.id || '-mentee', 'name', 'Bo Mentee', 'email', 'mentee.' || p.id || '@example.org', 'timezone', 'America/Sao_Paulo'),
             'coordinator', jsonb_build_object('name', 'Cy Coordinator', 'email', 'coordinator.sp' || (i / 50) || '@example.org')),
             CASE WHEN i % 4 = 0 THEN least(p.s + interval '60 days', $3) END,
             CASE WHEN i % 4 = 0 THEN 'completed' END
         FROM generate_series($1::int8, $2::int8 - 1) AS i,
              LATERAL (SELECT 'sp' || lpad(i::text, 7, '0') AS id, $3 - interval '8 days' - i * interval '1 minute' AS s) AS p",
    },
    Seed {
        what: "seeding past interactions",
        sql: "INSERT INTO interactions (event_id, mentorship_id, kind, actor, occurred_at, duration_minutes)
         SELECT p.id || '-i' || k, p.id, (ARRAY['message', 'call', 'plan_shared'])[k + 1],
                (ARRAY['mentor', 'mentee', 'mentor'])[k + 1], p.s + (k + 1) * interval '1 day',
                CASE WHEN k = 1 THEN 30 END
         FROM generate_series($1::int8, $2::int8 - 1) AS i, generate_series(0, 2) AS k,
              LATERAL (SELECT 'sp' || lpad(i::text, 7, '0') AS id, $3 - interval '8 days' - i * interval '1 minute' AS s) AS p",
    },
    Seed {
        what: "seeding past timelines and deliveries",
        sql: "WITH t AS (
             INSERT INTO timeline (mentorship_id, step_id, recipient, due_at, send_at, status, attempts, outcome,
                                   published_at, last_published_at, picked_at, finished_at)
             SELECT p.id, st.step, st.rcpt, p.s + st.off, p.s + st.off,
                    CASE WHEN i % 10 >= st.lo AND i % 10 < st.hi THEN 'sent' ELSE 'skipped' END, 1,
                    CASE WHEN i % 10 >= st.lo AND i % 10 < st.hi THEN 'accepted' ELSE 'condition not met' END,
                    p.s + st.off, p.s + st.off, p.s + st.off, p.s + st.off + interval '1 second'
             FROM generate_series($1::int8, $2::int8 - 1) AS i,
                  LATERAL (SELECT 'sp' || lpad(i::text, 7, '0') AS id, $3 - interval '8 days' - i * interval '1 minute' AS s) AS p,
                  (VALUES ('welcome', 'mentor', interval '0 days', 0, 10), ('welcome', 'mentee', interval '0 days', 0, 10),
                          ('check_in', 'mentor', interval '2 days', 0, 3), ('check_in', 'mentee', interval '2 days', 0, 3),
                          ('plan_reminder', 'mentor', interval '4 days', 0, 4), ('plan_reminder', 'mentee', interval '4 days', 0, 4),
                          ('escalation_early', 'coordinator', interval '4 days', 0, 1),
                          ('wrap_up', 'mentor', interval '7 days', 0, 10), ('wrap_up', 'mentee', interval '7 days', 0, 10),
                          ('escalation', 'coordinator', interval '7 days', 1, 3)) AS st(step, rcpt, off, lo, hi)
             RETURNING id, mentorship_id, step_id, recipient, status, due_at)
         INSERT INTO deliveries (mentorship_id, once_key, recipient, step_id, timeline_id, message_id, status, detail,
                                 claimed_at, finished_at)
         SELECT mentorship_id, CASE WHEN step_id LIKE 'escalation%' THEN 'escalation' ELSE step_id END, recipient,
                step_id, id, '<' || id || '.bench@example.org>', 'sent', 'accepted', due_at, due_at + interval '1 second'
         FROM t WHERE status = 'sent'",
    },
];

/// One seeding statement, and what it seeds (for its error).
struct Seed {
    what: &'static str,
    sql: &'static str,
}

/// Pairs past their week, `sp0000000` on: finished timeline rows,
/// deliveries for the sent ones, three interactions each.
async fn seed_past(pool: &PgPool, lo: i64, hi: i64, now: DateTime<Utc>) -> anyhow::Result<()> {
    run_seeds(pool, &PAST_SEEDS, None, lo, hi, now).await
}

/// Runs `seeds` in one transaction, each with the id prefix (if its
/// statement takes one, as `$1`), then the pair numbers `lo..hi` and `now`.
async fn run_seeds(
    pool: &PgPool,
    seeds: &[Seed],
    prefix: Option<&str>,
    lo: i64,
    hi: i64,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    for seed in seeds {
        let query = sqlx::query(seed.sql);
        let query = match prefix {
            Some(prefix) => query.bind(prefix),
            None => query,
        };
        query
            .bind(lo)
            .bind(hi)
            .bind(now)
            .execute(&mut *tx)
            .await
            .context(seed.what)?;
    }
    tx.commit().await?;
    // Seeded as intake would store them: with their coordinator's key.
    firstweek_store::fill_coordinator_keys(pool, &firstweek_tests::pseudonym_key()).await?;
    Ok(())
}

/// What the recent pairs are seeded with, in order: each statement takes the
/// id prefix (`$1`), the pair numbers `$2..$3` and `now` (`$4`).
const RECENT_SEEDS: [Seed; 2] = [
    Seed {
        what: "seeding recent pairs",
        sql: "INSERT INTO mentorships (id, program_id, started_at, people)
         SELECT p.id, 'bench', p.s, jsonb_build_object(
             'event_id', p.id || '-start', 'mentorship_id', p.id, 'program_id', 'bench', 'started_at', p.s,
             'mentor', jsonb_build_object('id', p.id || '-mentor', 'name', 'Ada Mentor', 'email', 'mentor.' || p.id || '@example.org', 'timezone', 'Europe/Berlin'),
             'mentee', jsonb_build_object('id', p.id || '-mentee', 'name', 'Bo Mentee', 'email', 'mentee.' || p.id || '@example.org', 'timezone', 'America/Sao_Paulo'),
             'coordinator', jsonb_build_object('name', 'Cy Coordinator', 'email', 'coordinator.' || $1 || (i / 50) || '@example.org'))
         FROM generate_series($2::int8, $3::int8 - 1) AS i,
              LATERAL (SELECT $1 || lpad(i::text, 7, '0') AS id, $4 - (i % 3600) * interval '1 second' AS s) AS p",
    },
    Seed {
        what: "seeding recent pairs' later steps",
        sql: "INSERT INTO timeline (mentorship_id, step_id, recipient, due_at, send_at, next_at)
         SELECT p.id, st.step, st.rcpt, p.s + st.off, p.s + st.off, p.s + st.off
         FROM generate_series($2::int8, $3::int8 - 1) AS i,
              LATERAL (SELECT $1 || lpad(i::text, 7, '0') AS id, $4 - (i % 3600) * interval '1 second' AS s) AS p,
              (VALUES ('check_in', 'mentor', interval '2 days'), ('check_in', 'mentee', interval '2 days'),
                      ('plan_reminder', 'mentor', interval '4 days'), ('plan_reminder', 'mentee', interval '4 days'),
                      ('escalation_early', 'coordinator', interval '4 days'),
                      ('wrap_up', 'mentor', interval '7 days'), ('wrap_up', 'mentee', interval '7 days'),
                      ('escalation', 'coordinator', interval '7 days')) AS st(step, rcpt, off)",
    },
];

/// Pairs `{prefix}0000000` on that started within the hour before `now`,
/// with their eight later rows scheduled (their welcomes come later).
async fn seed_recent(
    pool: &PgPool,
    prefix: &str,
    lo: i64,
    hi: i64,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    run_seeds(pool, &RECENT_SEEDS, Some(prefix), lo, hi, now).await
}

async fn seed(pool: &PgPool, s: &Sizes, now: DateTime<Utc>) -> anyhow::Result<Value> {
    let start = Instant::now();
    let chunks = |total: i64| {
        (0..(total + s.chunk - 1) / s.chunk)
            .map(move |c| (c * s.chunk, ((c + 1) * s.chunk).min(total)))
    };
    // Two statements at a time: one per core.
    futures_util::stream::iter(chunks(s.past()))
        .map(|(lo, hi)| seed_past(pool, lo, hi, now))
        .buffer_unordered(2)
        .try_collect::<Vec<()>>()
        .await?;
    let past_s = start.elapsed().as_secs_f64();
    let groups = [("sb", s.burst), ("sl", s.paced_pairs())];
    futures_util::stream::iter(
        groups
            .iter()
            .flat_map(|&(prefix, n)| chunks(n).map(move |c| (prefix, c))),
    )
    .map(|(prefix, (lo, hi))| seed_recent(pool, prefix, lo, hi, now))
    .buffer_unordered(2)
    .try_collect::<Vec<()>>()
    .await?;
    let seeded_s = start.elapsed().as_secs_f64();
    // An old database has been vacuumed and analyzed: so is this one.
    sqlx::query("VACUUM (ANALYZE) mentorships, timeline, deliveries, interactions")
        .execute(pool)
        .await
        .context("vacuum after seeding")?;
    let vacuum_s = start.elapsed().as_secs_f64() - seeded_s;
    let counts: (i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM mentorships), (SELECT count(*) FROM timeline),
                (SELECT count(*) FROM timeline WHERE next_at IS NOT NULL),
                (SELECT count(*) FROM deliveries), (SELECT count(*) FROM interactions)",
    )
    .fetch_one(pool)
    .await?;
    let size: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
        .fetch_one(pool)
        .await?;
    anyhow::ensure!(
        counts.0 == s.pairs,
        "scale: {} pairs stored, {} planned",
        counts.0,
        s.pairs
    );
    println!(
        "  scale: seeded {} pairs ({} timeline rows, {} scheduled, {} deliveries, {} interactions; {:.0} MiB) in {:.1}s (past pairs {past_s:.1}s), vacuum analyze {vacuum_s:.1}s",
        counts.0,
        counts.1,
        counts.2,
        counts.3,
        counts.4,
        size as f64 / 1048576.0,
        seeded_s
    );
    Ok(
        json!({"pairs": counts.0, "timeline_rows": counts.1, "scheduled_rows": counts.2, "deliveries": counts.3,
        "interactions": counts.4, "database_mib": (size as f64 / 1048576.0).round(),
        "seed_seconds": seeded_s, "past_seed_seconds": past_s, "vacuum_seconds": vacuum_s}),
    )
}

/// Resident memory (VmRSS) of a process now, in MiB.
fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

const STAGES: [&str; 4] = ["idle", "burst", "paced", "idle_after"];

/// One RSS sample: seconds since sampling began, stage, scheduler and worker MiB.
type Sample = (f64, usize, Option<f64>, Option<f64>);

/// Samples both services' RSS every second until aborted.
fn sample_rss(
    scheduler: u32,
    worker: u32,
    stage: Arc<AtomicUsize>,
    samples: Arc<Mutex<Vec<Sample>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let start = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let sample = (
                start.elapsed().as_secs_f64(),
                stage.load(Ordering::Relaxed),
                rss_mib(scheduler),
                rss_mib(worker),
            );
            if let Ok(mut v) = samples.lock() {
                v.push(sample);
            }
        }
    })
}

/// Start, peak and end of one service's samples, the peak of each stage, and
/// the growth: the peak of the second half of the samples minus the first's.
fn rss_summary(samples: &[Sample], of: fn(&Sample) -> Option<f64>) -> Value {
    let values: Vec<f64> = samples.iter().filter_map(of).collect();
    let max = |v: &[f64]| v.iter().copied().fold(f64::NAN, f64::max);
    let round = |x: f64| (x * 10.0).round() / 10.0;
    let half = values.len() / 2;
    let mut stages = json!({});
    for (i, name) in STAGES.iter().enumerate() {
        let v: Vec<f64> = samples.iter().filter(|s| s.1 == i).filter_map(of).collect();
        if !v.is_empty() {
            stages[*name] = json!(round(max(&v)));
        }
    }
    json!({
        "samples": values.len(),
        "start_mib": values.first().copied().map(round),
        "peak_mib": (!values.is_empty()).then(|| round(max(&values))),
        "end_mib": values.last().copied().map(round),
        "growth_mib": (half > 0).then(|| round(max(&values[half..]) - max(&values[..half]))),
        "peak_by_stage_mib": stages,
    })
}

/// The idle heartbeat as the `idle` phase measures it (see [`IdleTicks`]).
async fn idle_heartbeat(
    pool: &PgPool,
    admin_port: u16,
    scheduler: u32,
    window: Duration,
    label: &str,
) -> anyhow::Result<Value> {
    let t = IdleTicks::measure(pool, admin_port, scheduler, window).await?;
    println!(
        "  scale: idle heartbeat ({label}): {:.3} ms per tick over {:.0} ticks, scheduler CPU {:.2} ms/s, claim query {:.3} ms in PostgreSQL",
        t.tick_ms, t.ticks, t.cpu_ms_per_s, t.exec_ms
    );
    Ok(
        json!({"tick_ms": t.tick_ms, "ticks": t.ticks, "scheduler_cpu_ms_per_s": t.cpu_ms_per_s, "claim_exec_ms": t.exec_ms}),
    )
}

/// Waits until the sink has accepted `n` messages.
async fn wait_sink(
    sink: &Sink,
    n: u64,
    limit: Duration,
    what: &str,
    logs: &std::path::Path,
) -> anyhow::Result<()> {
    let start = Instant::now();
    while sink.count() < n {
        if start.elapsed() > limit {
            bail!(
                "scale: {what}: {} of {n} accepted after {limit:?}; logs in {}",
                sink.count(),
                logs.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// The pair number in `{prefix}0000042`.
fn pair_number(mentorship: &str) -> Option<i64> {
    mentorship.get(2..)?.parse().ok()
}

pub(crate) async fn scale(plan: &Plan, sink: &Sink, results: &mut Value) -> anyhow::Result<()> {
    let s = Sizes::of(plan);
    let mut env = crate::env(&[]).await?;
    let result = async {
        let now = Utc::now();
        let seeding = firstweek_store::connect(&env.database_url, 4).await?;
        let seeded = seed(&seeding, &s, now).await;
        seeding.close().await;
        results["scale"]["seed"] = seeded?;

        let admin_port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let admin = format!("127.0.0.1:{admin_port}");
        let scheduler = spawn(&mut env, "firstweek-scheduler", sink, &[("FIRSTWEEK_ADMIN_ADDR", admin.as_str())]).await?;
        let worker = spawn(&mut env, "firstweek-worker", sink, &[]).await?;
        wait_consumers(&env, broker::STEPS_QUEUE, Duration::from_secs(60)).await?;
        let start = Instant::now();
        while heartbeat_metric(admin_port).await.map(|m| m.1).unwrap_or(0.0) < 2.0 {
            if start.elapsed() > Duration::from_secs(30) {
                bail!("scale: no heartbeat metric; logs in {}", env.log_dir.display());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let stage = Arc::new(AtomicUsize::new(0));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let sampler = sample_rss(scheduler, worker, stage.clone(), samples.clone());
        let measured = async {
            // 1. Idle, everything stored.
            let idle = idle_heartbeat(&env.pool, admin_port, scheduler, s.idle_window, &format!("{} pairs stored", s.pairs)).await?;
            results["scale"]["idle"] = idle;

            // 2. The welcome burst.
            stage.store(1, Ordering::Relaxed);
            sink.reset().await;
            let burst_rows = 2 * s.burst;
            seed_due(&env.pool, "sb", Numbering::Padded, burst_rows, Utc::now() + chrono::Duration::seconds(2), chrono::Duration::zero()).await?;
            let limit = Duration::from_secs(60 + burst_rows as u64 / 200);
            wait_sink(sink, burst_rows as u64, limit, "welcome burst", &env.log_dir).await?;
            let accepted = sink.accepted.lock().await.clone();
            sink.reset().await;
            let welcomes: Vec<_> = accepted.iter().filter(|a| a.step == "welcome" && a.mentorship.starts_with("sb")).collect();
            let distinct: std::collections::HashSet<(&str, &str)> =
                welcomes.iter().map(|a| (a.mentorship.as_str(), a.rcpt.as_str())).collect();
            anyhow::ensure!(
                welcomes.len() as i64 == burst_rows && distinct.len() as i64 == burst_rows,
                "scale: the burst gave {} welcomes ({} distinct) for {burst_rows} rows",
                welcomes.len(),
                distinct.len()
            );
            let first = welcomes.iter().map(|a| a.at_us).min().unwrap_or(0);
            let last = welcomes.iter().map(|a| a.at_us).max().unwrap_or(0);
            let span = ((last - first) as f64 / 1e6).max(1e-6);
            let rate = (burst_rows - 1) as f64 / span;
            results["scale"]["burst"] = json!({"pairs": s.burst, "emails": burst_rows, "seconds": span, "emails_per_s": rate.round()});
            let vs = results["mail"]["emails_per_s"].as_f64().map(|m| format!(" ({:.2}x the mail phase's {m:.0}/s)", rate / m)).unwrap_or_default();
            println!("  scale: welcome burst of {} pairs: {burst_rows} emails accepted in {span:.1}s: {rate:.0}/s{vs}", s.burst);

            // 3. Lateness at a steady rate.
            stage.store(2, Ordering::Relaxed);
            let before: i64 = sqlx::query_scalar("SELECT coalesce(max(id), 0) FROM timeline").fetch_one(&env.pool).await?;
            let n = s.paced_rows();
            let first = Utc::now() + chrono::Duration::seconds(2);
            let spacing = chrono::Duration::microseconds(1_000_000 / s.paced_rate);
            seed_due(&env.pool, "sl", Numbering::Padded, n, first, spacing).await?;
            let limit = Duration::from_secs(s.paced_secs as u64 + 60);
            wait_sink(sink, n as u64, limit, "lateness", &env.log_dir).await?;
            let accepted = sink.accepted.lock().await.clone();
            sink.reset().await;
            let (first_us, spacing_us) = (first.timestamp_micros(), spacing.num_microseconds().unwrap_or(0));
            let mut late: Vec<f64> = accepted
                .iter()
                .filter(|a| a.step == "welcome" && a.mentorship.starts_with("sl"))
                .filter_map(|a| {
                    let pair = pair_number(&a.mentorship)?;
                    let row = 2 * pair + i64::from(a.rcpt.starts_with("mentee."));
                    Some((a.at_us - (first_us + row * spacing_us)) as f64 / 1e6)
                })
                .collect();
            anyhow::ensure!(late.len() as i64 == n, "scale: matched {} of {n} paced emails to their due time", late.len());
            late.sort_by(|a, b| a.total_cmp(b));
            let (p50, p99, max) = (percentile(&late, 50.0), percentile(&late, 99.0), percentile(&late, 100.0));
            let breakdown = spans(&env.pool, before).await?;
            println!("  scale: lateness at {}/s for {}s: p50 {p50:.3}s, p99 {p99:.3}s, max {max:.3}s; where the time goes: {breakdown}", s.paced_rate, s.paced_secs);
            results["scale"]["lateness"] = json!({"steps": n, "per_second": s.paced_rate, "p50_s": p50, "p99_s": p99, "max_s": max, "breakdown": breakdown});

            // 4. Idle again, after it all.
            stage.store(3, Ordering::Relaxed);
            let after = idle_heartbeat(&env.pool, admin_port, scheduler, s.idle_window, "after the burst").await?;
            results["scale"]["idle_after"] = after;
            Ok::<_, anyhow::Error>(())
        }
        .await;
        sampler.abort();
        let samples = samples.lock().map(|v| v.clone()).unwrap_or_default();
        for (service, pid, of) in [
            ("scheduler", scheduler, (|s: &Sample| s.2) as fn(&Sample) -> Option<f64>),
            ("worker", worker, |s: &Sample| s.3),
        ] {
            let mut summary = rss_summary(&samples, of);
            summary["hwm_mib"] = json!(crate::peak_rss_mib(pid).map(|m| (m * 10.0).round() / 10.0));
            println!("  scale: {service} RSS: {summary}");
            results["scale"]["rss"][service] = summary;
            record_rss(results, "scale", service, pid);
        }
        measured
    }
    .await;
    sink.reset().await;
    env.stop().await;
    result
}

/// The table's rows for the scale phase.
pub(crate) fn rows(results: &Value) -> Vec<Value> {
    let sc = &results["scale"];
    if sc.is_null() {
        return Vec::new();
    }
    let f = |v: &Value| v.as_f64();
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
    let mut rows = Vec::new();
    let burst = f(&sc["burst"]["emails_per_s"]);
    let mail = f(&results["mail"]["emails_per_s"]);
    let r = ratio(burst, mail);
    rows.push(json!({"measure": format!("scale: welcome burst, {} emails", sc["burst"]["emails"]), "firstweek": burst, "unit": "/s",
        "baseline": mail, "baseline_name": "mail phase, same run", "ratio": r, "target": ">= 0.8x", "ok": r.map(|r| r >= 0.8)}));
    let idle_base = f(&results["idle"]["full"]["tick_ms"]);
    for (key, name) in [
        (
            "idle",
            format!("scale: idle heartbeat, {} pairs", sc["seed"]["pairs"]),
        ),
        (
            "idle_after",
            "scale: idle heartbeat, after the burst".to_string(),
        ),
    ] {
        let v = f(&sc[key]["tick_ms"]);
        rows.push(json!({"measure": name, "firstweek": v, "unit": "ms/tick", "baseline": idle_base, "baseline_name": "idle phase, 1M future steps",
            "ratio": ratio(v, idle_base), "target": "< 2 ms", "ok": v.map(|v| v < 2.0)}));
    }
    let p99 = f(&sc["lateness"]["p99_s"]);
    let base = f(&results["lateness"]["p99_s"]);
    rows.push(json!({"measure": format!("scale: lateness p99 at {}/s", sc["lateness"]["per_second"]), "firstweek": p99, "unit": "s",
        "baseline": base, "baseline_name": "lateness phase (small database)", "ratio": ratio(p99, base), "target": "<= 1 s", "ok": p99.map(|v| v <= 1.0)}));
    for service in ["scheduler", "worker"] {
        let rss = &sc["rss"][service];
        let hwm = f(&rss["hwm_mib"]);
        let base = f(&results["rss_mib"]["mail"][service]);
        rows.push(json!({"measure": format!("scale: peak RSS {service} (VmHWM)"), "firstweek": hwm, "unit": "MiB", "baseline": base,
            "baseline_name": "mail phase, same run", "ratio": ratio(hwm, base), "target": "< 40 MiB", "ok": hwm.map(|v| v < 40.0)}));
        let growth = f(&rss["growth_mib"]);
        rows.push(json!({"measure": format!("scale: RSS growth {service} (halves)"), "firstweek": growth, "unit": "MiB",
            "baseline": f(&rss["start_mib"]), "baseline_name": "RSS at the phase's start", "ratio": null, "target": "< 5 MiB", "ok": growth.map(|v| v < 5.0)}));
    }
    rows
}
