//! A pair's due step as one plan the worker executes: close the row (and
//! why), or send the step's email, opening the pair's escalation first when
//! the step is one. Everything the worker would otherwise check on the way
//! (the verdict, the pair, the step in the playbook the pair is pinned to)
//! is settled here.

use chrono::{DateTime, Utc};

use crate::decision::{self, Moment, Pair, Rules, Skip, Verdict};
use crate::event::MentorshipStarted;
use crate::interaction::Evidence;
use crate::playbook::Step;
use crate::rule::Recipient;

/// What a worker does with a pair's due step.
#[derive(Debug, Clone, PartialEq)]
pub enum StepPlan<'a> {
    /// Close the row without an email.
    Close(Closing),
    /// Send the step's email.
    Send(Sending<'a>),
}

/// Why a row closes without an email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closing {
    /// Nothing to send, for this reason (recorded `skipped`).
    Skip(Skip),
    /// The mentorship ended (recorded `cancelled`).
    Cancel,
}

impl Closing {
    /// The reason in words, as recorded on the timeline row.
    pub fn reason(&self) -> String {
        match self {
            Closing::Skip(skip) => skip.reason(),
            Closing::Cancel => "mentorship ended".into(),
        }
    }
}

/// A step's email to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Sending<'a> {
    /// The step, from the playbook the pair is pinned to.
    pub step: &'a Step,
    /// The pair's start.
    pub started: &'a MentorshipStarted,
    /// Why it goes out.
    pub evidence: Evidence,
    /// The step tells the coordinator: the pair's escalation opens first.
    pub escalate: bool,
}

/// The plan for `step_id` to `recipient`, due at `due_at`, judged as a
/// worker processes it ([`decision::decide`], [`Moment::Processing`]).
/// `rules` are the ones the pair is pinned to ([`Rules::pinned`]).
pub fn plan_step<'a>(
    rules: &'a Rules,
    step_id: &str,
    recipient: Recipient,
    due_at: DateTime<Utc>,
    pair: Option<Pair<'a>>,
) -> StepPlan<'a> {
    let decision = decision::decide(rules, step_id, recipient, due_at, pair, Moment::Processing);
    let (evidence, escalate) = match decision.verdict {
        Verdict::Send(evidence) => (evidence, false),
        Verdict::Escalate(evidence) => (evidence, true),
        Verdict::Skip(skip) => return StepPlan::Close(Closing::Skip(skip)),
        Verdict::Cancel => return StepPlan::Close(Closing::Cancel),
    };
    // A verdict to send implies the pair and its step exist.
    let Some(pair) = pair else {
        return StepPlan::Close(Closing::Skip(Skip::UnknownPair));
    };
    let Some(step) = rules.playbook.step(step_id) else {
        return StepPlan::Close(Closing::Skip(Skip::NotInPlaybook));
    };
    StepPlan::Send(Sending {
        step,
        started: pair.started,
        evidence,
        escalate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::tests::{built_in, started};

    #[test]
    fn a_due_step_plans_a_send_an_escalation_or_a_closing() {
        let rules = built_in();
        let started = started();
        let due = started.started_at;
        let pair = |ended_at, erased| Pair {
            started: &started,
            ended_at,
            ledger: &[],
            unsubscribed: &[],
            playbook: None,
            erased,
            held_out: &[],
        };
        let coordinator = [Recipient::Coordinator];
        let week = due + rules.playbook.week();
        let label = |plan: StepPlan<'_>| match plan {
            StepPlan::Send(s) if s.escalate => format!("escalate {}", s.step.id),
            StepPlan::Send(s) => format!("send {}", s.step.id),
            StepPlan::Close(c) => format!("close: {}", c.reason()),
        };
        let cases = [
            (
                "welcome",
                Recipient::Mentee,
                due,
                Some(pair(None, &[][..])),
                "send welcome",
            ),
            (
                "escalation",
                Recipient::Coordinator,
                week,
                Some(pair(None, &[])),
                "escalate escalation",
            ),
            (
                "escalation",
                Recipient::Coordinator,
                week,
                Some(pair(None, &coordinator)),
                "close: the recipient was erased",
            ),
            (
                "welcome",
                Recipient::Mentee,
                due,
                Some(pair(Some(due), &[])),
                "close: mentorship ended",
            ),
            (
                "welcome",
                Recipient::Mentee,
                due,
                None,
                "close: mentorship not found",
            ),
            (
                "no_such_step",
                Recipient::Mentee,
                due,
                Some(pair(None, &[])),
                "close: the step is no longer in the playbook",
            ),
        ];
        for (step_id, recipient, due_at, pair, expected) in cases {
            let plan = plan_step(&rules, step_id, recipient, due_at, pair);
            assert_eq!(label(plan), expected, "{step_id} {recipient:?}");
        }
    }
}
