//! Raw RabbitMQ baselines with lapin: the same exchange, quorum queue,
//! properties (persistent JSON), confirms, prefetch and message sizes firstweek uses.

use std::time::{Duration, Instant};

use anyhow::bail;
use futures_util::StreamExt;
use futures_util::future::join_all;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Confirmation, Connection};

use firstweek_broker as broker;

/// Publishes `bodies` with confirms, pipelined (all publishes, then all
/// confirms, in windows of `window`); returns messages per second.
pub async fn publish(
    channel: &Channel,
    exchange: &str,
    key: &str,
    bodies: &[Vec<u8>],
    window: usize,
) -> anyhow::Result<f64> {
    let start = Instant::now();
    for chunk in bodies.chunks(window) {
        let mut confirms = Vec::with_capacity(chunk.len());
        for body in chunk {
            let c = channel
                .basic_publish(
                    exchange.into(),
                    key.into(),
                    BasicPublishOptions::default(),
                    body,
                    broker::persistent_json(),
                )
                .await?;
            confirms.push(c);
        }
        for c in join_all(confirms).await {
            if let Confirmation::Nack(_) = c? {
                bail!("the broker nacked a publish");
            }
        }
    }
    Ok(bodies.len() as f64 / start.elapsed().as_secs_f64())
}

/// Consumes `n` messages from `queue` with manual acks and `prefetch`;
/// returns (messages per second, when the last ack was sent).
pub async fn consume(
    conn: &Connection,
    queue: &str,
    n: usize,
    prefetch: u16,
    limit: Duration,
) -> anyhow::Result<(f64, Instant)> {
    let channel = conn.create_channel().await?;
    channel
        .basic_qos(prefetch, BasicQosOptions::default())
        .await?;
    let mut consumer = channel
        .basic_consume(
            queue.into(),
            "bench-raw".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let mut start = None;
    let mut got = 0;
    let deadline = Instant::now() + limit;
    while got < n {
        let next = tokio::time::timeout_at(deadline.into(), consumer.next()).await;
        let delivery = match next {
            Err(_) => bail!("consumed only {got} of {n} in {limit:?}"),
            Ok(None) => bail!("consumer closed"),
            Ok(Some(d)) => d?,
        };
        start.get_or_insert_with(Instant::now);
        delivery.ack(BasicAckOptions::default()).await?;
        got += 1;
    }
    let end = Instant::now();
    let _ = channel.close(200, "done".into()).await;
    let start = start.unwrap_or(end);
    Ok((
        n as f64 / (end - start).max(Duration::from_micros(1)).as_secs_f64(),
        end,
    ))
}

/// Messages ready in a queue.
pub async fn depth(channel: &Channel, queue: &str) -> anyhow::Result<(u32, u32)> {
    let q = channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    Ok((q.message_count(), q.consumer_count()))
}
