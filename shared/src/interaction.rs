//! Interaction rules: what a pair's ledger says as of a moment, whether a
//! step's condition (or a recovery) holds on it and how that is worded, and
//! the evidence a step that fired saw. Pure logic; storage hands it the
//! interactions.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::event::{Actor, InteractionKind};
use crate::rule::{Condition, Recovery, Thresholds};

/// One stored interaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Interaction {
    /// What kind of interaction it was.
    pub kind: InteractionKind,
    /// Which side did it.
    pub actor: Actor,
    /// When it happened, as the event says (not when it arrived).
    pub occurred_at: DateTime<Utc>,
    /// How long it lasted, if the event said.
    pub duration_minutes: Option<u32>,
}

impl Interaction {
    /// A session too long, or a deliverable asked for: diving in too hard.
    pub fn is_intense(&self, thresholds: &Thresholds) -> bool {
        match self.kind {
            InteractionKind::DeliverableRequested => true,
            InteractionKind::Session => self
                .duration_minutes
                .is_some_and(|d| d >= thresholds.long_session_minutes),
            _ => false,
        }
    }
}

/// What the ledger shows for one pair as of a moment: the evidence a step is
/// judged on and an escalation shows.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Summary {
    /// Interactions by either side.
    pub total: u32,
    /// Interactions by the mentor.
    pub mentor: u32,
    /// Interactions by the mentee.
    pub mentee: u32,
    /// Counts by kind, by side: `by_kind["message"] = (mentor, mentee)`.
    pub by_kind: BTreeMap<&'static str, (u32, u32)>,
    /// When the latest interaction occurred; `None`: none yet.
    pub last_activity: Option<DateTime<Utc>>,
    /// Who did the latest interaction.
    pub last_actor: Option<Actor>,
}

impl Summary {
    /// Summarises the interactions that occurred by `as_of`, whatever order they arrived in.
    pub fn as_of<'a>(
        interactions: impl IntoIterator<Item = &'a Interaction>,
        as_of: DateTime<Utc>,
    ) -> Summary {
        let mut s = Summary::default();
        for i in interactions.into_iter().filter(|i| i.occurred_at <= as_of) {
            s.total += 1;
            let entry = s.by_kind.entry(i.kind.as_str()).or_default();
            match i.actor {
                Actor::Mentor => {
                    s.mentor += 1;
                    entry.0 += 1;
                }
                Actor::Mentee => {
                    s.mentee += 1;
                    entry.1 += 1;
                }
            }
            if s.last_activity.is_none_or(|t| i.occurred_at >= t) {
                s.last_activity = Some(i.occurred_at);
                s.last_actor = Some(i.actor);
            }
        }
        s
    }

    /// Both sides have interacted.
    pub fn two_way(&self) -> bool {
        self.mentor > 0 && self.mentee > 0
    }

    /// A plan or goals were shared.
    pub fn has_plan(&self) -> bool {
        InteractionKind::ALL
            .iter()
            .filter(|k| k.is_plan())
            .any(|k| self.by_kind.get(k.as_str()).is_some_and(|(a, b)| a + b > 0))
    }

    /// Whether one condition holds.
    pub fn holds(&self, condition: Condition, thresholds: &Thresholds) -> bool {
        match condition {
            Condition::Always => true,
            Condition::NoTwoWay => !self.two_way(),
            Condition::NoPlan => !self.has_plan(),
            Condition::NoInteraction => self.total == 0,
            Condition::LowInteraction => self.total < thresholds.min_interactions,
            Condition::OneSided => self.total > 0 && !self.two_way(),
        }
    }

    /// Judges a step's `when` list: the conditions that hold (empty: do not send).
    pub fn judge(&self, when: &[Condition], thresholds: &Thresholds) -> Vec<Condition> {
        when.iter()
            .copied()
            .filter(|c| self.holds(*c, thresholds))
            .collect()
    }
}

/// One interaction kind's counts, by side: the evidence of a summary by
/// kind, as templates, digests and stored escalations show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindCount {
    /// The kind, as named in events (`message`, `call`, ...).
    pub kind: String,
    /// By the mentor.
    pub mentor: u32,
    /// By the mentee.
    pub mentee: u32,
}

impl KindCount {
    /// A summary's counts by kind, in kind order.
    pub fn of(summary: &Summary) -> Vec<KindCount> {
        summary
            .by_kind
            .iter()
            .map(|(kind, (mentor, mentee))| KindCount {
                kind: (*kind).to_string(),
                mentor: *mentor,
                mentee: *mentee,
            })
            .collect()
    }
}

impl KindCount {
    /// The same counts with the kind in words ("plan shared", not
    /// `plan_shared`), as a reader sees it.
    pub fn in_words(mut self) -> KindCount {
        if let Some(kind) = InteractionKind::parse(&self.kind) {
            self.kind = kind.words().to_string();
        }
        self
    }
}

impl Condition {
    /// Words for this condition having fired on this summary.
    pub fn wording(self, s: &Summary, thresholds: &Thresholds) -> String {
        match self {
            Condition::Always => "scheduled for every pair".into(),
            Condition::NoTwoWay => "mentor and mentee have not both interacted yet".into(),
            Condition::NoPlan => "no plan or goals shared yet".into(),
            Condition::NoInteraction => "no interaction at all".into(),
            Condition::LowInteraction => format!(
                "low interaction: {} (fewer than {})",
                s.total, thresholds.min_interactions
            ),
            Condition::OneSided => {
                let side = if s.mentee == 0 { "mentor" } else { "mentee" };
                format!("one-sided: only the {side} has interacted")
            }
        }
    }
}

impl Recovery {
    /// Whether it holds for this summary.
    pub fn holds(self, summary: &Summary, thresholds: &Thresholds) -> bool {
        match self {
            Recovery::TwoWay => summary.two_way(),
            Recovery::PlanShared => summary.has_plan(),
            Recovery::EnoughInteractions => summary.total >= thresholds.min_interactions,
        }
    }
}

/// What was seen when a step fired: the conditions that held, in words, and
/// the counts behind them.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    /// The step's conditions that held.
    pub fired: Vec<Condition>,
    /// Each fired condition in words, in the same order.
    pub reasons: Vec<String>,
    /// The pair's interactions as of the moment judged.
    pub summary: Summary,
    /// The instant the step was judged as of.
    pub as_of: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    const T: Thresholds = Thresholds {
        min_interactions: 3,
        long_session_minutes: 120,
    };

    fn at(h: i64) -> DateTime<Utc> {
        "2026-11-02T09:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::hours(h)
    }

    fn i(kind: InteractionKind, actor: Actor, hour: i64) -> Interaction {
        Interaction {
            kind,
            actor,
            occurred_at: at(hour),
            duration_minutes: None,
        }
    }

    use Actor::*;
    use InteractionKind::*;

    #[test]
    fn an_engaged_pair_triggers_nothing() {
        let ledger = [
            i(Message, Mentor, 1),
            i(Message, Mentee, 2),
            i(GoalSet, Mentee, 30),
            i(Call, Mentor, 50),
        ];
        let s = Summary::as_of(&ledger, at(7 * 24));
        assert!(s.two_way() && s.has_plan());
        let escalate = [
            Condition::LowInteraction,
            Condition::OneSided,
            Condition::NoPlan,
        ];
        assert!(s.judge(&escalate, &T).is_empty());
        assert!(s.judge(&[Condition::NoTwoWay], &T).is_empty());
        assert_eq!(s.by_kind["message"], (1, 1));
        assert_eq!(s.last_activity, Some(at(50)));
    }

    #[test]
    fn judged_as_of_the_due_time_whatever_arrives_later() {
        // The mentee's reply came on day 3: the day-2 check-in still holds.
        let ledger = [i(Message, Mentor, 1), i(Message, Mentee, 3 * 24)];
        assert_eq!(
            Summary::as_of(&ledger, at(2 * 24)).judge(&[Condition::NoTwoWay], &T),
            vec![Condition::NoTwoWay]
        );
        assert!(
            Summary::as_of(&ledger, at(7 * 24))
                .judge(&[Condition::NoTwoWay], &T)
                .is_empty()
        );
    }

    #[test]
    fn one_sided_low_and_silent_are_told_apart() {
        let one_sided = [
            i(Message, Mentor, 1),
            i(Message, Mentor, 20),
            i(Message, Mentor, 40),
            i(PlanShared, Mentor, 41),
        ];
        let s = Summary::as_of(&one_sided, at(7 * 24));
        assert_eq!(
            s.judge(
                &[
                    Condition::LowInteraction,
                    Condition::OneSided,
                    Condition::NoPlan
                ],
                &T
            ),
            vec![Condition::OneSided]
        );

        let silent = Summary::as_of(&[], at(4 * 24));
        assert!(silent.holds(Condition::NoInteraction, &T));
        assert!(
            !silent.holds(Condition::OneSided, &T),
            "silence is not one-sided"
        );
        assert!(silent.holds(Condition::LowInteraction, &T));

        let low = [i(Message, Mentor, 1), i(GoalSet, Mentee, 2)];
        assert_eq!(
            Summary::as_of(&low, at(7 * 24)).judge(
                &[
                    Condition::LowInteraction,
                    Condition::OneSided,
                    Condition::NoPlan
                ],
                &T
            ),
            vec![Condition::LowInteraction]
        );
    }

    #[test]
    fn intense_means_a_long_session_or_a_deliverable() {
        let mut long = i(Session, Mentor, 1);
        long.duration_minutes = Some(120);
        assert!(long.is_intense(&T));
        long.duration_minutes = Some(119);
        assert!(!long.is_intense(&T));
        assert!(i(DeliverableRequested, Mentee, 1).is_intense(&T));
        assert!(!i(Call, Mentee, 1).is_intense(&T));
    }
}
