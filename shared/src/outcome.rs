//! Outcomes: does the premise hold for a program's own pairs? Pairs are
//! grouped by what their first week looked like, and each group shows how
//! many pairs it holds and the share of each later outcome
//! (`mentorship.outcome`, the latest one per pair), with a 95 % interval.
//!
//! Each factor of the first week is a grouping of its own (every pair is in
//! one group of each), rather than their cross product: with a cohort of a
//! few dozen pairs, 64 cells would each hold one or two pairs and say nothing.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::Rules;
use crate::decision::{self, Pair};
use crate::escalation::Resolution;
use crate::event::Outcome;

mod chart;

pub use chart::{FEW_PAIRS, MAX_WIDTH, Title, svg};

/// The normal quantile of a two-sided 95 % interval.
const Z95: f64 = 1.959_963_984_540_054;

/// A range of first-week interaction counts: `lo` up to, not including, `hi`
/// (`None`: no upper end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Band {
    /// The smallest count in the band.
    pub lo: u32,
    /// One past the largest count; `None` for the open last band.
    pub hi: Option<u32>,
}

impl Band {
    /// Whether `n` interactions fall in this band.
    pub fn contains(self, n: u32) -> bool {
        n >= self.lo && self.hi.is_none_or(|hi| n < hi)
    }

    /// `0`, `1-2`, `3-5`, `6+`.
    pub fn label(self) -> String {
        match self.hi {
            None => format!("{}+", self.lo),
            Some(hi) if hi == self.lo + 1 => self.lo.to_string(),
            Some(hi) => format!("{}-{}", self.lo, hi - 1),
        }
    }
}

/// The interaction bands for a playbook whose low-interaction threshold is
/// `min_interactions` (default 3: `0`, `1-2`, `3-5`, `6+`). The edges follow
/// the threshold so the report answers the question a program tunes it with:
/// do pairs just under it fare worse than pairs just over it, and do pairs
/// at twice it fare better still? An empty band (threshold 1) is left out.
pub fn bands(min_interactions: u32) -> Vec<Band> {
    let m = min_interactions.max(1);
    let edges = [0, 1, m, 2 * m];
    let mut out: Vec<Band> = edges
        .windows(2)
        .filter(|w| w[1] > w[0])
        .map(|w| Band {
            lo: w[0],
            hi: Some(w[1]),
        })
        .collect();
    out.push(Band {
        lo: 2 * m,
        hi: None,
    });
    out
}

/// What became of a pair's escalation, if it had one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Escalation {
    /// No coordinator step fired for the pair.
    None,
    /// Escalated, then met the playbook's `resolve_when`.
    Recovered,
    /// Escalated and not recovered (still open, ended, or closed by hand).
    NotRecovered,
}

impl Escalation {
    /// From the pair's escalation row: `None` when it has none, else how it
    /// was resolved (`None` while unresolved).
    pub fn of(escalated: bool, resolution: Option<Resolution>) -> Escalation {
        match (escalated, resolution) {
            (false, _) => Escalation::None,
            (true, Some(Resolution::Recovered)) => Escalation::Recovered,
            (true, _) => Escalation::NotRecovered,
        }
    }
}

/// What a pair's first week looked like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FirstWeek {
    /// Interactions by either side in the first week.
    pub interactions: u32,
    /// Both sides interacted in the first week.
    pub two_way: bool,
    /// A plan or goals were shared in the first week.
    pub plan: bool,
    /// The pair's escalation, if any.
    pub escalation: Escalation,
}

/// The first week of a stored pair: interactions counted in its first week
/// only (the playbook's, in program time), as of `now`.
pub fn first_week(
    rules: &Rules,
    pair: Pair<'_>,
    escalation: Escalation,
    now: DateTime<Utc>,
) -> FirstWeek {
    let s = decision::week_summary(rules, pair, now);
    FirstWeek {
        interactions: s.total,
        two_way: s.two_way(),
        plan: s.has_plan(),
        escalation,
    }
}

/// One pair in the report: its first week and its latest outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    /// Its first week.
    pub week: FirstWeek,
    /// The latest outcome recorded for it.
    pub outcome: Outcome,
    /// The latest outcome's rating, if it had one.
    pub rating: Option<u8>,
}

/// The aspects of the first week pairs are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Factor {
    /// Interactions in the first week, in [`bands`].
    Interactions,
    /// Two-way or not.
    TwoWay,
    /// A plan by the end of the week or not.
    Plan,
    /// Escalated or not, recovered or not.
    Escalation,
}

impl Factor {
    /// Every factor, in report order.
    pub const ALL: [Factor; 4] = [
        Factor::Interactions,
        Factor::TwoWay,
        Factor::Plan,
        Factor::Escalation,
    ];

    /// The factor's heading.
    pub fn title(self) -> &'static str {
        match self {
            Factor::Interactions => "interactions in the first week",
            Factor::TwoWay => "two-way in the first week",
            Factor::Plan => "plan by the end of the first week",
            Factor::Escalation => "escalated",
        }
    }

    /// The groups of this factor: a stable key and what a pair must be.
    fn groups(self, min_interactions: u32) -> Vec<(String, Membership)> {
        let yes_no = |f: fn(&FirstWeek) -> bool| -> Vec<(String, Membership)> {
            vec![
                ("yes".into(), Box::new(f)),
                ("no".into(), Box::new(move |w| !f(w))),
            ]
        };
        match self {
            Factor::Interactions => bands(min_interactions)
                .into_iter()
                .map(|b| {
                    let test: Membership = Box::new(move |w| b.contains(w.interactions));
                    (b.label(), test)
                })
                .collect(),
            Factor::TwoWay => yes_no(|w| w.two_way),
            Factor::Plan => yes_no(|w| w.plan),
            Factor::Escalation => [
                ("no", Escalation::None),
                ("yes, recovered", Escalation::Recovered),
                ("yes, not recovered", Escalation::NotRecovered),
            ]
            .into_iter()
            .map(|(label, e)| {
                let test: Membership = Box::new(move |w| w.escalation == e);
                (label.to_string(), test)
            })
            .collect(),
        }
    }
}

/// Whether a pair's first week puts it in a group.
type Membership = Box<dyn Fn(&FirstWeek) -> bool>;

/// The pairs of a group with one outcome.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Share {
    /// The outcome.
    pub outcome: Outcome,
    /// How many pairs of the group have it.
    pub count: u32,
    /// `count` over the group's pairs; 0 for an empty group.
    pub share: f64,
    /// The 95 % Wilson score interval of the share: (low, high).
    pub ci95: (f64, f64),
}

/// One group of a factor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    /// What its pairs have in common: `3-5`, `yes`, `yes, recovered`.
    pub group: String,
    /// Pairs in it.
    pub pairs: u32,
    /// One share per outcome, in [`Outcome::ALL`] order.
    pub outcomes: Vec<Share>,
    /// Pairs whose latest outcome has a rating.
    pub rated: u32,
    /// Their mean rating; `None` when none has one.
    pub mean_rating: Option<f64>,
}

/// One factor's groups.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FactorGroups {
    /// The factor.
    pub factor: Factor,
    /// Its heading.
    pub title: &'static str,
    /// Its groups, every one listed even when empty.
    pub groups: Vec<Group>,
}

/// The outcome report of a set of pairs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Pairs with an outcome (each counted once per factor).
    pub pairs: u32,
    /// Pairs considered that have no outcome yet (not in any group).
    pub without_outcome: u32,
    /// The playbook threshold the interaction bands follow.
    pub min_interactions: u32,
    /// The groupings, in [`Factor::ALL`] order.
    pub factors: Vec<FactorGroups>,
}

/// Groups the pairs with an outcome by each factor of their first week.
pub fn report(min_interactions: u32, observed: &[Observed], without_outcome: u32) -> Report {
    let factors = Factor::ALL
        .into_iter()
        .map(|factor| FactorGroups {
            factor,
            title: factor.title(),
            groups: factor
                .groups(min_interactions)
                .into_iter()
                .map(|(label, test)| {
                    let members: Vec<&Observed> =
                        observed.iter().filter(|o| test(&o.week)).collect();
                    group(label, &members)
                })
                .collect(),
        })
        .collect();
    Report {
        pairs: count(observed.len()),
        without_outcome,
        min_interactions,
        factors,
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn group(label: String, members: &[&Observed]) -> Group {
    let n = count(members.len());
    let outcomes = Outcome::ALL
        .into_iter()
        .map(|outcome| {
            let k = count(members.iter().filter(|o| o.outcome == outcome).count());
            Share {
                outcome,
                count: k,
                share: if n == 0 {
                    0.0
                } else {
                    f64::from(k) / f64::from(n)
                },
                ci95: wilson(k, n),
            }
        })
        .collect();
    let ratings: Vec<u8> = members.iter().filter_map(|o| o.rating).collect();
    let mean_rating = (!ratings.is_empty())
        .then(|| ratings.iter().map(|&r| f64::from(r)).sum::<f64>() / ratings.len() as f64);
    Group {
        group: label,
        pairs: n,
        outcomes,
        rated: count(ratings.len()),
        mean_rating,
    }
}

/// The 95 % Wilson score interval of `k` successes in `n` trials. Unlike the
/// normal approximation it stays inside 0..1 and is honest for the small
/// groups and the 0 % or 100 % shares a cohort's report is full of. With no
/// trials, anything is possible: (0, 1).
pub fn wilson(k: u32, n: u32) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let n = f64::from(n);
    let p = f64::from(k.min(n as u32)) / n;
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    ((center - half).max(0.0), (center + half).min(1.0))
}

/// A share as a whole percentage: `60%`.
pub fn percent(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 5e-4
    }

    #[test]
    fn wilson_intervals_match_the_closed_form() {
        // Reference values computed independently from the closed form.
        let (lo, hi) = wilson(0, 10);
        assert!(close(lo, 0.0) && close(hi, 0.2775), "{lo} {hi}");
        let (lo, hi) = wilson(5, 10);
        assert!(close(lo, 0.2366) && close(hi, 0.7634), "{lo} {hi}");
        let (lo, hi) = wilson(10, 10);
        assert!(close(lo, 0.7225) && close(hi, 1.0), "{lo} {hi}");
        let (lo, hi) = wilson(81, 263);
        assert!(close(lo, 0.2553) && close(hi, 0.3662), "{lo} {hi}");
        assert_eq!(wilson(0, 0), (0.0, 1.0));
    }

    #[test]
    fn bands_follow_the_threshold() {
        let labels = |m| bands(m).iter().map(|b| b.label()).collect::<Vec<_>>();
        assert_eq!(labels(3), ["0", "1-2", "3-5", "6+"]);
        assert_eq!(labels(5), ["0", "1-4", "5-9", "10+"]);
        assert_eq!(labels(1), ["0", "1", "2+"]);
        assert_eq!(labels(2), ["0", "1", "2-3", "4+"]);
        // Every count falls in exactly one band.
        for m in 1..8 {
            for n in 0..40 {
                assert_eq!(bands(m).iter().filter(|b| b.contains(n)).count(), 1);
            }
        }
    }

    fn pair(interactions: u32, two_way: bool, plan: bool, e: Escalation, o: Outcome) -> Observed {
        Observed {
            week: FirstWeek {
                interactions,
                two_way,
                plan,
                escalation: e,
            },
            outcome: o,
            rating: None,
        }
    }

    fn find<'a>(r: &'a Report, f: Factor, g: &str) -> &'a Group {
        r.factors
            .iter()
            .find(|x| x.factor == f)
            .and_then(|x| x.groups.iter().find(|y| y.group == g))
            .unwrap_or_else(|| panic!("{f:?} {g}"))
    }

    fn counts(g: &Group) -> [u32; 4] {
        [0, 1, 2, 3].map(|i| g.outcomes[i].count)
    }

    #[test]
    fn known_cohort_gives_known_counts_shares_and_intervals() {
        use Escalation::*;
        use Outcome::*;
        let mut cohort = vec![
            pair(0, false, false, NotRecovered, Ended),
            pair(0, false, false, NotRecovered, Struggling),
            pair(2, false, false, Recovered, Continuing),
            pair(4, true, true, None, Thriving),
            pair(5, true, false, None, Continuing),
            pair(7, true, true, None, Thriving),
            pair(9, true, true, None, Thriving),
        ];
        cohort[3].rating = Some(5);
        cohort[5].rating = Some(4);
        let r = report(3, &cohort, 2);
        assert_eq!((r.pairs, r.without_outcome), (7, 2));
        assert_eq!(counts(find(&r, Factor::Interactions, "0")), [0, 0, 1, 1]);
        assert_eq!(counts(find(&r, Factor::Interactions, "1-2")), [0, 1, 0, 0]);
        assert_eq!(counts(find(&r, Factor::Interactions, "3-5")), [1, 1, 0, 0]);
        assert_eq!(counts(find(&r, Factor::Interactions, "6+")), [2, 0, 0, 0]);
        assert_eq!(counts(find(&r, Factor::TwoWay, "yes")), [3, 1, 0, 0]);
        assert_eq!(counts(find(&r, Factor::TwoWay, "no")), [0, 1, 1, 1]);
        assert_eq!(counts(find(&r, Factor::Plan, "yes")), [3, 0, 0, 0]);
        assert_eq!(counts(find(&r, Factor::Escalation, "no")), [3, 1, 0, 0]);
        assert_eq!(
            counts(find(&r, Factor::Escalation, "yes, recovered")),
            [0, 1, 0, 0]
        );
        assert_eq!(
            counts(find(&r, Factor::Escalation, "yes, not recovered")),
            [0, 0, 1, 1]
        );
        // Shares and intervals: 3 of 4 two-way pairs thriving.
        let s = find(&r, Factor::TwoWay, "yes").outcomes[0];
        assert!(close(s.share, 0.75));
        assert!(close(s.ci95.0, 0.3006) && close(s.ci95.1, 0.9544), "{s:?}");
        let g = find(&r, Factor::Plan, "yes");
        assert_eq!((g.rated, g.mean_rating), (2, Some(4.5)));
        // Every pair is in exactly one group of each factor.
        for f in &r.factors {
            assert_eq!(
                f.groups.iter().map(|g| g.pairs).sum::<u32>(),
                7,
                "{:?}",
                f.factor
            );
        }
    }

    #[test]
    fn an_empty_group_is_listed_with_nothing_known() {
        let r = report(3, &[], 0);
        let g = find(&r, Factor::Interactions, "6+");
        assert_eq!(g.pairs, 0);
        assert_eq!(g.outcomes[0].ci95, (0.0, 1.0));
        assert_eq!(g.mean_rating, None);
    }
}
