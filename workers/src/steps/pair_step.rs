//! A step of a pair's playbook: the domain's plan
//! ([`firstweek::decision::plan::plan_step`]) closes the row, or sends the
//! step's email, opening the pair's escalation first when the step is one.

use super::StepError;
use chrono::Utc;

use chrono_tz::Tz;
use firstweek::chat;
use firstweek::coordinator::advice;
use firstweek::day::Day;
use firstweek::decision::plan::{Closing, Sending, StepPlan, plan_step};
use firstweek::decision::relevance::{self, Expiry};
use firstweek::decision::{Rules, Skip};
use firstweek::email::{self, Context};
use firstweek::escalation::Sighting;
use firstweek::event::MentorshipStarted;
use firstweek::interaction::Evidence;
use firstweek::interaction::Interaction;
use firstweek::playbook::Step;
use firstweek::rule::Recipient;
use firstweek::timeline::timezone_of;
use firstweek_store::{self as store, ChatPurpose, PairRecord, RowStatus, TimelineRow};

use super::Steps;
use super::chat::Chatted;
use super::delivery::Budgeted;

impl Steps {
    /// Judges the step as of its due time and carries the verdict out.
    pub(super) async fn process_pair_step(
        &self,
        row: &TimelineRow,
        pair: Option<PairRecord>,
        ledger: &[Interaction],
    ) -> Result<(), StepError> {
        let view = pair.as_ref().map(|p| p.with_ledger(ledger));
        let rules = self.cfg.rules.pinned(view.and_then(|p| p.playbook));
        let plan = plan_step(&rules, &row.step_id, row.recipient, row.due_at, view);
        let Sending {
            step,
            started,
            evidence,
            escalate,
        } = match plan {
            StepPlan::Send(sending) => sending,
            StepPlan::Close(closing) => {
                let status = match closing {
                    Closing::Skip(_) => RowStatus::Skipped,
                    Closing::Cancel => RowStatus::Cancelled,
                };
                return self.finish(row, status, &closing.reason()).await;
            }
        };
        let tz = timezone_of(started, row.recipient);
        let expiry = relevance::expiry(
            &rules,
            step,
            row.recipient,
            started.started_at,
            row.due_at,
            self.cfg.stale_after,
        );
        if !self.on_time(row, tz, &expiry).await? {
            return Ok(());
        }
        let budget = budgeted(&rules, step, row, started, tz, &expiry, Utc::now());
        let links;
        if escalate {
            let day = Day::of(started.started_at, evidence.as_of, self.cfg.rules.scale);
            let sighting = Sighting::new(&row.step_id, day, &evidence);
            let coordinator = self
                .cfg
                .pseudonym_key
                .coordinator(&started.coordinator.email);
            let opening = store::open_escalation(
                &self.pool,
                &rules,
                started,
                &coordinator,
                &row.step_id,
                &sighting,
            )
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
            summary,
            reasons,
            fired,
            ..
        } = evidence;
        let now = Utc::now();
        // The coordinator is told what to do about what fired.
        let advice = if escalate {
            advice::lines(&fired, &summary)
        } else {
            Vec::new()
        };
        let ctx = Context::new(
            started,
            &row.step_id,
            row.recipient,
            row.due_at,
            self.cfg.rules.scale,
            summary,
            reasons,
            now,
        )
        .with_advice(advice)
        .with_links(links)
        .with_reach(
            started,
            &rules.playbook,
            self.cfg.rules.window,
            &step.template,
            now,
        )
        .with_program(&rules.playbook);
        if escalate {
            let program = started.program_id.as_deref();
            let once_key = &step.once_key;
            let purpose = ChatPurpose::Escalation;
            let message = || chat::escalation(&ctx);
            let chatted = self
                .post_to_chat(row, tz, once_key, program, purpose, message)
                .await?;
            if chatted != Chatted::EmailToo {
                return Ok(());
            }
        }
        let from = email::sender(&self.cfg.from, &rules.playbook);
        let (name, address) = match row.recipient {
            Recipient::Mentor => (&started.mentor.name, &started.mentor.email),
            Recipient::Mentee => (&started.mentee.name, &started.mentee.email),
            Recipient::Coordinator => (&started.coordinator.name, &started.coordinator.email),
        };
        let message_id = self.message_id(&started.mentorship_id, &step.once_key, row.recipient);
        self.deliver(row, tz, &step.once_key, message_id, budget, |message_id| {
            email::compose(
                &self.cfg.templates,
                &step.template,
                &ctx,
                &from,
                name,
                address,
                message_id,
            )
        })
        .await
    }
}

/// A nudge's place in its recipient's daily budget: the local day it counts
/// against (as of `now`), and what becomes of it if that day is spent;
/// `None` for a step the budget does not count (the welcome, a coordinator's).
fn budgeted(
    rules: &Rules,
    step: &Step,
    row: &TimelineRow,
    started: &MentorshipStarted,
    tz: Option<Tz>,
    expiry: &Expiry,
    now: chrono::DateTime<Utc>,
) -> Option<Budgeted> {
    if !relevance::role(&rules.playbook, step, row.recipient).counted() {
        return None;
    }
    let day = relevance::local_day(started.started_at, now, rules.scale, tz);
    let next = relevance::next_day_starts(started.started_at, day, rules.scale, tz);
    Some(Budgeted {
        budget: store::Budget {
            day,
            limit: rules.playbook.daily_nudge_budget,
        },
        over: relevance::over_budget(rules.window, tz, expiry, row.send_at, next),
    })
}
