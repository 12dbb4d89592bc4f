//! The engine's decisions, in one place: what a pair's timeline is, and for a
//! step and a moment, whether to send, skip (and why), escalate (with the
//! evidence) or cancel; and which pairs are at risk right now.
//!
//! Pure: callers hand it the pair and its interactions. The worker, the
//! daily digest, `firstweek at-risk` and `firstweek playbook dry-run` all ask
//! here; none of them judges a condition by itself.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::event::MentorshipStarted;
use crate::interaction::{Evidence, Interaction, Summary};
use crate::playbook::{Playbook, Programs, Trigger};
use crate::rule::{Condition, Recipient};
use crate::timeline::{self, Planned, SendWindow, TimeScale};

pub mod delivery;
pub mod escalation;
pub mod plan;
pub mod relevance;
pub mod timing;
pub use timing::{Timing, retry_at, timing};

/// The playbook as this deployment runs it: on which clock, in which send window.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Steps, conditions and thresholds: the default playbook
    /// (`FIRSTWEEK_PLAYBOOK` or the built-in one), or, in rules made for a
    /// pair ([`Rules::pinned`]), the one that pair is pinned to.
    pub playbook: Playbook,
    /// The programs' own playbooks, by program id (`FIRSTWEEK_PLAYBOOKS_DIR`).
    pub programs: Programs,
    /// How fast program time runs.
    pub scale: TimeScale,
    /// When emails may go out, in each recipient's local time.
    pub window: SendWindow,
}

impl Rules {
    /// The rules a pair of this program starts under: its program's own
    /// playbook if it has one, else the default.
    pub fn for_program(&self, program_id: Option<&str>) -> Rules {
        match program_id.and_then(|p| self.programs.get(p)) {
            Some(playbook) => Rules {
                playbook: playbook.clone(),
                ..self.clone()
            },
            None => self.clone(),
        }
    }

    /// The rules a pair is judged by: the playbook it was pinned to when it
    /// started (`None`: a pair from before pinning, judged by the default).
    pub fn pinned(&self, playbook: Option<&Playbook>) -> std::borrow::Cow<'_, Rules> {
        match playbook {
            Some(p) if p.version != self.playbook.version => std::borrow::Cow::Owned(Rules {
                playbook: p.clone(),
                ..self.clone()
            }),
            _ => std::borrow::Cow::Borrowed(self),
        }
    }

    /// Every playbook a new pair may start under: the default, then each program's.
    pub fn all_playbooks(&self) -> impl Iterator<Item = &Playbook> {
        std::iter::once(&self.playbook).chain(self.programs.values())
    }
}

/// A pair as the engine knows it: its start, its ending if one was recorded,
/// and its interaction ledger.
#[derive(Debug, Clone, Copy)]
pub struct Pair<'a> {
    /// The `mentorship.started` event, as stored.
    pub started: &'a MentorshipStarted,
    /// When the mentorship ended, if an ending was recorded.
    pub ended_at: Option<DateTime<Utc>>,
    /// Every interaction stored for the pair, in any order.
    pub ledger: &'a [Interaction],
    /// The sides that unsubscribed (`participant.unsubscribed`): they get no email.
    pub unsubscribed: &'a [Recipient],
    /// The playbook the pair is pinned to (`None`: from before pinning, the
    /// default): every decision about the pair uses it.
    pub playbook: Option<&'a Playbook>,
    /// The sides whose person was erased (`person.erased`): they get no email.
    pub erased: &'a [Recipient],
    /// The steps the pair is held out of (drawn and stored when it started,
    /// see [`crate::experiment::draw`]).
    pub held_out: &'a [String],
}

impl<'a> Pair<'a> {
    /// A pair with this ledger and nothing else recorded: not ended, nobody
    /// unsubscribed or erased, on the default playbook.
    pub fn with_ledger(started: &'a MentorshipStarted, ledger: &'a [Interaction]) -> Pair<'a> {
        Pair {
            started,
            ended_at: None,
            ledger,
            unsubscribed: &[],
            playbook: None,
            erased: &[],
            held_out: &[],
        }
    }
}

/// Who asks, and so from which moment a step is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    /// A worker handling the due step now: judged as of its due time,
    /// however late it is processed; an ending already recorded wins.
    Processing,
    /// A preview of the stored history at `now`: each step is taken as
    /// processed on time (so an ending after its due time does not cancel
    /// it); a step not due yet is judged as of `now`, as if it fell due then.
    Preview {
        /// The moment of the preview.
        now: DateTime<Utc>,
    },
}

/// Why a step sends nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// The row names a step the playbook no longer has.
    NotInPlaybook,
    /// The row's pair is not stored.
    UnknownPair,
    /// None of the step's conditions held at the moment it was judged.
    ConditionNotMet(Vec<Condition>),
    /// The recipient unsubscribed from firstweek's emails.
    Unsubscribed,
    /// The recipient was erased: firstweek no longer knows who they are.
    Erased,
    /// The pair's escalation was opened by another coordinator step: this
    /// one's evidence was added to it, and nothing new is sent.
    AddedToEscalation {
        /// The step that opened it.
        opened_by: String,
    },
    /// The pair was drawn into the step's holdout: the step would have gone
    /// out, and is withheld to measure what it causes.
    Holdout,
    /// Another step with the same once-key already reached this recipient.
    OnceKeyTaken {
        /// The once-key the two steps share.
        once_key: String,
        /// The step that holds it.
        by_step: String,
        /// What became of that delivery (`sent`, `failed`, ...).
        status: String,
    },
}

impl Skip {
    /// The reason in words, as recorded on the timeline row.
    pub fn reason(&self) -> String {
        match self {
            Skip::NotInPlaybook => "the step is no longer in the playbook".into(),
            Skip::UnknownPair => "mentorship not found".into(),
            Skip::ConditionNotMet(when) => {
                let names: Vec<&str> = when.iter().map(|c| c.as_str()).collect();
                format!("condition not met: {}", names.join(", "))
            }
            Skip::Unsubscribed => "the recipient unsubscribed".into(),
            Skip::Erased => "the recipient was erased".into(),
            Skip::Holdout => HOLDOUT_REASON.into(),
            Skip::AddedToEscalation { opened_by } => {
                format!("added to the escalation opened by step {opened_by}")
            }
            Skip::OnceKeyTaken {
                once_key,
                by_step,
                status,
            } => format!("{once_key} already {status} by step {by_step}"),
        }
    }
}

/// The reason a held-out row closes with (`skipped`); the experiment
/// report counts rows by it.
pub const HOLDOUT_REASON: &str = "holdout";

/// What becomes of one step for one recipient.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Send the nudge to the mentor or mentee.
    Send(Evidence),
    /// Tell the coordinator, with the evidence.
    Escalate(Evidence),
    /// Send nothing, for this reason.
    Skip(Skip),
    /// The mentorship ended: nothing more goes out.
    Cancel,
}

/// A verdict and whether it is only a forecast (the step is not due yet).
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// What the step does (or would do, if it fell due now).
    pub verdict: Verdict,
    /// The step is not due yet: the verdict is "as of now".
    pub forecast: bool,
}

/// Decides one step of one pair for one recipient. `due_at` is the row's due
/// time; `pair` is `None` when the pair is not stored.
pub fn decide(
    rules: &Rules,
    step_id: &str,
    recipient: Recipient,
    due_at: DateTime<Utc>,
    pair: Option<Pair<'_>>,
    moment: Moment,
) -> Decision {
    let on_time = |verdict| Decision {
        verdict,
        forecast: false,
    };
    let rules = &*rules.pinned(pair.and_then(|p| p.playbook));
    let Some(step) = rules.playbook.step(step_id) else {
        return on_time(Verdict::Skip(Skip::NotInPlaybook));
    };
    let Some(pair) = pair else {
        return on_time(Verdict::Skip(Skip::UnknownPair));
    };
    let (ended, as_of, forecast) = match moment {
        Moment::Processing => (pair.ended_at.is_some(), due_at, false),
        Moment::Preview { now } => (
            pair.ended_at.is_some_and(|end| end <= due_at),
            due_at.min(now),
            due_at > now,
        ),
    };
    if ended {
        return on_time(Verdict::Cancel);
    }
    // The pair is still watched (the coordinator's steps judge it); only
    // the email to the person who asked for none is not sent.
    if pair.erased.contains(&recipient) {
        return on_time(Verdict::Skip(Skip::Erased));
    }
    if pair.unsubscribed.contains(&recipient) {
        return on_time(Verdict::Skip(Skip::Unsubscribed));
    }
    let summary = week_summary(rules, pair, as_of);
    let thresholds = &rules.playbook.thresholds;
    let fired = summary.judge(&step.when, thresholds);
    let verdict = if fired.is_empty() {
        Verdict::Skip(Skip::ConditionNotMet(step.when.clone()))
    } else {
        let reasons = fired
            .iter()
            .map(|c| c.wording(&summary, thresholds))
            .collect();
        let evidence = Evidence {
            fired,
            reasons,
            summary,
            as_of,
        };
        match recipient {
            Recipient::Coordinator => Verdict::Escalate(evidence),
            // Held out only where the step would have gone out: the
            // report compares like with like.
            Recipient::Mentor | Recipient::Mentee
                if step.holdout.is_some() && pair.held_out.contains(&step.id) =>
            {
                Verdict::Skip(Skip::Holdout)
            }
            Recipient::Mentor | Recipient::Mentee => Verdict::Send(evidence),
        }
    };
    Decision { verdict, forecast }
}

/// What a pair's ledger shows as of `as_of`, counting only the interactions
/// that occurred within its first week ([`timeline::in_first_week`]: from
/// `started_at`, inclusive, to the end of the playbook's week, exclusive, in
/// wall-clock time), whatever order they arrived in. The one place that says
/// which interactions count: every decision, risk, digest line and CLI view
/// judges on this summary.
pub fn week_summary(rules: &Rules, pair: Pair<'_>, as_of: DateTime<Utc>) -> Summary {
    let rules = &*rules.pinned(pair.playbook);
    let started_at = pair.started.started_at;
    Summary::as_of(
        pair.ledger.iter().filter(|i| {
            timeline::in_first_week(started_at, i.occurred_at, &rules.playbook, rules.scale)
        }),
        as_of,
    )
}

/// The timeline of a newly started pair: its timed steps, and the pacing tip
/// if interactions that arrived before the pair already call for one.
pub fn plan(rules: &Rules, started: &MentorshipStarted, earlier: &[Interaction]) -> Vec<Planned> {
    let mut rows = timeline::plan(started, &rules.playbook, rules.scale, rules.window);
    rows.extend(pacing(rules, started, earlier));
    rows
}

/// The pacing-tip rows that these interactions call for: the earliest intense
/// interaction of the pair's first week triggers the playbook's
/// intense-interaction steps (once per pair: the timeline's unique key).
pub fn pacing(rules: &Rules, started: &MentorshipStarted, ledger: &[Interaction]) -> Vec<Planned> {
    let Some(at) = first_intense(rules, started.started_at, ledger) else {
        return Vec::new();
    };
    rules
        .playbook
        .intense_steps()
        .flat_map(|step| timeline::plan_step(started, step, at, rules.window))
        .collect()
}

/// Whether this interaction, of a pair started at `started_at`, calls for the pacing tip.
pub fn calls_for_pacing(
    rules: &Rules,
    started_at: DateTime<Utc>,
    interaction: &Interaction,
) -> bool {
    first_intense(rules, started_at, std::slice::from_ref(interaction)).is_some()
}

/// Whether an interaction could call for the pacing tip under some playbook
/// (a deliverable asked for, or a session with a length): the cheap test
/// before the pair's own playbook is read.
pub fn may_call_for_pacing(interaction: &Interaction) -> bool {
    use crate::event::InteractionKind;
    match interaction.kind {
        InteractionKind::DeliverableRequested => true,
        InteractionKind::Session => interaction.duration_minutes.is_some(),
        _ => false,
    }
}

/// The earliest intense interaction in the pair's first week, if any.
fn first_intense(
    rules: &Rules,
    started_at: DateTime<Utc>,
    ledger: &[Interaction],
) -> Option<DateTime<Utc>> {
    ledger
        .iter()
        .filter(|i| i.is_intense(&rules.playbook.thresholds))
        .filter(|i| {
            timeline::in_first_week(started_at, i.occurred_at, &rules.playbook, rules.scale)
        })
        .map(|i| i.occurred_at)
        .min()
}

/// One planned row of a preview and what it would become.
#[derive(Debug, Clone)]
pub struct Previewed {
    /// The row as the playbook plans it.
    pub planned: Planned,
    /// What it does (or would do).
    pub decision: Decision,
}

/// What the rules would do to a stored pair, step by step, as of `now`: its
/// timeline planned afresh (pacing tip included), each row decided as a
/// preview, and a once-key honoured as the delivery ledger would (the first
/// step to send under it holds it). Rows come in due order.
pub fn preview(rules: &Rules, pair: Pair<'_>, now: DateTime<Utc>) -> Vec<Previewed> {
    let rules = &*rules.pinned(pair.playbook);
    let mut rows = plan(rules, pair.started, pair.ledger);
    rows.sort_by_key(|r| r.due_at);
    let mut held: HashMap<(String, Recipient), String> = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for planned in rows {
        let Some(step) = rules.playbook.step(&planned.step_id) else {
            continue;
        };
        let mut decision = decide(
            rules,
            &planned.step_id,
            planned.recipient,
            planned.due_at,
            Some(pair),
            Moment::Preview { now },
        );
        if matches!(decision.verdict, Verdict::Send(_) | Verdict::Escalate(_)) {
            let key = (step.once_key.clone(), planned.recipient);
            match held.get(&key) {
                Some(by) => {
                    decision.verdict = Verdict::Skip(Skip::OnceKeyTaken {
                        once_key: step.once_key.clone(),
                        by_step: by.clone(),
                        status: "sent".into(),
                    });
                }
                // A forecast holds nothing yet: the step may still not fire.
                None if !decision.forecast => {
                    held.insert(key, step.id.clone());
                }
                None => {}
            }
        }
        out.push(Previewed { planned, decision });
    }
    out
}

/// One escalation rule that fires for a pair now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Risk {
    /// The condition that holds.
    pub condition: Condition,
    /// It in words, with the counts.
    pub reason: String,
}

/// What "at risk" means: the conditions of the playbook's steps to the
/// coordinator, in playbook order, each once.
pub fn risk_conditions(playbook: &Playbook) -> Vec<Condition> {
    let mut conditions = Vec::new();
    for step in playbook
        .steps
        .iter()
        .filter(|s| s.recipients.contains(&Recipient::Coordinator))
    {
        for c in &step.when {
            if *c != Condition::Always && !conditions.contains(c) {
                conditions.push(*c);
            }
        }
    }
    conditions
}

/// The escalation rules that fire for a pair as of `now`: the risk conditions
/// judged on the interactions so far, each applied once the week has had time
/// for it (see [`due_for_a_look`]). Empty: on track.
pub fn risks(rules: &Rules, pair: Pair<'_>, now: DateTime<Utc>) -> Vec<Risk> {
    let rules = &*rules.pinned(pair.playbook);
    let summary = week_summary(rules, pair, now);
    let day = timeline::program_day(pair.started.started_at, now, rules.scale);
    let thresholds = &rules.playbook.thresholds;
    summary
        .judge(&risk_conditions(&rules.playbook), thresholds)
        .into_iter()
        .filter(|c| due_for_a_look(*c, day, &summary, &rules.playbook))
        .map(|condition| Risk {
            condition,
            reason: condition.wording(&summary, thresholds),
        })
        .collect()
}

/// Early in the week "no plan yet" is normal: a rule is only applied once the
/// week has had time for it. Silence counts from day 1 and one-sidedness from
/// day 2; "no plan" from the day the playbook first acts on it (the plan
/// reminder: day 4 in the built-in one); "low interaction" against the share
/// of the week gone by (3 interactions a week: at least 1 by day 3).
fn due_for_a_look(condition: Condition, day: i64, summary: &Summary, playbook: &Playbook) -> bool {
    match condition {
        Condition::NoInteraction => day >= 1,
        Condition::OneSided => day >= 2,
        Condition::NoPlan => {
            let first = playbook
                .steps
                .iter()
                .filter(|s| s.when.contains(&Condition::NoPlan))
                .filter_map(|s| match s.trigger {
                    Trigger::At(offset) => Some(offset.num_days()),
                    Trigger::IntenseInteraction => None,
                })
                .min()
                .unwrap_or(2);
            day >= first
        }
        Condition::LowInteraction => {
            let week = playbook.week().num_days().max(1);
            let expected = i64::from(playbook.thresholds.min_interactions) * day.min(week) / week;
            i64::from(summary.total) < expected
        }
        _ => day >= 2,
    }
}

/// How far back a pair still belongs in a coordinator's view: its first week
/// and `grace` program days more, in wall-clock time.
pub fn horizon(rules: &Rules, grace: Duration) -> Duration {
    rules.scale.wall(rules.playbook.week() + grace)
}

#[cfg(test)]
mod holdout_tests;
#[cfg(test)]
mod tests;
