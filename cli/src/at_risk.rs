//! `firstweek at-risk`: pairs in (or just past) their first week that the
//! playbook's escalation rules flag as of now, with the rule and the evidence.
//!
//! "At risk" is [`firstweek::decision::risks`], the same definition the
//! coordinators' daily digest uses: the conditions of the playbook's steps to
//! the coordinator, each applied once the week has had time for it. Beside
//! the rules, each pair shows what became of its coordinator steps.

use std::collections::HashMap;
use std::io::Write;

use anyhow::bail;
use chrono::{Duration, Utc};
use firstweek::decision;
use firstweek::event::InteractionKind;
use firstweek::interaction::Summary;
use firstweek::rule::Recipient;
use firstweek_store::{self as store, read};

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
    let rules = crate::env::rules(None)?;
    let (playbook, scale) = (&rules.playbook, rules.scale);
    let pool = crate::env::pool().await?;
    let now = Utc::now();

    let conditions = decision::risk_conditions(playbook);
    if conditions.is_empty() {
        bail!(
            "playbook {:?} has no step to the coordinator: nothing in it says what at risk means",
            playbook.name
        );
    }

    let week = scale.wall(playbook.week());
    let horizon = decision::horizon(&rules, Duration::days(i64::from(args.grace)));
    let pairs: Vec<read::PairEntry> = read::pairs(
        &pool,
        &read::PairFilter {
            started_after: Some(now - horizon),
            open_only: true,
            ..Default::default()
        },
    )
    .await?
    .into_iter()
    .filter(|p| p.record.started.started_at <= now)
    .collect();
    let ids: Vec<&str> = pairs.iter().map(|p| p.id()).collect();
    let ledgers = store::ledgers(&pool, &ids).await?;
    // What became of each coordinator step: `skipped (escalation already sent by ...)`.
    let mut steps: HashMap<String, Vec<String>> = HashMap::new();
    for r in read::timeline(&pool, &ids).await? {
        if r.recipient != Recipient::Coordinator.as_str() {
            continue;
        }
        let status = match r
            .outcome
            .filter(|o| !o.is_empty() && r.status != store::RowStatus::Sent)
        {
            Some(why) => format!("{} ({})", r.status, clean(&why)),
            None => r.status.to_string(),
        };
        steps.entry(r.subject_id).or_default().push(format!(
            "{} (due {}; {status})",
            r.step_id,
            relative(r.due_at, now)
        ));
    }

    let mut flagged = 0;
    let mut blocks = Vec::new();
    for pair in &pairs {
        let started_at = pair.record.started.started_at;
        let ledger = ledgers.get(pair.id()).map(Vec::as_slice).unwrap_or(&[]);
        let risks = decision::risks(&rules, pair.record.with_ledger(ledger), now);
        if risks.is_empty() && !args.all {
            continue;
        }
        if !risks.is_empty() {
            flagged += 1;
        }
        let elapsed = now - started_at;
        let day = firstweek::day::Day::of(started_at, now, scale);
        let phase = if elapsed <= week {
            format!("{day} of {}", playbook.week_days)
        } else {
            format!("first week ended {} ago", span(elapsed - week))
        };
        let mut block = vec![format!(
            "{}  {}  started {} UTC, {phase}  [{}]",
            clean(pair.id()),
            clean(&pair.names()),
            time(started_at),
            if risks.is_empty() { "ok" } else { "AT RISK" }
        )];
        for r in &risks {
            block.push(format!(
                "  rule      {}: {}",
                r.condition.as_str(),
                r.reason
            ));
        }
        for s in steps.get(pair.id()).into_iter().flatten() {
            block.push(format!("  step      {s}"));
        }
        block.push(format!(
            "  evidence  first week so far: {}",
            evidence(&decision::week_summary(
                &rules,
                pair.record.with_ledger(ledger),
                now
            ))
        ));
        let c = &pair.record.started.coordinator;
        block.push(format!(
            "  contact   coordinator {} <{}>",
            clean(&c.name),
            clean(&c.email)
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
    let names: Vec<&str> = conditions.iter().map(|c| c.as_str()).collect();
    writeln!(
        out,
        "rules: {} (the playbook's steps to the coordinator, each once the week has had time for it)",
        names.join(", ")
    )?;
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
