//! What a coordinator is advised to do about a pair: it follows the rules
//! that fired, read against what the pair has done by now (a pair that
//! started talking since its escalation opened is never told to "set up a
//! first call"). The one place this advice is written: the escalation and
//! reminder emails, the digest and the pages all take it from here.

use serde::Serialize;

use crate::event::Actor;
use crate::interaction::Summary;
use crate::rule::Condition;

/// One piece of advice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Advice {
    /// Nobody has interacted: help them get to a first conversation.
    FirstCall,
    /// Only one side has interacted: nudge the other one.
    NudgeQuietSide {
        /// The side that has not interacted yet.
        quiet: Actor,
    },
    /// They talk but have no plan or goals yet.
    MapOutPlan,
    /// They talk, but little, or the week is simply over: ask both how it goes.
    CheckInWithBoth,
}

impl Advice {
    /// The advice for a pair the `fired` rules fired for, given what the
    /// pair has done by now (`summary`), most pressing first, each once.
    /// Never empty: at the least, check in with both.
    pub fn for_pair(fired: &[Condition], summary: &Summary) -> Vec<Advice> {
        let contact = || {
            if summary.total == 0 {
                Advice::FirstCall
            } else if summary.mentee == 0 {
                Advice::NudgeQuietSide {
                    quiet: Actor::Mentee,
                }
            } else if summary.mentor == 0 {
                Advice::NudgeQuietSide {
                    quiet: Actor::Mentor,
                }
            } else {
                Advice::CheckInWithBoth
            }
        };
        let mut all: Vec<Advice> = Vec::new();
        for c in fired {
            let a = match c {
                Condition::NoInteraction
                | Condition::NoTwoWay
                | Condition::OneSided
                | Condition::LowInteraction => contact(),
                Condition::NoPlan if summary.has_plan() => continue,
                // Without a first conversation a plan is not the next step.
                Condition::NoPlan if summary.total == 0 => Advice::FirstCall,
                Condition::NoPlan => Advice::MapOutPlan,
                Condition::Always => Advice::CheckInWithBoth,
            };
            if !all.contains(&a) {
                all.push(a);
            }
        }
        all.sort_by_key(|a| a.rank());
        // "Check in with both" adds nothing beside a more precise step.
        if all.len() > 1 {
            all.retain(|a| *a != Advice::CheckInWithBoth);
        }
        if all.is_empty() {
            all.push(Advice::CheckInWithBoth);
        }
        all
    }

    fn rank(self) -> u8 {
        match self {
            Advice::FirstCall => 0,
            Advice::NudgeQuietSide { .. } => 1,
            Advice::MapOutPlan => 2,
            Advice::CheckInWithBoth => 3,
        }
    }

    /// The advice in words.
    pub fn words(self) -> String {
        match self {
            Advice::FirstCall => "Help them set up a first call: write to both, introduce them \
                to each other again, and suggest a 30-minute call (or a short written hello \
                if their hours hardly overlap)."
                .into(),
            Advice::NudgeQuietSide { quiet } => {
                let (quiet, active) = match quiet {
                    Actor::Mentor => ("mentor", "mentee"),
                    Actor::Mentee => ("mentee", "mentor"),
                };
                format!(
                    "Nudge the quiet side: only the {active} has been in touch so far. Write to \
                     the {quiet} personally and ask what would make it easier to reply."
                )
            }
            Advice::MapOutPlan => "Help them map out a plan: suggest they agree on two or three \
                goals and on how often they will meet."
                .into(),
            Advice::CheckInWithBoth => "Check in with both: ask how it is going and whether \
                their schedules fit, and suggest a short regular slot."
                .into(),
        }
    }
}

/// Advice as templates and pages show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AdviceLine {
    /// A stable name (`first_call`, `nudge_quiet_side`, `map_out_plan`,
    /// `check_in_with_both`), for templates that word it themselves.
    pub key: &'static str,
    /// For `nudge_quiet_side`: the side that has been quiet (`mentor` or
    /// `mentee`), so a translation can word the advice from the key alone.
    pub quiet: Option<&'static str>,
    /// The advice in words (English; templates of other locales word it
    /// from `key` and `quiet`).
    pub text: String,
}

impl From<Advice> for AdviceLine {
    fn from(a: Advice) -> AdviceLine {
        let key = match a {
            Advice::FirstCall => "first_call",
            Advice::NudgeQuietSide { .. } => "nudge_quiet_side",
            Advice::MapOutPlan => "map_out_plan",
            Advice::CheckInWithBoth => "check_in_with_both",
        };
        let quiet = match a {
            Advice::NudgeQuietSide {
                quiet: Actor::Mentor,
            } => Some("mentor"),
            Advice::NudgeQuietSide {
                quiet: Actor::Mentee,
            } => Some("mentee"),
            _ => None,
        };
        AdviceLine {
            key,
            quiet,
            text: a.words(),
        }
    }
}

/// [`Advice::for_pair`], as lines.
pub fn lines(fired: &[Condition], summary: &Summary) -> Vec<AdviceLine> {
    Advice::for_pair(fired, summary)
        .into_iter()
        .map(AdviceLine::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use Condition::*;

    fn summary(mentor: u32, mentee: u32, plan: bool) -> Summary {
        let mut s = Summary {
            total: mentor + mentee,
            mentor,
            mentee,
            ..Summary::default()
        };
        if plan {
            s.by_kind.insert("plan_shared", (1, 0));
        }
        s
    }

    #[test]
    fn the_advice_follows_the_reason() {
        assert_eq!(
            Advice::for_pair(&[NoInteraction], &summary(0, 0, false)),
            [Advice::FirstCall]
        );
        assert_eq!(
            Advice::for_pair(&[OneSided], &summary(3, 0, false)),
            [Advice::NudgeQuietSide {
                quiet: Actor::Mentee
            }]
        );
        assert_eq!(
            Advice::for_pair(&[NoPlan], &summary(2, 2, false)),
            [Advice::MapOutPlan]
        );
        assert_eq!(
            Advice::for_pair(&[LowInteraction], &summary(1, 1, true)),
            [Advice::CheckInWithBoth]
        );
        assert_eq!(
            Advice::for_pair(&[LowInteraction, NoPlan], &summary(1, 1, false)),
            [Advice::MapOutPlan]
        );
    }

    #[test]
    fn a_pair_that_talks_is_never_told_to_set_up_a_first_call() {
        // Silent when it was escalated, talking now.
        for fired in [
            vec![NoInteraction],
            vec![LowInteraction, OneSided, NoPlan],
            vec![NoTwoWay],
        ] {
            for s in [
                summary(1, 1, false),
                summary(4, 3, true),
                summary(2, 0, false),
            ] {
                let advice = Advice::for_pair(&fired, &s);
                assert!(!advice.contains(&Advice::FirstCall), "{fired:?} {s:?}");
                assert!(
                    advice.iter().all(|a| !a.words().contains("first call")),
                    "{advice:?}"
                );
            }
        }
        let quiet_mentor = Advice::for_pair(&[OneSided], &summary(0, 2, false));
        assert!(
            quiet_mentor[0]
                .words()
                .contains("only the mentee has been in touch")
        );
        assert!(quiet_mentor[0].words().contains("Write to the mentor"));
    }

    #[test]
    fn there_is_always_something_to_do() {
        assert_eq!(
            Advice::for_pair(&[NoPlan], &summary(2, 2, true)),
            [Advice::CheckInWithBoth]
        );
        assert_eq!(
            lines(&[], &summary(0, 0, false))[0].key,
            "check_in_with_both"
        );
    }
}
