//! The one consumer loop: it connects (a [`Link`]), consumes one queue with
//! bounded concurrency, and on any connection loss rebuilds everything with
//! the link's backoff, starting with the next node. Unacknowledged deliveries
//! return to the queue by themselves when a channel dies.
//!
//! What becomes of a delivery is decided by its handler's answer: `Ok` is
//! acked; a [`HandlerError`] says itself whether the work waits for a
//! dependency ([`HandlerError::Outage`]: held and retried in place), can
//! never be done ([`HandlerError::BadInput`]: dead-lettered with the
//! reason), or failed otherwise ([`HandlerError::Failed`]: requeued after a
//! pause, dead-lettered at the delivery limit).
//!
//! On shutdown it stops taking deliveries, waits (bounded) for those in
//! flight, and closes; what it had prefetched but not started goes back.

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;

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

use crate::backoff::Backoff;
use crate::link::{Link, Watch};
use crate::{BrokerAddresses, BrokerError, DELIVERY_LIMIT, Origin, delivery_count};

/// Any error, boxed.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Why a delivery was not done, as the code that failed knows it.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// A dependency (the database, the broker) cannot answer now: the
    /// delivery is held and retried in place, its delivery count untouched.
    #[error("{}", chain(.0.as_ref()))]
    Outage(BoxError),
    /// The message can never be handled: dead-lettered with this reason.
    #[error("{0}")]
    BadInput(String),
    /// Not done for another reason: requeued after a pause that grows with
    /// its attempts, dead-lettered once the delivery limit is reached.
    #[error("{}", chain(.0.as_ref()))]
    Failed(BoxError),
}

impl HandlerError {
    /// An outage when `outage`, else a failure: for errors that know which
    /// they are (`StoreError::is_outage`).
    pub fn classified(error: impl Into<BoxError>, outage: bool) -> HandlerError {
        if outage {
            HandlerError::Outage(error.into())
        } else {
            HandlerError::Failed(error.into())
        }
    }
}

/// The broker itself failing is an outage.
impl From<BrokerError> for HandlerError {
    fn from(e: BrokerError) -> HandlerError {
        HandlerError::Outage(Box::new(e))
    }
}

/// An error and its causes, `: `-separated (as `{:#}` shows an `anyhow::Error`).
fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// Something that handles one delivery: `Ok` when done (stored, sent,
/// skipped, or a duplicate).
pub trait Handler: Send + Sync + 'static {
    /// Handles one delivery.
    fn handle(
        &self,
        delivery: &Delivery,
    ) -> impl std::future::Future<Output = Result<(), HandlerError>> + Send;
}

/// How a consumer runs.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// The broker's nodes.
    pub amqp_url: BrokerAddresses,
    /// The queue consumed.
    pub queue: &'static str,
    /// The service's name, for the connection's name on the broker.
    pub service: &'static str,
    /// Deliveries the broker may hand over before they are acknowledged.
    pub prefetch: u16,
    /// Deliveries handled at once.
    pub concurrency: usize,
    /// How long in-flight work may take once shutdown starts.
    pub drain: Duration,
}

/// Runs until `shutdown`, reconnecting as often as needed; `watch` hears of
/// the link (named after the queue) and of requeues and dead letters.
pub async fn run<H: Handler>(
    cfg: ConsumerConfig,
    handler: Arc<H>,
    watch: Arc<dyn Watch>,
    shutdown: CancellationToken,
) {
    let name = format!("{} {}", cfg.service, cfg.queue);
    let mut link = Link::new(cfg.amqp_url.clone(), name, cfg.queue, watch);
    while !shutdown.is_cancelled() {
        match session(&cfg, &handler, &mut link, &shutdown).await {
            Ok(()) => break,
            Err(e) => {
                if !link.pause(&e.to_string(), &shutdown).await {
                    break;
                }
            }
        }
    }
    link.close().await;
    tracing::info!(queue = cfg.queue, "consumer stopped");
}

/// Why a session ended early.
#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("connecting to RabbitMQ: {0}")]
    Connect(BrokerError),
    #[error("{0}")]
    Broker(#[from] BrokerError),
    #[error("{0}")]
    Amqp(#[from] lapin::Error),
    #[error("consumer closed by the broker")]
    Closed,
}

async fn session<H: Handler>(
    cfg: &ConsumerConfig,
    handler: &Arc<H>,
    link: &mut Link,
    shutdown: &CancellationToken,
) -> Result<(), SessionError> {
    let watch = link.watch().clone();
    let conn = link.connect().await.map_err(SessionError::Connect)?;
    let channel = conn.create_channel().await?;
    let dead = Arc::new(crate::confirm_channel(conn).await?);
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
    link.settled();
    tracing::info!(queue = cfg.queue, "consuming");

    let permits = Arc::new(Semaphore::new(cfg.concurrency));
    let mut tasks = JoinSet::new();
    let result = loop {
        // Wait for a free slot first, so the broker's prefetch bounds what we hold.
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break Ok(()),
            },
        };
        let next = tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            n = consumer.next() => n,
        };
        let delivery = match next {
            None => break Err(SessionError::Closed),
            Some(Err(e)) => break Err(e.into()),
            Some(Ok(d)) => d,
        };
        let handler = handler.clone();
        let dead = dead.clone();
        let stop = shutdown.clone();
        let watch = watch.clone();
        tasks.spawn(async move {
            settle(&*handler, &dead, &*watch, delivery, &stop).await;
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
    result
}

/// Handles one delivery to the end: ack, dead-letter, or requeue.
async fn settle<H: Handler>(
    handler: &H,
    dead: &Channel,
    watch: &dyn Watch,
    delivery: Delivery,
    shutdown: &CancellationToken,
) {
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    let outcome = loop {
        match handler.handle(&delivery).await {
            // A dependency is restarting: keep the delivery and try again,
            // rather than burning its delivery count.
            Err(HandlerError::Outage(e)) if !shutdown.is_cancelled() => {
                let delay = backoff.next_delay();
                tracing::warn!(error = %chain(e.as_ref()), retry_in_ms = delay.as_millis() as u64, "dependency unavailable; retrying the delivery");
                tokio::time::sleep(delay).await;
            }
            outcome => break outcome,
        }
    };
    let settled = match outcome {
        Ok(()) => delivery.ack(BasicAckOptions::default()).await.map(|_| ()),
        Err(HandlerError::BadInput(reason)) => dead_letter(dead, watch, &delivery, &reason).await,
        Err(e) => retry_or_give_up(dead, watch, &delivery, &e, shutdown).await,
    };
    if let Err(e) = settled {
        // The channel is gone: the broker redelivers, and handling is idempotent.
        tracing::warn!(error = %e, "could not settle a delivery; it will come back");
    }
}

/// A failed delivery: requeued after a pause, or dead-lettered at the delivery limit.
async fn retry_or_give_up(
    dead: &Channel,
    watch: &dyn Watch,
    delivery: &Delivery,
    e: &HandlerError,
    shutdown: &CancellationToken,
) -> Result<(), lapin::Error> {
    let attempts = delivery_count(&delivery.properties) + 1;
    if attempts >= DELIVERY_LIMIT {
        let reason = format!("failed {attempts} times: {e}");
        return dead_letter(dead, watch, delivery, &reason).await;
    }
    // Not at once: a delivery that failed comes back after a pause that
    // grows with its attempts, so a passing fault is not burnt through the
    // delivery limit in a second.
    let delay = Backoff::new(Duration::from_millis(200), Duration::from_secs(2))
        .delay_for(attempts.max(0) as u32);
    tracing::warn!(error = %e, attempts, requeue_in_ms = delay.as_millis() as u64, "handling failed; requeued");
    watch.requeued();
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = tokio::time::sleep(delay) => {}
    }
    requeue(delivery).await
}

async fn dead_letter(
    dead: &Channel,
    watch: &dyn Watch,
    delivery: &Delivery,
    reason: &str,
) -> Result<(), lapin::Error> {
    let key = delivery.routing_key.as_str();
    // A reason can quote an SMTP reply or an error naming an address: a dead
    // letter's headers, like the logs, hold none.
    let reason = firstweek::email::without_addresses(reason);
    let reason = reason.as_str();
    tracing::warn!(routing_key = %key, reason, "dead-lettered");
    watch.dead_lettered();
    // Where it came from, so a replay puts it back there: a due step came
    // through the default exchange to `firstweek.steps`, an event through
    // the public exchange.
    let origin = Origin {
        exchange: delivery.exchange.as_str().to_string(),
        routing_key: key.to_string(),
    };
    match crate::dead_letter(dead, &origin, &delivery.properties, &delivery.data, reason).await {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn an_error_reads_with_its_causes() {
        let e = HandlerError::Failed(Box::new(Outer(std::io::Error::other("inner"))));
        assert_eq!(e.to_string(), "outer: inner");
        assert_eq!(HandlerError::BadInput("no".into()).to_string(), "no");
    }
}
