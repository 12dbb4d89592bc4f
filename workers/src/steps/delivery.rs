//! One email from claim to record: claim the delivery `(subject, once_key,
//! recipient)` in the ledger, compose, open the way to the recipient, mark
//! the hand-over and send the message, then record what became of it. A failure is followed as the domain says
//! ([`decision::delivery::after_failure`], [`decision::delivery::give_up`]).

use super::StepError;
use chrono::{Duration, Utc};
use chrono_tz::Tz;

use firstweek::decision::delivery::{AfterFailure, Failure};
use firstweek::decision::{self, Skip};
use firstweek::email;
use firstweek::escalation::Notice;
use firstweek::row::RowKind;
use firstweek::rule::Recipient;
use firstweek_ops::backoff::Backoff;
use firstweek_store::{
    self as store, Claim, DeliveryClaim, DeliveryEnd, DeliveryKey, DeliveryStatus, Handover,
    HeldClaim, RowStatus, TimelineRow,
};

use super::Steps;
use crate::mailer::{Connection, MailError, Opened, SendSlot};
use firstweek::decision::relevance::OverBudget;

/// A nudge's place in its recipient's daily budget (see
/// [`firstweek::decision::relevance`]).
#[derive(Debug, Clone)]
pub(super) struct Budgeted {
    /// The local day it counts against, and the playbook's budget.
    pub(super) budget: store::Budget,
    /// What becomes of it when that day is spent.
    pub(super) over: OverBudget,
}

impl Steps {
    /// Claims the delivery in the ledger, then composes, sends and records
    /// the email; a delivery someone else holds or already made is not sent
    /// again.
    pub(super) async fn deliver(
        &self,
        row: &TimelineRow,
        tz: Option<Tz>,
        once_key: &str,
        message_id: String,
        budget: Option<Budgeted>,
        compose: impl FnOnce(String) -> Result<email::Composed, email::EmailError>,
    ) -> Result<(), StepError> {
        let claim = DeliveryClaim {
            row: row.clone(),
            once_key: once_key.to_string(),
            message_id: message_id.clone(),
            budget: budget.as_ref().map(|b| b.budget),
        };
        // Before the claim: waiting for a turn must not eat into its lease.
        let slot = self.cfg.mailer.slot().await;
        let Some(held) = self.claim(row, once_key, claim, budget.as_ref()).await? else {
            return Ok(());
        };
        let composed = match compose(message_id) {
            Ok(c) => c,
            Err(e) => {
                // A template that fails to render is a bug in the program's templates, not a transient fault.
                tracing::error!(error = %e, "cannot compose the email");
                let why = format!("compose: {e}");
                return self
                    .record(row, tz, &held, Err(MailError::Permanent(why)))
                    .await;
            }
        };
        let stem = format!("{}.{}.{}", row.subject.id(), row.step_id, row.recipient);
        let in_flight = metrics::gauge!("firstweek_deliveries_in_flight");
        in_flight.increment(1.0);
        // Boxed: the SMTP dialogue's futures are large, and every step's
        // future would otherwise carry them.
        let result = Box::pin(self.send(&slot, &composed, &stem, &held)).await;
        drop(slot);
        in_flight.decrement(1.0);
        self.record(row, tz, &held, result).await
    }

    /// Opens the way to the recipient, records the hand-over, and only then
    /// lets the message itself go; a first connection that fails
    /// transiently on the way is replaced once by a new one.
    async fn send(
        &self,
        slot: &SendSlot,
        composed: &email::Composed,
        stem: &str,
        held: &HeldClaim,
    ) -> Result<(), MailError> {
        let mailer = &self.cfg.mailer;
        let opened = mailer
            .open(slot, composed, stem, Connection::Pooled)
            .await?;
        let may_reopen = opened.may_reopen();
        match self.hand_over(opened, held).await {
            Err(MailError::Transient(_)) if may_reopen => {
                let opened = mailer.open(slot, composed, stem, Connection::Fresh).await?;
                self.hand_over(opened, held).await
            }
            other => other,
        }
    }

    /// Marks the delivery handing over (only while the claim is still ours
    /// and the ledger lets it go), then sends the message: from here on the
    /// outcome may be unknown. Refused, nothing is sent.
    async fn hand_over(&self, opened: Opened<'_>, held: &HeldClaim) -> Result<(), MailError> {
        match self.groups.handover.call(held.clone()).await {
            Ok(Handover::Go) => opened.send().await,
            Ok(refused) => Err(MailError::Withheld(refused)),
            Err(e) => Err(MailError::Transient(format!(
                "recording the hand-over: {e:#}"
            ))),
        }
    }

    /// The ledger's answer to the claim: the claim held, or `None` when the
    /// row was closed or deferred instead.
    async fn claim(
        &self,
        row: &TimelineRow,
        once_key: &str,
        claim: DeliveryClaim,
        budget: Option<&Budgeted>,
    ) -> Result<Option<HeldClaim>, StepError> {
        let attempt = match self.groups.claim.call(claim).await? {
            Claim::Granted { attempt } => attempt,
            Claim::OverBudget { spent } => {
                let Some(budgeted) = budget else {
                    // Only a counted claim is ever over budget.
                    return Err(StepError::from(store::StoreError::Corrupt(
                        row.subject.id().to_string(),
                        "an uncounted delivery was refused for the budget".into(),
                    )));
                };
                let why = budgeted.over.reason(budgeted.budget.limit);
                tracing::info!(spent, why = %why, "the recipient's daily nudge budget is spent");
                match budgeted.over {
                    OverBudget::Defer(at) => {
                        metrics::counter!("firstweek_nudges_deferred_total").increment(1);
                        store::defer_row(&self.pool, row.id, at, &why).await?;
                    }
                    OverBudget::Drop(_) => {
                        metrics::counter!("firstweek_nudges_dropped_total").increment(1);
                        self.finish(row, RowStatus::Skipped, &why).await?;
                    }
                }
                return Ok(None);
            }
            Claim::Ended => {
                self.finish(row, RowStatus::Cancelled, "mentorship ended")
                    .await?;
                return Ok(None);
            }
            Claim::Busy => {
                tracing::info!(
                    "another worker holds this delivery; checking back when its claim expires"
                );
                store::recheck_at(&self.pool, row.id, Utc::now() + self.cfg.claim_lease).await?;
                return Ok(None);
            }
            Claim::Taken { step_id, status } if step_id == row.step_id => {
                self.finish(row, status.row_status(), "already handled")
                    .await?;
                return Ok(None);
            }
            Claim::Taken { step_id, status } => {
                let skip = Skip::OnceKeyTaken {
                    once_key: once_key.to_string(),
                    by_step: step_id,
                    status: status.to_string(),
                };
                self.finish(row, RowStatus::Skipped, &skip.reason()).await?;
                return Ok(None);
            }
        };
        Ok(Some(HeldClaim {
            key: DeliveryKey::of(row, once_key),
            attempt,
        }))
    }

    /// Records what became of a send.
    async fn record(
        &self,
        row: &TimelineRow,
        tz: Option<Tz>,
        held: &HeldClaim,
        result: Result<(), MailError>,
    ) -> Result<(), StepError> {
        let (failure, why) = match result {
            Ok(()) => return self.record_sent(row, held).await,
            Err(MailError::Withheld(refused)) => return self.withheld(row, held, refused).await,
            Err(MailError::Transient(why)) => (Failure::Transient, why),
            Err(MailError::Permanent(why)) => (Failure::Permanent, why),
            Err(MailError::Unknown(why)) => (Failure::Unknown, why),
        };
        let kind = match failure {
            Failure::Transient => "transient",
            Failure::Permanent => "permanent",
            Failure::Unknown => "unknown",
        };
        metrics::counter!("firstweek_emails_failed_total", "kind" => kind).increment(1);
        match decision::delivery::after_failure(failure, self.cfg.unknown_delivery) {
            AfterFailure::Retry if failure == Failure::Unknown => {
                tracing::warn!(error = %why, "mail outcome unknown; resending with the same Message-ID (FIRSTWEEK_UNKNOWN_DELIVERY=resend)");
                let why = format!("outcome unknown, resending: {why}");
                self.retry_later(row, tz, held, &why).await
            }
            AfterFailure::Retry => self.retry_later(row, tz, held, &why).await,
            AfterFailure::RecordFailed => {
                tracing::error!(error = %why, "mail refused permanently; not retried");
                self.settle_delivery(row, held, DeliveryStatus::Failed, &why)
                    .await
            }
            AfterFailure::RecordUnknown => {
                tracing::error!(error = %why, "mail outcome unknown; not resent, to avoid a duplicate");
                self.settle_delivery(row, held, DeliveryStatus::Unknown, &why)
                    .await
            }
        }
    }

    async fn record_sent(&self, row: &TimelineRow, held: &HeldClaim) -> Result<(), StepError> {
        self.settle_delivery(row, held, DeliveryStatus::Sent, "accepted")
            .await?;
        let lateness = (Utc::now() - row.due_at).num_milliseconds().max(0) as f64 / 1000.0;
        metrics::histogram!("firstweek_step_lateness_seconds").record(lateness);
        metrics::counter!("firstweek_emails_sent_total", "step" => row.step_id.clone())
            .increment(1);
        match row.kind {
            RowKind::Notice(Notice::Reminder) => {
                store::mark_reminded(&self.pool, row.subject.id()).await?;
            }
            RowKind::Notice(Notice::Resolved) => {}
            _ if row.recipient == Recipient::Coordinator => {
                metrics::counter!("firstweek_escalations_total").increment(1);
            }
            _ => {}
        }
        tracing::info!("email sent");
        Ok(())
    }

    /// The ledger did not let the message go: nothing was sent.
    async fn withheld(
        &self,
        row: &TimelineRow,
        held: &HeldClaim,
        refused: Handover,
    ) -> Result<(), StepError> {
        match refused {
            Handover::Withdrawn => {
                tracing::info!(
                    "the escalation was acknowledged or resolved before the hand-over; no reminder"
                );
                store::release_delivery(&self.pool, held).await?;
                self.finish(
                    row,
                    RowStatus::Skipped,
                    "the escalation was acknowledged or resolved",
                )
                .await
            }
            Handover::Ended => {
                tracing::info!("the mentorship ended before the hand-over; nothing sent");
                store::release_delivery(&self.pool, held).await?;
                self.finish(row, RowStatus::Cancelled, "mentorship ended")
                    .await
            }
            Handover::Go | Handover::Lost => {
                // Our lease ran out (a long pause): whoever holds the claim now decides.
                tracing::warn!(
                    attempt = held.attempt,
                    "the claim is no longer ours; nothing sent, nothing recorded"
                );
                metrics::counter!("firstweek_claims_lost_total").increment(1);
                Ok(())
            }
        }
    }

    /// Records a delivery's end. Once the SMTP server may have the message,
    /// this must not give up on a database outage: starting the step over
    /// would find its own claim and, after the lease, send it twice.
    async fn settle_delivery(
        &self,
        row: &TimelineRow,
        held: &HeldClaim,
        status: DeliveryStatus,
        detail: &str,
    ) -> Result<(), StepError> {
        let mut backoff = Backoff::default();
        let started = std::time::Instant::now();
        loop {
            let end = DeliveryEnd {
                row: row.clone(),
                claim: held.clone(),
                status,
                detail: detail.to_string(),
            };
            match self.groups.finish.call(end).await {
                Ok(true) => return Ok(()),
                Ok(false) => {
                    // Another worker took the claim over after our lease ran out:
                    // what it recorded stands.
                    tracing::warn!(%status, attempt = held.attempt, "the claim was taken over; this outcome is not recorded");
                    metrics::counter!("firstweek_claims_lost_total").increment(1);
                    return Ok(());
                }
                // On shutdown, keep trying for a while; the drain deadline bounds it.
                Err(e) if started.elapsed() < self.cfg.claim_lease.to_std().unwrap_or_default() => {
                    let delay = backoff.next_delay();
                    tracing::warn!(error = %e, %status, "cannot record the delivery yet; retrying");
                    tokio::time::sleep(delay).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Gives the claim back and offers the row again after the backoff, in
    /// the recipient's window; past the mail deadline, gives up on it.
    async fn retry_later(
        &self,
        row: &TimelineRow,
        tz: Option<Tz>,
        held: &HeldClaim,
        why: &str,
    ) -> Result<(), StepError> {
        store::release_delivery(&self.pool, held).await?;
        if decision::delivery::give_up(row.due_at, Utc::now(), self.cfg.mail_deadline) {
            tracing::error!(error = %why, "mail still failing after the deadline; giving up");
            let outcome = format!("gave up after the deadline: {why}");
            store::finish_row(&self.pool, row.id, RowStatus::Failed, &outcome).await?;
            return Ok(());
        }
        let delay = self.retry.delay_for(row.attempts.max(0) as u32);
        let delay = Duration::from_std(delay).unwrap_or_default();
        let at = decision::retry_at(self.cfg.rules.window, tz, Utc::now(), delay);
        tracing::warn!(error = %why, retry_at = %at, "mail failed; will retry");
        store::retry_row(&self.pool, row.id, at, why).await?;
        Ok(())
    }
}
