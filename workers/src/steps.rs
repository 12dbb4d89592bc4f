//! Due steps: judge the condition as of the due time, claim the delivery,
//! compose and send, and record what became of it.

use std::sync::Arc;

use chrono::{Duration, Utc};
use lapin::message::Delivery;
use lettre::message::Mailbox;
use sqlx::PgPool;
use tracing::Instrument;

use firstweek::broker;
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
            Err(e) if !is_outage(&e) && broker::delivery_count(&delivery.properties) + 1 >= broker::DELIVERY_LIMIT => {
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
    async fn process(&self, due: DueStep) -> anyhow::Result<()> {
        let Some(row) = store::timeline_row(&self.pool, due.timeline_id).await? else {
            tracing::warn!("timeline row not found; ignored");
            return Ok(());
        };
        if row.status != "scheduled" && row.status != "published" {
            tracing::debug!(status = %row.status, "already handled");
            return Ok(());
        }
        let playbook = &self.rules.playbook;
        let Some(step) = playbook.step(&row.step_id) else {
            return self
                .finish(&row, "skipped", "the step is no longer in the playbook")
                .await;
        };
        let Some((started, ended_at)) = store::mentorship(&self.pool, &row.mentorship_id).await?
        else {
            return self.finish(&row, "skipped", "mentorship not found").await;
        };
        if ended_at.is_some() {
            return self.finish(&row, "cancelled", "mentorship ended").await;
        }
        let ledger = store::interactions(&self.pool, &row.mentorship_id).await?;
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

        let domain = self.from.email.domain().to_string();
        let message_id =
            email::message_id(&row.mentorship_id, &step.once_key, row.recipient, &domain);
        match store::claim_delivery(
            &self.pool,
            &row,
            &step.once_key,
            &message_id,
            self.claim_lease,
        )
        .await?
        {
            Claim::Granted => {}
            Claim::Busy => {
                tracing::info!("another worker holds this delivery; checking back when its claim expires");
                store::recheck_at(&self.pool, row.id, Utc::now() + self.claim_lease).await?;
                return Ok(());
            }
            Claim::Taken { step_id, status } if step_id == row.step_id => {
                return self.finish(&row, &status, "already handled").await;
            }
            Claim::Taken { step_id, status } => {
                return self
                    .finish(
                        &row,
                        "skipped",
                        &format!("{} already {status} by step {step_id}", step.once_key),
                    )
                    .await;
            }
        }

        let reasons = fired
            .iter()
            .map(|c| email::reason_text(*c, &summary, playbook.thresholds.min_interactions))
            .collect();
        let day = self.rules.scale.wall(Duration::days(1));
        let now = Utc::now();
        let ctx = Context::new(
            &started,
            &row.step_id,
            row.recipient,
            row.due_at,
            day,
            summary,
            reasons,
            now,
        );
        let (name, address) = match row.recipient {
            Recipient::Mentor => (&started.mentor.name, &started.mentor.email),
            Recipient::Mentee => (&started.mentee.name, &started.mentee.email),
            Recipient::Coordinator => (&started.coordinator.name, &started.coordinator.email),
        };
        let composed = match email::compose(
            &self.templates,
            &step.template,
            &ctx,
            &self.from,
            name,
            address,
            message_id,
        ) {
            Ok(c) => c,
            Err(e) => {
                // A template that fails to render is a bug in the program's templates, not a transient fault.
                tracing::error!(error = %e, "cannot compose the email");
                let why = format!("compose: {e}");
                return self.record(&row, &step.once_key, Err(MailError::Permanent(why))).await;
            }
        };
        let stem = format!("{}.{}.{}", row.mentorship_id, row.step_id, row.recipient);
        let (pool, mentorship, once_key, recipient) = (self.pool.clone(), row.mentorship_id.clone(), step.once_key.clone(), row.recipient);
        let handover = move || -> futures_util::future::BoxFuture<'static, Result<(), String>> {
            let (pool, mentorship, once_key) = (pool.clone(), mentorship.clone(), once_key.clone());
            Box::pin(async move {
                store::mark_handing_over(&pool, &mentorship, &once_key, recipient).await.map_err(|e| e.to_string())
            })
        };
        let result = self.mailer.send(&composed, &stem, &handover).await;
        self.record(&row, &step.once_key, result).await
    }

    /// Records a delivery's end. Once the SMTP server may have the message,
    /// this must not give up on a database outage: starting the step over
    /// would find its own claim and, after the lease, send it twice.
    async fn settle_delivery(&self, row: &TimelineRow, once_key: &str, status: &str, detail: &str) -> anyhow::Result<()> {
        let mut backoff = firstweek_ops::backoff::Backoff::default();
        let started = std::time::Instant::now();
        loop {
            match store::finish_delivery(&self.pool, row, once_key, status, detail).await {
                Ok(()) => return Ok(()),
                // On shutdown, keep trying for a while; the drain deadline bounds it.
                Err(e) if started.elapsed() < self.claim_lease.to_std().unwrap_or_default() => {
                    let delay = backoff.next_delay();
                    tracing::warn!(error = %e, status, "cannot record the delivery yet; retrying");
                    tokio::time::sleep(delay).await;
                }
                Err(e) => return Err(e.into()),
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
                self.settle_delivery(row, once_key, "sent", "accepted").await?;
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
