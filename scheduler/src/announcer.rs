//! Relays the outbox (`escalation.*`, `email.*`, ...) to the `firstweek` exchange with
//! confirms, and counts what the events say for the escalation metrics: one
//! place sees every opening, acknowledgement and resolution, whichever
//! process (worker, web, CLI) made it.

use sqlx::PgPool;

use firstweek::event;
use firstweek_broker::{self as broker, Message, Publisher};
use firstweek_store::{self as store, Pending};

/// Announcements claimed per round trip.
pub(crate) const BATCH: i64 = 100;
/// Full batches relayed at most per heartbeat before the scheduler's other work.
pub(crate) const ROUNDS: usize = 20;
/// How long the broker has to confirm them.
const CONFIRM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Publishes what the outbox holds, confirmed, then records it; returns how
/// many went out. Unconfirmed ones are released for the next tick.
pub async fn relay(pool: &PgPool, out: &Publisher) -> anyhow::Result<usize> {
    let pending = store::claim_announcements(pool, BATCH, chrono::Duration::seconds(30)).await?;
    if pending.is_empty() {
        return Ok(0);
    }
    let mut messages = Vec::with_capacity(pending.len());
    let mut unknown = Vec::new();
    for p in &pending {
        // Only what firstweek announces goes out: a row naming another key
        // (written around the outbox's check) is held back, never published.
        if event::ANNOUNCED.contains(&p.routing_key.as_str()) {
            messages.push((p, message(p)));
        } else {
            tracing::error!(event_id = %p.event_id, routing_key = %p.routing_key, "the outbox holds a routing key firstweek does not announce; not published");
            unknown.push(p.id);
        }
    }
    if !unknown.is_empty() {
        metrics::counter!("firstweek_announcements_refused_total").increment(unknown.len() as u64);
        store::hold_announcements(pool, &unknown).await?;
    }
    if messages.is_empty() {
        return Ok(0);
    }
    let settled = out.send_all(messages).await.settle(CONFIRM_TIMEOUT).await;
    let mut done = Vec::with_capacity(settled.confirmed.len());
    for p in settled.confirmed {
        observe(p);
        done.push(p.id);
    }
    let mut refused = Vec::with_capacity(settled.failed.len());
    for (p, e) in settled.failed {
        tracing::warn!(event_id = %p.event_id, error = %e, "announcement not confirmed; retried next tick");
        refused.push(p.id);
    }
    store::mark_announced(pool, &done).await?;
    if !refused.is_empty() {
        store::release_announcements(pool, &refused).await?;
    }
    Ok(done.len())
}

fn message(p: &Pending) -> Message<'_> {
    let props = broker::persistent_json()
        .with_message_id(p.event_id.as_str().into())
        .with_app_id("firstweek".into());
    Message::new(broker::EXCHANGE, &p.routing_key, &p.body, props)
}

/// The escalation metrics, from the events themselves.
fn observe(p: &Pending) {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(&p.body) else {
        return;
    };
    match p.routing_key.as_str() {
        event::ESCALATION_OPENED => {
            metrics::counter!("firstweek_escalations_opened_total").increment(1);
        }
        event::ESCALATION_ACKNOWLEDGED => {
            if let Some(seconds) = body["seconds_to_acknowledge"].as_f64() {
                metrics::histogram!("firstweek_escalation_time_to_acknowledge_seconds")
                    .record(seconds);
            }
        }
        event::ESCALATION_RESOLVED => {
            let how = body["how"].as_str().unwrap_or("unknown").to_string();
            metrics::counter!("firstweek_escalations_resolved_total", "how" => how).increment(1);
        }
        _ => {}
    }
}
