//! Claims due rows and publishes them with confirms. A row is marked
//! published only after the broker confirmed it; an unconfirmed row is
//! released for the next tick, so nothing due is ever dropped.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use chrono::Duration;
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use sqlx::PgPool;
use tokio::task::{JoinHandle, JoinSet};

use firstweek_broker::publish::Batch;
use firstweek_broker::{self as broker, BrokerAddresses, DueStep, Link, Message};
use firstweek_ops::admin::Health;
use firstweek_store::{self as store, ClaimedStep, StepsQueue};

/// Rows claimed per round trip.
const BATCH: i64 = 2000;
/// Batches whose confirms may be outstanding at once: with [`BATCH`], 6,000
/// publishes unconfirmed at most, as many as before batches grew from 1,000
/// to 2,000 (fewer claims and marks per row). 10,000 outstanding was no
/// faster in the scheduler phase and took the scheduler's peak RSS over
/// 40 MiB in the welcome burst.
const IN_FLIGHT: usize = 3;
/// A row claimed for publishing is not offered to another scheduler for this
/// long (not to be confused with a worker's delivery claim lease).
const PUBLISH_LEASE: i64 = 30;
/// What readiness calls the publisher's broker link.
const LINK: &str = "publisher";
/// How long the broker has to confirm a batch before it counts as not confirmed.
const CONFIRM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The publishing side of the scheduler, with its broker connection.
pub struct Publisher {
    pool: PgPool,
    health: Arc<Health>,
    redeliver_after: Duration,
    /// The connection, rebuilt on the next node when lost.
    link: Link,
    /// The confirm channel on it.
    out: Option<broker::Publisher>,
    /// Published batches whose confirms are awaited (and rows then marked).
    inflight: JoinSet<anyhow::Result<(usize, usize)>>,
}

impl Publisher {
    /// A publisher that connects on first use.
    pub fn new(
        pool: PgPool,
        amqp_url: BrokerAddresses,
        health: Arc<Health>,
        redeliver_after: Duration,
    ) -> Publisher {
        let link = Link::new(amqp_url, "firstweek-scheduler", LINK, health.clone());
        Publisher {
            pool,
            health,
            redeliver_after,
            link,
            out: None,
            inflight: JoinSet::new(),
        }
    }

    /// Connects if not connected (no round trip when the link is up).
    pub async fn connect(&mut self) -> anyhow::Result<()> {
        let connected = self.channel().await.map(|_| ());
        if connected.is_err() {
            self.health.set_broker(false);
        }
        connected
    }

    /// Whether batches still await their confirms (a tick must collect them).
    pub fn busy(&self) -> bool {
        !self.inflight.is_empty()
    }

    async fn channel(&mut self) -> anyhow::Result<broker::Publisher> {
        if let Some(out) = &self.out
            && out.is_open()
            && self.link.is_up()
        {
            return Ok(out.clone());
        }
        if self.out.take().is_some() {
            self.link.lose();
        }
        let conn = self
            .link
            .connect()
            .await
            .context("connecting to RabbitMQ")?;
        let out = broker::Publisher::open(conn).await?;
        self.out = Some(out.clone());
        Ok(out)
    }

    /// Forgets a link that failed; the next connection starts with the next node.
    fn lose_link(&mut self) {
        self.out = None;
        self.link.lose();
    }

    /// Relays the outbox's announcements (`escalation.*`, `email.*`, ...)
    /// on the same link: batch after batch while they come full (every
    /// email announces its end), up to [`crate::announcer::ROUNDS`] a tick.
    pub async fn announce(&mut self) -> anyhow::Result<usize> {
        let out = self.channel().await?;
        let mut total = 0;
        for _ in 0..crate::announcer::ROUNDS {
            let n = crate::announcer::relay(&self.pool, &out).await?;
            total += n;
            if n < crate::announcer::BATCH as usize {
                break;
            }
        }
        Ok(total)
    }

    /// Relays the events the events API accepted, on the same link.
    pub async fn relay_inbound(&mut self) -> anyhow::Result<usize> {
        let out = self.channel().await?;
        crate::inbound::relay(&self.pool, &out).await
    }

    /// Publishes everything due now; returns how many rows were confirmed
    /// and marked published since the last tick.
    ///
    /// Pipelined: while the broker confirms one batch (and it is then marked
    /// published), the next is claimed and published, up to [`IN_FLIGHT`]
    /// batches at once, across ticks: a slow confirm does not hold up rows
    /// falling due meanwhile. A row is still marked published only after its
    /// own confirm, and an unconfirmed one is released.
    pub async fn tick(&mut self) -> anyhow::Result<usize> {
        let mut inflight = std::mem::replace(&mut self.inflight, JoinSet::new());
        let claimed = self.claim_and_publish(&mut inflight).await;
        let (mut total, mut failed) = (0, 0);
        let mut error = None;
        loop {
            // After a failure everything in flight is settled now, before the link is rebuilt.
            let settle_all = claimed.is_err() || error.is_some() || failed > 0;
            let done = if settle_all {
                inflight.join_next().await
            } else {
                inflight.try_join_next()
            };
            match done {
                None => break,
                Some(Ok(Ok((c, f)))) => {
                    total += c;
                    failed += f;
                }
                Some(Ok(Err(e))) => error = Some(e),
                Some(Err(e)) => error = Some(anyhow::anyhow!("a publish batch panicked: {e}")),
            }
        }
        self.inflight = inflight;
        claimed?;
        if let Some(e) = error {
            return Err(e);
        }
        if failed > 0 {
            self.lose_link();
            self.health.set_broker(false);
            anyhow::bail!("{failed} publishes were not confirmed; released for the next tick");
        }
        Ok(total)
    }

    /// Waits for the batches still in flight (at shutdown): their rows are
    /// marked published or released, so none waits for its lease to expire.
    pub async fn drain(&mut self) {
        while self.inflight.join_next().await.is_some() {}
    }

    /// Claims and publishes batch after batch; the next batch is claimed
    /// while the current one is published, so the two round trips overlap.
    async fn claim_and_publish(
        &mut self,
        inflight: &mut JoinSet<anyhow::Result<(usize, usize)>>,
    ) -> anyhow::Result<()> {
        let queue = self.steps_queue().await;
        let mut claiming = Some(self.spawn_claim(queue));
        let result = self.publish_claimed(queue, &mut claiming, inflight).await;
        // Stopped early with a claim under way: give its rows back now rather than after the lease.
        if let Some(Ok(Ok(due))) = match claiming.take() {
            Some(task) => Some(task.await),
            None => None,
        } {
            let ids: Vec<i64> = due.iter().map(|d| d.timeline_id).collect();
            if !ids.is_empty() {
                let _ = store::release(&self.pool, &ids).await;
            }
        }
        result
    }

    /// Whether messages wait in the steps queue (one passive declare), which
    /// decides whether unfinished published rows are published again.
    async fn steps_queue(&mut self) -> StepsQueue {
        let Ok(out) = self.channel().await else {
            return StepsQueue::Waiting;
        };
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        match out
            .channel()
            .queue_declare(broker::STEPS_QUEUE.into(), passive, FieldTable::default())
            .await
        {
            Ok(q) if q.message_count() == 0 => StepsQueue::Idle,
            _ => StepsQueue::Waiting,
        }
    }

    fn spawn_claim(
        &self,
        queue: StepsQueue,
    ) -> JoinHandle<Result<Vec<ClaimedStep>, store::StoreError>> {
        let (pool, redeliver_after) = (self.pool.clone(), self.redeliver_after);
        tokio::spawn(async move {
            let started = Instant::now();
            let lease = Duration::seconds(PUBLISH_LEASE);
            // Both of the claim's statements on one connection: through the
            // pool each would cost a round trip more (sqlx pings on release).
            let due = match pool.acquire().await {
                Ok(mut conn) => {
                    store::claim_due(&mut conn, BATCH, lease, queue, redeliver_after).await
                }
                Err(e) => Err(e.into()),
            };
            metrics::histogram!("firstweek_heartbeat_claim_seconds")
                .record(started.elapsed().as_secs_f64());
            due
        })
    }

    async fn publish_claimed(
        &mut self,
        queue: StepsQueue,
        claiming: &mut Option<JoinHandle<Result<Vec<ClaimedStep>, store::StoreError>>>,
        inflight: &mut JoinSet<anyhow::Result<(usize, usize)>>,
    ) -> anyhow::Result<()> {
        loop {
            let out = match self.channel().await {
                Ok(c) => c,
                Err(e) => {
                    self.health.set_broker(false);
                    return Err(e);
                }
            };
            let Some(task) = claiming.take() else {
                return Ok(());
            };
            let due = task.await.context("the claim task")??;
            if due.is_empty() {
                return Ok(());
            }
            let full = due.len() as i64 >= BATCH;
            if full {
                *claiming = Some(self.spawn_claim(queue));
            }
            let batch = out.send_all(due.iter().map(message)).await;
            let (pool, redeliver_after) = (self.pool.clone(), self.redeliver_after);
            inflight.spawn(settle(pool, batch, redeliver_after));
            // Bound what is in flight; stop early once a batch failed.
            while inflight.len() >= IN_FLIGHT {
                match inflight.join_next().await {
                    Some(Ok(Ok((_, 0)))) | None => {}
                    Some(other) => {
                        // Put the outcome back for tick() to report.
                        inflight.spawn(async move {
                            other.map_err(|e| anyhow::anyhow!("a publish batch panicked: {e}"))?
                        });
                        return Ok(());
                    }
                }
            }
            if !full {
                return Ok(());
            }
        }
    }
}

/// A claimed row as its message to `firstweek.steps`, under its row's id.
fn message(step: &ClaimedStep) -> (i64, Message<'static>) {
    let body = DueStep {
        timeline_id: step.timeline_id,
        mentorship_id: step.subject_id.clone(),
        step_id: step.step_id.clone(),
        recipient: step.recipient.clone(),
        due_at: step.due_at,
        send_at: step.send_at,
    }
    .to_json();
    let props =
        broker::persistent_json().with_message_id(format!("timeline-{}", step.timeline_id).into());
    (
        step.timeline_id,
        Message::new("", broker::STEPS_QUEUE, body, props),
    )
}

/// Awaits a batch's confirms, marks the confirmed rows published and releases
/// the others; returns (published, released).
async fn settle(
    pool: PgPool,
    batch: Batch<i64>,
    redeliver_after: Duration,
) -> anyhow::Result<(usize, usize)> {
    // A broker that dies mid-batch may never answer: those count as not confirmed.
    let settled = batch.settle(CONFIRM_TIMEOUT).await;
    let confirmed = settled.confirmed;
    let failed: Vec<i64> = settled.failed.into_iter().map(|(id, _)| id).collect();
    if !confirmed.is_empty() {
        store::mark_published(&pool, &confirmed, redeliver_after).await?;
    }
    metrics::counter!("firstweek_steps_published_total").increment(confirmed.len() as u64);
    if !failed.is_empty() {
        store::release(&pool, &failed).await?;
    }
    Ok((confirmed.len(), failed.len()))
}
