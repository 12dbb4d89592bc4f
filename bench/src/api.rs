//! The events API against the AMQP path, in one run and one installation:
//! the same interactions published by `CONCURRENCY` clients over AMQP (one
//! confirmed publish each) and then over HTTP (one `POST /api/v1/events`
//! each, a new connection per request, as a simple client does). For each:
//! events per second until every publisher had its answer (confirm, or
//! `202`: durable), that answer's p50 and p99 latency, and events per
//! second until intake had stored them all (the HTTP path includes the
//! scheduler's relay from `inbound_events`). HTTP twice: all clients with
//! one key (a key's requests serialise on its rate window's row), then
//! each client with a key of its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::Utc;
use lapin::Confirmation;
use lapin::options::BasicPublishOptions;
use serde_json::{Value, json};
use sqlx::PgPool;

use firstweek_broker as broker;
use firstweek_tests::Env;

use crate::sink::Sink;
use crate::{Plan, percentile};

/// Clients publishing at once on each path.
const CONCURRENCY: usize = 16;
/// Pairs the interactions are spread over.
const PAIRS: usize = 100;

/// One path's figures.
struct Path {
    acked_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    stored_per_s: f64,
}

impl Path {
    fn json(&self) -> Value {
        json!({"acked_per_s": self.acked_per_s.round(), "p50_ms": self.p50_ms, "p99_ms": self.p99_ms,
               "stored_per_s": self.stored_per_s.round()})
    }
}

pub async fn run(plan: &Plan, sink: &Sink, results: &mut Value) -> anyhow::Result<()> {
    let mut env = crate::env(&[("FIRSTWEEK_API_RATE_PER_MINUTE", "1000000")]).await?;
    let result = async {
        let started = Utc::now() - chrono::Duration::days(1);
        crate::seed_pairs(&env.pool, "ing", PAIRS as i64, started).await?;
        crate::spawn(&mut env, "firstweek-scheduler", sink, &[]).await?;
        crate::spawn(&mut env, "firstweek-worker", sink, &[]).await?;
        let port = firstweek_tests::port();
        let addr = format!("127.0.0.1:{port}");
        env.spawn_without("firstweek-web", &["AMQP_URL", "SMTP_URL"], &[("FIRSTWEEK_WEB_ADDR", &addr)])
            .await?;
        crate::wait_consumers(&env, broker::EVENTS_QUEUE, Duration::from_secs(60)).await?;
        let mut keys = Vec::with_capacity(CONCURRENCY);
        for _ in 0..CONCURRENCY {
            keys.push(firstweek_store::create_api_key(&env.pool, "bench").await?.1.as_str().to_string());
        }
        wait_for_web(port, &keys[0]).await?;
        let n = if plan.smoke { 200 } else { 5_000 };
        let bodies: Arc<Vec<Vec<u8>>> =
            Arc::new((0..3 * n).map(|i| crate::interaction(i, PAIRS, started)).collect());

        let amqp = amqp_path(&env, &bodies, n, &env.pool).await.context("AMQP path")?;
        let http = http_path(port, &keys[..1], &bodies, n, &env.pool).await.context("HTTP path")?;
        let http_keys = http_path(port, &keys, &bodies, n, &env.pool).await.context("HTTP path, a key per client")?;
        results["api"] = json!({"events": n, "concurrency": CONCURRENCY, "amqp": amqp.json(), "http": http.json(),
            "http_key_per_client": http_keys.json()});
        for (name, p) in [("AMQP", &amqp), ("HTTP, one key", &http), ("HTTP, a key per client", &http_keys)] {
            println!(
                "  {name}: {n} events, {CONCURRENCY} clients: {:.0}/s durable (p50 {:.1} ms, p99 {:.1} ms), {:.0}/s stored by intake",
                p.acked_per_s, p.p50_ms, p.p99_ms, p.stored_per_s
            );
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    env.stop().await;
    result
}

async fn wait_for_web(port: u16, key: &str) -> anyhow::Result<()> {
    let start = Instant::now();
    let auth = format!("authorization: Bearer {key}\r\n");
    loop {
        let answer = firstweek_tests::http_post_json(
            port,
            "/api/v1/events/batch",
            &auth,
            br#"{"events":[]}"#,
        )
        .await;
        if answer.starts_with("HTTP/1.1 422") {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(30) {
            bail!("firstweek-web did not answer the events API");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends events `from..from + n`, each by one of the clients through
/// `send`; returns the answers' latencies (ms) and how long
/// until all were answered.
async fn drive<F, Fut>(from: usize, n: usize, send: F) -> anyhow::Result<(Vec<f64>, Duration)>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let next = Arc::new(AtomicUsize::new(from));
    let start = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (next, send) = (next.clone(), send.clone());
        clients.spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= from + n {
                    return Ok::<_, anyhow::Error>(latencies);
                }
                let t = Instant::now();
                send(i).await?;
                latencies.push(t.elapsed().as_secs_f64() * 1000.0);
            }
        });
    }
    let mut all = Vec::with_capacity(n);
    while let Some(done) = clients.join_next().await {
        all.extend(done??);
    }
    let elapsed = start.elapsed();
    all.sort_by(f64::total_cmp);
    Ok((all, elapsed))
}

async fn amqp_path(
    env: &Env,
    bodies: &Arc<Vec<Vec<u8>>>,
    n: usize,
    pool: &PgPool,
) -> anyhow::Result<Path> {
    let conn = broker::connect(&env.amqp_url, "firstweek-bench api phase").await?;
    let channel = broker::confirm_channel(&conn).await?;
    let start = Instant::now();
    let bodies = bodies.clone();
    let (latencies, acked) = drive(0, n, move |i| {
        let (channel, bodies) = (channel.clone(), bodies.clone());
        async move {
            let confirm = channel
                .basic_publish(
                    broker::EXCHANGE.into(),
                    "interaction.recorded".into(),
                    BasicPublishOptions::default(),
                    &bodies[i],
                    broker::persistent_json(),
                )
                .await?;
            if let Confirmation::Nack(_) = confirm.await? {
                bail!("the broker nacked a publish");
            }
            Ok(())
        }
    })
    .await?;
    let stored = wait_stored(pool, n as i64, start).await?;
    let _ = conn.close(200, "bye".into()).await;
    Ok(figures(&latencies, n, acked, stored))
}

/// The next `n` events (after those stored already), over HTTP, event `i`
/// with key `i % keys.len()`.
async fn http_path(
    port: u16,
    keys: &[String],
    bodies: &Arc<Vec<Vec<u8>>>,
    n: usize,
    pool: &PgPool,
) -> anyhow::Result<Path> {
    let auths: Arc<Vec<String>> = Arc::new(
        keys.iter()
            .map(|k| format!("authorization: Bearer {k}\r\n"))
            .collect(),
    );
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM interactions")
        .fetch_one(pool)
        .await?;
    let from = usize::try_from(before)?;
    let start = Instant::now();
    let bodies = bodies.clone();
    let (latencies, acked) = drive(from, n, move |i| {
        let (auths, bodies) = (auths.clone(), bodies.clone());
        async move {
            let auth = &auths[i % auths.len()];
            let event: Value = serde_json::from_slice(&bodies[i])?;
            let body = json!({"type": "interaction.recorded", "event": event}).to_string();
            let answer =
                firstweek_tests::http_post_json(port, "/api/v1/events", auth, body.as_bytes())
                    .await;
            if !answer.starts_with("HTTP/1.1 202") {
                bail!(
                    "the events API answered {:?}",
                    answer.lines().next().unwrap_or("")
                );
            }
            Ok(())
        }
    })
    .await?;
    let stored = wait_stored(pool, before + n as i64, start).await?;
    Ok(figures(&latencies, n, acked, stored))
}

/// Waits until `count` interactions are stored; how long since `start`.
async fn wait_stored(pool: &PgPool, count: i64, start: Instant) -> anyhow::Result<Duration> {
    let limit = Duration::from_secs(60 + count as u64 / 50);
    loop {
        let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM interactions")
            .fetch_one(pool)
            .await?;
        if stored >= count {
            return Ok(start.elapsed());
        }
        if start.elapsed() > limit {
            bail!("{stored} of {count} interactions stored after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn figures(latencies: &[f64], n: usize, acked: Duration, stored: Duration) -> Path {
    Path {
        acked_per_s: n as f64 / acked.as_secs_f64(),
        p50_ms: percentile(latencies, 50.0),
        p99_ms: percentile(latencies, 99.0),
        stored_per_s: n as f64 / stored.as_secs_f64(),
    }
}

/// The phase's rows of the summary table: the HTTP path against the AMQP one.
pub(crate) fn rows(results: &Value) -> Vec<Value> {
    let a = &results["api"];
    let row = |measure: &str, http: Option<f64>, amqp: Option<f64>, unit: &str| {
        let ratio = match (http, amqp) {
            (Some(h), Some(b)) if b > 0.0 => Some(h / b),
            _ => None,
        };
        json!({"measure": measure, "firstweek": http, "unit": unit, "baseline": amqp, "baseline_name": "same over AMQP, same run",
               "ratio": ratio, "target": "", "ok": null})
    };
    vec![
        row(
            "api: events/s durable (202 vs confirm)",
            a["http"]["acked_per_s"].as_f64(),
            a["amqp"]["acked_per_s"].as_f64(),
            "/s",
        ),
        row(
            "api: p99 to durable",
            a["http"]["p99_ms"].as_f64(),
            a["amqp"]["p99_ms"].as_f64(),
            "ms",
        ),
        row(
            "api: events/s stored by intake",
            a["http"]["stored_per_s"].as_f64(),
            a["amqp"]["stored_per_s"].as_f64(),
            "/s",
        ),
    ]
}
