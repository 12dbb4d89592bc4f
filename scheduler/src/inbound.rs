//! Relays the events the events API accepted (`inbound_events`) to the
//! `firstweek` exchange with confirms, under each event's own routing key:
//! the workers' intake takes them exactly as if their program had published
//! them over AMQP.

use sqlx::PgPool;

use firstweek_broker::{self as broker, Message, Publisher};
use firstweek_store::{self as store, Pending};

/// Events claimed per round trip.
const BATCH: i64 = 200;
/// Round trips per heartbeat at most: a full batch is followed by another
/// at once (a burst of accepted events is not paced by the heartbeat), up
/// to this many, so other work of the beat is not held up.
const ROUNDS: usize = 50;
/// How long the broker has to confirm them.
const CONFIRM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Publishes what waits, batch after batch while batches are full;
/// returns how many went out.
pub async fn relay(pool: &PgPool, out: &Publisher) -> anyhow::Result<usize> {
    let mut total = 0;
    for _ in 0..ROUNDS {
        let (claimed, sent) = relay_batch(pool, out).await?;
        total += sent;
        if claimed < BATCH as usize || sent < claimed {
            break;
        }
    }
    Ok(total)
}

/// One batch, confirmed, then recorded: how many were claimed and how many
/// went out. Unconfirmed ones are released for the next tick.
async fn relay_batch(pool: &PgPool, out: &Publisher) -> anyhow::Result<(usize, usize)> {
    let pending = store::claim_inbound(pool, BATCH, chrono::Duration::seconds(30)).await?;
    if pending.is_empty() {
        return Ok((0, 0));
    }
    let messages: Vec<_> = pending.iter().map(|p| (p, message(p))).collect();
    let settled = out.send_all(messages).await.settle(CONFIRM_TIMEOUT).await;
    let done: Vec<i64> = settled.confirmed.iter().map(|p| p.id).collect();
    let mut refused = Vec::with_capacity(settled.failed.len());
    for (p, e) in settled.failed {
        tracing::warn!(event_id = %p.event_id, error = %e, "accepted event not confirmed; retried next tick");
        refused.push(p.id);
    }
    store::mark_inbound_published(pool, &done).await?;
    metrics::counter!("firstweek_api_events_relayed_total").increment(done.len() as u64);
    if !refused.is_empty() {
        store::release_inbound(pool, &refused).await?;
    }
    Ok((pending.len(), done.len()))
}

fn message(p: &Pending) -> Message<'_> {
    let props = broker::persistent_json()
        .with_message_id(p.event_id.as_str().into())
        .with_app_id("firstweek-api".into());
    Message::new(broker::EXCHANGE, &p.routing_key, &p.body, props)
}
