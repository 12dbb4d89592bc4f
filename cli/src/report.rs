//! `firstweek report outcomes`: does the premise hold for this program's
//! pairs? Pairs grouped by their first week, with the share of each later
//! outcome and its 95 % interval ([`firstweek::outcome`]).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDate, Utc};
use firstweek::event::Outcome;
use firstweek::outcome::{Report, Title, percent, svg};
use firstweek_store::read::{self, Program};

use crate::table::{Table, time};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Pairs grouped by their first week, with the share of each later outcome (needs DATABASE_URL)
    ///
    /// Groups: interactions in the first week (bands around the playbook's
    /// min_interactions), two-way or not, a plan by the week's end or not,
    /// escalated or not and recovered or not. Each pair counts with its
    /// latest `mentorship.outcome`; shares come with a 95 % Wilson interval.
    /// Reads FIRSTWEEK_PLAYBOOK and FIRSTWEEK_TIME_SCALE as the services do.
    /// Read-only.
    Outcomes(Args),
    /// What each nudge with a holdout causes: nudged against held-out pairs (needs DATABASE_URL)
    ///
    /// For each step with `holdout` in the playbook: the pairs that reached
    /// its moment with its condition true, split into nudged and held out;
    /// the share of each that reached the step's aim by its horizon
    /// (check-in: both sides interacted within 2 days; plan reminder: a plan
    /// by the week's end; pacing tip: no second long session in week one);
    /// the difference with a 95 % Newcombe interval, and a verdict.
    /// Read-only.
    Experiments(crate::experiments::Args),
}

#[derive(clap::Args)]
pub struct Args {
    /// Only pairs of this program_id
    #[arg(long, value_name = "P")]
    pub program: Option<String>,
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

/// Output formats.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One aligned table per grouping.
    Table,
    /// One line per group and outcome.
    Csv,
    /// The whole report as one JSON object.
    Json,
}

pub fn parse_since(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc())
            .ok_or_else(|| format!("{s:?} is not a date"));
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("{s:?} is neither YYYY-MM-DD nor an RFC 3339 time"))
}

pub async fn run(cmd: Command, out: &mut dyn Write) -> anyhow::Result<()> {
    let args = match cmd {
        Command::Outcomes(args) => args,
        Command::Experiments(args) => return crate::experiments::run(args, out).await,
    };
    let rules = crate::env::rules(None)?;
    let pool = crate::env::pool().await?;
    let now = Utc::now();
    let program = match &args.program {
        Some(p) if p.trim().is_empty() => bail!("--program must not be empty"),
        Some(p) => Program::Is(p.clone()),
        None => Program::Any,
    };
    let entries = read::outcome_pairs(&pool, &program, args.since).await?;
    let report = read::outcome_report(&rules, &entries, now);
    let scope = scope(args.program.as_deref(), args.since);
    if let Some(path) = &args.svg {
        std::fs::write(
            path,
            svg(
                &report,
                Title::Drawn(&format!("Outcomes by first week: {scope}")),
            ),
        )
        .with_context(|| format!("writing {}", path.display()))?;
    }
    match args.format {
        Format::Table => table(&report, &scope, now, out)?,
        Format::Csv => csv(&report, out)?,
        Format::Json => {
            let doc = serde_json::json!({
                "program": args.program,
                "since": args.since,
                "as_of": now,
                "playbook": rules.playbook.name,
                "report": report,
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        }
    }
    Ok(())
}

/// `program p-1, pairs started since 2026-11-01`.
pub fn scope(program: Option<&str>, since: Option<DateTime<Utc>>) -> String {
    let who = match program {
        Some(p) => format!("program {p}"),
        None => "all programs".to_string(),
    };
    match since {
        Some(t) => format!("{who}, pairs started since {}", t.format("%Y-%m-%d")),
        None => who,
    }
}

/// One table per grouping: pairs, then each outcome's count, share and interval.
pub fn table(
    report: &Report,
    scope: &str,
    now: DateTime<Utc>,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    writeln!(
        out,
        "outcomes by first week, {scope}, as of {} UTC: {} pairs with an outcome, {} without one yet",
        time(now),
        report.pairs,
        report.without_outcome
    )?;
    writeln!(
        out,
        "each cell: pairs with that outcome (share, 95% interval); interaction bands follow min_interactions = {}",
        report.min_interactions
    )?;
    for f in &report.factors {
        writeln!(out)?;
        writeln!(out, "{}", f.title)?;
        let mut header = vec!["GROUP", "PAIRS"];
        let names: Vec<String> = Outcome::ALL
            .iter()
            .map(|o| o.as_str().to_uppercase())
            .collect();
        header.extend(names.iter().map(String::as_str));
        header.push("RATING");
        let mut t = Table::new(&header);
        for g in &f.groups {
            let mut row = vec![g.group.clone(), g.pairs.to_string()];
            for s in &g.outcomes {
                row.push(if g.pairs == 0 {
                    "-".into()
                } else {
                    format!(
                        "{} ({}, {}-{})",
                        s.count,
                        percent(s.share),
                        percent(s.ci95.0),
                        percent(s.ci95.1)
                    )
                });
            }
            row.push(rating_cell(g.mean_rating, g.rated));
            t.row(row);
        }
        t.write(out, 2)?;
    }
    Ok(())
}

/// A group's rating column: the mean and how many pairs it is the mean of
/// ("mean 4.5 (2 rated)"), so a mean of one rating is not read as a trend.
fn rating_cell(mean: Option<f64>, rated: u32) -> String {
    match mean {
        Some(m) => format!("mean {m:.1} ({rated} rated)"),
        None => "none rated".into(),
    }
}

/// `factor,group,pairs,outcome,count,share,ci95_low,ci95_high`, one line per
/// group and outcome (labels hold no comma or quote: they are firstweek's own).
pub fn csv(report: &Report, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "factor,group,pairs,outcome,count,share,ci95_low,ci95_high"
    )?;
    for f in &report.factors {
        let factor = serde_json::to_value(f.factor)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        for g in &f.groups {
            for s in &g.outcomes {
                writeln!(
                    out,
                    "{factor},\"{}\",{},{},{},{:.4},{:.4},{:.4}",
                    g.group,
                    g.pairs,
                    s.outcome.as_str(),
                    s.count,
                    s.share,
                    s.ci95.0,
                    s.ci95.1
                )?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::rating_cell;

    #[test]
    fn the_rating_column_says_it_is_a_mean_and_of_how_many() {
        assert_eq!(rating_cell(Some(1.0), 2), "mean 1.0 (2 rated)");
        assert_eq!(rating_cell(Some(4.5), 1), "mean 4.5 (1 rated)");
        assert_eq!(rating_cell(None, 0), "none rated");
    }
}
