//! What a program's nudges cause, on the coordinator page beside its
//! outcome chart: the result `firstweek report experiments` prints for the
//! program ([`firstweek::experiment`]), per step with a holdout. Numbers are
//! worded here, once; the sentences around them are each locale's template's
//! (the English one also shows the report's own verdict sentence).

use chrono::{DateTime, Utc};
use firstweek::experiment::{self, Arm, Finding, StepResult};
use firstweek_store::experiments::{exposures, step_reach};
use firstweek_store::read::OutcomeEntry;
use serde::Serialize;

use super::Failure;
use crate::Shared;

/// One group of a step's experiment.
#[derive(Debug, Serialize)]
pub(super) struct Group {
    /// Pairs that reached the step's moment with its condition true.
    pairs: u32,
    /// Of those, the pairs that reached the step's aim.
    reached: u32,
    /// Their share, in whole percent; `None` without pairs.
    percent: Option<i64>,
}

impl From<Arm> for Group {
    fn from(arm: Arm) -> Group {
        Group {
            pairs: arm.pairs,
            reached: arm.reached,
            percent: arm.share().map(whole),
        }
    }
}

/// One step's experiment, as the page shows it.
#[derive(Debug, Serialize)]
pub(super) struct StepView {
    /// The step's id.
    step: String,
    /// Its aim (`two_way`, `plan`, `calm_pacing`), worded by the template.
    aim: &'static str,
    nudged: Group,
    held_out: Group,
    /// Nudged minus held out, in signed whole points (`+20`); `None` while
    /// a group is empty.
    difference: Option<String>,
    /// The 95 % interval's ends, in signed whole points.
    low: Option<String>,
    high: Option<String>,
    /// What it found (`helps`, `hurts`, `no_difference`, `not_enough`).
    finding: Finding,
    /// Pairs in the smaller group.
    have: u32,
    /// About this many more pairs per group would show 10 points.
    more_needed: Option<u32>,
    /// The report's sentence (English).
    verdict: String,
    /// The difference and its interval on a scale from -100 to +100
    /// points: inline SVG made by [`experiment::scale`] (numbers only).
    scale: String,
}

/// A share as whole percent.
fn whole(share: f64) -> i64 {
    (share * 100.0).round() as i64
}

/// A difference as signed whole points (`+20`, `-5`, `+0`).
fn points(d: f64) -> String {
    format!("{:+}", (d * 100.0).round() as i64)
}

/// The page's view of `results`.
pub(super) fn view(results: &[StepResult]) -> Vec<StepView> {
    results
        .iter()
        .map(|r| StepView {
            step: r.step.clone(),
            aim: r.aim,
            nudged: r.nudged.into(),
            held_out: r.held_out.into(),
            difference: r.difference.map(points),
            low: r.interval.map(|[lo, _]| points(lo)),
            high: r.interval.map(|[_, hi]| points(hi)),
            finding: r.finding,
            have: r.nudged.pairs.min(r.held_out.pairs),
            more_needed: r.more_needed,
            verdict: r.verdict.clone(),
            scale: experiment::scale(r),
        })
        .collect()
}

/// The experiments of the program whose pairs are `entries` (as the
/// outcome chart reads them), judged as of `now`: empty when none of its
/// steps has a holdout, or no pair has reached one's horizon yet.
pub(super) async fn of_program(
    s: &Shared,
    entries: &[OutcomeEntry],
    now: DateTime<Utc>,
) -> Result<Vec<StepView>, Failure> {
    let ids: Vec<&str> = entries.iter().map(|e| e.pair.id()).collect();
    let reach = step_reach(&s.pool, &ids).await?;
    let results = experiment::report(&exposures(&s.rules, entries, &reach, None, now));
    Ok(view(&results))
}

#[cfg(test)]
mod tests {
    use super::*;
    use firstweek::experiment::result;
    use firstweek::playbook::Aim;

    fn rendered(locale: &str, results: &[StepResult]) -> String {
        let env = crate::templates::load(None).expect("the built-in pages parse");
        let name = match locale {
            "en" => "coordinator.html".to_string(),
            tag => format!("{tag}/coordinator.html"),
        };
        let none: Vec<String> = Vec::new();
        let charts = vec![minijinja::context! {
            program => "program p-1", pairs => 0, svg => "",
            experiments => view(results),
        }];
        env.get_template(&name)
            .and_then(|t| t.render(minijinja::context! { pairs => none, charts }))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn helps() -> StepResult {
        result(
            "check_in",
            Aim::TwoWay,
            Arm {
                pairs: 70,
                reached: 56,
            },
            Arm {
                pairs: 80,
                reached: 48,
            },
        )
    }

    #[test]
    fn the_numbers_are_worded_once_in_whole_percent_and_signed_points() {
        let [v] = view(&[helps()]).try_into().expect("one step");
        assert_eq!(v.nudged.percent, Some(80));
        assert_eq!(v.held_out.percent, Some(60));
        assert_eq!(v.difference.as_deref(), Some("+20"));
        assert_eq!(
            (v.low.as_deref(), v.high.as_deref()),
            (Some("+5"), Some("+33"))
        );
        assert_eq!(v.have, 70);
        assert_eq!(points(-0.003), "+0");
        assert_eq!(points(-0.25), "-25");
    }

    #[test]
    fn every_locale_writes_the_groups_the_interval_and_the_verdict_out() {
        let few = result(
            "check_in",
            Aim::TwoWay,
            Arm {
                pairs: 3,
                reached: 2,
            },
            Arm {
                pairs: 1,
                reached: 0,
            },
        );
        let more = few.more_needed.expect("too few pairs");
        for (locale, helps_words, few_words) in [
            (
                "en",
                vec![
                    "Nudged: 56 of 70 pairs (80%)",
                    "Held out: 48 of 80 pairs (60%)",
                    "+20 points (95% interval +5 to +33)",
                    "The check_in helps: 80% of nudged pairs",
                ],
                format!("about {more} more per group"),
            ),
            (
                "de",
                vec![
                    "Angestoßen: 56 von 70 Paaren (80 %)",
                    "Zurückgehalten: 48 von 80 Paaren (60 %)",
                    "+20 Punkte (95-%-Intervall +5 bis +33)",
                    "Der Schritt „Nachfrage“ hilft: 80 % der angestoßenen Paare",
                ],
                format!("etwa {more} weitere Paare je Gruppe"),
            ),
            (
                "es",
                vec![
                    "Recibieron el paso: 56 de 70 parejas (80 %)",
                    "Apartadas del paso: 48 de 80 parejas (60 %)",
                    "+20 puntos (intervalo del 95 %: +5 a +33)",
                    "El paso «Seguimiento» ayuda: el 80 % de las parejas",
                ],
                format!("unas {more} parejas más por grupo"),
            ),
        ] {
            let page = rendered(locale, &[helps()]);
            for words in helps_words {
                assert!(page.contains(words), "{locale}: {words:?} in {page}");
            }
            assert!(page.contains("<svg"), "{locale}: the scale");
            let page = rendered(locale, std::slice::from_ref(&few));
            assert!(
                page.contains(&few_words),
                "{locale}: {few_words:?} in {page}"
            );
            let page = rendered(locale, &[]);
            assert!(
                !page.contains("experiments-1"),
                "{locale}: no section without a holdout"
            );
        }
    }
}
