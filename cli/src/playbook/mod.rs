//! `firstweek playbook validate|dry-run`: check a playbook file before
//! deploying it, and preview what it would do to the pairs already stored.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow};
use chrono::{Duration, Utc};
use firstweek::decision::{self};
use firstweek::digest;
use firstweek::email::{Links, Templates};
use firstweek::escalation::Notice;
use firstweek::playbook::{Playbook, PlaybookError, Trigger};
use firstweek::rule::Recipient;
use firstweek_store::{self as store, read};

use crate::table::{Table, clean, count, time};

mod dry_run;
use dry_run::Tally;
pub use dry_run::dry_run;

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
    /// Each program's playbook (FIRSTWEEK_PLAYBOOKS_DIR, else FIRSTWEEK_PLAYBOOK or the built-in one), its version, and how many pairs are pinned to each version (needs DATABASE_URL)
    List,
    /// What changing a playbook from OLD to NEW would do to new pairs, step by step: both dry-run on the stored pairs, the differences shown (writes nothing; needs DATABASE_URL)
    Diff {
        /// The playbook as it is (TOML)
        old: PathBuf,
        /// The playbook as it would be (TOML)
        new: PathBuf,
        /// Only this pair
        #[arg(long, value_name = "ID")]
        mentorship: Option<String>,
    },
}

/// A stored pair as a playbook being tried out sees it: whatever it is
/// pinned to, judged by the playbook under test.
fn tried_out<'a>(
    pair: &'a read::PairEntry,
    ledger: &'a [firstweek::interaction::Interaction],
    held_out: &'a [String],
) -> decision::Pair<'a> {
    let mut view = pair.record.with_ledger(ledger);
    view.playbook = None;
    view.held_out = held_out;
    view
}

/// The steps of `playbook` a stored pair would be held out of: the draw
/// the services make when a pair starts (keyed, so the same here), made
/// again for the playbook under test, with what was stored for it; without
/// `FIRSTWEEK_PSEUDONYM_KEY`, what was stored only.
fn held_out_under(
    pair: &read::PairEntry,
    playbook: &Playbook,
    key: Option<&firstweek::pseudonym::PseudonymKey>,
) -> Vec<String> {
    let mut held = pair.record.held_out.clone();
    if let Some(key) = key {
        let started = &pair.record.started;
        let drawn = firstweek::experiment::assign(
            key,
            started.program_id.as_deref(),
            &started.mentorship_id,
            playbook,
        );
        held.extend(drawn.into_iter().filter(|(_, out)| *out).map(|(s, _)| s));
    }
    held.sort_unstable();
    held.dedup();
    held
}

/// `firstweek playbook list`.
pub async fn list(out: &mut dyn Write) -> anyhow::Result<()> {
    let rules = crate::env::rules(None)?;
    let pool = crate::env::pool().await?;
    let pinned = read::pinned_playbooks(&pool).await?;
    let mut table = Table::new(&["PROGRAM", "PLAYBOOK", "VERSION", "STATUS", "PAIRS"]);
    let current: Vec<(String, &Playbook)> =
        std::iter::once(("(default)".to_string(), &rules.playbook))
            .chain(rules.programs.iter().map(|(p, b)| (p.clone(), b)))
            .collect();
    for (program, playbook) in &current {
        let pairs = pinned
            .iter()
            .filter(|p| p.version.as_deref() == Some(playbook.version.as_str()))
            .map(|p| p.pairs)
            .sum::<i64>();
        table.row(vec![
            program.clone(),
            playbook.name.clone(),
            playbook.version.clone(),
            "current".into(),
            pairs.to_string(),
        ]);
    }
    for p in &pinned {
        let is_current = current
            .iter()
            .any(|(_, b)| p.version.as_deref() == Some(b.version.as_str()));
        if is_current {
            continue;
        }
        table.row(vec![
            p.program_id.clone().unwrap_or_else(|| "(default)".into()),
            p.name.clone().unwrap_or_else(|| "-".into()),
            p.version
                .clone()
                .unwrap_or_else(|| "(from before pinning)".into()),
            "pinned only".into(),
            p.pairs.to_string(),
        ]);
    }
    table.write(out, 0)?;
    Ok(())
}

/// `firstweek playbook diff OLD NEW`.
pub async fn diff(
    old: &Path,
    new: &Path,
    mentorship: Option<String>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let before = crate::env::rules(Some(load(old)?))?;
    let after = crate::env::rules(Some(load(new)?))?;
    let pool = crate::env::pool().await?;
    let now = Utc::now();
    let pairs = read::pairs(
        &pool,
        &read::PairFilter {
            id: mentorship,
            ..Default::default()
        },
    )
    .await?;
    let ids: Vec<&str> = pairs.iter().map(|p| p.id()).collect();
    let ledgers = store::ledgers(&pool, &ids).await?;
    let key = crate::env::pseudonym_key().ok();
    writeln!(
        out,
        "playbook {:?} ({}) -> {:?} ({}) on {}, as if each started under it; nothing is written",
        before.playbook.name,
        before.playbook.version,
        after.playbook.name,
        after.playbook.version,
        count(pairs.len(), "stored pair", "stored pairs")
    )?;
    let mut changed_pairs = 0;
    let mut changed_steps = 0;
    for pair in &pairs {
        let ledger = ledgers.get(pair.id()).map(Vec::as_slice).unwrap_or(&[]);
        let words =
            |rules: &firstweek::Rules| -> std::collections::BTreeMap<(String, String), String> {
                let mut tally = Tally::default();
                let held = held_out_under(pair, &rules.playbook, key.as_ref());
                decision::preview(rules, tried_out(pair, ledger, &held), now)
                    .iter()
                    .map(|r| {
                        let (would, why) = tally.count(pair.id(), &r.planned, &r.decision, now);
                        (
                            (
                                r.planned.step_id.clone(),
                                r.planned.recipient.as_str().to_string(),
                            ),
                            format!("{would} ({why}) due {}", time(r.planned.due_at)),
                        )
                    })
                    .collect()
            };
        let (was, will) = (words(&before), words(&after));
        let keys: std::collections::BTreeSet<&(String, String)> =
            was.keys().chain(will.keys()).collect();
        let mut table = Table::new(&["STEP", "TO", "OLD", "NEW"]);
        for key in keys {
            let (a, b) = (was.get(key), will.get(key));
            if a == b {
                continue;
            }
            table.row(vec![
                key.0.clone(),
                key.1.clone(),
                a.cloned().unwrap_or_else(|| "-".into()),
                b.cloned().unwrap_or_else(|| "-".into()),
            ]);
            changed_steps += 1;
        }
        if !table.is_empty() {
            changed_pairs += 1;
            writeln!(out)?;
            writeln!(out, "{}  {}", clean(pair.id()), clean(&pair.names()))?;
            table.write(out, 2)?;
        }
    }
    writeln!(out)?;
    writeln!(
        out,
        "{} of {} would go differently ({})",
        count(changed_pairs, "pair", "pairs"),
        pairs.len(),
        count(changed_steps, "step", "steps")
    )?;
    Ok(())
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
    firstweek_settings::rules::load_playbook(file).map_err(|e: PlaybookError| {
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
        "templates ({source}): every step renders for each of its recipients, and the escalation's notices and the daily digest"
    )?;
    writeln!(out, "ok")?;
    Ok(())
}

/// Renders every step for each of its recipients with the sample pair, in
/// the default locale and in each locale that has templates, so a template
/// that names an unknown variable fails here, not in production.
fn check_renders(playbook: &Playbook, templates: &Templates) -> anyhow::Result<()> {
    let locales = std::iter::once(firstweek::locale::Locale::default()).chain(templates.locales());
    for locale in locales {
        check_renders_in(playbook, templates, locale.as_str())
            .with_context(|| format!("in locale {locale}"))?;
    }
    Ok(())
}

fn check_renders_in(
    playbook: &Playbook,
    templates: &Templates,
    locale: &str,
) -> anyhow::Result<()> {
    let now = Utc::now();
    for step in &playbook.steps {
        for &r in &step.recipients {
            let mut ctx = crate::sample::context(playbook, Some(step), &step.id, r, now);
            ctx.locale = locale.to_string();
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
    // The escalation's notices to the coordinator, with both links as they go out.
    for notice in Notice::ALL {
        let links = Links {
            acknowledge: Some("https://firstweek.example.org/a/token".into()),
            page: Some("https://firstweek.example.org/c/token".into()),
            ..Links::default()
        };
        let mut ctx = crate::sample::context(
            playbook,
            None,
            notice.step_id(),
            Recipient::Coordinator,
            now,
        )
        .with_links(links);
        ctx.locale = locale.to_string();
        templates
            .render_parts(notice.step_id(), &ctx)
            .with_context(|| format!("the {} template does not render", notice.step_id()))?;
    }
    // The scheduler's daily digest to coordinators uses its own template.
    if templates.names().iter().any(|n| n == digest::TEMPLATE) {
        let mut ctx = crate::sample::digest(now);
        ctx.locale = locale.to_string();
        templates
            .render_parts(digest::TEMPLATE, &ctx)
            .context("the daily digest template does not render")?;
        let mut ctx = crate::sample::digest_all_quiet(now);
        ctx.locale = locale.to_string();
        templates
            .render_parts(digest::TEMPLATE, &ctx)
            .context("the daily digest template does not render an \"all quiet\" day")?;
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
