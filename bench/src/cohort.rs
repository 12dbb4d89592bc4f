//! The cohort phase: what a steady program costs in CPU. A cohort of pairs
//! with the demo's mix of behaviours (`firstweek_tests::cohort`) plays its
//! first week on a compressed clock, each event published when it happens;
//! the services' CPU time is read from `/proc` before and after, with the
//! intake and the mail on separate workers so each is counted apart:
//! CPU per event is the intake worker's, CPU per email the mail worker's and
//! the scheduler's. Afterwards, each service's CPU while nothing happens.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::Utc;
use serde_json::{Value, json};

use firstweek_broker as broker;
use firstweek_tests::cohort::{cohort as scripts, interactions};
use firstweek_tests::{Env, Options, Pair};

use crate::sink::Sink;
use crate::{Plan, cpu_seconds, record_rss, spawn, wait_consumers};

/// One program week, in seconds of wall time.
fn week_secs(plan: &Plan) -> f64 {
    if plan.smoke { 12.0 } else { 120.0 }
}

/// Coordinators of the program (pairs are spread over them).
const COORDINATORS: usize = 10;

/// An event of the cohort, at its wall-clock time.
struct Happening {
    at: chrono::DateTime<Utc>,
    routing_key: &'static str,
    body: Value,
}

fn happenings(
    pairs: usize,
    start: chrono::DateTime<Utc>,
    day: chrono::Duration,
) -> (Vec<Happening>, Vec<String>) {
    let scripts = scripts();
    let mut all = Vec::new();
    let mut ids = Vec::new();
    let at = |d: f64| chrono::Duration::milliseconds((d * day.num_milliseconds() as f64) as i64);
    for i in 0..pairs {
        let s = &scripts[i % scripts.len()];
        // A cohort starts over the first fifth of its first day.
        let started_at = start + at(0.2 * i as f64 / pairs as f64);
        let mut p = Pair::new(&format!("coh{i:05}"), started_at);
        p.tz_mentor = s.zones.0.into();
        p.tz_mentee = s.zones.1.into();
        let copies = if s.twice { 2 } else { 1 };
        let mut started = p.started(&format!("{}-start", p.id));
        started["coordinator"]["email"] =
            format!("coordinator{}@program.example.org", i % COORDINATORS).into();
        for _ in 0..copies {
            all.push(Happening {
                at: started_at,
                routing_key: "mentorship.started",
                body: started.clone(),
            });
        }
        let bodies = interactions(&p, &s.beats, at);
        for (b, body) in s.beats.iter().zip(bodies) {
            // Interactions "before the pair" arrive just before its start.
            let when = if s.before_start {
                started_at - chrono::Duration::milliseconds(100)
            } else {
                started_at + at(b.day)
            };
            for _ in 0..copies {
                all.push(Happening {
                    at: when,
                    routing_key: "interaction.recorded",
                    body: body.clone(),
                });
            }
        }
        if let Some(d) = s.ends_on_day {
            all.push(Happening {
                at: started_at + at(d),
                routing_key: "mentorship.ended",
                body: p.ended(at(d)),
            });
        }
        ids.push(p.id);
    }
    all.sort_by_key(|h| h.at);
    (all, ids)
}

/// CPU seconds of each service so far.
fn cpu(pids: &[(&'static str, u32)]) -> Vec<f64> {
    pids.iter()
        .map(|(_, pid)| cpu_seconds(*pid).unwrap_or(0.0))
        .collect()
}

/// CPU seconds of each service's live threads, to the nanosecond
/// (`/proc/<pid>/task/*/schedstat`): idle services use too little for the
/// clock ticks of `/proc/<pid>/stat` to tell 0.5 ms/s from 1.5 ms/s.
fn cpu_fine(pids: &[(&'static str, u32)]) -> Vec<f64> {
    pids.iter()
        .map(|(_, pid)| {
            let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
                return 0.0;
            };
            tasks
                .flatten()
                .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
                .filter_map(|s| s.split_whitespace().next()?.parse::<f64>().ok())
                .sum::<f64>()
                / 1e9
        })
        .collect()
}

pub(crate) async fn run(plan: &Plan, sink: &Sink, results: &mut Value) -> anyhow::Result<()> {
    let week = week_secs(plan);
    let mut env = Env::start(Options {
        scale: 7.0 * 86_400.0 / week,
        start_services: false,
        ..Options::default()
    })
    .await?;
    let result = async {
        let pairs = plan.cohort_pairs;
        let scheduler = spawn(&mut env, "firstweek-scheduler", sink, &[]).await?;
        let intake = spawn(&mut env, "firstweek-worker", sink, &[("FIRSTWEEK_WORKER_ROLE", "intake")]).await?;
        let mail = spawn(&mut env, "firstweek-worker", sink, &[("FIRSTWEEK_WORKER_ROLE", "steps")]).await?;
        wait_consumers(&env, broker::EVENTS_QUEUE, Duration::from_secs(60)).await?;
        wait_consumers(&env, broker::STEPS_QUEUE, Duration::from_secs(60)).await?;
        let services = [("scheduler", scheduler), ("intake worker", intake), ("mail worker", mail)];
        sink.reset().await;
        let start = Utc::now() + chrono::Duration::seconds(1);
        let (events, ids) = happenings(pairs, start, env.days(1.0));
        let before = cpu(&services);
        let clock = Instant::now();
        for h in &events {
            if let Ok(wait) = (h.at - Utc::now()).to_std() {
                tokio::time::sleep(wait).await;
            }
            env.publish_json(h.routing_key, &h.body).await?;
        }
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        env.wait_settled(&refs, Duration::from_secs((week * 3.0) as u64 + 60)).await?;
        let played = clock.elapsed().as_secs_f64();
        let after = cpu(&services);
        let used: Vec<f64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
        let emails = sink.count() as f64;
        let n_events = events.len() as f64;
        anyhow::ensure!(emails > 0.0, "cohort: no email sent; logs in {}", env.log_dir.display());
        let per_email_ms = (used[0] + used[2]) * 1000.0 / emails;
        let per_event_ms = used[1] * 1000.0 / n_events;
        println!(
            "  cohort: {pairs} pairs, a week in {week:.0}s (played in {played:.0}s): {n_events:.0} events, {emails:.0} emails; CPU: scheduler {:.2}s, intake worker {:.2}s, mail worker {:.2}s",
            used[0], used[1], used[2]
        );
        println!("  cohort: {per_email_ms:.3} ms CPU per email (scheduler + mail worker), {per_event_ms:.3} ms CPU per event (intake worker)");

        // Idle: the week is over, nothing is due.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let window = if plan.smoke { Duration::from_secs(3) } else { Duration::from_secs(20) };
        let idle0 = cpu_fine(&services);
        tokio::time::sleep(window).await;
        let idle1 = cpu_fine(&services);
        let mut idle = json!({});
        for (((name, _), a), b) in services.iter().zip(&idle1).zip(&idle0) {
            idle[*name] = json!((a - b) * 1000.0 / window.as_secs_f64());
        }
        println!("  cohort: idle afterwards, CPU ms per second: {idle}");
        let mut by_service = json!({});
        for ((name, _), u) in services.iter().zip(&used) {
            by_service[*name] = json!(u);
        }
        results["cohort"] = json!({"pairs": pairs, "week_seconds": week, "played_seconds": played, "events": n_events, "emails": emails,
            "cpu_seconds": by_service, "cpu_ms_per_email": per_email_ms, "cpu_ms_per_event": per_event_ms, "idle_cpu_ms_per_s": idle});
        record_rss(results, "cohort", "scheduler", scheduler);
        record_rss(results, "cohort", "worker", mail);
        record_rss(results, "cohort", "intake worker", intake);
        Ok::<_, anyhow::Error>(())
    }
    .await
    .context("cohort");
    sink.reset().await;
    env.stop().await;
    result
}

/// The phase's rows of the summary table.
pub(crate) fn rows(results: &Value, rows: &mut Vec<Value>) {
    let c = &results["cohort"];
    let mut row = |measure: String, v: Option<f64>, unit: &str, target: f64| {
        rows.push(json!({"measure": measure, "firstweek": v, "unit": unit, "baseline": null, "baseline_name": "",
            "ratio": null, "target": format!("<= {target}"), "ok": v.map(|v| v <= target)}));
    };
    let pairs = c["pairs"].as_u64().unwrap_or(0);
    row(
        format!("cohort of {pairs}: CPU per email"),
        c["cpu_ms_per_email"].as_f64(),
        "ms",
        0.3,
    );
    row(
        format!("cohort of {pairs}: CPU per event"),
        c["cpu_ms_per_event"].as_f64(),
        "ms",
        0.05,
    );
    for service in ["scheduler", "intake worker", "mail worker"] {
        row(
            format!("idle CPU, {service}"),
            c["idle_cpu_ms_per_s"][service].as_f64(),
            "ms/s",
            1.0,
        );
    }
}
