//! `firstweek report experiments`: does a nudge cause what it is for? For
//! each step with a holdout, the nudged and the held-out pairs, the share of
//! each that reached the step's aim, the difference with its 95 % Newcombe
//! interval and a verdict ([`firstweek::experiment`]); and, where programs
//! recorded them, each group's later outcomes (`mentorship.outcome`).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use firstweek::event::Outcome;
use firstweek::experiment::{self, Arm, OutcomeMix, StepResult};
use firstweek::outcome::percent;
use firstweek_store::experiments::{exposures, step_reach};
use firstweek_store::read::{self, Program};

use crate::report::{Format, parse_since, scope};
use crate::table::{Table, time};

#[derive(clap::Args)]
pub struct Args {
    /// Only pairs of this program_id
    #[arg(long, value_name = "P")]
    pub program: Option<String>,
    /// Only this step
    #[arg(long, value_name = "S")]
    pub step: Option<String>,
    /// Only pairs started on or after this date (YYYY-MM-DD, UTC) or instant (RFC 3339)
    #[arg(long, value_name = "DATE", value_parser = parse_since)]
    pub since: Option<DateTime<Utc>>,
    /// How to print it
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Also draw it as an SVG chart into this file
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
}

pub async fn run(args: Args, out: &mut dyn Write) -> anyhow::Result<()> {
    let rules = crate::env::rules(None)?;
    let pool = crate::env::pool().await?;
    let now = Utc::now();
    let program = match &args.program {
        Some(p) if p.trim().is_empty() => bail!("--program must not be empty"),
        Some(p) => Program::Is(p.clone()),
        None => Program::Any,
    };
    let entries = read::outcome_pairs(&pool, &program, args.since).await?;
    let ids: Vec<&str> = entries.iter().map(|e| e.pair.id()).collect();
    let reach = step_reach(&pool, &ids).await?;
    let results = experiment::report(&exposures(
        &rules,
        &entries,
        &reach,
        args.step.as_deref(),
        now,
    ));
    let scope = scope(args.program.as_deref(), args.since);
    if let Some(path) = &args.svg {
        let title = format!("What the nudges cause: {scope}");
        std::fs::write(path, experiment::svg(&results, &title))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    match args.format {
        Format::Table => table(&results, &scope, now, out)?,
        Format::Csv => csv(&results, out)?,
        Format::Json => {
            let steps: Vec<serde_json::Value> = results.iter().map(json).collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&steps)?)?;
        }
    }
    Ok(())
}

/// A group in `--format json`: `pairs`, `reached`, and `outcomes`, its
/// pairs by their latest outcome (every kind, zeros included).
fn group(arm: Arm, outcomes: OutcomeMix) -> serde_json::Value {
    serde_json::json!({
        "pairs": arm.pairs,
        "reached": arm.reached,
        "outcomes": outcomes,
    })
}

/// The object `--format json` prints for one step.
pub fn json(r: &StepResult) -> serde_json::Value {
    serde_json::json!({
        "step": r.step,
        "aim": r.aim,
        "nudged": group(r.nudged, r.nudged_outcomes),
        "held_out": group(r.held_out, r.held_out_outcomes),
        "difference": r.difference,
        "interval": r.interval,
        "more_needed_per_group": r.more_needed,
        "finding": r.finding,
        "verdict": r.verdict,
    })
}

fn share(reached: u32, pairs: u32) -> String {
    match pairs {
        0 => "-".into(),
        n => format!(
            "{reached}/{n} ({})",
            percent(f64::from(reached) / f64::from(n))
        ),
    }
}

fn points(d: f64) -> String {
    format!("{:+.1}", d * 100.0)
}

/// One line per step, then each step's verdict.
pub fn table(
    results: &[StepResult],
    scope: &str,
    now: DateTime<Utc>,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    writeln!(
        out,
        "experiments, {scope}, as of {} UTC: pairs that reached each held-out step's moment with its condition true",
        time(now)
    )?;
    if results.is_empty() {
        writeln!(
            out,
            "no step with a holdout has reached any pair yet (a step takes `holdout = 0.1` in the playbook)"
        )?;
        return Ok(());
    }
    let mut t = Table::new(&[
        "STEP",
        "AIM",
        "NUDGED",
        "HELD OUT",
        "DIFFERENCE",
        "95% INTERVAL",
    ]);
    for r in results {
        t.row(vec![
            r.step.clone(),
            r.aim.to_string(),
            share(r.nudged.reached, r.nudged.pairs),
            share(r.held_out.reached, r.held_out.pairs),
            r.difference.map(points).unwrap_or_else(|| "-".into()),
            r.interval
                .map(|[lo, hi]| format!("{} to {} points", points(lo), points(hi)))
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    t.write(out, 0)?;
    writeln!(out)?;
    for r in results {
        writeln!(out, "{}: {}", r.step, r.verdict)?;
    }
    outcomes_table(results, out)
}

/// Each group's later outcomes, where any pair of a step has one: pairs
/// with an outcome, then each kind's count and share of them.
fn outcomes_table(results: &[StepResult], out: &mut dyn Write) -> std::io::Result<()> {
    let with: Vec<&StepResult> = results
        .iter()
        .filter(|r| r.nudged_outcomes.recorded() + r.held_out_outcomes.recorded() > 0)
        .collect();
    if with.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(
        out,
        "later outcomes (each pair's latest mentorship.outcome), of the pairs with one:"
    )?;
    let names: Vec<String> = Outcome::ALL
        .iter()
        .map(|o| o.as_str().to_uppercase())
        .collect();
    let mut header = vec!["STEP", "GROUP", "WITH OUTCOME"];
    header.extend(names.iter().map(String::as_str));
    let mut t = Table::new(&header);
    for r in with {
        for (name, arm, mix) in [
            ("nudged", r.nudged, r.nudged_outcomes),
            ("held out", r.held_out, r.held_out_outcomes),
        ] {
            let mut row = vec![
                r.step.clone(),
                name.to_string(),
                format!("{} of {}", mix.recorded(), arm.pairs),
            ];
            row.extend(mix.iter().map(|(_, n)| share(n, mix.recorded())));
            t.row(row);
        }
    }
    t.write(out, 0)
}

/// `step,aim,nudged_pairs,nudged_reached,held_out_pairs,held_out_reached,difference,low,high,verdict`,
/// then each group's later outcomes (`nudged_thriving`, ..., `held_out_ended`).
pub fn csv(results: &[StepResult], out: &mut dyn Write) -> std::io::Result<()> {
    let mut header = String::from(
        "step,aim,nudged_pairs,nudged_reached,held_out_pairs,held_out_reached,difference,ci95_low,ci95_high,verdict",
    );
    for group in ["nudged", "held_out"] {
        for o in Outcome::ALL {
            header.push_str(&format!(",{group}_{}", o.as_str()));
        }
    }
    writeln!(out, "{header}")?;
    let num = |x: Option<f64>| x.map(|v| format!("{v:.4}")).unwrap_or_default();
    for r in results {
        let counts: String = r
            .nudged_outcomes
            .iter()
            .chain(r.held_out_outcomes.iter())
            .map(|(_, n)| format!(",{n}"))
            .collect();
        writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},\"{}\"{counts}",
            r.step,
            r.aim,
            r.nudged.pairs,
            r.nudged.reached,
            r.held_out.pairs,
            r.held_out.reached,
            num(r.difference),
            num(r.interval.map(|i| i[0])),
            num(r.interval.map(|i| i[1])),
            r.verdict.replace('"', "\"\"")
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use firstweek::experiment::{Arm, result};
    use firstweek::playbook::Aim;

    #[test]
    fn json_has_the_fields_other_tools_read() {
        let r = result(
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
        );
        let v = json(&r);
        assert_eq!(v["step"], "check_in");
        assert_eq!(v["nudged"]["pairs"], 70);
        assert_eq!(v["held_out"]["reached"], 48);
        assert!((v["difference"].as_f64().unwrap() - 0.2).abs() < 1e-9);
        let lo = v["interval"][0].as_f64().unwrap();
        assert!((lo - 0.0524).abs() < 5e-5, "{lo}");
        assert!(
            v["verdict"]
                .as_str()
                .unwrap()
                .starts_with("The check_in helps")
        );
        let mut out = Vec::new();
        table(&[r], "all programs", Utc::now(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("56/70 (80%)") && text.contains("+5.2 to +33.4 points"),
            "{text}"
        );
        assert!(
            !text.contains("later outcomes"),
            "no outcome table without outcomes: {text}"
        );
    }

    #[test]
    fn each_groups_later_outcomes_are_in_every_format() {
        let mut r = result(
            "check_in",
            Aim::TwoWay,
            Arm {
                pairs: 4,
                reached: 3,
            },
            Arm {
                pairs: 2,
                reached: 0,
            },
        );
        for o in [Outcome::Thriving, Outcome::Thriving, Outcome::Struggling] {
            r.nudged_outcomes.add(o);
        }
        r.held_out_outcomes.add(Outcome::Ended);

        let v = json(&r);
        assert_eq!(v["nudged"]["outcomes"]["thriving"], 2, "{v}");
        assert_eq!(v["nudged"]["outcomes"]["ended"], 0, "{v}");
        assert_eq!(v["held_out"]["outcomes"]["ended"], 1, "{v}");
        assert_eq!(v["held_out"]["pairs"], 2, "{v}");

        let mut out = Vec::new();
        table(
            std::slice::from_ref(&r),
            "all programs",
            Utc::now(),
            &mut out,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        let line = |group: &str| {
            text.lines()
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                .find(|l| l.starts_with("check_in") && l.contains(group))
                .unwrap_or_else(|| panic!("no {group} line: {text}"))
        };
        assert!(text.contains("later outcomes"), "{text}");
        assert_eq!(
            line("nudged 3 of 4"),
            "check_in nudged 3 of 4 2/3 (67%) 0/3 (0%) 1/3 (33%) 0/3 (0%)"
        );
        assert_eq!(
            line("held out 1 of 2"),
            "check_in held out 1 of 2 0/1 (0%) 0/1 (0%) 0/1 (0%) 1/1 (100%)"
        );

        let mut out = Vec::new();
        csv(&[r], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let mut lines = text.lines();
        let header = lines.next().unwrap_or_default();
        assert!(
            header.ends_with(",verdict,nudged_thriving,nudged_continuing,nudged_struggling,nudged_ended,held_out_thriving,held_out_continuing,held_out_struggling,held_out_ended"),
            "{header}"
        );
        assert!(
            lines
                .next()
                .unwrap_or_default()
                .ends_with("\",2,0,1,0,0,0,0,1"),
            "{text}"
        );
    }
}
