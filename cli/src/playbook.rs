//! `firstweek playbook validate|dry-run`: check a playbook file before
//! deploying it, and preview what it would do to the pairs already stored.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow};
use chrono::{Duration, Utc};
use firstweek::digest;
use firstweek::email::{Templates, reason_text};
use firstweek::interaction::Summary;
use firstweek::playbook::{Playbook, PlaybookError, Recipient, Trigger};
use firstweek::timeline::{self, Planned};

use crate::db;
use crate::table::{Table, clean, count, relative, time};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Parse a playbook and check its templates: a summary of its steps, or the error and its line
    ///
    /// Templates come from FIRSTWEEK_TEMPLATES_DIR over the built-in ones, as
    /// the services load them; every step is rendered for each of its
    /// recipients with a sample pair. Exits 1 when anything is wrong.
    Validate {
        /// Playbook file (TOML)
        file: PathBuf,
    },
    /// Preview who the playbook would nudge or escalate, and when, for the stored pairs (writes nothing)
    ///
    /// Plans each stored pair's timeline under the playbook (with
    /// FIRSTWEEK_TIME_SCALE and FIRSTWEEK_SEND_WINDOW as the services read
    /// them), judges each step already due against the stored interactions as
    /// of its due time, and shows steps still ahead as pending, with what they
    /// would do if judged now. Needs DATABASE_URL.
    DryRun(DryRunArgs),
}

#[derive(clap::Args)]
pub struct DryRunArgs {
    /// Playbook file (TOML)
    pub file: PathBuf,
    /// Only this pair
    #[arg(long, value_name = "ID")]
    pub mentorship: Option<String>,
    /// Leave out pairs that have ended
    #[arg(long)]
    pub open: bool,
}

/// Loads a playbook file; the error names the file and line.
fn load(file: &Path) -> anyhow::Result<Playbook> {
    Playbook::load(file).map_err(|e: PlaybookError| {
        if e.line == 0 {
            anyhow!("{}: {}", e.source_name, e.message)
        } else {
            anyhow!(e)
        }
    })
}

/// `2d`, `1d12h`, `90m`, `0d`.
pub fn offset_text(d: Duration) -> String {
    let s = d.num_seconds();
    if s == 0 {
        return "0d".into();
    }
    let mut text = String::new();
    for unit in ["d", "h", "m", "s"] {
        let part = match unit {
            "d" => s / 86_400,
            "h" => s / 3600 % 24,
            "m" => s / 60 % 60,
            _ => s % 60,
        };
        if part > 0 {
            text.push_str(&format!("{part}{unit}"));
        }
    }
    text
}

fn trigger_text(t: &Trigger) -> String {
    match t {
        Trigger::At(d) => format!("at {}", offset_text(*d)),
        Trigger::IntenseInteraction => "on intense_interaction".into(),
    }
}

pub fn validate(file: &Path, out: &mut dyn Write) -> anyhow::Result<()> {
    let playbook = load(file)?;
    let (templates, source) = crate::template::load()?;
    templates
        .check(&playbook)
        .with_context(|| format!("{}: templates ({source})", file.display()))?;
    check_renders(&playbook, &templates)
        .with_context(|| format!("{}: templates ({source})", file.display()))?;

    writeln!(
        out,
        "playbook {:?} ({}): {} steps, week of {} days, min_interactions {}, long_session_minutes {}",
        playbook.name,
        file.display(),
        playbook.steps.len(),
        playbook.week_days,
        playbook.thresholds.min_interactions,
        playbook.thresholds.long_session_minutes
    )?;
    let mut table = Table::new(&["STEP", "WHEN DUE", "TO", "CONDITION", "TEMPLATE", "ONCE"]);
    for s in &playbook.steps {
        let to: Vec<&str> = s.recipients.iter().map(|r| r.as_str()).collect();
        let when: Vec<&str> = s.when.iter().map(|c| c.as_str()).collect();
        table.row(vec![
            s.id.clone(),
            trigger_text(&s.trigger),
            to.join(", "),
            when.join(" or "),
            s.template.clone(),
            s.once_key.clone(),
        ]);
    }
    table.write(out, 2)?;
    writeln!(
        out,
        "templates ({source}): every step renders for each of its recipients, and the daily digest"
    )?;
    writeln!(out, "ok")?;
    Ok(())
}

/// Renders every step for each of its recipients with the sample pair, so a
/// template that names an unknown variable fails here, not in production.
fn check_renders(playbook: &Playbook, templates: &Templates) -> anyhow::Result<()> {
    let now = Utc::now();
    for step in &playbook.steps {
        for &r in &step.recipients {
            let ctx = crate::sample::context(playbook, Some(step), &step.id, r, now);
            templates
                .render_parts(&step.template, &ctx)
                .with_context(|| {
                    format!(
                        "step {:?} (template {:?}) does not render for the {r}",
                        step.id, step.template
                    )
                })?;
        }
    }
    // The scheduler's daily digest to coordinators uses its own template.
    if templates.names().iter().any(|n| n == digest::TEMPLATE) {
        templates
            .render_parts(digest::TEMPLATE, &crate::sample::digest(now))
            .context("the daily digest template does not render")?;
    }
    Ok(())
}

/// What a planned row would become.
enum Verdict {
    Send(Vec<String>),
    Skip(String),
    Pending(String),
    Cancelled,
}

pub async fn dry_run(args: DryRunArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let playbook = load(&args.file)?;
    let scale = crate::env::scale()?;
    let window = crate::env::window()?;
    let (templates, source) = crate::template::load()?;
    let template_problem = templates.check(&playbook).err();
    let pool = crate::env::pool().await?;
    let now = Utc::now();

    let pairs = db::pairs(
        &pool,
        &db::Filter {
            id: args.mentorship.clone(),
            open_only: args.open,
            ..Default::default()
        },
    )
    .await?;
    let ids: Vec<String> = pairs.iter().map(|p| p.id().to_string()).collect();
    let ledgers = db::ledgers(&pool, &ids).await?;
    let mut stored: HashMap<(String, String, String), String> = HashMap::new();
    for r in db::timeline(&pool, &ids).await? {
        stored.insert((r.mentorship_id, r.step_id, r.recipient), r.status);
    }

    writeln!(
        out,
        "dry run of playbook {:?} ({}) on {}, as of {} UTC; nothing is written",
        playbook.name,
        args.file.display(),
        count(pairs.len(), "stored pair", "stored pairs"),
        time(now)
    )?;
    if let Some(e) = &template_problem {
        writeln!(out, "warning: templates ({source}): {e}")?;
    }
    let (mut nudges, mut escalations, mut skipped, mut pending, mut cancelled) = (0, 0, 0, 0, 0);
    let mut escalated = Vec::new();
    let min = playbook.thresholds.min_interactions;
    for pair in &pairs {
        let started = &pair.started;
        let ledger = ledgers.get(pair.id()).map(Vec::as_slice).unwrap_or(&[]);
        let mut rows: Vec<Planned> = timeline::plan(started, &playbook, scale, window);
        let first_intense = ledger
            .iter()
            .filter(|i| i.is_intense(&playbook.thresholds))
            .filter(|i| {
                timeline::in_first_week(started.started_at, i.occurred_at, &playbook, scale)
            })
            .map(|i| i.occurred_at)
            .min();
        if let Some(at) = first_intense {
            for step in playbook.intense_steps() {
                rows.extend(timeline::plan_step(started, step, at, window));
            }
        }
        rows.sort_by_key(|r| r.due_at);

        writeln!(out)?;
        writeln!(
            out,
            "{}  {}  started {} UTC{}",
            clean(pair.id()),
            clean(&pair.names()),
            time(started.started_at),
            pair.ended_at
                .map(|t| format!(", ended {} UTC", time(t)))
                .unwrap_or_default()
        )?;
        let mut table = Table::new(&["STEP", "TO", "DUE", "SEND", "WOULD", "WHY", "STORED"]);
        let mut once_taken: HashMap<(String, Recipient), String> = HashMap::new();
        for row in &rows {
            let Some(step) = playbook.step(&row.step_id) else {
                continue;
            };
            let verdict = if pair.ended_at.is_some_and(|end| row.due_at >= end) {
                Verdict::Cancelled
            } else if row.due_at > now {
                let summary = Summary::as_of(ledger, now);
                let fired = summary.judge(&step.when, &playbook.thresholds);
                let forecast = if fired.is_empty() {
                    "as of now: condition not met".to_string()
                } else {
                    let names: Vec<&str> = fired.iter().map(|c| c.as_str()).collect();
                    format!("as of now: would send ({})", names.join(", "))
                };
                Verdict::Pending(format!("due {}; {forecast}", relative(row.due_at, now)))
            } else {
                let summary = Summary::as_of(ledger, row.due_at);
                let fired = summary.judge(&step.when, &playbook.thresholds);
                let key = (step.once_key.clone(), row.recipient);
                if fired.is_empty() {
                    let names: Vec<&str> = step.when.iter().map(|c| c.as_str()).collect();
                    Verdict::Skip(format!("condition not met: {}", names.join(", ")))
                } else if let Some(by) = once_taken.get(&key) {
                    Verdict::Skip(format!("{} already sent by step {by}", step.once_key))
                } else {
                    once_taken.insert(key, step.id.clone());
                    Verdict::Send(
                        fired
                            .iter()
                            .map(|c| reason_text(*c, &summary, min))
                            .collect(),
                    )
                }
            };
            let (would, why) = match verdict {
                Verdict::Send(reasons) if row.recipient == Recipient::Coordinator => {
                    escalations += 1;
                    escalated.push(format!("{} ({})", pair.id(), step.id));
                    ("escalate".to_string(), reasons.join("; "))
                }
                Verdict::Send(reasons) => {
                    nudges += 1;
                    ("send".to_string(), reasons.join("; "))
                }
                Verdict::Skip(why) => {
                    skipped += 1;
                    ("skip".to_string(), why)
                }
                Verdict::Pending(why) => {
                    pending += 1;
                    ("pending".to_string(), why)
                }
                Verdict::Cancelled => {
                    cancelled += 1;
                    ("cancel".to_string(), "mentorship ended".to_string())
                }
            };
            let key = (
                pair.id().to_string(),
                row.step_id.clone(),
                row.recipient.as_str().to_string(),
            );
            table.row(vec![
                row.step_id.clone(),
                row.recipient.as_str().into(),
                time(row.due_at),
                time(row.send_at),
                would,
                why,
                stored.get(&key).cloned().unwrap_or_else(|| "-".into()),
            ]);
        }
        table.write(out, 2)?;
        let planned: HashSet<&str> = rows.iter().map(|r| r.step_id.as_str()).collect();
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
        "would send {} to mentors and mentees and {}; {skipped} skipped, {pending} pending, {cancelled} cancelled",
        count(nudges, "email", "emails"),
        count(escalations, "escalation", "escalations")
    )?;
    if !escalated.is_empty() {
        writeln!(out, "escalated: {}", escalated.join(", "))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_print_as_playbooks_write_them() {
        assert_eq!(offset_text(Duration::zero()), "0d");
        assert_eq!(offset_text(Duration::days(2)), "2d");
        assert_eq!(offset_text(Duration::hours(36)), "1d12h");
        assert_eq!(offset_text(Duration::minutes(90)), "1h30m");
        assert_eq!(offset_text(Duration::seconds(30)), "30s");
    }
}
