//! Webhooks out (the `webhooks` role, part of `all`): each announcement in
//! the outbox is fanned out to the endpoints of its program subscribed to
//! it (`store::fan_out`, one delivery per endpoint and event), and every
//! due delivery is claimed with a lease (`store::claim_webhooks`, several
//! replicas skip each other's), posted signed (Standard Webhooks), and
//! recorded: delivered, retried later (`firstweek::webhook::retry_after`)
//! or, after the last try, failed with its endpoint marked failing.
//!
//! An endpoint that answers slowly or never holds up no other: each request
//! has a timeout, at most `per_endpoint` of an endpoint's deliveries are in
//! flight at once, and deliveries to different endpoints run concurrently
//! (up to `concurrency`). Every request is a task of the dispatcher's
//! `JoinSet`, finished (within its timeout) and recorded before it stops.

mod sign;

use std::time::Duration;

use sqlx::PgPool;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use firstweek::timeline::TimeScale;
use firstweek::webhook::retry_after;
use firstweek_settings::WebhookSettings;
use firstweek_store::{self as store, Attempted, ClaimedWebhook};

pub use sign::{PREFIX, Secret, SecretError, new_secret};

/// How often the dispatcher looks for announcements and due deliveries
/// when nothing else wakes it.
const POLL: Duration = Duration::from_millis(200);
/// Announcements fanned out per statement.
const FAN_OUT_BATCH: i64 = 500;
/// How long requests in flight may finish once shutdown starts.
const DRAIN: Duration = Duration::from_secs(5);
/// How often the failing-endpoints gauge is refreshed.
const GAUGE_EVERY: Duration = Duration::from_secs(5);

/// The dispatcher of one worker.
pub struct Dispatcher {
    pool: PgPool,
    client: reqwest::Client,
    settings: WebhookSettings,
    scale: TimeScale,
}

impl Dispatcher {
    /// A dispatcher posting with `client` ([`client`]) and `settings`, its
    /// retries scheduled under `scale`.
    pub fn new(
        pool: PgPool,
        client: reqwest::Client,
        settings: WebhookSettings,
        scale: TimeScale,
    ) -> Dispatcher {
        Dispatcher {
            pool,
            client,
            settings,
            scale,
        }
    }

    /// A claim outlives its request's timeout by far: a dispatcher that
    /// stops mid-request leaves its deliveries to another after this.
    fn lease(&self) -> chrono::Duration {
        let timeout = i64::try_from(self.settings.timeout.as_secs()).unwrap_or(i64::MAX / 4);
        chrono::Duration::seconds((timeout * 3).max(30))
    }

    /// Runs until `shutdown`, then lets the requests in flight finish for
    /// a moment.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let mut inflight: JoinSet<()> = JoinSet::new();
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut gauge_at = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => self.fan_out().await,
                Some(_) = inflight.join_next(), if !inflight.is_empty() => {}
            }
            self.claim(&mut inflight).await;
            if gauge_at.elapsed() >= GAUGE_EVERY {
                gauge_at = tokio::time::Instant::now();
                if let Ok(n) = store::failing_endpoints(&self.pool).await {
                    metrics::gauge!("firstweek_webhook_endpoints_failing").set(n as f64);
                }
            }
        }
        // Requests in flight may finish (and be recorded) for a while; those
        // still waiting after it are dropped: their claims lapse and they are
        // tried again, with the same webhook-id, after the lease.
        let drain = tokio::time::sleep(DRAIN);
        tokio::pin!(drain);
        loop {
            tokio::select! {
                _ = &mut drain => break,
                next = inflight.join_next() => if next.is_none() { break },
            }
        }
        inflight.shutdown().await;
        Ok(())
    }

    async fn fan_out(&self) {
        loop {
            match store::fan_out(&self.pool, FAN_OUT_BATCH).await {
                Ok((events, added)) => {
                    if added > 0 {
                        tracing::debug!(events, added, "webhook deliveries added");
                    }
                    if events < FAN_OUT_BATCH {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "fanning announcements out to webhooks failed; tried again");
                    return;
                }
            }
        }
    }

    /// Claims as many due deliveries as there are free slots, each posted by
    /// a task of its own.
    async fn claim(&self, inflight: &mut JoinSet<()>) {
        let free = self.settings.concurrency.saturating_sub(inflight.len());
        if free == 0 {
            return;
        }
        let claimed = match store::claim_webhooks(
            &self.pool,
            free as i64,
            self.settings.per_endpoint as i64,
            self.lease(),
        )
        .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "claiming webhook deliveries failed; tried again");
                return;
            }
        };
        for claim in claimed {
            let (pool, client, scale) = (self.pool.clone(), self.client.clone(), self.scale);
            inflight.spawn(async move {
                let attempted = post(&client, &claim, scale).await;
                record(&pool, &claim, &attempted).await;
            });
        }
    }
}

/// The HTTP client webhooks are posted with: each request at most the
/// settings' timeout, redirects not followed (a 3xx is not a delivery).
pub fn client(settings: &WebhookSettings) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("firstweek-webhooks")
        .build()
}

/// Posts one delivery, signed, and says what became of it.
async fn post(client: &reqwest::Client, claim: &ClaimedWebhook, scale: TimeScale) -> Attempted {
    let secret = match Secret::parse(&claim.secret) {
        Ok(s) => s,
        Err(e) => return failed(claim, scale, None, e.to_string()),
    };
    let id = claim.message_id();
    let timestamp = chrono::Utc::now().timestamp();
    let signature = secret.sign(&id, timestamp, &claim.body);
    let started = std::time::Instant::now();
    let answer = client
        .post(&claim.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(claim.body.clone())
        .send()
        .await;
    metrics::histogram!("firstweek_webhook_request_seconds")
        .record(started.elapsed().as_secs_f64());
    match answer {
        Ok(r) if r.status().is_success() => Attempted::Delivered {
            status: r.status().as_u16(),
        },
        Ok(r) => {
            let status = r.status().as_u16();
            failed(claim, scale, Some(status), format!("answered {status}"))
        }
        Err(e) => failed(claim, scale, None, describe(&e)),
    }
}

/// What went wrong, without the URL (it may carry a token).
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        "the request failed".into()
    }
}

/// A failed try: retried on the schedule, or given up after the last.
fn failed(
    claim: &ClaimedWebhook,
    scale: TimeScale,
    status: Option<u16>,
    error: String,
) -> Attempted {
    match retry_after(claim.attempt, scale, spread()) {
        Some(after) => Attempted::Retry {
            after,
            status,
            error,
        },
        None => Attempted::GaveUp { status, error },
    }
}

/// Where inside the jitter a retry lands: uniform in [0, 1).
fn spread() -> f64 {
    let mut bytes = [0u8; 4];
    if getrandom::fill(&mut bytes).is_err() {
        return 0.5;
    }
    f64::from(u32::from_le_bytes(bytes)) / (f64::from(u32::MAX) + 1.0)
}

async fn record(pool: &PgPool, claim: &ClaimedWebhook, attempted: &Attempted) {
    let result = match attempted {
        Attempted::Delivered { .. } => "delivered",
        Attempted::Retry { .. } => "retrying",
        Attempted::GaveUp { .. } => "failed",
    };
    metrics::counter!("firstweek_webhook_deliveries_total", "result" => result).increment(1);
    match attempted {
        Attempted::Delivered { .. } => {}
        Attempted::Retry { error, .. } => {
            tracing::info!(delivery = claim.id, endpoint = claim.endpoint_id, attempt = claim.attempt, %error, "webhook not delivered; retried later");
        }
        Attempted::GaveUp { error, .. } => {
            tracing::warn!(delivery = claim.id, endpoint = claim.endpoint_id, attempt = claim.attempt, %error, "webhook failed after its last try; the endpoint is failing");
        }
    }
    match store::record_webhook(pool, claim, attempted).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!(
                delivery = claim.id,
                "webhook claim taken over meanwhile; not recorded"
            );
        }
        // The lease runs out and the delivery is tried again: at least once.
        Err(e) => {
            tracing::warn!(delivery = claim.id, error = %e, "recording a webhook attempt failed");
        }
    }
}
