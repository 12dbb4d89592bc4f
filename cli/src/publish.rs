//! `firstweek publish started|interaction|ended`: publishes one test event of
//! the public contract, as another service would (persistent, JSON, with
//! publisher confirms), after checking it with the contract's own parser.

use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{anyhow, bail};
use chrono::{DateTime, Utc};
use firstweek::event::{
    Actor, Coordinator, Event, InteractionKind, InteractionRecorded, MentorshipEnded,
    MentorshipStarted, Person,
};
use firstweek::playbook::parse_offset;
use firstweek_broker::{self as broker, BrokerError, Message, Publisher};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub event: EventArgs,
    /// Print the event without publishing it (needs no AMQP_URL)
    #[arg(long, global = true)]
    pub print_only: bool,
}

/// Options every event has.
#[derive(clap::Args)]
pub struct Common {
    /// The pair (default: a new generated id)
    #[arg(long, value_name = "ID")]
    pub mentorship: Option<String>,
    /// The event's id (default: generated)
    #[arg(long, value_name = "ID")]
    pub event_id: Option<String>,
    /// When it happened: RFC 3339, `now`, or an offset from now such as -2d, +3h, -90m
    #[arg(
        long,
        value_name = "TIME",
        default_value = "now",
        allow_hyphen_values = true
    )]
    pub at: String,
}

// Parsed once per run: the size of the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(clap::Subcommand)]
pub enum EventArgs {
    /// mentorship.started
    Started {
        #[command(flatten)]
        common: Common,
        #[arg(long, value_name = "ID")]
        program: Option<String>,
        #[arg(long, default_value = "Ada Lovelace")]
        mentor_name: String,
        #[arg(long, default_value = "ada@example.org")]
        mentor_email: String,
        #[arg(long, default_value = "Europe/London", value_name = "IANA")]
        mentor_tz: String,
        #[arg(long, default_value = "Grace Hopper")]
        mentee_name: String,
        #[arg(long, default_value = "grace@example.org")]
        mentee_email: String,
        #[arg(long, default_value = "America/New_York", value_name = "IANA")]
        mentee_tz: String,
        #[arg(long, default_value = "Cy Coordinator")]
        coordinator_name: String,
        #[arg(long, default_value = "coordinator@example.org")]
        coordinator_email: String,
        #[arg(long, value_name = "IANA")]
        coordinator_tz: Option<String>,
    },
    /// interaction.recorded
    Interaction {
        #[command(flatten)]
        common: Common,
        /// message, call, meeting, plan_shared, goal_set, session or deliverable_requested
        #[arg(long, value_parser = parse_kind, default_value = "message")]
        kind: InteractionKind,
        /// mentor or mentee
        #[arg(long, value_parser = parse_actor, default_value = "mentor")]
        actor: Actor,
        /// Length of a call, meeting or session
        #[arg(long, value_name = "MINUTES")]
        duration: Option<u32>,
    },
    /// mentorship.ended
    Ended {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        reason: Option<String>,
    },
}

fn parse_kind(s: &str) -> Result<InteractionKind, String> {
    InteractionKind::parse(s).ok_or_else(|| {
        let names: Vec<&str> = InteractionKind::ALL.iter().map(|k| k.as_str()).collect();
        format!("{s:?} is not one of {}", names.join(", "))
    })
}

fn parse_actor(s: &str) -> Result<Actor, String> {
    match s {
        "mentor" => Ok(Actor::Mentor),
        "mentee" => Ok(Actor::Mentee),
        _ => Err(format!("{s:?} is not mentor or mentee")),
    }
}

/// `now`, RFC 3339, or `-2d` / `+3h` from now.
fn parse_time(s: &str, now: DateTime<Utc>) -> anyhow::Result<DateTime<Utc>> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("now") {
        return Ok(now);
    }
    if let Some(rest) = s.strip_prefix('-') {
        return Ok(now - parse_offset(rest).map_err(|e| anyhow!("--at: {e}"))?);
    }
    if let Some(rest) = s.strip_prefix('+') {
        return Ok(now + parse_offset(rest).map_err(|e| anyhow!("--at: {e}"))?);
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| anyhow!("--at: {s:?} is not now, RFC 3339 or an offset like -2d"))
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh id: `<prefix>-<time><pid><counter>` in base 36.
fn generated(prefix: &str) -> String {
    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default() as u128;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed) as u128;
    let mut v = nanos * 1_000_000 + u128::from(std::process::id()) * 100 + n % 100;
    let mut digits = Vec::new();
    while v > 0 {
        let d = (v % 36) as u32;
        digits.push(char::from_digit(d, 36).unwrap_or('0'));
        v /= 36;
    }
    digits.reverse();
    format!("{prefix}-{}", digits.into_iter().collect::<String>())
}

/// Builds the event the arguments describe.
fn build(args: EventArgs, now: DateTime<Utc>) -> anyhow::Result<Event> {
    let ids = |c: &Common| {
        (
            c.mentorship.clone().unwrap_or_else(|| generated("m")),
            c.event_id.clone().unwrap_or_else(|| generated("cli")),
        )
    };
    Ok(match args {
        EventArgs::Started {
            common,
            program,
            mentor_name,
            mentor_email,
            mentor_tz,
            mentee_name,
            mentee_email,
            mentee_tz,
            coordinator_name,
            coordinator_email,
            coordinator_tz,
        } => {
            let (mentorship_id, event_id) = ids(&common);
            let person_id = |name: &str| {
                let slug: String = name
                    .to_lowercase()
                    .chars()
                    .map(|c| if c.is_alphanumeric() { c } else { '-' })
                    .collect();
                format!("p-{slug}")
            };
            Event::Started(MentorshipStarted {
                event_id,
                mentorship_id,
                program_id: program,
                started_at: parse_time(&common.at, now)?,
                mentor: Person {
                    id: person_id(&mentor_name),
                    name: mentor_name,
                    email: mentor_email,
                    timezone: mentor_tz,
                    locale: None,
                },
                mentee: Person {
                    id: person_id(&mentee_name),
                    name: mentee_name,
                    email: mentee_email,
                    timezone: mentee_tz,
                    locale: None,
                },
                coordinator: Coordinator {
                    name: coordinator_name,
                    email: coordinator_email,
                    timezone: coordinator_tz,
                    locale: None,
                },
            })
        }
        EventArgs::Interaction {
            common,
            kind,
            actor,
            duration,
        } => {
            let (mentorship_id, event_id) = ids(&common);
            Event::Interaction(InteractionRecorded {
                event_id,
                mentorship_id,
                kind,
                actor,
                occurred_at: parse_time(&common.at, now)?,
                duration_minutes: duration,
            })
        }
        EventArgs::Ended { common, reason } => {
            let (mentorship_id, event_id) = ids(&common);
            Event::Ended(MentorshipEnded {
                event_id,
                mentorship_id,
                ended_at: parse_time(&common.at, now)?,
                reason,
            })
        }
    })
}

pub async fn run(args: Args, out: &mut dyn Write) -> anyhow::Result<()> {
    let now = Utc::now();
    let event = build(args.event, now)?;
    let body = event.to_json();
    // What the workers would refuse is not sent: the contract's own parser decides.
    Event::parse(event.routing_key(), Some("application/json"), &body, now)
        .map_err(|e| anyhow!("the event would be refused (dead-lettered): {e}"))?;
    if args.print_only {
        writeln!(out, "{}", String::from_utf8_lossy(&body))?;
        return Ok(());
    }
    let conn = crate::env::amqp().await?;
    crate::env::check_exchange(&conn).await?;
    let publisher = Publisher::open(&conn).await?;
    let message = Message::new(
        broker::EXCHANGE,
        event.routing_key(),
        &body,
        broker::persistent_json(),
    );
    let confirmed = match publisher.send(message.mandatory()).await {
        Ok(pending) => pending.confirmed().await,
        Err(e) => return Err(crate::env::broker_error(e).context("publishing")),
    };
    publisher.close().await;
    let _ = conn.close(200, "published".into()).await;
    match confirmed {
        Ok(()) => {}
        Err(BrokerError::Unroutable(_)) => bail!(
            "no queue is bound to {}: is a firstweek worker set up on this vhost?",
            event.routing_key()
        ),
        Err(BrokerError::Nacked(_)) => bail!("the broker refused (nacked) the publish"),
        Err(e) => {
            return Err(crate::env::broker_error(e).context("waiting for the broker's confirm"));
        }
    }
    writeln!(out, "{}", String::from_utf8_lossy(&body))?;
    eprintln!(
        "published {} to exchange {} (confirmed): {}, event {}",
        event.routing_key(),
        broker::EXCHANGE,
        event
            .mentorship_id()
            .map(|m| format!("mentorship {m}"))
            .unwrap_or_else(|| format!("person {}", event.lock_key())),
        event.event_id()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_now_rfc3339_or_an_offset() {
        let now: DateTime<Utc> = "2026-11-24T12:00:00Z".parse().unwrap();
        assert_eq!(parse_time("now", now).unwrap(), now);
        assert_eq!(
            parse_time("-2d", now).unwrap(),
            "2026-11-22T12:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            parse_time("+1h30m", now).unwrap(),
            "2026-11-24T13:30:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            parse_time("2026-11-20T08:00:00+01:00", now).unwrap(),
            "2026-11-20T07:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert!(parse_time("yesterday", now).is_err());
    }

    #[test]
    fn generated_ids_are_unique_and_valid() {
        let a = generated("m");
        let b = generated("m");
        assert_ne!(a, b);
        assert!(a.starts_with("m-") && a.len() <= 128, "{a}");
    }
}
