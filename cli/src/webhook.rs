//! `firstweek webhook add|list|deliveries|replay|remove`: a program's
//! endpoints for signed webhooks out, and what was delivered to them.

use std::io::Write;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use firstweek::event::WEBHOOK_EVENTS;
use firstweek_store::{self as store, WebhookStatus};

use crate::table::{Table, clip, relative, time};

#[derive(Subcommand)]
pub enum Command {
    /// Register an endpoint; prints its signing secret, once
    ///
    /// The URL must be https://, or plain http:// to localhost or 127.0.0.1
    /// (anywhere with FIRSTWEEK_WEBHOOK_ALLOW_HTTP=true). Events written
    /// from now on are delivered, signed per Standard Webhooks with the
    /// secret printed (whsec_...): keep it, it is not shown again.
    Add {
        /// The program whose events it receives (a pair's `program_id`)
        #[arg(long)]
        program: String,
        /// Where to post them
        #[arg(long)]
        url: String,
        /// Comma-separated: escalation.opened, escalation.acknowledged,
        /// escalation.resolved, participant.unsubscribed, email.sent,
        /// email.failed, email.unknown
        #[arg(long, value_delimiter = ',', required = true)]
        events: Vec<String>,
    },
    /// Every endpoint, with its state (active or failing) and deliveries waiting or failed
    List,
    /// The latest deliveries, newest first
    Deliveries {
        /// Only this endpoint's
        #[arg(long)]
        endpoint: Option<i64>,
        /// Only those pending, delivered or failed
        #[arg(long)]
        status: Option<String>,
        /// How many
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Send a delivery again, with the same webhook-id, from the start of its retry schedule
    Replay {
        /// The delivery's id, as `webhook deliveries` shows it
        delivery: i64,
    },
    /// Remove an endpoint: nothing more is sent to it (its deliveries are kept)
    Remove {
        /// The endpoint's id, as `webhook list` shows it
        endpoint: i64,
    },
}

pub async fn run(cmd: Command, out: &mut dyn Write) -> anyhow::Result<()> {
    match cmd {
        Command::Add {
            program,
            url,
            events,
        } => add(&program, &url, events, out).await,
        Command::List => list(out).await,
        Command::Deliveries {
            endpoint,
            status,
            limit,
        } => deliveries(endpoint, status.as_deref(), limit, out).await,
        Command::Replay { delivery } => {
            let pool = crate::env::pool().await?;
            if !store::replay_webhook(&pool, delivery).await? {
                bail!("no delivery {delivery} to an endpoint that is still registered");
            }
            writeln!(
                out,
                "delivery {delivery} ({}) is sent again within seconds, from the start of its retry schedule.",
                store::message_id(delivery)
            )?;
            Ok(())
        }
        Command::Remove { endpoint } => {
            let pool = crate::env::pool().await?;
            if !store::remove_endpoint(&pool, endpoint).await? {
                bail!("no endpoint {endpoint}");
            }
            writeln!(out, "endpoint {endpoint} removed.")?;
            Ok(())
        }
    }
}

async fn add(
    program: &str,
    url: &str,
    mut events: Vec<String>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    events.iter_mut().for_each(|e| *e = e.trim().to_string());
    events.retain(|e| !e.is_empty());
    if let Some(unknown) = events
        .iter()
        .find(|e| !WEBHOOK_EVENTS.contains(&e.as_str()))
    {
        bail!(
            "{unknown:?} is not an event a webhook can receive; choose from {}",
            WEBHOOK_EVENTS.join(", ")
        );
    }
    events.sort();
    events.dedup();
    if events.is_empty() || program.trim().is_empty() {
        bail!("name the program and at least one event");
    }
    let allow_http = firstweek_settings::Environment::process().webhook_allow_http()?;
    firstweek::webhook::check_url(url, allow_http)?;
    let secret = firstweek_workers::webhooks::new_secret()?;
    let pool = crate::env::pool().await?;
    let id = store::add_endpoint(&pool, program, url, &events, &secret)
        .await
        .context("registering the endpoint")?;
    writeln!(out, "endpoint {id}: {} for {program}", events.join(","))?;
    writeln!(out, "signing secret (shown once, keep it): {secret}")?;
    Ok(())
}

async fn list(out: &mut dyn Write) -> anyhow::Result<()> {
    let pool = crate::env::pool().await?;
    let endpoints = store::endpoints(&pool).await?;
    if endpoints.is_empty() {
        writeln!(out, "no webhook endpoints.")?;
        return Ok(());
    }
    let now = chrono::Utc::now();
    let mut t = Table::new(&[
        "ID", "PROGRAM", "STATE", "PENDING", "FAILED", "EVENTS", "URL",
    ]);
    for e in endpoints {
        let state = match e.failing_since {
            Some(since) => format!("{} since {}", e.state, relative(since, now)),
            None => e.state.to_string(),
        };
        t.row(vec![
            e.id.to_string(),
            e.program_id,
            state,
            e.pending.to_string(),
            e.failed.to_string(),
            e.events.join(","),
            clip(&e.url, 60),
        ]);
    }
    t.write(out, 0)?;
    Ok(())
}

async fn deliveries(
    endpoint: Option<i64>,
    status: Option<&str>,
    limit: i64,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let status = match status {
        None => None,
        Some(s) => Some(
            WebhookStatus::parse(s)
                .with_context(|| format!("{s:?} is not pending, delivered or failed"))?,
        ),
    };
    let pool = crate::env::pool().await?;
    let rows = store::webhook_deliveries(&pool, endpoint, status, limit.clamp(1, 10_000)).await?;
    if rows.is_empty() {
        writeln!(out, "no webhook deliveries.")?;
        return Ok(());
    }
    let now = chrono::Utc::now();
    let mut t = Table::new(&[
        "ID",
        "WEBHOOK-ID",
        "ENDPOINT",
        "EVENT",
        "EVENT-ID",
        "STATUS",
        "TRIES",
        "NEXT",
        "LAST",
        "ADDED",
    ]);
    for d in rows {
        let last = match (d.last_status, d.last_error) {
            (_, Some(error)) => error,
            (Some(code), None) => code.to_string(),
            (None, None) => "-".into(),
        };
        t.row(vec![
            d.id.to_string(),
            store::message_id(d.id),
            d.endpoint_id.to_string(),
            d.event_type,
            clip(&d.event_id, 40),
            d.status.to_string(),
            d.attempts.to_string(),
            d.next_at.map_or("-".into(), |at| relative(at, now)),
            last,
            time(d.created_at),
        ]);
    }
    t.write(out, 0)?;
    Ok(())
}
