//! A step of a pair's playbook: the domain's verdict ([`decision::decide`])
//! closes the row, or sends the step's email, opening the pair's escalation
//! first when the step is one.

use chrono::Utc;

use firstweek::decision::{self, Moment, Skip, Verdict};
use firstweek::email::{self, Context};
use firstweek::escalation::Sighting;
use firstweek::interaction::Evidence;
use firstweek::interaction::Interaction;
use firstweek::rule::Recipient;
use firstweek::timeline::{program_day, timezone_of};
use firstweek_store::{self as store, PairRecord, RowStatus, TimelineRow};

use super::Steps;

impl Steps {
    /// Judges the step as of its due time and carries the verdict out.
    pub(super) async fn process_pair_step(
        &self,
        row: &TimelineRow,
        pair: Option<PairRecord>,
        ledger: &[Interaction],
    ) -> anyhow::Result<()> {
        let decision = decision::decide(
            &self.cfg.rules,
            &row.step_id,
            row.recipient,
            row.due_at,
            pair.as_ref().map(|p| p.with_ledger(ledger)),
            Moment::Processing,
        );
        let escalating = matches!(decision.verdict, Verdict::Escalate(_));
        let evidence = match decision.verdict {
            Verdict::Send(evidence) | Verdict::Escalate(evidence) => evidence,
            Verdict::Skip(skip) => {
                return self.finish(row, RowStatus::Skipped, &skip.reason()).await;
            }
            Verdict::Cancel => {
                return self
                    .finish(row, RowStatus::Cancelled, "mentorship ended")
                    .await;
            }
        };
        // A verdict to send implies the pair and its step (in the playbook
        // the pair is pinned to) exist.
        let Some(pair) = pair else {
            return self
                .finish(row, RowStatus::Skipped, &Skip::UnknownPair.reason())
                .await;
        };
        let rules = self.cfg.rules.pinned(pair.playbook.as_deref());
        let Some(step) = rules.playbook.step(&row.step_id) else {
            return self
                .finish(row, RowStatus::Skipped, &Skip::NotInPlaybook.reason())
                .await;
        };
        let started = &pair.started;
        let tz = timezone_of(started, row.recipient);
        if !self.on_time(row, tz).await? {
            return Ok(());
        }
        let links;
        if escalating {
            let day = program_day(started.started_at, evidence.as_of, self.cfg.rules.scale);
            let sighting = Sighting::new(&row.step_id, day, &evidence);
            let opening =
                store::open_escalation(&self.pool, &rules, started, &row.step_id, &sighting)
                    .await?;
            if !opening.opens {
                let skip = Skip::AddedToEscalation {
                    opened_by: opening.escalation.opened_by,
                };
                return self.finish(row, RowStatus::Skipped, &skip.reason()).await;
            }
            links = self
                .coordinator_links(started, &opening.escalation.coordinator_key)
                .await?;
        } else {
            links = self.participant_links(started, step, row.recipient).await?;
        }
        let Evidence {
            summary, reasons, ..
        } = evidence;
        let ctx = Context::new(
            started,
            &row.step_id,
            row.recipient,
            row.due_at,
            self.cfg.rules.scale,
            summary,
            reasons,
            Utc::now(),
        )
        .with_links(links);
        let (name, address) = match row.recipient {
            Recipient::Mentor => (&started.mentor.name, &started.mentor.email),
            Recipient::Mentee => (&started.mentee.name, &started.mentee.email),
            Recipient::Coordinator => (&started.coordinator.name, &started.coordinator.email),
        };
        let message_id = self.message_id(&started.mentorship_id, &step.once_key, row.recipient);
        self.deliver(row, tz, &step.once_key, message_id, |message_id| {
            email::compose(
                &self.cfg.templates,
                &step.template,
                &ctx,
                &self.cfg.from,
                name,
                address,
                message_id,
            )
        })
        .await
    }
}
