//! Intake: contract events in, validated, stored once.

use std::path::PathBuf;

use futures_util::future::join_all;
use lapin::message::Delivery;
use sqlx::PgPool;
use tokio::task::JoinSet;
use tracing::Instrument;

use firstweek::Rules;
use firstweek::erasure::Target;
use firstweek::event::Event;
use firstweek::pseudonym::PseudonymKey;
use firstweek_broker::{self as broker, BrokerAddresses, Handler, HandlerError};
use firstweek_store::{self as store, Ingested};

use crate::batcher::{Batcher, Limits, on_own_connection};
use crate::consumer::store_failure;
use crate::mailer::outbox;

/// Events per transaction and transactions in flight, for a consumer that
/// handles `concurrency` events at once. A batch is full at half of them (two
/// writers share them), so a writer lingering at a quiet moment never waits
/// for events the concurrency bound keeps from coming.
pub fn limits(concurrency: usize, linger: std::time::Duration) -> Limits {
    const WRITERS: usize = 2;
    Limits {
        max_items: (concurrency / WRITERS).clamp(1, 256),
        writers: WRITERS,
        idle: std::time::Duration::from_secs(30),
        linger,
    }
}

/// Stores contract events.
pub struct Intake {
    pool: PgPool,
    rules: Rules,
    /// What the pseudonyms it stores or looks up are keyed with.
    key: PseudonymKey,
    /// Where the dead letters are, for an erasure to remove those naming its person.
    amqp_url: BrokerAddresses,
    /// Group commit: the consumer's concurrent handlers hand their event to
    /// the writers, each storing whatever has queued up meanwhile in one
    /// transaction ([`store::ingest_batch`]). A handler still returns (and its
    /// delivery is acked) only once its own event is committed.
    batch: Batcher<Event, Ingested, HandlerError>,
    /// The outbox directory this worker writes `.eml` files to (no
    /// `SMTP_URL`), for an erasure to remove those naming its person.
    outbox: Option<PathBuf>,
}

impl Intake {
    /// The intake role; its batch writers run in `tasks`.
    pub fn new(
        pool: PgPool,
        rules: Rules,
        key: PseudonymKey,
        amqp_url: BrokerAddresses,
        limits: Limits,
        tasks: &mut JoinSet<()>,
    ) -> Intake {
        let (p, r, k) = (pool.clone(), rules.clone(), key.clone());
        let own = pool.clone();
        let batch = Batcher::spawn(
            tasks,
            limits,
            move || store::Dedicated::new(own.clone()),
            move |conn, events: Vec<Event>| {
                let (pool, rules, key) = (p.clone(), r.clone(), k.clone());
                async move { store_batch(conn, &pool, &rules, &key, events).await }
            },
        );
        Intake {
            pool,
            rules,
            key,
            amqp_url,
            batch,
            outbox: None,
        }
    }

    /// Erasures also remove the `.eml` files naming their person in `dir`
    /// (the worker's outbox, when it has no `SMTP_URL`).
    pub fn with_outbox(mut self, dir: Option<PathBuf>) -> Intake {
        self.outbox = dir;
        self
    }

    /// Removes the dead letters and the outbox's `.eml` files that mention
    /// the person about to be erased. Before the erasure is stored: what
    /// was stored of them (names, addresses, pairs) is what they are
    /// matched on, and a failure here leaves the event to be retried whole.
    async fn forget_dead_letters(&self, target: &Target) -> Result<(), HandlerError> {
        let reach = store::erasure_reach(&self.pool, target, &self.key)
            .await
            .map_err(store_failure)?;
        if let Some(dir) = &self.outbox {
            let (dir, r) = (dir.clone(), reach.clone());
            let removed = tokio::task::spawn_blocking(move || {
                outbox::remove_naming(&dir, &r.traces, &r.pairs)
            })
            .await
            .map_err(|e| HandlerError::Failed(Box::new(e)))?
            .map_err(|e| HandlerError::Failed(Box::new(e)))?;
            tracing::info!(
                removed,
                "emails naming the erased person removed from the outbox"
            );
        }
        let traces = reach.traces;
        let conn = broker::connect(&self.amqp_url, "firstweek-worker erasure").await?;
        let purged = broker::purge_dead_letters(&conn, |body| traces.mentioned_in(body)).await;
        let _ = conn.close(200, "done".into()).await;
        let purged = purged?;
        tracing::info!(
            removed = purged.removed,
            kept = purged.kept,
            "dead letters mentioning the erased person removed"
        );
        Ok(())
    }

    /// Stores `event` in the next batch; same outcome as [`store::ingest`].
    async fn ingest(&self, event: &Event) -> Result<Ingested, HandlerError> {
        match self.batch.call(event.clone()).await {
            Ok(outcome) => Ok(outcome),
            // The writers are gone (shutting down): store it alone.
            Err(_) => store::ingest(&self.pool, event, &self.rules, &self.key)
                .await
                .map_err(store_failure),
        }
    }
}

/// One transaction for the batch on the writer's own connection; the
/// one-by-one retries of a failed batch go through the pool.
async fn store_batch(
    mut conn: store::Dedicated,
    pool: &PgPool,
    rules: &Rules,
    key: &PseudonymKey,
    events: Vec<Event>,
) -> (store::Dedicated, Vec<Result<Ingested, HandlerError>>) {
    metrics::histogram!("firstweek_intake_batch_size").record(events.len() as f64);
    let refs: Vec<&Event> = events.iter().collect();
    let stored = on_own_connection!(conn, |c| store::ingest_batch(c, &refs, rules, key));
    let results = match stored {
        Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
        Err(e) if events.len() == 1 => vec![Err(store_failure(e))],
        Err(e) => {
            // Nothing of the batch was stored: one by one, so a bad event
            // fails alone and each gets its own error.
            tracing::warn!(error = %e, events = events.len(), "batch not stored; storing its events one by one");
            join_all(events.iter().map(|event| async move {
                store::ingest(pool, event, rules, key)
                    .await
                    .map_err(store_failure)
            }))
            .await
        }
    };
    (conn, results)
}

impl Handler for Intake {
    async fn handle(&self, delivery: &Delivery) -> Result<(), HandlerError> {
        let key = delivery.routing_key.as_str();
        if firstweek::event::is_announcement(key) {
            // Our own escalation.* events, for other services; nothing to store.
            return Ok(());
        }
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
                return Err(HandlerError::BadInput(invalid.to_string()));
            }
        };
        let span = tracing::info_span!("event", event_id = %event.event_id(), mentorship_id = event.mentorship_id(), kind = key);
        async {
            if let Event::Erased(e) = &event {
                self.forget_dead_letters(&Target::new(&e.person_id, &self.key)).await?;
            }
            let ingested = self.ingest(&event).await?;
            if ingested == Ingested::ConflictingDuplicate {
                metrics::counter!("firstweek_events_rejected_total", "reason" => "conflicting_duplicate")
                    .increment(1);
                tracing::warn!("event_id accepted before with other content; refused");
                return Err(HandlerError::BadInput(CONFLICTING_DUPLICATE.into()));
            }
            metrics::counter!("firstweek_events_ingested_total", "kind" => event.routing_key(), "result" => label(&ingested)).increment(1);
            match &ingested {
                Ingested::Duplicate => tracing::debug!("duplicate event ignored"),
                // Handled above.
                Ingested::ConflictingDuplicate => {}
                Ingested::Corrected { rescheduled, started_at_ignored } => {
                    tracing::info!(rescheduled, "mentorship already known; its people corrected for the emails not sent yet");
                    if *started_at_ignored {
                        tracing::warn!("the correction gave another started_at; the first start's week stands");
                    }
                }
                Ingested::Started { rows } => tracing::info!(rows, "mentorship started; timeline planned"),
                Ingested::AlreadyStarted => tracing::info!("mentorship already known; nothing planned again"),
                Ingested::Interaction { pacing: true, .. } => tracing::info!("intense first-week interaction; pacing tip planned"),
                Ingested::Interaction { known_pair, .. } => tracing::debug!(known_pair, "interaction stored"),
                Ingested::Ended { cancelled } => tracing::info!(cancelled, "mentorship ended; pending steps cancelled"),
                // The person's id, never their address.
                Ingested::Unsubscribed { new } => tracing::info!(new, "participant unsubscribed; no more email to them"),
                // Neither the id nor the address: the person is to be forgotten.
                Ingested::Erased(e) => tracing::info!(new = e.new, pairs = e.pairs, digests_cancelled = e.digests_cancelled, "person erased; no more email to them"),
                Ingested::Outcome { known_pair } => tracing::info!(known_pair, "outcome recorded"),
            }
            Ok(())
        }
        .instrument(span)
        .await
    }
}

/// The dead-letter reason of a reused `event_id`, in the contract's words.
/// The id itself is in the dead letter's body; a reason never quotes event
/// text, which could hold an address.
const CONFLICTING_DUPLICATE: &str = "conflicting duplicate: this event_id was accepted before with other content; the first one stands";

fn label(i: &Ingested) -> &'static str {
    match i {
        Ingested::Duplicate => "duplicate",
        Ingested::ConflictingDuplicate => "conflicting_duplicate",
        Ingested::Corrected { .. } => "corrected",
        Ingested::Started { .. } => "started",
        Ingested::AlreadyStarted => "already_started",
        Ingested::Interaction { .. } => "stored",
        Ingested::Ended { .. } => "ended",
        Ingested::Unsubscribed { .. } => "unsubscribed",
        Ingested::Erased(_) => "erased",
        Ingested::Outcome { .. } => "outcome",
    }
}
