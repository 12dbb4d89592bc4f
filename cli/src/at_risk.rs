//! `firstweek at-risk`: pairs in (or just past) their first week that the
//! playbook's escalation rules flag as of now, with the rule and the evidence.
//!
//! The rules are the `when` lists of the playbook's timed steps to the
//! coordinator (the built-in `escalation_early` and `escalation`). A step
//! already due is judged as of its due time, as the workers judged it; a step
//! still ahead is judged as of now ("if it fell due now").

use std::collections::HashMap;
use std::io::Write;

use anyhow::bail;
use chrono::{Duration, Utc};
use firstweek::email::reason_text;
use firstweek::event::InteractionKind;
use firstweek::interaction::Summary;
use firstweek::playbook::{Recipient, Trigger};

use crate::db;
use crate::table::{clean, count, relative, span, time};

#[derive(clap::Args)]
pub struct Args {
    /// Also show pairs whose first week ended up to this many program days ago
    #[arg(long, default_value_t = 2, value_name = "DAYS")]
    pub grace: u32,
    /// Show every pair considered, flagged or not
    #[arg(long)]
    pub all: bool,
}

pub async fn run(args: Args, out: &mut dyn Write) -> anyhow::Result<()> {
    let playbook = crate::env::playbook()?;
    let scale = crate::env::scale()?;
    let pool = crate::env::pool().await?;
    let now = Utc::now();

    let rules: Vec<_> = playbook
        .steps
        .iter()
        .filter(|s| s.recipients.contains(&Recipient::Coordinator))
        .filter_map(|s| match s.trigger {
            Trigger::At(offset) => Some((s, offset)),
            Trigger::IntenseInteraction => None,
        })
        .collect();
    if rules.is_empty() {
        bail!(
            "playbook {:?} has no timed step to the coordinator: nothing in it says what at risk means",
            playbook.name
        );
    }

    let week = scale.wall(playbook.week());
    let horizon = week + scale.wall(Duration::days(i64::from(args.grace)));
    let day = scale.wall(Duration::days(1));
    let pairs: Vec<db::Pair> = db::pairs(
        &pool,
        &db::Filter {
            started_after: Some(now - horizon),
            open_only: true,
            ..Default::default()
        },
    )
    .await?
    .into_iter()
    .filter(|p| p.started.started_at <= now)
    .collect();
    let ids: Vec<String> = pairs.iter().map(|p| p.id().to_string()).collect();
    let ledgers = db::ledgers(&pool, &ids).await?;
    // What became of each coordinator step: `skipped (escalation already sent by ...)`.
    let statuses: HashMap<(String, String), String> = db::timeline(&pool, &ids)
        .await?
        .into_iter()
        .filter(|r| r.recipient == Recipient::Coordinator.as_str())
        .map(|r| {
            let status = match r.outcome.filter(|o| r.status != "sent" && !o.is_empty()) {
                Some(why) => format!("{} ({})", r.status, clean(&why)),
                None => r.status,
            };
            ((r.mentorship_id, r.step_id), status)
        })
        .collect();

    let rule_names: Vec<String> = rules
        .iter()
        .map(|(s, _)| {
            let when: Vec<&str> = s.when.iter().map(|c| c.as_str()).collect();
            format!("{} ({})", s.id, when.join(" or "))
        })
        .collect();
    let mut flagged = 0;
    let mut blocks = Vec::new();
    for pair in &pairs {
        let started_at = pair.started.started_at;
        let ledger = ledgers.get(pair.id()).map(Vec::as_slice).unwrap_or(&[]);
        let mut lines = Vec::new();
        for (step, offset) in &rules {
            let due = started_at + scale.wall(*offset);
            let as_of = due.min(now);
            let summary = Summary::as_of(ledger, as_of);
            let fired = summary.judge(&step.when, &playbook.thresholds);
            if fired.is_empty() {
                continue;
            }
            let reasons: Vec<String> = fired
                .iter()
                .map(|c| {
                    format!(
                        "{}: {}",
                        c.as_str(),
                        reason_text(*c, &summary, playbook.thresholds.min_interactions)
                    )
                })
                .collect();
            let status = statuses
                .get(&(pair.id().to_string(), step.id.clone()))
                .map(String::as_str)
                .unwrap_or("not planned");
            let when = if due <= now {
                format!("due {}, judged then; {status}", relative(due, now))
            } else {
                format!("due {}, if it fell due now; {status}", relative(due, now))
            };
            lines.push(format!("  rule      {} ({when})", step.id));
            for r in reasons {
                lines.push(format!("            {r}"));
            }
        }
        if lines.is_empty() && !args.all {
            continue;
        }
        if !lines.is_empty() {
            flagged += 1;
        }
        let elapsed = now - started_at;
        let day_no = if day.num_milliseconds() > 0 {
            elapsed.num_milliseconds() / day.num_milliseconds()
        } else {
            0
        };
        let phase = if elapsed < week {
            format!("day {day_no} of {}", playbook.week_days)
        } else {
            format!("first week ended {} ago", span(elapsed - week))
        };
        let mut block = vec![format!(
            "{}  {}  started {} UTC, {phase}  [{}]",
            clean(pair.id()),
            clean(&pair.names()),
            time(started_at),
            if lines.is_empty() { "ok" } else { "AT RISK" }
        )];
        block.extend(lines);
        block.push(format!(
            "  evidence  first week so far: {}",
            evidence(&Summary::as_of(ledger, now.min(started_at + week)))
        ));
        block.push(format!(
            "  contact   coordinator {} <{}>",
            clean(&pair.started.coordinator.name),
            clean(&pair.started.coordinator.email)
        ));
        blocks.push(block);
    }

    writeln!(
        out,
        "as of {} UTC, playbook {:?}: {flagged} of {} in or up to {} past their first week at risk",
        time(now),
        playbook.name,
        count(pairs.len(), "open pair", "open pairs"),
        count(args.grace as usize, "day", "days")
    )?;
    writeln!(out, "rules: {}", rule_names.join("; "))?;
    for block in blocks {
        writeln!(out)?;
        for line in block {
            writeln!(out, "{line}")?;
        }
    }
    Ok(())
}

/// Counts by side and kind, and the last activity.
pub fn evidence(s: &Summary) -> String {
    let kinds: Vec<String> = InteractionKind::ALL
        .iter()
        .filter_map(|k| {
            s.by_kind
                .get(k.as_str())
                .map(|(m, e)| format!("{} {m}/{e}", k.as_str()))
        })
        .collect();
    let last = match (s.last_activity, s.last_actor) {
        (Some(t), Some(a)) => format!("{} UTC by the {}", time(t), a.as_str()),
        _ => "never".into(),
    };
    format!(
        "{} (mentor {}, mentee {}){}; last activity {last}",
        count(s.total as usize, "interaction", "interactions"),
        s.mentor,
        s.mentee,
        if kinds.is_empty() {
            String::new()
        } else {
            format!("; by kind mentor/mentee: {}", kinds.join(", "))
        }
    )
}
