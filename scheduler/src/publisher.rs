//! Claims due rows and publishes them with confirms. A row is marked
//! published only after the broker confirmed it; an unconfirmed row is
//! released for the next tick, so nothing due is ever dropped.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use chrono::Duration;
use futures_util::future::join_all;
use lapin::options::BasicPublishOptions;
use lapin::{Channel, Confirmation, Connection};
use sqlx::PgPool;

use firstweek::broker;
use firstweek::store::{self, DueStep};
use firstweek_ops::admin::Health;

/// Rows claimed per round trip.
const BATCH: i64 = 1000;
/// A claimed row is not offered to another scheduler for this long.
const CLAIM_LEASE: i64 = 30;
/// How long the broker has to confirm a batch before it counts as not confirmed.
const CONFIRM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The publishing side of the scheduler, with its broker connection.
pub struct Publisher {
    pool: PgPool,
    amqp_url: String,
    health: Arc<Health>,
    redeliver_after: Duration,
    link: Option<(Connection, Channel)>,
}

impl Publisher {
    /// A publisher that connects on first use.
    pub fn new(pool: PgPool, amqp_url: String, health: Arc<Health>, redeliver_after: Duration) -> Publisher {
        Publisher {
            pool,
            amqp_url,
            health,
            redeliver_after,
            link: None,
        }
    }

    async fn channel(&mut self) -> anyhow::Result<Channel> {
        if let Some((conn, channel)) = &self.link
            && conn.status().connected()
            && channel.status().connected()
        {
            return Ok(channel.clone());
        }
        self.link = None;
        let conn = broker::connect(&self.amqp_url, "firstweek-scheduler")
            .await
            .context("connecting to RabbitMQ")?;
        let setup = conn.create_channel().await?;
        broker::declare_topology(&setup)
            .await
            .context("declaring the topology")?;
        let _ = setup.close(200, "topology declared".into()).await;
        let channel = broker::confirm_channel(&conn).await?;
        self.health.set_broker(true);
        tracing::info!("connected to RabbitMQ");
        self.link = Some((conn, channel.clone()));
        Ok(channel)
    }

    /// Publishes everything due now; returns how many rows went out.
    pub async fn tick(&mut self) -> anyhow::Result<usize> {
        let mut total = 0;
        loop {
            let started = Instant::now();
            let channel = match self.channel().await {
                Ok(c) => c,
                Err(e) => {
                    self.health.set_broker(false);
                    return Err(e);
                }
            };
            let due = store::claim_due(&self.pool, BATCH, Duration::seconds(CLAIM_LEASE)).await?;
            metrics::histogram!("firstweek_heartbeat_claim_seconds")
                .record(started.elapsed().as_secs_f64());
            if due.is_empty() {
                return Ok(total);
            }
            let (confirmed, failed) = publish_all(&channel, &due).await;
            if !confirmed.is_empty() {
                store::mark_published(&self.pool, &confirmed, self.redeliver_after)
                    .await?;
            }
            metrics::counter!("firstweek_steps_published_total").increment(confirmed.len() as u64);
            total += confirmed.len();
            if !failed.is_empty() {
                store::release(&self.pool, &failed).await?;
                self.link = None;
                self.health.set_broker(false);
                anyhow::bail!(
                    "{} publishes were not confirmed; released for the next tick",
                    failed.len()
                );
            }
            if (due.len() as i64) < BATCH {
                return Ok(total);
            }
        }
    }
}

/// Publishes a batch, pipelined: all publishes first, then all confirms.
async fn publish_all(channel: &Channel, due: &[DueStep]) -> (Vec<i64>, Vec<i64>) {
    let mut pending = Vec::with_capacity(due.len());
    let mut failed = Vec::new();
    for step in due {
        let body = match serde_json::to_vec(step) {
            Ok(b) => b,
            Err(_) => {
                failed.push(step.timeline_id);
                continue;
            }
        };
        let props = broker::persistent_json()
            .with_message_id(format!("timeline-{}", step.timeline_id).into());
        match channel
            .basic_publish(
                "".into(),
                broker::STEPS_QUEUE.into(),
                BasicPublishOptions::default(),
                &body,
                props,
            )
            .await
        {
            Ok(confirm) => pending.push((step.timeline_id, confirm)),
            Err(_) => failed.push(step.timeline_id),
        }
    }
    let (ids, confirms): (Vec<i64>, Vec<_>) = pending.into_iter().unzip();
    let mut confirmed = Vec::with_capacity(ids.len());
    // A broker that dies mid-batch may never answer: those count as not confirmed.
    let Ok(results) = tokio::time::timeout(CONFIRM_TIMEOUT, join_all(confirms)).await else {
        failed.extend(ids);
        return (confirmed, failed);
    };
    for (id, result) in ids.into_iter().zip(results) {
        match result {
            Ok(Confirmation::Nack(_)) | Err(_) => failed.push(id),
            Ok(_) => confirmed.push(id),
        }
    }
    (confirmed, failed)
}
