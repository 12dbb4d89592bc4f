//! An escalation's reminder or resolution notice to the pair's coordinator:
//! sent only while the escalation still calls for it
//! ([`decision::escalation::notice`]) and the coordinator may be emailed
//! ([`decision::delivery::notice_skip`]).

use super::StepError;
use chrono::Utc;

use firstweek::coordinator::advice;
use firstweek::decision;
use firstweek::decision::relevance::Expiry;
use firstweek::email::{self, Context, Links};
use firstweek::escalation::Notice;
use firstweek::interaction::{Interaction, Summary};
use firstweek::rule::Recipient;
use firstweek::timeline::timezone_of;
use firstweek_store::{self as store, PairRecord, RowStatus, TimelineRow};

use super::Steps;

impl Steps {
    /// Sends `notice` about the row's pair, or closes the row when it is no
    /// longer called for.
    pub(super) async fn process_notice(
        &self,
        row: &TimelineRow,
        notice: Notice,
        pair: Option<PairRecord>,
        ledger: &[Interaction],
    ) -> Result<(), StepError> {
        let view = pair.as_ref().map(|p| p.with_ledger(ledger));
        // The pair's own playbook names the program and sender.
        let playbook = self
            .cfg
            .rules
            .pinned(view.as_ref().and_then(|p| p.playbook))
            .playbook
            .clone();
        if let Some(skip) = decision::delivery::notice_skip(view.as_ref()) {
            return self.finish(row, RowStatus::Skipped, &skip.reason()).await;
        }
        let Some(pair) = pair else {
            return Ok(());
        };
        let escalation = store::escalation(&self.pool, row.subject.id()).await?;
        if let Err(withdrawn) = decision::escalation::notice(notice, escalation.as_ref()) {
            return self
                .finish(row, RowStatus::Skipped, withdrawn.reason())
                .await;
        }
        let Some(escalation) = escalation else {
            return Ok(());
        };
        let started = &pair.started;
        let tz = timezone_of(started, Recipient::Coordinator);
        if !self
            .on_time(row, tz, &Expiry::Fixed(self.cfg.stale_after))
            .await?
        {
            return Ok(());
        }
        let now = Utc::now();
        let links = match notice {
            Notice::Reminder => {
                self.coordinator_links(started, &escalation.coordinator_key)
                    .await?
            }
            Notice::Resolved => Links::default(),
        };
        let summary = Summary::as_of(ledger, now);
        // A reminder repeats what to do, as the pair stands now.
        let advice = match notice {
            Notice::Reminder => advice::lines(&escalation.rules, &summary),
            Notice::Resolved => Vec::new(),
        };
        let ctx = Context::new(
            started,
            &row.step_id,
            Recipient::Coordinator,
            now,
            self.cfg.rules.scale,
            summary,
            decision::escalation::notice_reasons(notice, &escalation),
            now,
        )
        .with_advice(advice)
        .with_links(links)
        .with_program(&playbook);
        let from = email::sender(&self.cfg.from, &playbook);
        let once_key = notice.step_id();
        let message_id = self.message_id(&started.mentorship_id, once_key, Recipient::Coordinator);
        self.deliver(row, tz, once_key, message_id, None, |message_id| {
            email::compose(
                &self.cfg.templates,
                once_key,
                &ctx,
                &from,
                &started.coordinator.name,
                &started.coordinator.email,
                message_id,
            )
        })
        .await
    }
}
