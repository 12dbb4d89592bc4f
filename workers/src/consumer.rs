//! One queue consumer that survives its broker: it connects, declares the
//! topology, consumes with bounded concurrency, and on any connection loss
//! rebuilds everything with capped exponential backoff. Unacknowledged
//! deliveries return to the queue by themselves when a channel dies.
//!
//! On shutdown it stops taking deliveries, waits (bounded) for those in
//! flight, and closes; what it had prefetched but not started goes back.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures_util::StreamExt;
use lapin::Channel;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
};
use lapin::types::FieldTable;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use firstweek_broker::{self as broker, BrokerAddresses};
use firstweek_ops::admin::Health;
use firstweek_ops::backoff::Backoff;
use firstweek_ops::outage::is_outage;

/// What to do with a delivery once handled.
#[derive(Debug)]
pub enum Outcome {
    /// Done (stored, sent, skipped, or a duplicate): acknowledge.
    Ack,
    /// Not valid, ever: dead-letter with this reason, then acknowledge.
    Dead(String),
}

/// Something that handles one delivery. Returning an error means "not done":
/// an outage is retried in place; anything else is requeued, and dead-lettered
/// once the delivery limit is near.
pub trait Handler: Send + Sync + 'static {
    /// Handles one delivery.
    fn handle(
        &self,
        delivery: &Delivery,
    ) -> impl std::future::Future<Output = anyhow::Result<Outcome>> + Send;
}

/// How a consumer runs.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// The broker's nodes.
    pub amqp_url: BrokerAddresses,
    /// The queue consumed.
    pub queue: &'static str,
    /// Deliveries the broker may hand over before they are acknowledged.
    pub prefetch: u16,
    /// Deliveries handled at once.
    pub concurrency: usize,
    /// How long in-flight work may take once shutdown starts.
    pub drain: Duration,
}

/// Runs until `shutdown`, reconnecting as often as needed.
pub async fn run<H: Handler>(
    cfg: ConsumerConfig,
    handler: Arc<H>,
    health: Arc<Health>,
    shutdown: CancellationToken,
) {
    let mut backoff = Backoff::default();
    // The node to try first: after a lost session, the next one in the list.
    let mut node = 0;
    while !shutdown.is_cancelled() {
        match session(&cfg, &handler, &health, &shutdown, &mut backoff, &mut node).await {
            Ok(()) => break,
            Err(e) => {
                health.set_broker(false);
                health.set_broker_node(cfg.queue, None);
                let delay = backoff.next_delay();
                tracing::warn!(queue = cfg.queue, error = %format!("{e:#}"), retry_in_ms = delay.as_millis() as u64, "broker session lost; reconnecting");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
    tracing::info!(queue = cfg.queue, "consumer stopped");
}

async fn session<H: Handler>(
    cfg: &ConsumerConfig,
    handler: &Arc<H>,
    health: &Arc<Health>,
    shutdown: &CancellationToken,
    backoff: &mut Backoff,
    node: &mut usize,
) -> anyhow::Result<()> {
    let name = format!("firstweek-worker {}", cfg.queue);
    let connected = broker::connect_from(&cfg.amqp_url, *node, &name)
        .await
        .context("connecting to RabbitMQ")?;
    // Whatever ends this session, the next one starts with the next node.
    *node = (connected.index + 1) % cfg.amqp_url.len().max(1);
    let conn = connected.connection;
    broker::declare(&conn)
        .await
        .context("declaring the topology")?;
    let channel = conn.create_channel().await?;
    let dead = Arc::new(broker::confirm_channel(&conn).await?);
    channel
        .basic_qos(cfg.prefetch, BasicQosOptions::default())
        .await?;
    let tag = format!("{}-{}", cfg.queue, std::process::id());
    let mut consumer = channel
        .basic_consume(
            cfg.queue.into(),
            tag.as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    health.set_broker(true);
    health.set_broker_node(cfg.queue, Some(&connected.node));
    backoff.reset();
    tracing::info!(queue = cfg.queue, node = %connected.node, "consuming");

    let permits = Arc::new(Semaphore::new(cfg.concurrency));
    let mut tasks = JoinSet::new();
    let result = loop {
        // Wait for a free slot first, so the broker's prefetch bounds what we hold.
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            p = permits.clone().acquire_owned() => p?,
        };
        let next = tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            n = consumer.next() => n,
        };
        let delivery = match next {
            None => break Err(anyhow::anyhow!("consumer closed by the broker")),
            Some(Err(e)) => break Err(e.into()),
            Some(Ok(d)) => d,
        };
        let handler = handler.clone();
        let dead = dead.clone();
        let stop = shutdown.clone();
        tasks.spawn(async move {
            settle(&*handler, &dead, delivery, &stop).await;
            drop(permit);
        });
        while let Some(done) = tasks.try_join_next() {
            if let Err(e) = done {
                tracing::error!(error = %e, "a delivery handler panicked; its delivery returns to the queue");
            }
        }
    };

    let _ = channel
        .basic_cancel(tag.as_str().into(), BasicCancelOptions::default())
        .await;
    let drained = tokio::time::timeout(cfg.drain, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            queue = cfg.queue,
            "in-flight work did not finish in time; it returns to the queue"
        );
        tasks.abort_all();
    }
    let _ = channel.close(200, "bye".into()).await;
    let _ = conn.close(200, "bye".into()).await;
    result
}

/// Handles one delivery to the end: ack, dead-letter, or requeue.
async fn settle<H: Handler>(
    handler: &H,
    dead: &Channel,
    delivery: Delivery,
    shutdown: &CancellationToken,
) {
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    let outcome = loop {
        match handler.handle(&delivery).await {
            Ok(outcome) => break Ok(outcome),
            // PostgreSQL is restarting: keep the delivery and try again, rather
            // than burning its delivery count.
            Err(e) if is_outage(&e) && !shutdown.is_cancelled() => {
                let delay = backoff.next_delay();
                tracing::warn!(error = %format!("{e:#}"), retry_in_ms = delay.as_millis() as u64, "dependency unavailable; retrying the delivery");
                tokio::time::sleep(delay).await;
            }
            Err(e) => break Err(e),
        }
    };
    let key = delivery.routing_key.as_str().to_string();
    let result = match outcome {
        Ok(Outcome::Ack) => delivery.ack(BasicAckOptions::default()).await.map(|_| ()),
        Ok(Outcome::Dead(reason)) => dead_letter(dead, &delivery, &key, &reason).await,
        Err(e) => {
            let attempts = broker::delivery_count(&delivery.properties) + 1;
            if attempts >= broker::DELIVERY_LIMIT {
                let reason = format!("failed {attempts} times: {e:#}");
                dead_letter(dead, &delivery, &key, &reason).await
            } else {
                // Not at once: a delivery that failed comes back after a pause
                // that grows with its attempts, so a passing fault is not
                // burnt through the delivery limit in a second.
                let delay = Backoff::new(Duration::from_millis(200), Duration::from_secs(2))
                    .delay_for(attempts.max(0) as u32);
                tracing::warn!(error = %format!("{e:#}"), attempts, requeue_in_ms = delay.as_millis() as u64, "handling failed; requeued");
                metrics::counter!("firstweek_deliveries_requeued_total").increment(1);
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    _ = tokio::time::sleep(delay) => {}
                }
                requeue(&delivery).await
            }
        }
    };
    if let Err(e) = result {
        // The channel is gone: the broker redelivers, and handling is idempotent.
        tracing::warn!(error = %e, "could not settle a delivery; it will come back");
    }
}

async fn dead_letter(
    dead: &Channel,
    delivery: &Delivery,
    key: &str,
    reason: &str,
) -> Result<(), lapin::Error> {
    // A reason can quote an SMTP reply or an error naming an address: a dead
    // letter's headers, like the logs, hold none.
    let reason = firstweek::email::without_addresses(reason);
    let reason = reason.as_str();
    tracing::warn!(routing_key = %key, reason, "dead-lettered");
    metrics::counter!("firstweek_dead_letters_total").increment(1);
    // Where it came from, so a replay puts it back there: a due step came
    // through the default exchange to `firstweek.steps`, an event through
    // the public exchange.
    let origin = broker::Origin {
        exchange: delivery.exchange.as_str().to_string(),
        routing_key: key.to_string(),
    };
    match broker::dead_letter(dead, &origin, &delivery.properties, &delivery.data, reason).await {
        Ok(()) => delivery.ack(BasicAckOptions::default()).await.map(|_| ()),
        Err(e) => {
            // Not confirmed: requeue so nothing is lost.
            tracing::warn!(error = %e, "dead-letter publish failed; requeueing");
            requeue(delivery).await
        }
    }
}

/// Gives a delivery back to the broker, which offers it again (and counts the attempt).
async fn requeue(delivery: &Delivery) -> Result<(), lapin::Error> {
    let options = BasicNackOptions {
        requeue: true,
        ..Default::default()
    };
    delivery.nack(options).await.map(|_| ())
}
