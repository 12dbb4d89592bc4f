//! `firstweek playbook dry-run`: what a playbook would do to the pairs already
//! stored, step by step, with the tally of sends, skips and escalations.

use std::collections::{HashMap, HashSet};
use std::io::Write;

use chrono::Utc;
use firstweek::decision::{self, Decision, Previewed, Skip, Verdict};
use firstweek::timeline::Planned;
use firstweek_store::{self as store, read};

use crate::table::{Table, clean, count, relative, time};

use super::{DryRunArgs, held_out_under, load, tried_out};

pub async fn dry_run(args: DryRunArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let rules = crate::env::rules(Some(load(&args.file)?))?;
    let playbook = &rules.playbook;
    let (templates, source) = crate::template::load()?;
    let template_problem = templates.check(playbook).err();
    let pool = crate::env::pool().await?;
    let now = Utc::now();

    let pairs = read::pairs(
        &pool,
        &read::PairFilter {
            id: args.mentorship.clone(),
            open_only: args.open,
            ..Default::default()
        },
    )
    .await?;
    let ids: Vec<&str> = pairs.iter().map(|p| p.id()).collect();
    let ledgers = store::ledgers(&pool, &ids).await?;
    let mut stored: HashMap<(String, String, String), String> = HashMap::new();
    for r in read::timeline(&pool, &ids).await? {
        stored.insert((r.subject_id, r.step_id, r.recipient), r.status.to_string());
    }

    writeln!(
        out,
        "dry run of playbook {:?} ({}) on {}, as of {} UTC; nothing is written",
        playbook.name,
        args.file.display(),
        count(pairs.len(), "stored pair", "stored pairs"),
        time(now)
    )?;
    writeln!(
        out,
        "daily nudge budget: {} per person per local day (the welcome and the coordinator's emails not counted; more on one day wait for the next, or are dropped once a later step is due)",
        count(playbook.daily_nudge_budget as usize, "nudge", "nudges")
    )?;
    if let Some(e) = &template_problem {
        writeln!(out, "warning: templates ({source}): {e}")?;
    }
    let key = crate::env::pseudonym_key().ok();
    let holdouts: Vec<String> = playbook
        .held_out_steps()
        .map(|s| {
            format!(
                "{} ({:.0}% of the pairs it would reach)",
                s.id,
                s.holdout.unwrap_or(0.0) * 100.0
            )
        })
        .collect();
    if !holdouts.is_empty() {
        writeln!(out, "holdouts: {}", holdouts.join(", "))?;
        if key.is_none() {
            writeln!(
                out,
                "warning: FIRSTWEEK_PSEUDONYM_KEY is not set: only the holdouts stored for each pair are shown, not the draw for this playbook"
            )?;
        }
    }
    let mut tally = Tally::default();
    for pair in &pairs {
        let started = &pair.record.started;
        let ledger = ledgers.get(pair.id()).map(Vec::as_slice).unwrap_or(&[]);
        let held = held_out_under(pair, playbook, key.as_ref());
        let rows = decision::preview(&rules, tried_out(pair, ledger, &held), now);

        writeln!(out)?;
        writeln!(
            out,
            "{}  {}  started {} UTC{}{}",
            clean(pair.id()),
            clean(&pair.names()),
            time(started.started_at),
            pair.record
                .ended_at
                .map(|t| format!(", ended {} UTC", time(t)))
                .unwrap_or_default(),
            if held.is_empty() {
                String::new()
            } else {
                format!(", held out of {}", held.join(", "))
            }
        )?;
        for step in &held {
            tally
                .held_out
                .entry(step.clone())
                .or_default()
                .push(pair.id().to_string());
        }
        let mut table = Table::new(&["STEP", "TO", "DUE", "SEND", "WOULD", "WHY", "STORED"]);
        for Previewed { planned, decision } in &rows {
            let (would, why) = tally.count(pair.id(), planned, decision, now);
            let key = (
                pair.id().to_string(),
                planned.step_id.clone(),
                planned.recipient.as_str().to_string(),
            );
            table.row(vec![
                planned.step_id.clone(),
                planned.recipient.as_str().into(),
                time(planned.due_at),
                time(planned.send_at),
                would,
                why,
                stored.get(&key).cloned().unwrap_or_else(|| "-".into()),
            ]);
        }
        table.write(out, 2)?;
        let planned: HashSet<&str> = rows.iter().map(|r| r.planned.step_id.as_str()).collect();
        let mut gone: Vec<&str> = stored
            .keys()
            .filter(|(m, s, _)| m == pair.id() && !planned.contains(s.as_str()))
            .map(|(_, s, _)| s.as_str())
            .collect();
        gone.sort_unstable();
        gone.dedup();
        if !gone.is_empty() {
            writeln!(
                out,
                "  stored steps this playbook does not have: {}",
                gone.join(", ")
            )?;
        }
    }
    writeln!(out)?;
    writeln!(
        out,
        "would send {} to mentors and mentees and {}; {} skipped, {} pending, {} cancelled",
        count(tally.nudges, "email", "emails"),
        count(tally.escalations, "escalation", "escalations"),
        tally.skipped,
        tally.pending,
        tally.cancelled
    )?;
    if !tally.escalated.is_empty() {
        writeln!(out, "escalated: {}", tally.escalated.join(", "))?;
    }
    for (step, pairs) in &tally.held_out {
        writeln!(
            out,
            "held out of {step}: {} ({}); their escalation still applies",
            count(pairs.len(), "pair", "pairs"),
            pairs.join(", ")
        )?;
    }
    Ok(())
}

/// What the dry run counts, and each row's WOULD and WHY columns.
#[derive(Default)]
pub(super) struct Tally {
    nudges: usize,
    escalations: usize,
    skipped: usize,
    pending: usize,
    cancelled: usize,
    escalated: Vec<String>,
    held_out: std::collections::BTreeMap<String, Vec<String>>,
}

impl Tally {
    pub(super) fn count(
        &mut self,
        pair: &str,
        planned: &Planned,
        decision: &Decision,
        now: chrono::DateTime<Utc>,
    ) -> (String, String) {
        if decision.forecast {
            self.pending += 1;
            let forecast = match &decision.verdict {
                Verdict::Send(e) | Verdict::Escalate(e) => {
                    let names: Vec<&str> = e.fired.iter().map(|c| c.as_str()).collect();
                    format!("as of now: would send ({})", names.join(", "))
                }
                Verdict::Skip(Skip::Holdout) => "as of now: held out (holdout)".to_string(),
                Verdict::Skip(Skip::OnceKeyTaken { .. }) => {
                    format!("as of now: {}", skip_text(&decision.verdict))
                }
                Verdict::Skip(_) | Verdict::Cancel => "as of now: condition not met".to_string(),
            };
            let why = format!("due {}; {forecast}", relative(planned.due_at, now));
            return ("pending".into(), why);
        }
        match &decision.verdict {
            Verdict::Escalate(e) => {
                self.escalations += 1;
                self.escalated.push(format!("{pair} ({})", planned.step_id));
                ("escalate".into(), e.reasons.join("; "))
            }
            Verdict::Send(e) => {
                self.nudges += 1;
                ("send".into(), e.reasons.join("; "))
            }
            Verdict::Skip(_) => {
                self.skipped += 1;
                ("skip".into(), skip_text(&decision.verdict))
            }
            Verdict::Cancel => {
                self.cancelled += 1;
                ("cancel".into(), "mentorship ended".into())
            }
        }
    }
}

fn skip_text(v: &Verdict) -> String {
    match v {
        Verdict::Skip(s) => s.reason(),
        _ => String::new(),
    }
}
