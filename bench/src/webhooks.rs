//! The `webhooks` phase: signed webhook deliveries per second from one
//! worker (role `webhooks`, the dispatcher alone) to a local receiver, and
//! what an endpoint that never answers costs another: the same events to a
//! prompt endpoint alone, then beside a stuck one.
//!
//! The receiver is a minimal HTTP/1.1 server in this process (keep-alive,
//! 204 to every request, or never an answer), so its own cost stays small
//! next to the dispatcher's; the events are written to the outbox directly,
//! as the store's writers do.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::{Plan, Sink, env, spawn};

/// A local receiver: counts the requests it reads.
struct Receiver {
    url: String,
    got: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start(answers: bool) -> anyhow::Result<Receiver> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hooks", listener.local_addr()?);
        let got = Arc::new(AtomicUsize::new(0));
        let counter = got.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, counter.clone(), answers));
            }
        });
        Ok(Receiver { url, got, task })
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads requests off one connection; answers 204 to each, or never.
async fn serve(mut stream: TcpStream, got: Arc<AtomicUsize>, answers: bool) {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let Some(end) = find(&buf, b"\r\n\r\n") else {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < end + 4 + length {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..end + 4 + length);
        got.fetch_add(1, Ordering::Relaxed);
        if !answers {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return;
        }
        let answer = b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n";
        if stream.write_all(answer).await.is_err() {
            return;
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// One round: `events` announcements fanned out to `prompt` (and to a stuck
/// endpoint beside it when `stuck` says so); the prompt endpoint's figures.
async fn round(sink: &Sink, events: i64, stuck: bool) -> anyhow::Result<Value> {
    let mut env = env(&[]).await?;
    let result = async {
        let prompt = Receiver::start(true).await?;
        let secret = firstweek_workers::webhooks::new_secret()?;
        let subscribed = vec!["escalation.opened".to_string()];
        let id = firstweek_store::add_endpoint(&env.pool, "bench", &prompt.url, &subscribed, &secret).await?;
        let never = Receiver::start(false).await?;
        if stuck {
            firstweek_store::add_endpoint(&env.pool, "bench", &never.url, &subscribed, &secret).await?;
        }
        spawn(&mut env, "firstweek-worker", sink, &[("FIRSTWEEK_WORKER_ROLE", "webhooks"), ("FIRSTWEEK_WEBHOOK_TIMEOUT_SECS", "60")]).await?;
        // Wait for the dispatcher to be up: one event through first.
        seed(&env.pool, "warm", 1).await?;
        wait_delivered(&env.pool, id, 1, Duration::from_secs(60)).await?;
        let before = prompt.got.load(Ordering::Relaxed);
        let start = Instant::now();
        seed(&env.pool, "e", events).await?;
        wait_delivered(&env.pool, id, events + 1, Duration::from_secs(60 + events as u64 / 20)).await?;
        let seconds = start.elapsed().as_secs_f64();
        let got = prompt.got.load(Ordering::Relaxed) - before;
        let (p50, p99): (f64, f64) = sqlx::query_as(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - created_at))::float8,
                    percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - created_at))::float8
             FROM webhook_deliveries WHERE endpoint_id = $1 AND event_id LIKE 'bench-e-%'",
        )
        .bind(id)
        .fetch_one(&env.pool)
        .await?;
        let stuck_requests = never.got.load(Ordering::Relaxed);
        Ok::<_, anyhow::Error>(json!({
            "events": events, "received": got, "seconds": (seconds * 100.0).round() / 100.0,
            "deliveries_per_s": (events as f64 / seconds).round(),
            "latency_p50_s": (p50 * 1000.0).round() / 1000.0, "latency_p99_s": (p99 * 1000.0).round() / 1000.0,
            "stuck_endpoint": stuck, "requests_held_by_stuck_endpoint": stuck_requests,
        }))
    }
    .await;
    env.stop().await;
    result
}

/// `n` escalation.opened announcements of program `bench`, as the store writes them.
async fn seed(pool: &sqlx::PgPool, label: &str, n: i64) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO outbox (event_id, routing_key, payload)
         SELECT 'bench-' || $1 || '-' || i, 'escalation.opened',
                jsonb_build_object('event_id', 'bench-' || $1 || '-' || i, 'mentorship_id', 'm-' || i,
                                   'program_id', 'bench', 'coordinator_key', 'coordinator-0', 'rules', '[]'::jsonb)
         FROM generate_series(1, $2) AS i",
    )
    .bind(label)
    .bind(n)
    .execute(pool)
    .await?;
    Ok(())
}

async fn wait_delivered(
    pool: &sqlx::PgPool,
    endpoint: i64,
    want: i64,
    limit: Duration,
) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1 AND status = 'delivered'")
            .bind(endpoint)
            .fetch_one(pool)
            .await?;
        if n >= want {
            return Ok(());
        }
        if start.elapsed() > limit {
            bail!("webhooks: {n} of {want} delivered after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The phase: alone, then beside a stuck endpoint.
pub async fn webhooks(plan: &Plan, sink: &Sink, results: &mut Value) -> anyhow::Result<()> {
    let events = if plan.smoke { 200 } else { 5_000 };
    let alone = round(sink, events, false).await?;
    println!(
        "  webhooks: {events} deliveries to one local receiver: {}/s (p99 {} s from fan-out to answer)",
        alone["deliveries_per_s"], alone["latency_p99_s"]
    );
    let beside = round(sink, events, true).await?;
    println!(
        "  webhooks: the same beside an endpoint that never answers ({} requests held there): {}/s (p99 {} s)",
        beside["requests_held_by_stuck_endpoint"],
        beside["deliveries_per_s"],
        beside["latency_p99_s"]
    );
    results["webhooks"] = json!({"alone": alone, "beside_stuck_endpoint": beside});
    Ok(())
}
