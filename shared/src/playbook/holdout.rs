//! A step's holdout (`holdout = 0.1`) and its aim (`aim = "two_way"`):
//! parsed and checked here, with the line that is wrong.
//!
//! Only a nudge can be held out: the welcome introduces the pair, the
//! wrap-up closes the week, and a coordinator's step protects the pair, so
//! withholding any of them would cost the pair more than it teaches
//! (see [`crate::playbook::role`]).

use std::ops::Range;

use toml::Spanned;

use crate::playbook::{Playbook, PlaybookError, Role, Step, Trigger, role};
use crate::rule::{Condition, Recipient};

/// What a step is for: what the experiment report counts as reached, by its horizon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aim {
    /// Both sides interacted within 2 days of the step (a check-in's aim).
    TwoWay,
    /// A plan or a goal shared by the week's end (a plan reminder's).
    Plan,
    /// No second long session (or deliverable asked) in week one (a pacing tip's).
    CalmPacing,
}

impl Aim {
    /// Names accepted in playbooks.
    pub const NAMES: [&'static str; 3] = ["two_way", "plan", "calm_pacing"];

    /// Parses a playbook aim name.
    pub fn parse(s: &str) -> Option<Aim> {
        Some(match s {
            "two_way" => Aim::TwoWay,
            "plan" => Aim::Plan,
            "calm_pacing" => Aim::CalmPacing,
            _ => return None,
        })
    }

    /// The aim's name, as in playbooks.
    pub fn as_str(self) -> &'static str {
        match self {
            Aim::TwoWay => "two_way",
            Aim::Plan => "plan",
            Aim::CalmPacing => "calm_pacing",
        }
    }

    /// The horizon in words, for the report.
    pub fn wording(self) -> &'static str {
        match self {
            Aim::TwoWay => "both sides interacted within 2 days",
            Aim::Plan => "a plan or goal shared by the week's end",
            Aim::CalmPacing => "no second long session in week one",
        }
    }

    /// The aim a step has when it names none: what its condition or its
    /// trigger is about (a check-in on `no_two_way`, a plan reminder on
    /// `no_plan`, the pacing tip on an intense interaction).
    pub fn implied(step: &Step) -> Option<Aim> {
        if step.trigger == Trigger::IntenseInteraction {
            return Some(Aim::CalmPacing);
        }
        step.when.iter().find_map(|c| match c {
            Condition::NoTwoWay | Condition::OneSided | Condition::NoInteraction => {
                Some(Aim::TwoWay)
            }
            Condition::NoPlan => Some(Aim::Plan),
            _ => None,
        })
    }
}

/// A step's raw `holdout` and `aim`, with where they were written.
#[derive(Debug, Default)]
pub(super) struct RawExperiment {
    pub holdout: Option<Spanned<f64>>,
    pub aim: Option<Spanned<String>>,
}

/// The checked `holdout` and `aim` of one step (the aim before defaulting).
pub(super) fn parse_step(
    id: &str,
    raw: &RawExperiment,
    err: &dyn Fn(Range<usize>, String) -> PlaybookError,
) -> Result<(Option<f64>, Option<Aim>), PlaybookError> {
    let holdout = match &raw.holdout {
        None => None,
        Some(h) => {
            let v = *h.get_ref();
            if !(v > 0.0 && v < 1.0) {
                return Err(err(
                    h.span(),
                    format!("step {id:?}: `holdout` must be more than 0 and less than 1, got {v}"),
                ));
            }
            Some(v)
        }
    };
    let aim = match &raw.aim {
        None => None,
        Some(a) => Some(Aim::parse(a.get_ref()).ok_or_else(|| {
            err(
                a.span(),
                format!(
                    "step {id:?}: unknown `aim` {:?} (known: {})",
                    a.get_ref(),
                    Aim::NAMES.join(", ")
                ),
            )
        })?),
    };
    Ok((holdout, aim))
}

/// Refuses a holdout on a step that is not a nudge to every recipient, and
/// one whose aim is neither written nor implied. `spans`: each step's
/// `holdout` span, in step order.
pub(super) fn check(
    playbook: &mut Playbook,
    spans: &[Option<Range<usize>>],
    err: &dyn Fn(Range<usize>, String) -> PlaybookError,
) -> Result<(), PlaybookError> {
    for (i, span) in spans.iter().enumerate() {
        let Some(span) = span else { continue };
        let step = &playbook.steps[i];
        for &r in &step.recipients {
            let why = match role(playbook, step, r) {
                Role::Nudge => continue,
                Role::Coordinator => "a coordinator's step protects the pair",
                Role::Welcome => "the welcome introduces the pair",
                Role::WrapUp => "the wrap-up closes the week",
            };
            return Err(err(
                span.clone(),
                format!(
                    "step {:?}: `holdout` is only for nudges ({why}, {} cannot be held out)",
                    step.id,
                    Recipient::as_str(r)
                ),
            ));
        }
        let aim = step.aim.or_else(|| Aim::implied(step));
        let Some(aim) = aim else {
            return Err(err(
                span.clone(),
                format!(
                    "step {:?}: a step with a `holdout` needs an `aim` (known: {})",
                    step.id,
                    Aim::NAMES.join(", ")
                ),
            ));
        };
        playbook.steps[i].aim = Some(aim);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::playbook::{BUILT_IN, Playbook};

    use super::Aim;

    fn with(step_id: &str, extra: &str) -> Result<Playbook, String> {
        let marker = format!("id = \"{step_id}\"\n");
        let text = BUILT_IN.replacen(&marker, &format!("{marker}{extra}\n"), 1);
        assert_ne!(text, BUILT_IN, "no step {step_id}");
        Playbook::parse("p.toml", &text).map_err(|e| e.to_string())
    }

    #[test]
    fn a_nudge_may_be_held_out_with_its_aim_implied_or_named() {
        let p = with("check_in", "holdout = 0.1").unwrap();
        let step = p.step("check_in").unwrap();
        assert_eq!((step.holdout, step.aim), (Some(0.1), Some(Aim::TwoWay)));
        let p = with("pacing_tip", "holdout = 0.25").unwrap();
        assert_eq!(p.step("pacing_tip").unwrap().aim, Some(Aim::CalmPacing));
        let p = with("plan_reminder", "holdout = 0.5\naim = \"two_way\"").unwrap();
        assert_eq!(p.step("plan_reminder").unwrap().aim, Some(Aim::TwoWay));
        assert_eq!(Playbook::built_in().step("check_in").unwrap().holdout, None);
    }

    #[test]
    fn a_bad_or_forbidden_holdout_is_refused_with_its_line() {
        let line = |id: &str| {
            let marker = format!("id = \"{id}\"");
            BUILT_IN.lines().position(|l| l == marker).unwrap() + 2
        };
        for (step, extra, says) in [
            (
                "check_in",
                "holdout = 0.0",
                "more than 0 and less than 1, got 0",
            ),
            ("check_in", "holdout = 1.0", "less than 1, got 1"),
            ("check_in", "holdout = 1.5", "got 1.5"),
            (
                "welcome",
                "holdout = 0.1",
                "the welcome introduces the pair",
            ),
            ("wrap_up", "holdout = 0.1", "the wrap-up closes the week"),
            (
                "escalation",
                "holdout = 0.1",
                "a coordinator's step protects",
            ),
            (
                "check_in",
                "holdout = 0.1\naim = \"fame\"",
                "unknown `aim` \"fame\"",
            ),
        ] {
            let e = with(step, extra).unwrap_err();
            let at = if extra.contains("aim") {
                line(step) + 1
            } else {
                line(step)
            };
            assert!(
                e.starts_with(&format!("p.toml:{at}: ")),
                "{step} {extra}: {e}"
            );
            assert!(e.contains(says), "{step} {extra}: {e}");
        }
    }
}
