//! `firstweek escalation`: the coordinators' escalations, and an operator's
//! hand on them (acknowledge, resolve) for a coordinator who cannot use
//! their links. Changes are announced (`escalation.*`) like any other.

use std::io::Write;

use anyhow::bail;
use firstweek::escalation::{AckVia, Escalation};
use firstweek_store::{self as store, Change, EscalationFilter, Reminder};

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
                "reminder",
                "resolved",
            ]);
            let ids: Vec<String> = all.iter().map(|e| e.mentorship_id.clone()).collect();
            let reminders = store::reminders(&pool, &ids).await?;
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
                    reminder(e, reminders.get(&e.mentorship_id)),
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
            let reminders = store::reminders(&pool, std::slice::from_ref(&e.mentorship_id)).await?;
            show(&e, reminders.get(&e.mentorship_id), out)?;
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

/// When the reminder went out, or will, or why it will not: the one an
/// operator asks about ("was the coordinator told again?").
fn reminder(e: &Escalation, row: Option<&Reminder>) -> String {
    match (e.reminded_at, row) {
        (Some(at), _) => format!("sent {}", time(at)),
        (None, Some(Reminder::Pending { at })) => format!("due {}", time(*at)),
        (None, Some(Reminder::Closed { outcome, .. })) if !outcome.is_empty() => {
            format!("none: {outcome}")
        }
        (None, Some(Reminder::Closed { status, .. })) => format!("none: {status}"),
        (None, None) => "none planned".into(),
    }
}

fn show(
    e: &Escalation,
    reminder_row: Option<&Reminder>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
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
    writeln!(out, "  reminder:     {}", reminder(e, reminder_row))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use firstweek::escalation::State;
    use firstweek_store::RowStatus;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn the_reminder_column_says_when_it_went_or_will_go_or_why_not() {
        let opened = utc("2026-11-24T09:00:00Z");
        let e = |reminded_at| Escalation {
            mentorship_id: "m-1".into(),
            coordinator_key: "k".into(),
            program_id: None,
            opened_at: opened,
            opened_by: "escalation".into(),
            rules: Vec::new(),
            evidence: Vec::new(),
            state: State::Open,
            acknowledged: None,
            reminded_at,
            resolved: None,
        };
        let due = Reminder::Pending {
            at: utc("2026-11-26T09:00:00Z"),
        };
        let withdrawn = Reminder::Closed {
            status: RowStatus::Skipped,
            outcome: "the escalation was acknowledged".into(),
            at: None,
        };
        let cases = [
            (e(None), Some(&due), "due 2026-11-26 09:00:00"),
            (
                e(Some(utc("2026-11-26T09:00:05Z"))),
                None,
                "sent 2026-11-26 09:00:05",
            ),
            (
                e(None),
                Some(&withdrawn),
                "none: the escalation was acknowledged",
            ),
            (e(None), None, "none planned"),
        ];
        for (escalation, row, expected) in cases {
            assert_eq!(reminder(&escalation, row), expected);
        }
    }
}
