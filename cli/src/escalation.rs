//! `firstweek escalation`: the coordinators' escalations, and an operator's
//! hand on them (acknowledge, resolve) for a coordinator who cannot use
//! their links. Changes are announced (`escalation.*`) like any other.

use std::io::Write;

use anyhow::bail;
use firstweek::escalation::{AckVia, Escalation};
use firstweek_store::{self as store, Change, EscalationFilter};

use crate::table::{Table, time};

/// The subcommands.
#[derive(clap::Subcommand)]
pub enum Command {
    /// List escalations, newest first (needs DATABASE_URL)
    List {
        /// Only those not resolved yet
        #[arg(long)]
        open: bool,
        /// At most this many
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// One pair's escalation: its rules, every piece of evidence, its history (needs DATABASE_URL)
    Show {
        /// The pair's mentorship id
        mentorship_id: String,
    },
    /// Acknowledge a pair's escalation (no reminder follows) (needs DATABASE_URL)
    Ack {
        /// The pair's mentorship id
        mentorship_id: String,
    },
    /// Resolve a pair's escalation by hand (no resolution email) (needs DATABASE_URL)
    Resolve {
        /// The pair's mentorship id
        mentorship_id: String,
    },
}

/// Runs one subcommand.
pub async fn run(cmd: Command, out: &mut dyn Write) -> anyhow::Result<()> {
    let pool = crate::env::pool().await?;
    match cmd {
        Command::List { open, limit } => {
            let filter = EscalationFilter {
                unresolved_only: open,
                limit: Some(limit),
                ..Default::default()
            };
            let all = store::escalations(&pool, &filter).await?;
            if all.is_empty() {
                writeln!(out, "no escalations{}", if open { " open" } else { "" })?;
                return Ok(());
            }
            let mut table = Table::new(&[
                "mentorship",
                "state",
                "opened",
                "by step",
                "rules",
                "acknowledged",
                "resolved",
            ]);
            for e in &all {
                table.row(vec![
                    e.mentorship_id.clone(),
                    e.state.as_str().into(),
                    time(e.opened_at),
                    e.opened_by.clone(),
                    rules(e),
                    e.acknowledged
                        .map(|(at, via)| format!("{} ({})", time(at), via.as_str()))
                        .unwrap_or_else(|| "-".into()),
                    e.resolved
                        .map(|(at, how)| format!("{} ({})", time(at), how.as_str()))
                        .unwrap_or_else(|| "-".into()),
                ]);
            }
            table.write(out, 0)?;
        }
        Command::Show { mentorship_id } => {
            let Some(e) = store::escalation(&pool, &mentorship_id).await? else {
                bail!("mentorship {mentorship_id:?} has no escalation");
            };
            show(&e, out)?;
        }
        Command::Ack { mentorship_id } => {
            match store::acknowledge(&pool, &mentorship_id, AckVia::Cli, None).await? {
                Change::Done(e) => writeln!(
                    out,
                    "acknowledged: {} (no reminder will follow)",
                    e.mentorship_id
                )?,
                Change::Already(e) => writeln!(
                    out,
                    "nothing to do: {} is {}",
                    e.mentorship_id,
                    e.state.as_str()
                )?,
                Change::NotFound => bail!("mentorship {mentorship_id:?} has no escalation"),
            }
        }
        Command::Resolve { mentorship_id } => {
            let rules = crate::env::rules(None)?;
            match store::close_escalation(&pool, &rules, &mentorship_id, None).await? {
                Change::Done(e) => writeln!(out, "resolved: {}", e.mentorship_id)?,
                Change::Already(e) => writeln!(
                    out,
                    "nothing to do: {} is already resolved",
                    e.mentorship_id
                )?,
                Change::NotFound => bail!("mentorship {mentorship_id:?} has no escalation"),
            }
        }
    }
    Ok(())
}

fn rules(e: &Escalation) -> String {
    e.rules
        .iter()
        .map(|c| c.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn show(e: &Escalation, out: &mut dyn Write) -> anyhow::Result<()> {
    writeln!(out, "escalation of {}", e.mentorship_id)?;
    writeln!(out, "  state:        {}", e.state.as_str())?;
    writeln!(
        out,
        "  opened:       {} by step {}",
        time(e.opened_at),
        e.opened_by
    )?;
    writeln!(out, "  rules:        {}", rules(e))?;
    if let Some((at, via)) = e.acknowledged {
        writeln!(out, "  acknowledged: {} via {}", time(at), via.as_str())?;
    }
    if let Some(at) = e.reminded_at {
        writeln!(out, "  reminded:     {}", time(at))?;
    }
    if let Some((at, how)) = e.resolved {
        writeln!(out, "  resolved:     {} ({})", time(at), how.as_str())?;
    }
    writeln!(out, "evidence:")?;
    let mut table = Table::new(&[
        "step",
        "as of",
        "day",
        "total",
        "mentor",
        "mentee",
        "last activity",
        "why",
    ]);
    for s in &e.evidence {
        table.row(vec![
            s.step_id.clone(),
            time(s.as_of),
            s.day.number().to_string(),
            s.total.to_string(),
            s.mentor.to_string(),
            s.mentee.to_string(),
            s.last_activity.map(time).unwrap_or_else(|| "none".into()),
            s.reasons.join("; "),
        ]);
    }
    table.write(out, 2)?;
    Ok(())
}
