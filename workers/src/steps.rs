//! Due steps: judge the condition as of the due time, claim the delivery,
//! compose and send, and record what became of it.

use std::sync::{Arc, OnceLock};

use chrono::{Duration, Utc};
use lapin::message::Delivery;
use lettre::message::Mailbox;
use sqlx::PgPool;
use tokio::sync::{Mutex, mpsc, oneshot};
use tracing::Instrument;

use firstweek::broker;
use firstweek::digest;
use firstweek::email::{self, Context, Templates};
use firstweek::interaction::Summary;
use firstweek::playbook::Recipient;
use firstweek::store::{self, Claim, DueStep, Rules, TimelineRow};

use firstweek_ops::outage::is_outage;

use crate::consumer::{Handler, Outcome};
use crate::mailer::{MailError, Mailer};

/// Evaluates and sends due steps.
pub struct Steps {
    pub pool: PgPool,
    pub rules: Rules,
    pub templates: Templates,
    pub mailer: Arc<Mailer>,
    pub from: Mailbox,
    pub mail_deadline: Duration,
    /// A `sending` claim older than this belongs to a worker that died (it is
    /// several SMTP timeouts long): it is taken over.
    pub claim_lease: Duration,
}

impl Handler for Steps {
    async fn handle(&self, delivery: &Delivery) -> anyhow::Result<Outcome> {
        let due: DueStep = match serde_json::from_slice(&delivery.data) {
            Ok(d) => d,
            Err(e) => return Ok(Outcome::Dead(format!("not a due step: {e}"))),
        };
        let span = tracing::info_span!("step", mentorship_id = %due.mentorship_id, step = %due.step_id, recipient = %due.recipient, timeline_id = due.timeline_id);
        let timeline_id = due.timeline_id;
        match self.process(due).instrument(span).await {
            Ok(()) => Ok(Outcome::Ack),
            // The last attempt of a step that keeps failing (not an outage):
            // close its row so the scheduler does not offer it again, and dead-letter it.
            Err(e)
                if !is_outage(&e)
                    && broker::delivery_count(&delivery.properties) + 1
                        >= broker::DELIVERY_LIMIT =>
            {
                let reason = format!("failed {} times: {e:#}", broker::DELIVERY_LIMIT);
                tracing::error!(timeline_id, error = %reason, "giving up on a step");
                store::finish_row(&self.pool, timeline_id, "failed", &reason).await?;
                Ok(Outcome::Dead(reason))
            }
            Err(e) => Err(e),
        }
    }
}

impl Steps {
    /// The batchers of this process (one set: every `Steps` of a worker shares the pool).
    fn groups(&self) -> &'static Groups {
        GROUPS.get_or_init(|| Groups::new(self.pool.clone(), self.claim_lease))
    }

    async fn process(&self, due: DueStep) -> anyhow::Result<()> {
        let groups = self.groups();
        let Some(state) = groups.load.call(due.timeline_id).await? else {
            tracing::warn!("timeline row not found; ignored");
            return Ok(());
        };
        let store::StepState { row, pair, ledger } = state;
        if row.status != "scheduled" && row.status != "published" {
            tracing::debug!(status = %row.status, "already handled");
            return Ok(());
        }
        if let Some((coordinator, date)) = digest::of_row(&row.mentorship_id, &row.step_id) {
            return self.process_digest(&row, coordinator, date).await;
        }
        let playbook = &self.rules.playbook;
        let Some(step) = playbook.step(&row.step_id) else {
            return self
                .finish(&row, "skipped", "the step is no longer in the playbook")
                .await;
        };
        let Some((started, ended_at)) = pair else {
            return self.finish(&row, "skipped", "mentorship not found").await;
        };
        if ended_at.is_some() {
            return self.finish(&row, "cancelled", "mentorship ended").await;
        }
        let summary = Summary::as_of(&ledger, row.due_at);
        let fired = summary.judge(&step.when, &playbook.thresholds);
        if fired.is_empty() {
            let names: Vec<&str> = step.when.iter().map(|c| c.as_str()).collect();
            return self
                .finish(
                    &row,
                    "skipped",
                    &format!("condition not met: {}", names.join(", ")),
                )
                .await;
        }

        let reasons = fired
            .iter()
            .map(|c| email::reason_text(*c, &summary, playbook.thresholds.min_interactions))
            .collect();
        let day = self.rules.scale.wall(Duration::days(1));
        let ctx = Context::new(
            &started,
            &row.step_id,
            row.recipient,
            row.due_at,
            day,
            summary,
            reasons,
            Utc::now(),
        );
        let (name, address) = match row.recipient {
            Recipient::Mentor => (&started.mentor.name, &started.mentor.email),
            Recipient::Mentee => (&started.mentee.name, &started.mentee.email),
            Recipient::Coordinator => (&started.coordinator.name, &started.coordinator.email),
        };
        self.deliver(&row, &step.once_key, |message_id| {
            email::compose(
                &self.templates,
                &step.template,
                &ctx,
                &self.from,
                name,
                address,
                message_id,
            )
        })
        .await
    }

    /// A coordinator's daily digest: their pairs as of now; none left, no email.
    async fn process_digest(
        &self,
        row: &TimelineRow,
        coordinator: &str,
        date: &str,
    ) -> anyhow::Result<()> {
        let Some(ctx) =
            digest::gather(&self.pool, &self.rules, coordinator, date, Utc::now()).await?
        else {
            return self.finish(row, "skipped", "no pairs to report").await;
        };
        let name = ctx.coordinator.clone();
        self.deliver(row, &row.step_id, |message_id| {
            let headers = (row.step_id.as_str(), row.mentorship_id.as_str());
            email::compose_any(
                &self.templates,
                digest::TEMPLATE,
                &ctx,
                headers,
                &self.from,
                &name,
                coordinator,
                message_id,
            )
        })
        .await
    }

    /// Claims the delivery `(pair, once_key, recipient)` in the ledger, then
    /// composes, sends and records the email; a delivery someone else holds or
    /// already made is not sent again.
    async fn deliver(
        &self,
        row: &TimelineRow,
        once_key: &str,
        compose: impl FnOnce(String) -> Result<email::Composed, email::EmailError>,
    ) -> anyhow::Result<()> {
        let groups = self.groups();
        let domain = self.from.email.domain().to_string();
        let message_id = email::message_id(&row.mentorship_id, once_key, row.recipient, &domain);
        match groups
            .claim
            .call((row.clone(), once_key.to_string(), message_id.clone()))
            .await?
        {
            Claim::Granted => {}
            Claim::Busy => {
                tracing::info!(
                    "another worker holds this delivery; checking back when its claim expires"
                );
                store::recheck_at(&self.pool, row.id, Utc::now() + self.claim_lease).await?;
                return Ok(());
            }
            Claim::Taken { step_id, status } if step_id == row.step_id => {
                return self.finish(row, &status, "already handled").await;
            }
            Claim::Taken { step_id, status } => {
                let why = format!("{once_key} already {status} by step {step_id}");
                return self.finish(row, "skipped", &why).await;
            }
        }
        let composed = match compose(message_id) {
            Ok(c) => c,
            Err(e) => {
                // A template that fails to render is a bug in the program's templates, not a transient fault.
                tracing::error!(error = %e, "cannot compose the email");
                let why = format!("compose: {e}");
                return self
                    .record(row, once_key, Err(MailError::Permanent(why)))
                    .await;
            }
        };
        let stem = format!("{}.{}.{}", row.mentorship_id, row.step_id, row.recipient);
        let (mentorship, key, recipient) = (
            row.mentorship_id.clone(),
            once_key.to_string(),
            row.recipient,
        );
        let handover = move || -> futures_util::future::BoxFuture<'static, Result<(), String>> {
            let key = (mentorship.clone(), key.clone(), recipient);
            Box::pin(async move {
                groups
                    .handover
                    .call(key)
                    .await
                    .map_err(|e| format!("{e:#}"))
            })
        };
        let in_flight = metrics::gauge!("firstweek_deliveries_in_flight");
        in_flight.increment(1.0);
        let result = self.mailer.send(&composed, &stem, &handover).await;
        in_flight.decrement(1.0);
        self.record(row, once_key, result).await
    }

    /// Records a delivery's end. Once the SMTP server may have the message,
    /// this must not give up on a database outage: starting the step over
    /// would find its own claim and, after the lease, send it twice.
    async fn settle_delivery(
        &self,
        row: &TimelineRow,
        once_key: &str,
        status: &str,
        detail: &str,
    ) -> anyhow::Result<()> {
        let mut backoff = firstweek_ops::backoff::Backoff::default();
        let started = std::time::Instant::now();
        loop {
            let end = (
                row.clone(),
                once_key.to_string(),
                status.to_string(),
                detail.to_string(),
            );
            match self.groups().finish.call(end).await {
                Ok(()) => return Ok(()),
                // On shutdown, keep trying for a while; the drain deadline bounds it.
                Err(e) if started.elapsed() < self.claim_lease.to_std().unwrap_or_default() => {
                    let delay = backoff.next_delay();
                    tracing::warn!(error = %e, status, "cannot record the delivery yet; retrying");
                    tokio::time::sleep(delay).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn record(
        &self,
        row: &TimelineRow,
        once_key: &str,
        result: Result<(), MailError>,
    ) -> anyhow::Result<()> {
        let step = row.step_id.as_str();
        match result {
            Ok(()) => {
                self.settle_delivery(row, once_key, "sent", "accepted")
                    .await?;
                let lateness = (Utc::now() - row.due_at).num_milliseconds().max(0) as f64 / 1000.0;
                metrics::histogram!("firstweek_step_lateness_seconds").record(lateness);
                metrics::counter!("firstweek_emails_sent_total", "step" => step.to_string())
                    .increment(1);
                if row.recipient == Recipient::Coordinator {
                    metrics::counter!("firstweek_escalations_total").increment(1);
                }
                tracing::info!("email sent");
            }
            Err(MailError::Transient(why)) => {
                store::release_delivery(&self.pool, row, once_key).await?;
                metrics::counter!("firstweek_emails_failed_total", "kind" => "transient")
                    .increment(1);
                if Utc::now() - row.due_at > self.mail_deadline {
                    tracing::error!(error = %why, "mail still failing after the deadline; giving up");
                    store::finish_row(
                        &self.pool,
                        row.id,
                        "failed",
                        &format!("gave up after the deadline: {why}"),
                    )
                    .await?;
                } else {
                    let delay = Duration::seconds((1i64 << row.attempts.clamp(0, 8)).min(300));
                    tracing::warn!(error = %why, retry_in_s = delay.num_seconds(), "mail failed; will retry");
                    store::retry_row(&self.pool, row.id, Utc::now() + delay, &why).await?;
                }
            }
            Err(MailError::Permanent(why)) => {
                metrics::counter!("firstweek_emails_failed_total", "kind" => "permanent")
                    .increment(1);
                tracing::error!(error = %why, "mail refused permanently; not retried");
                self.settle_delivery(row, once_key, "failed", &why).await?;
            }
            Err(MailError::Unknown(why)) => {
                metrics::counter!("firstweek_emails_failed_total", "kind" => "unknown")
                    .increment(1);
                tracing::error!(error = %why, "mail outcome unknown; not resent, to avoid a duplicate");
                self.settle_delivery(row, once_key, "unknown", &why).await?;
            }
        }
        Ok(())
    }

    async fn finish(&self, row: &TimelineRow, status: &str, why: &str) -> anyhow::Result<()> {
        tracing::info!(status, why, "step closed without an email");
        metrics::counter!("firstweek_steps_closed_total", "status" => status.to_string())
            .increment(1);
        store::finish_row(&self.pool, row.id, status, why).await?;
        Ok(())
    }
}

static GROUPS: OnceLock<Groups> = OnceLock::new();

/// Group commit for the steps' database work: concurrent handlers queue their
/// reads, claims, handovers and finishes, and a couple of writers run each
/// kind as one statement per batch (`store::load_steps`, `claim_deliveries`,
/// `mark_handing_over_many`, `finish_deliveries`) instead of one or more
/// round trips (and commits) per email. Each handler still waits for its own
/// item's result before it goes on, so the order of effects per step (claim,
/// handover, SMTP, finish) is unchanged. If a batch fails, its items are run
/// one by one with the per-item functions, so each gets its own answer.
struct Groups {
    load: Group<i64, Option<store::StepState>>,
    claim: Group<(TimelineRow, String, String), Claim>,
    handover: Group<(String, String, Recipient), ()>,
    finish: Group<(TimelineRow, String, String, String), ()>,
}

/// Items per statement at most.
const MAX_BATCH: usize = 64;
/// Statements of one kind in flight at once: one collects while the other runs.
const WRITERS: usize = 2;

impl Groups {
    fn new(pool: PgPool, lease: Duration) -> Groups {
        let p = pool.clone();
        let load = Group::new(move |ids: Vec<i64>| {
            let pool = p.clone();
            async move {
                match store::load_steps(&pool, &ids).await {
                    Ok(states) => states.into_iter().map(Ok).collect(),
                    Err(e) if ids.len() == 1 => vec![Err(e.into())],
                    Err(_) => {
                        let mut out = Vec::with_capacity(ids.len());
                        for id in ids {
                            out.push(
                                store::load_steps(&pool, &[id])
                                    .await
                                    .map(|mut v| v.pop().flatten())
                                    .map_err(Into::into),
                            );
                        }
                        out
                    }
                }
            }
        });
        let p = pool.clone();
        let claim = Group::new(move |items: Vec<(TimelineRow, String, String)>| {
            let pool = p.clone();
            async move {
                let claims: Vec<store::DeliveryClaim<'_>> = items
                    .iter()
                    .map(|(r, o, m)| (r, o.as_str(), m.as_str()))
                    .collect();
                let granted = store::claim_deliveries(&pool, &claims)
                    .await
                    .unwrap_or_else(|_| vec![false; items.len()]);
                let mut out = Vec::with_capacity(items.len());
                for ((row, once_key, message_id), granted) in items.iter().zip(granted) {
                    out.push(if granted {
                        Ok(Claim::Granted)
                    } else {
                        // The key exists already (or the batch failed): the full answer.
                        store::claim_delivery(&pool, row, once_key, message_id, lease)
                            .await
                            .map_err(Into::into)
                    });
                }
                out
            }
        });
        let p = pool.clone();
        let handover = Group::new(move |keys: Vec<(String, String, Recipient)>| {
            let pool = p.clone();
            async move {
                match store::mark_handing_over_many(&pool, &keys).await {
                    Ok(()) => keys.iter().map(|_| Ok(())).collect(),
                    Err(e) if keys.len() == 1 => vec![Err(e.into())],
                    Err(_) => {
                        let mut out = Vec::with_capacity(keys.len());
                        for (m, o, r) in &keys {
                            out.push(
                                store::mark_handing_over(&pool, m, o, *r)
                                    .await
                                    .map_err(Into::into),
                            );
                        }
                        out
                    }
                }
            }
        });
        let p = pool;
        let finish = Group::new(move |ends: Vec<(TimelineRow, String, String, String)>| {
            let pool = p.clone();
            async move {
                let batch: Vec<store::DeliveryEnd<'_>> = ends
                    .iter()
                    .map(|(r, o, s, d)| (r, o.as_str(), s.as_str(), d.as_str()))
                    .collect();
                match store::finish_deliveries(&pool, &batch).await {
                    Ok(()) => ends.iter().map(|_| Ok(())).collect(),
                    Err(e) if ends.len() == 1 => vec![Err(e.into())],
                    Err(_) => {
                        let mut out = Vec::with_capacity(ends.len());
                        for (r, o, s, d) in &ends {
                            out.push(
                                store::finish_delivery(&pool, r, o, s, d)
                                    .await
                                    .map_err(Into::into),
                            );
                        }
                        out
                    }
                }
            }
        });
        Groups {
            load,
            claim,
            handover,
            finish,
        }
    }
}

/// A queue of items that a few writer tasks run in batches.
struct Group<I, O> {
    queue: mpsc::UnboundedSender<(I, oneshot::Sender<anyhow::Result<O>>)>,
}

impl<I: Send + 'static, O: Send + 'static> Group<I, O> {
    fn new<F, Fut>(run: F) -> Group<I, O>
    where
        F: Fn(Vec<I>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Vec<anyhow::Result<O>>> + Send + 'static,
    {
        let (queue, rx) = mpsc::unbounded_channel::<(I, oneshot::Sender<anyhow::Result<O>>)>();
        let rx = Arc::new(Mutex::new(rx));
        let run = Arc::new(run);
        for _ in 0..WRITERS {
            let (rx, run) = (rx.clone(), run.clone());
            tokio::spawn(async move {
                loop {
                    let mut batch = Vec::new();
                    {
                        let mut rx = rx.lock().await;
                        match rx.recv().await {
                            Some(first) => batch.push(first),
                            None => return,
                        }
                        while batch.len() < MAX_BATCH {
                            match rx.try_recv() {
                                Ok(next) => batch.push(next),
                                Err(_) => break,
                            }
                        }
                    }
                    let (items, replies): (Vec<I>, Vec<_>) = batch.into_iter().unzip();
                    let results = run(items).await;
                    for (reply, result) in replies.into_iter().zip(results) {
                        let _ = reply.send(result);
                    }
                }
            });
        }
        Group { queue }
    }

    /// Runs `item` in the next batch and returns its own result.
    async fn call(&self, item: I) -> anyhow::Result<O> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((item, reply))
            .map_err(|_| anyhow::anyhow!("the batch writers stopped"))?;
        answer
            .await
            .map_err(|_| anyhow::anyhow!("the batch writer dropped a request"))?
    }
}
