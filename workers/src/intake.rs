//! Intake: contract events in, validated, stored once.

use lapin::message::Delivery;
use sqlx::PgPool;
use tracing::Instrument;

use firstweek::event::Event;
use firstweek::store::{Ingested, Rules};

use crate::consumer::{Handler, Outcome};

/// Stores contract events.
pub struct Intake {
    pub pool: PgPool,
    pub rules: Rules,
}

impl Handler for Intake {
    async fn handle(&self, delivery: &Delivery) -> anyhow::Result<Outcome> {
        let key = delivery.routing_key.as_str();
        let content_type = delivery
            .properties
            .content_type()
            .as_ref()
            .map(|c| c.as_str());
        let event = match Event::parse(key, content_type, &delivery.data, chrono::Utc::now()) {
            Ok(e) => e,
            Err(invalid) => {
                metrics::counter!("firstweek_events_rejected_total", "reason" => invalid.label())
                    .increment(1);
                return Ok(Outcome::Dead(invalid.to_string()));
            }
        };
        let span = tracing::info_span!("event", event_id = %event.event_id(), mentorship_id = %event.mentorship_id(), kind = key);
        async {
            let ingested = group::ingest(&self.pool, &event, &self.rules).await?;
            metrics::counter!("firstweek_events_ingested_total", "kind" => event.routing_key(), "result" => label(&ingested)).increment(1);
            match &ingested {
                Ingested::Duplicate => tracing::debug!("duplicate event ignored"),
                Ingested::Started { rows } => tracing::info!(rows, "mentorship started; timeline planned"),
                Ingested::AlreadyStarted => tracing::info!("mentorship already known; nothing planned again"),
                Ingested::Interaction { pacing: true, .. } => tracing::info!("intense first-week interaction; pacing tip planned"),
                Ingested::Interaction { known_pair, .. } => tracing::debug!(known_pair, "interaction stored"),
                Ingested::Ended { cancelled } => tracing::info!(cancelled, "mentorship ended; pending steps cancelled"),
            }
            Ok(Outcome::Ack)
        }
        .instrument(span)
        .await
    }
}

fn label(i: &Ingested) -> &'static str {
    match i {
        Ingested::Duplicate => "duplicate",
        Ingested::Started { .. } => "started",
        Ingested::AlreadyStarted => "already_started",
        Ingested::Interaction { .. } => "stored",
        Ingested::Ended { .. } => "ended",
    }
}

/// Group commit: the consumer's concurrent handlers hand their event to a
/// couple of writers, each storing whatever has queued up meanwhile in one
/// transaction ([`store::ingest_batch`]): a few statements and one commit per
/// batch instead of per event. A handler still returns (and its delivery is
/// acked) only once its own event is committed.
mod group {
    use std::sync::{Arc, OnceLock};

    use futures_util::future::join_all;
    use sqlx::PgPool;
    use tokio::sync::{Mutex, mpsc, oneshot};

    use firstweek::event::Event;
    use firstweek::store::{self, Ingested, Rules};

    /// Events per transaction at most.
    const MAX_BATCH: usize = 256;
    /// Transactions in flight at once: one collects while the other commits.
    const WRITERS: usize = 2;

    struct Job {
        event: Event,
        reply: oneshot::Sender<anyhow::Result<Ingested>>,
    }

    static QUEUE: OnceLock<mpsc::UnboundedSender<Job>> = OnceLock::new();

    /// Stores `event` in the next batch; same outcome as [`store::ingest`].
    pub async fn ingest(pool: &PgPool, event: &Event, rules: &Rules) -> anyhow::Result<Ingested> {
        let queue = QUEUE.get_or_init(|| start(pool.clone(), rules.clone()));
        let (reply, answer) = oneshot::channel();
        if queue
            .send(Job {
                event: event.clone(),
                reply,
            })
            .is_ok()
            && let Ok(result) = answer.await
        {
            return result;
        }
        Ok(store::ingest(pool, event, rules).await?)
    }

    fn start(pool: PgPool, rules: Rules) -> mpsc::UnboundedSender<Job> {
        let (tx, rx) = mpsc::unbounded_channel();
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..WRITERS {
            tokio::spawn(writer(rx.clone(), pool.clone(), rules.clone()));
        }
        tx
    }

    async fn writer(rx: Arc<Mutex<mpsc::UnboundedReceiver<Job>>>, pool: PgPool, rules: Rules) {
        loop {
            let mut jobs = Vec::new();
            {
                let mut rx = rx.lock().await;
                match rx.recv().await {
                    Some(job) => jobs.push(job),
                    None => return,
                }
                while jobs.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(job) => jobs.push(job),
                        Err(_) => break,
                    }
                }
            }
            metrics::histogram!("firstweek_intake_batch_size").record(jobs.len() as f64);
            let events: Vec<&Event> = jobs.iter().map(|j| &j.event).collect();
            match store::ingest_batch(&pool, &events, &rules).await {
                Ok(outcomes) => {
                    for (job, outcome) in jobs.into_iter().zip(outcomes) {
                        let _ = job.reply.send(Ok(outcome));
                    }
                }
                Err(e) if jobs.len() == 1 => {
                    let job = jobs.pop().expect("one job");
                    let _ = job.reply.send(Err(e.into()));
                }
                Err(e) => {
                    // Nothing of the batch was stored: one by one, so a bad
                    // event fails alone and each gets its own error.
                    tracing::warn!(error = %e, events = jobs.len(), "batch not stored; storing its events one by one");
                    join_all(jobs.into_iter().map(|job| {
                        let (pool, rules) = (&pool, &rules);
                        async move {
                            let result = store::ingest(pool, &job.event, rules)
                                .await
                                .map_err(Into::into);
                            let _ = job.reply.send(result);
                        }
                    }))
                    .await;
                }
            }
        }
    }
}
