//! Due steps, top to bottom: the handler reads the row (its kind decided by
//! the store), asks the domain what to do with it, and carries that out.
//!
//! - [`pair_step`]: a step of a pair's playbook ([`decision::decide`]),
//!   opening an escalation when it calls for one;
//! - [`notice`]: an escalation's reminder or resolution notice;
//! - [`digest`]: a coordinator's daily digest;
//! - [`chat`]: the coordinator's escalation and digest in the program's
//!   Slack or Teams channels, beside or instead of the email;
//! - [`links`]: the links an email carries, valid as
//!   [`decision::delivery::link_expiry`] says;
//! - [`delivery`]: claim, hand-over, send and record, and what follows a
//!   failure ([`decision::delivery::after_failure`]);
//! - [`batchers`]: the group commit of the steps' database work.

mod batchers;
mod chat;
mod delivery;
mod digest;
mod error;
mod links;
mod notice;
mod pair_step;

use std::sync::Arc;

use chrono::{Duration, Utc};
use chrono_tz::Tz;
use lapin::message::Delivery;
use lettre::message::Mailbox;
use sqlx::PgPool;
use tokio::task::JoinSet;
use tracing::Instrument;

use firstweek::Rules;
use firstweek::decision::relevance::Expiry;
use firstweek::decision::{self, Timing};
use firstweek::email::{self, Templates};
use firstweek::row::RowKind;
use firstweek::rule::Recipient;
use firstweek_broker::{self as broker, DueStep, Handler, HandlerError};
use firstweek_ops::backoff::Backoff;
use firstweek_store::{self as store, RowStatus, StepState, TimelineRow, UnknownDelivery};

use crate::batcher::Limits;
use crate::chat::ChatPoster;
use crate::mailer::Mailer;
use batchers::Groups;
pub use error::StepError;

/// Items per statement at most, and statements of one kind in flight;
/// `linger`: how long a quiet stage waits for company (see the batcher).
pub fn limits(linger: std::time::Duration) -> Limits {
    Limits {
        max_items: 64,
        writers: 2,
        idle: std::time::Duration::from_secs(30),
        linger,
    }
}

/// What the steps role needs besides the database.
pub struct StepsConfig {
    /// The playbook as run here.
    pub rules: Rules,
    /// The templates, checked against the playbook.
    pub templates: Templates,
    /// Where emails go.
    pub mailer: Arc<Mailer>,
    /// Where chat messages go (the programs' routes say whether any do).
    pub chat: Arc<ChatPoster>,
    /// The sender.
    pub from: Mailbox,
    /// Transient mail failures are retried until this long after the due time.
    pub mail_deadline: Duration,
    /// A `sending` claim older than this belongs to a worker that died (it is
    /// several SMTP timeouts long): it is taken over.
    pub claim_lease: Duration,
    /// What becomes of an email the SMTP server may or may not have.
    pub unknown_delivery: UnknownDelivery,
    /// A coordinator's email (escalation, notice, digest) handled more than
    /// this (wall-clock) after it became sendable is skipped as stale;
    /// `None`: never. A participant's step is stale when it no longer makes
    /// sense instead ([`decision::relevance`]); `None` turns both off.
    pub stale_after: Option<Duration>,
    /// The base of links in emails; `None`: no links.
    pub public_url: Option<String>,
    /// How long a quiet stage's statement waits for others to join it.
    pub batch_linger: std::time::Duration,
    /// What the coordinators' keys of the escalations it opens are made with.
    pub pseudonym_key: firstweek::pseudonym::PseudonymKey,
}

/// Evaluates and sends due steps.
pub struct Steps {
    pool: PgPool,
    cfg: StepsConfig,
    /// How retries of a failing email are spaced: 1 s, 2 s, ... up to 256 s.
    retry: Backoff,
    groups: Groups,
}

impl Handler for Steps {
    async fn handle(&self, delivery: &Delivery) -> Result<(), HandlerError> {
        let due = DueStep::from_json(&delivery.data).map_err(HandlerError::BadInput)?;
        // A digest's subject id is its coordinator's opaque key, never an address.
        let span = tracing::info_span!("step", mentorship_id = %due.mentorship_id, step = %due.step_id, recipient = %due.recipient, timeline_id = due.timeline_id);
        let timeline_id = due.timeline_id;
        // Boxed: the whole path (escalation, notices, links, delivery) is a
        // large future; one allocation per step keeps the consumer's small.
        match Box::pin(self.process(timeline_id).instrument(span)).await {
            Ok(()) => Ok(()),
            // The last attempt of a step that keeps failing (not an outage):
            // close its row so the scheduler does not offer it again, and dead-letter it.
            Err(e)
                if !e.is_outage()
                    && broker::delivery_count(&delivery.properties) + 1
                        >= broker::DELIVERY_LIMIT =>
            {
                let reason = format!("failed {} times: {e}", broker::DELIVERY_LIMIT);
                tracing::error!(timeline_id, error = %reason, "giving up on a step");
                store::finish_row(&self.pool, timeline_id, RowStatus::Failed, &reason)
                    .await
                    .map_err(StepError::from)?;
                Err(HandlerError::BadInput(reason))
            }
            Err(e) => Err(e.into()),
        }
    }
}

impl Steps {
    /// The steps role; its batch writers run in `tasks`.
    pub fn new(pool: PgPool, cfg: StepsConfig, tasks: &mut JoinSet<()>) -> Steps {
        let groups = Groups::spawn(&pool, &cfg, tasks);
        Steps {
            pool,
            cfg,
            retry: Backoff::new(
                std::time::Duration::from_secs(1),
                std::time::Duration::from_secs(256),
            ),
            groups,
        }
    }

    /// Handles one timeline row, by what it is.
    async fn process(&self, timeline_id: i64) -> Result<(), StepError> {
        let Some(state) = self.groups.load.call(timeline_id).await? else {
            tracing::warn!("timeline row not found; ignored");
            return Ok(());
        };
        let StepState { row, pair, ledger } = state;
        if !row.status.is_open() {
            tracing::debug!(status = %row.status, "already handled");
            return Ok(());
        }
        match row.kind {
            RowKind::PairStep => self.process_pair_step(&row, pair, &ledger).await,
            RowKind::Notice(notice) => self.process_notice(&row, notice, pair, &ledger).await,
            RowKind::Digest { date } => self.process_digest(&row, date).await,
        }
    }

    /// Whether the step may go out now. Outside the recipient's send window
    /// it waits for the window to open; once it no longer makes sense
    /// (`expiry`) it is skipped. Asked on every path a step arrives by (on
    /// time, retried, republished, late after an outage), so none of them
    /// emails anyone at night.
    async fn on_time(
        &self,
        row: &TimelineRow,
        tz: Option<Tz>,
        expiry: &Expiry,
    ) -> Result<bool, StepError> {
        let now = Utc::now();
        match decision::timing(self.cfg.rules.window, tz, row.send_at, now, expiry) {
            Timing::Now => Ok(true),
            Timing::Wait(until) => {
                tracing::info!(%until, "outside the recipient's send window; waiting for it to open");
                store::recheck_at(&self.pool, row.id, until).await?;
                Ok(false)
            }
            Timing::Stale(stale) => {
                metrics::counter!("firstweek_steps_stale_total").increment(1);
                self.finish(row, RowStatus::Skipped, &stale.reason())
                    .await?;
                Ok(false)
            }
        }
    }

    fn message_id(&self, about: &str, once_key: &str, recipient: Recipient) -> String {
        email::message_id(about, once_key, recipient, self.cfg.from.email.domain())
    }

    /// Closes the row without an email.
    async fn finish(
        &self,
        row: &TimelineRow,
        status: RowStatus,
        why: &str,
    ) -> Result<(), StepError> {
        tracing::info!(%status, why, "step closed without an email");
        metrics::counter!("firstweek_steps_closed_total", "status" => status.as_str()).increment(1);
        store::finish_row(&self.pool, row.id, status, why).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
