//! Experiments: does a nudge cause what it is for? A step with a `holdout`
//! withholds itself from a drawn share of the pairs it would reach; this
//! module draws them ([`draw`]), judges whether a pair reached the step's
//! aim ([`reached`]) and compares the nudged with the held out: the
//! difference of the shares with a 95 % Newcombe interval (hybrid score,
//! Newcombe 1998 method 10), the pairs each group would need to show a
//! 10-point difference, and a verdict a program manager can act on.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::Rules;
use crate::decision::{self, Pair};
use crate::event::Outcome;
use crate::interaction::Summary;
use crate::outcome::{percent, wilson};
use crate::playbook::{Aim, Playbook};
use crate::pseudonym::PseudonymKey;
use crate::timeline;

mod chart;
mod mix;
#[cfg(test)]
mod simulation;
#[cfg(test)]
mod tests;

pub use chart::{scale, svg};
pub use mix::OutcomeMix;

/// The normal quantile of a two-sided 95 % interval.
const Z95: f64 = 1.959_963_984_540_054;
/// The normal quantile of 80 % power.
const Z80: f64 = 0.841_621_233_572_914;
/// The difference the sample-size advice is for: 10 percentage points.
pub const DETECTABLE: f64 = 0.10;

/// Where pair `mentorship_id` falls, in [0, 1), for `step_id` of
/// `program` (`None`: the default playbook's pairs): an HMAC-SHA256 under
/// a key derived from the operator's secret for that program alone, so
/// the draw can be neither predicted nor steered by whoever names pairs,
/// and is the same on every replica, restart and preview.
pub fn draw(key: &PseudonymKey, program: Option<&str>, mentorship_id: &str, step_id: &str) -> f64 {
    Draw::new(key, program).at(mentorship_id, step_id)
}

/// One program's draw: its key derived once, for drawing many pairs.
#[derive(Debug, Clone)]
pub struct Draw(PseudonymKey);

impl Draw {
    /// The draw of `program`'s pairs (`None`: the default playbook's).
    pub fn new(key: &PseudonymKey, program: Option<&str>) -> Draw {
        Draw(key.derived(&format!("holdout\u{0}{}", program.unwrap_or(""))))
    }

    /// Where `mentorship_id` falls for `step_id`, in [0, 1).
    pub fn at(&self, mentorship_id: &str, step_id: &str) -> f64 {
        let mac = self
            .0
            .hmac(format!("{mentorship_id}\u{0}{step_id}").as_bytes());
        let mut top = [0u8; 8];
        top.copy_from_slice(&mac[..8]);
        // 53 bits: every value exactly representable, uniform on [0, 1).
        (u64::from_be_bytes(top) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A pair's holdout assignments under `playbook`: each step with a
/// holdout, and whether the pair is held out of it. Decided once, when the
/// pair starts, and stored.
pub fn assign(
    key: &PseudonymKey,
    program: Option<&str>,
    mentorship_id: &str,
    playbook: &Playbook,
) -> Vec<(String, bool)> {
    let draw = Draw::new(key, program);
    playbook
        .held_out_steps()
        .map(|s| {
            let h = s.holdout.unwrap_or(0.0);
            let out = draw.at(mentorship_id, &s.id) < h;
            (s.id.clone(), out)
        })
        .collect()
}

/// Whether `pair` reached `aim` for a step due at `due_at` (wall clock):
/// two-way interaction within 2 program days of the step; a plan by the
/// week's end; no second long session (or deliverable asked) in week one.
/// `None` while the aim's horizon is still ahead of `now`: too early to say.
pub fn reached(
    rules: &Rules,
    aim: Aim,
    pair: Pair<'_>,
    due_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<bool> {
    let rules = &*rules.pinned(pair.playbook);
    let started_at = pair.started.started_at;
    let week_end = started_at + rules.scale.wall(rules.playbook.week());
    let horizon = match aim {
        Aim::TwoWay => due_at + rules.scale.wall(Duration::days(2)),
        Aim::Plan | Aim::CalmPacing => week_end,
    };
    if horizon > now {
        return None;
    }
    Some(match aim {
        Aim::TwoWay => Summary::as_of(pair.ledger, horizon).two_way(),
        Aim::Plan => decision::week_summary(rules, pair, week_end).has_plan(),
        Aim::CalmPacing => {
            let intense = pair
                .ledger
                .iter()
                .filter(|i| i.is_intense(&rules.playbook.thresholds))
                .filter(|i| {
                    timeline::in_first_week(started_at, i.occurred_at, &rules.playbook, rules.scale)
                })
                .count();
            intense <= 1
        }
    })
}

/// One pair at one held-out step's moment, with its condition true.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposure {
    /// The step.
    pub step: String,
    /// Its aim.
    pub aim: Aim,
    /// The pair was held out of it (else: it was nudged).
    pub held_out: bool,
    /// The pair reached the aim by its horizon.
    pub reached: bool,
    /// The pair's latest outcome, if its program recorded one.
    pub outcome: Option<Outcome>,
}

/// One step's tally while the report is made.
struct Tally<'a> {
    step: &'a str,
    aim: Aim,
    nudged: Arm,
    held_out: Arm,
    nudged_outcomes: OutcomeMix,
    held_out_outcomes: OutcomeMix,
}

/// Every step's result, in the order the steps first appear.
pub fn report(exposures: &[Exposure]) -> Vec<StepResult> {
    let mut steps: Vec<Tally<'_>> = Vec::new();
    for e in exposures {
        let i = match steps.iter().position(|s| s.step == e.step) {
            Some(i) => i,
            None => {
                steps.push(Tally {
                    step: &e.step,
                    aim: e.aim,
                    nudged: Arm::default(),
                    held_out: Arm::default(),
                    nudged_outcomes: OutcomeMix::default(),
                    held_out_outcomes: OutcomeMix::default(),
                });
                steps.len() - 1
            }
        };
        let t = &mut steps[i];
        let (arm, mix) = if e.held_out {
            (&mut t.held_out, &mut t.held_out_outcomes)
        } else {
            (&mut t.nudged, &mut t.nudged_outcomes)
        };
        arm.pairs += 1;
        arm.reached += u32::from(e.reached);
        if let Some(o) = e.outcome {
            mix.add(o);
        }
    }
    steps
        .into_iter()
        .map(|t| StepResult {
            nudged_outcomes: t.nudged_outcomes,
            held_out_outcomes: t.held_out_outcomes,
            ..result(t.step, t.aim, t.nudged, t.held_out)
        })
        .collect()
}

/// One group of an experiment: its pairs and how many reached the aim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Arm {
    /// Pairs that reached the step's moment with its condition true.
    pub pairs: u32,
    /// Of those, the pairs that reached the step's aim by its horizon.
    pub reached: u32,
}

impl Arm {
    /// The share that reached the aim; `None` without pairs.
    pub fn share(self) -> Option<f64> {
        (self.pairs > 0).then(|| f64::from(self.reached) / f64::from(self.pairs))
    }
}

/// The 95 % Newcombe hybrid-score interval (method 10) for the difference
/// `k1/n1 - k2/n2`, from the two Wilson score intervals; `None` when a
/// group is empty.
pub fn newcombe(k1: u32, n1: u32, k2: u32, n2: u32) -> Option<(f64, f64, f64)> {
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let p1 = f64::from(k1) / f64::from(n1);
    let p2 = f64::from(k2) / f64::from(n2);
    let (l1, u1) = wilson(k1, n1);
    let (l2, u2) = wilson(k2, n2);
    let d = p1 - p2;
    let low = d - ((p1 - l1).powi(2) + (u2 - p2).powi(2)).sqrt();
    let high = d + ((u1 - p1).powi(2) + (p2 - l2).powi(2)).sqrt();
    Some((d, low, high))
}

/// Pairs per group needed to show `p1` against `p2` with 80 % power at a
/// two-sided 5 % level (the normal approximation without continuity
/// correction; Fleiss, Levin & Paik 2003, eq. 4.14).
pub fn pairs_needed(p1: f64, p2: f64) -> u32 {
    let delta = (p1 - p2).abs();
    if delta <= 0.0 {
        return u32::MAX;
    }
    let mean = (p1 + p2) / 2.0;
    let a = Z95 * (2.0 * mean * (1.0 - mean)).sqrt();
    let b = Z80 * (p1 * (1.0 - p1) + p2 * (1.0 - p2)).sqrt();
    ((a + b).powi(2) / delta.powi(2)).ceil() as u32
}

/// One step's experiment, as the report shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepResult {
    /// The step's id.
    pub step: String,
    /// Its aim.
    pub aim: &'static str,
    /// The pairs it went to.
    pub nudged: Arm,
    /// The pairs held out of it.
    pub held_out: Arm,
    /// Nudged share minus held-out share; `None` while a group is empty.
    pub difference: Option<f64>,
    /// Its 95 % interval, `[low, high]`, as fractions.
    pub interval: Option<[f64; 2]>,
    /// About this many more pairs per group would show a 10-point difference
    /// (`None`: enough pairs already, or the interval already excludes 0).
    pub more_needed: Option<u32>,
    /// What it found, as a key (the sentence is [`StepResult::verdict`]).
    pub finding: Finding,
    /// What it means, in a sentence.
    pub verdict: String,
    /// The nudged pairs' later outcomes, where recorded.
    pub nudged_outcomes: OutcomeMix,
    /// The held-out pairs' later outcomes, where recorded.
    pub held_out_outcomes: OutcomeMix,
}

/// What an experiment found, so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Finding {
    /// The interval lies above 0: nudged pairs reach the aim more often.
    Helps,
    /// The interval lies below 0: nudged pairs reach it less often.
    Hurts,
    /// The interval holds 0 though each group has the pairs needed to see
    /// a 10-point difference.
    NoDifference,
    /// Too few pairs yet to see a 10-point difference.
    NotEnough,
}

/// The result of one step's experiment.
pub fn result(step: &str, aim: Aim, nudged: Arm, held_out: Arm) -> StepResult {
    let computed = newcombe(
        nudged.reached,
        nudged.pairs,
        held_out.reached,
        held_out.pairs,
    );
    // The baseline is what held-out pairs do; before any, a coin toss (the
    // largest sample a proportion can need).
    let base = held_out.share().unwrap_or(0.5).clamp(0.0, 1.0);
    let target = if base + DETECTABLE <= 1.0 {
        base + DETECTABLE
    } else {
        base - DETECTABLE
    };
    let needed = pairs_needed(target, base);
    let have = nudged.pairs.min(held_out.pairs);
    let points = |x: f64| format!("{:+.0}", x * 100.0);
    let (difference, interval, more_needed, finding, verdict) = match computed {
        Some((d, low, high)) if low > 0.0 || high < 0.0 => {
            let (finding, direction) = if low > 0.0 {
                (Finding::Helps, "helps")
            } else {
                (Finding::Hurts, "hurts")
            };
            let verdict = format!(
                "The {step} {direction}: {} of nudged pairs reached its aim against {} of held-out pairs ({} points, 95 % interval {} to {}).",
                percent(nudged.share().unwrap_or(0.0)),
                percent(held_out.share().unwrap_or(0.0)),
                points(d),
                points(low),
                points(high),
            );
            (Some(d), Some([low, high]), None, finding, verdict)
        }
        Some((d, low, high)) if have >= needed => {
            let verdict = format!(
                "No difference shown with {have} or more pairs per group: the {step}'s effect is between {} and {} points.",
                points(low),
                points(high),
            );
            (
                Some(d),
                Some([low, high]),
                None,
                Finding::NoDifference,
                verdict,
            )
        }
        found => {
            let more = needed.saturating_sub(have);
            let verdict = format!(
                "Not enough pairs yet: about {more} more per group would show a difference of 10 points."
            );
            (
                found.map(|f| f.0),
                found.map(|f| [f.1, f.2]),
                Some(more),
                Finding::NotEnough,
                verdict,
            )
        }
    };
    StepResult {
        step: step.to_string(),
        aim: aim.as_str(),
        nudged,
        held_out,
        difference,
        interval,
        more_needed,
        finding,
        verdict,
        nudged_outcomes: OutcomeMix::default(),
        held_out_outcomes: OutcomeMix::default(),
    }
}
