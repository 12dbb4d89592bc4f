//! Backlog phases: what an operator meets after a worker outage, or when a
//! program imports its pairs at once. The queue fills while no worker runs;
//! then one starts, and the figure is its drain rate from its start to the
//! queue empty, beside the raw consume-and-ack rate of the same queue (same
//! messages, same prefetch as the worker) in the same run.

use std::time::{Duration, Instant};

use anyhow::bail;
use chrono::Utc;
use serde_json::{Value, json};

use firstweek_broker as broker;

use crate::sink::Sink;
use crate::{
    Numbering, Plan, broker_raw, env, interaction, record_rss, seed_due, seed_pairs, spawn,
};

/// The worker's prefetch for each queue: twice its concurrency
/// (`FIRSTWEEK_INTAKE_CONCURRENCY` 128, `FIRSTWEEK_MAIL_CONCURRENCY` 64 by default).
const EVENTS_PREFETCH: u16 = 256;
const STEPS_PREFETCH: u16 = 128;

/// Events queued while the worker is stopped, then drained.
pub(crate) async fn events(plan: &Plan, sink: &Sink, results: &mut Value) -> anyhow::Result<()> {
    let mut env = env(&[]).await?;
    let result = async {
        let n = plan.backlog_events;
        let pairs = plan.ingest_pairs;
        let started = Utc::now() - chrono::Duration::days(1);
        seed_pairs(&env.pool, "ing", pairs as i64, started).await?;
        let conn = broker::connect(&env.amqp_url, "firstweek-bench backlog").await?;
        broker::declare_topology(&conn.create_channel().await?).await?;
        let channel = broker::confirm_channel(&conn).await?;
        let bodies: Vec<Vec<u8>> = (0..n).map(|i| interaction(i, pairs, started)).collect();
        let limit = Duration::from_secs(60 + n as u64 / 500);

        // The raw limit: the same messages, consumed and acked, nothing stored.
        broker_raw::publish(&channel, broker::EXCHANGE, "interaction.recorded", &bodies, 10_000).await?;
        let (raw, _) = broker_raw::consume(&conn, broker::EVENTS_QUEUE, n, EVENTS_PREFETCH, limit).await?;

        broker_raw::publish(&channel, broker::EXCHANGE, "interaction.recorded", &bodies, 10_000).await?;
        let probe = conn.create_channel().await?;
        let (queued, _) = broker_raw::depth(&probe, broker::EVENTS_QUEUE).await?;
        anyhow::ensure!(queued as usize >= n, "backlog: {queued} of {n} events queued");
        let start = Instant::now();
        let worker = spawn(&mut env, "firstweek-worker", sink, &[("FIRSTWEEK_WORKER_ROLE", "intake")]).await?;
        let mut first_stored = None;
        loop {
            let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM interactions").fetch_one(&env.pool).await?;
            if stored > 0 {
                first_stored.get_or_insert_with(|| start.elapsed());
            }
            if stored >= n as i64 && broker_raw::depth(&probe, broker::EVENTS_QUEUE).await?.0 == 0 {
                break;
            }
            if start.elapsed() > limit {
                bail!("backlog: {stored} of {n} events stored after {limit:?}; logs in {}", env.log_dir.display());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let elapsed = start.elapsed();
        let (dead, _) = broker_raw::depth(&probe, broker::DEAD_QUEUE).await?;
        anyhow::ensure!(dead == 0, "backlog: {dead} events were dead-lettered; logs in {}", env.log_dir.display());
        let _ = conn.close(200, "bye".into()).await;
        let rate = n as f64 / elapsed.as_secs_f64();
        let first = first_stored.unwrap_or_default().as_secs_f64();
        results["backlog_events"] = json!({"events": n, "seconds": elapsed.as_secs_f64(), "events_per_s": rate.round(),
            "first_stored_after_s": first, "raw_consume_per_s": raw.round(), "prefetch": EVENTS_PREFETCH});
        println!("  backlog: {n} events drained in {:.2}s from the worker's start: {rate:.0}/s (first stored after {first:.2}s); raw consume-and-ack of the same queue {raw:.0}/s", elapsed.as_secs_f64());
        record_rss(results, "backlog_events", "worker", worker);
        Ok::<_, anyhow::Error>(())
    }
    .await;
    env.stop().await;
    result
}

/// Due steps published while no worker consumes them, then drained into emails.
pub(crate) async fn steps(plan: &Plan, sink: &Sink, results: &mut Value) -> anyhow::Result<()> {
    let mut env = env(&[]).await?;
    let result = async {
        let n = plan.backlog_steps;
        let conn = broker::connect(&env.amqp_url, "firstweek-bench backlog").await?;
        broker::declare_topology(&conn.create_channel().await?).await?;
        let channel = broker::confirm_channel(&conn).await?;
        let limit = Duration::from_secs(60 + n as u64 / 50);

        // The raw limit: due-step messages of the same size, consumed and acked.
        let bodies: Vec<Vec<u8>> = (0..n as i64).map(crate::due_step_body).collect();
        broker_raw::publish(&channel, "", broker::STEPS_QUEUE, &bodies, 10_000).await?;
        let (raw, _) = broker_raw::consume(&conn, broker::STEPS_QUEUE, n, STEPS_PREFETCH, limit).await?;

        // The real backlog: the scheduler publishes the due rows, nobody consumes.
        seed_pairs(&env.pool, "blg", n as i64 / 2 + 1, Utc::now()).await?;
        let scheduler = spawn(&mut env, "firstweek-scheduler", sink, &[]).await?;
        seed_due(&env.pool, "blg", Numbering::Plain, n as i64, Utc::now(), chrono::Duration::zero()).await?;
        let probe = conn.create_channel().await?;
        let waiting = Instant::now();
        while (broker_raw::depth(&probe, broker::STEPS_QUEUE).await?.0 as usize) < n {
            if waiting.elapsed() > limit {
                bail!("backlog: the scheduler did not queue {n} steps in {limit:?}; logs in {}", env.log_dir.display());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        sink.reset().await;
        let start = Instant::now();
        let start_us = Utc::now().timestamp_micros();
        let worker = spawn(&mut env, "firstweek-worker", sink, &[("FIRSTWEEK_WORKER_ROLE", "steps")]).await?;
        while sink.count() < n as u64 {
            if start.elapsed() > limit {
                bail!("backlog: {} of {n} emails accepted after {limit:?}; logs in {}", sink.count(), env.log_dir.display());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let elapsed = start.elapsed();
        let first = {
            let accepted = sink.accepted.lock().await;
            accepted.iter().map(|a| a.at_us).min().unwrap_or(0)
        };
        let first_after = (first - start_us) as f64 / 1e6;
        let _ = conn.close(200, "bye".into()).await;
        let rate = n as f64 / elapsed.as_secs_f64();
        results["backlog_steps"] = json!({"steps": n, "seconds": elapsed.as_secs_f64(), "emails_per_s": rate.round(),
            "first_email_after_s": first_after, "raw_consume_per_s": raw.round(), "prefetch": STEPS_PREFETCH});
        println!("  backlog: {n} due steps drained into emails in {:.2}s from the worker's start: {rate:.0}/s (first email after {first_after:.2}s); raw consume-and-ack of the same queue {raw:.0}/s", elapsed.as_secs_f64());
        record_rss(results, "backlog_steps", "worker", worker);
        record_rss(results, "backlog_steps", "scheduler", scheduler);
        Ok::<_, anyhow::Error>(())
    }
    .await;
    sink.reset().await;
    env.stop().await;
    result
}
