//! `firstweek timeline <mentorship_id>`: everything stored about one pair
//! (or, given a coordinator's email, their daily digests).

use std::io::Write;

use anyhow::bail;
use chrono::Utc;
use firstweek::event::InteractionKind;
use firstweek::interaction::Summary;

use crate::table::{Table, clean, count, relative, time};
use firstweek_store::{self as store, read};

#[derive(clap::Args)]
pub struct Args {
    /// The pair's `mentorship_id` (or a coordinator's email, for their daily digests)
    pub mentorship_id: String,
    /// Also list every stored interaction
    #[arg(long)]
    pub interactions: bool,
}

pub async fn run(args: Args, out: &mut dyn Write) -> anyhow::Result<()> {
    let pool = crate::env::pool().await?;
    let id = args.mentorship_id;
    let ids = [id.as_str()];
    let pair = read::pairs(
        &pool,
        &read::PairFilter {
            id: Some(id.clone()),
            ..Default::default()
        },
    )
    .await?
    .pop();
    let ledger = store::interactions(&pool, &id).await?;
    let mut rows = read::timeline(&pool, &ids).await?;
    let mut digests = false;
    if pair.is_none() && rows.is_empty() {
        rows = read::digests(&pool, &id).await?;
        digests = !rows.is_empty();
    }
    let deliveries = read::deliveries(&pool, &rows).await?;
    let early_end = read::early_ending(&pool, &id).await?;
    let now = Utc::now();

    match &pair {
        Some(pair) => {
            let s = &pair.record.started;
            let program = s
                .program_id
                .as_deref()
                .map(|p| format!(" (program {})", clean(p)))
                .unwrap_or_default();
            writeln!(out, "mentorship {}{program}", clean(&s.mentorship_id))?;
            let person =
                |name: &str, email: &str, tz: &str| clean(&format!("{name} <{email}>, {tz}"));
            writeln!(
                out,
                "  mentor       {}",
                person(&s.mentor.name, &s.mentor.email, &s.mentor.timezone)
            )?;
            writeln!(
                out,
                "  mentee       {}",
                person(&s.mentee.name, &s.mentee.email, &s.mentee.timezone)
            )?;
            let coordinator_tz = s.coordinator.timezone.as_deref().unwrap_or("no time zone");
            writeln!(
                out,
                "  coordinator  {}",
                person(&s.coordinator.name, &s.coordinator.email, coordinator_tz)
            )?;
            writeln!(
                out,
                "  started      {} UTC ({})",
                time(s.started_at),
                relative(s.started_at, now)
            )?;
            match pair.record.ended_at {
                Some(t) => writeln!(
                    out,
                    "  ended        {} UTC ({}){}",
                    time(t),
                    relative(t, now),
                    pair.ended_reason
                        .as_deref()
                        .map(|r| format!(": {}", clean(r)))
                        .unwrap_or_default()
                )?,
                None => writeln!(out, "  ended        no")?,
            }
        }
        None if ledger.is_empty() && rows.is_empty() && early_end.is_none() => {
            bail!("no mentorship {id:?}: no start, interaction or ending stored under that id")
        }
        None if digests => {
            writeln!(out, "daily digests of coordinator {}", clean(&id))?;
        }
        None => {
            writeln!(out, "mentorship {}", clean(&id))?;
            writeln!(
                out,
                "  not started: no mentorship.started stored yet (what arrived is kept until it does)"
            )?;
            if let Some(end) = &early_end {
                writeln!(
                    out,
                    "  ended        {} UTC, before its start arrived{}",
                    time(end.ended_at),
                    end.reason
                        .as_deref()
                        .map(|r| format!(": {}", clean(r)))
                        .unwrap_or_default()
                )?;
            }
        }
    }

    writeln!(out)?;
    writeln!(
        out,
        "timeline ({}, times in UTC)",
        count(rows.len(), "row", "rows")
    )?;
    let mut table = Table::new(&[
        "STEP", "TO", "DUE", "SEND", "STATUS", "TRIES", "DELIVERY", "OUTCOME",
    ]);
    for r in &rows {
        // The row's email when it has one; else its chat post (`<key>@<platform>:<route>`).
        let delivery = deliveries
            .iter()
            .filter(|d| d.timeline_id == r.id)
            .min_by_key(|d| d.once_key.contains('@'))
            .map(|d| d.status.to_string())
            .unwrap_or_else(|| "-".into());
        table.row(vec![
            r.step_id.clone(),
            r.recipient.clone(),
            time(r.due_at),
            time(r.send_at),
            r.status.to_string(),
            r.attempts.to_string(),
            delivery,
            r.outcome.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    if table.is_empty() {
        writeln!(out, "  (no rows)")?;
    } else {
        table.write(out, 2)?;
    }

    writeln!(out)?;
    writeln!(
        out,
        "delivery ledger ({}; one email, or chat post, per pair, once-key and recipient)",
        count(deliveries.len(), "entry", "entries")
    )?;
    let mut table = Table::new(&[
        "ONCE KEY",
        "TO",
        "BY STEP",
        "STATUS",
        "CLAIMED",
        "FINISHED",
        "MESSAGE-ID",
        "DETAIL",
    ]);
    for d in &deliveries {
        table.row(vec![
            d.once_key.clone(),
            d.recipient.clone(),
            d.step_id.clone(),
            d.status.to_string(),
            time(d.claimed_at),
            d.finished_at.map(time).unwrap_or_else(|| "-".into()),
            d.message_id.clone(),
            d.detail.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    if table.is_empty() {
        writeln!(out, "  (nothing sent)")?;
    } else {
        table.write(out, 2)?;
    }

    writeln!(out)?;
    let summary = Summary::as_of(&ledger, now);
    writeln!(
        out,
        "interactions: {} (mentor {}, mentee {}); two-way: {}; plan or goals: {}; last: {}",
        summary.total,
        summary.mentor,
        summary.mentee,
        yes_no(summary.two_way()),
        yes_no(summary.has_plan()),
        match (summary.last_activity, summary.last_actor) {
            (Some(t), Some(a)) => format!("{} UTC by the {}", time(t), a.as_str()),
            _ => "never".into(),
        }
    )?;
    if summary.total > 0 {
        let mut table = Table::new(&["KIND", "MENTOR", "MENTEE"]);
        // Contract order, not alphabetical.
        for kind in InteractionKind::ALL {
            if let Some((m, e)) = summary.by_kind.get(kind.as_str()) {
                table.row(vec![kind.as_str().into(), m.to_string(), e.to_string()]);
            }
        }
        table.write(out, 2)?;
    }
    if args.interactions && !ledger.is_empty() {
        writeln!(out)?;
        let mut table = Table::new(&["OCCURRED", "ACTOR", "KIND", "MINUTES"]);
        for i in &ledger {
            table.row(vec![
                time(i.occurred_at),
                i.actor.as_str().into(),
                i.kind.as_str().into(),
                i.duration_minutes
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| "-".into()),
            ]);
        }
        table.write(out, 2)?;
    }
    Ok(())
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}
