//! `firstweek dead list|show|replay`: the dead-letter queue `firstweek.dead`.
//!
//! Every command walks the queue with the broker's one dead-letter walk
//! ([`DeadLetters`]): each letter is taken once and held while the command
//! works; those not replayed are republished to the back of the queue as
//! they were, with confirms, and only then acked (never returned with a
//! requeue, which a quorum queue counts against its delivery limit). A
//! replayed message is republished where it was first published with
//! confirms (and `mandatory`, so an unroutable one is noticed) and only then
//! acked away from the dead queue: a crash in between leaves a duplicate,
//! never a loss.
//!
//! Every command takes the whole queue and puts back what it keeps in order,
//! so the numbers `dead list` shows stay valid while no new letter arrives.
//! Each letter also has an ID, the start of the identity of the message it
//! came from (`broker::identity`), that `show` and `replay` accept as well
//! and that does not move. Copies with one identity (a worker that died
//! between dead-lettering a message and acking it leaves two) are one
//! letter: listed and shown once, replayed once, all removed by the replay.

use std::io::Write;

use anyhow::{Context as _, anyhow, bail};
use chrono::Utc;
use firstweek::event::Event;
use firstweek_broker::{
    self as broker, BrokerError, DEAD_QUEUE, DeadLetters, EXCHANGE, Letter, Origin, origin,
    value_text,
};
use lapin::BasicProperties;

use crate::table::{Table, clean, clip};

/// At most this many letters are held at once by `list`, `show` and
/// `replay <n>` (which hold the whole queue to keep its order).
const HOLD_MAX: usize = 10_000;

fn hold(count: u32) -> usize {
    (count as usize).min(HOLD_MAX)
}

/// Above this many returns, say so: RabbitMQ 4 drops a quorum-queue message
/// returned more often than its delivery limit (20 by default).
const MANY_RETURNS: i64 = 10;

#[derive(clap::Subcommand)]
pub enum Command {
    /// List dead letters: routing key, reason, size, first bytes (they stay in the queue)
    List {
        /// Read at most this many
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Show one dead letter in full: properties, headers, body
    Show {
        /// Its number in `dead list`, or its ID
        letter: String,
    },
    /// Republish dead letters where they were first published, then remove them from the dead queue
    Replay {
        /// Its number in `dead list`, or its ID
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        letter: Option<String>,
        /// Every dead letter in the queue now
        #[arg(long)]
        all: bool,
    },
}

pub async fn run(cmd: Command, out: &mut dyn Write) -> anyhow::Result<()> {
    let conn = crate::env::amqp().await?;
    let Some(mut walk) = DeadLetters::open(&conn).await? else {
        let _ = conn.close(200, "done".into()).await;
        bail!(
            "the dead-letter queue {DEAD_QUEUE} does not exist on this vhost (no firstweek service has started here yet)"
        );
    };
    let count = walk.count();
    let result = match cmd {
        Command::List { limit } => list(&mut walk, count, limit, out).await,
        Command::Show { letter } => show(&mut walk, count, &letter, out).await,
        Command::Replay { letter, all } => {
            replay(&mut walk, count, if all { None } else { letter }, out).await
        }
    };
    // Anything still held goes back when the walk's channel closes.
    walk.close().await;
    let _ = conn.close(200, "done".into()).await;
    result
}

/// Takes up to `n` letters, held.
async fn take(walk: &mut DeadLetters, n: usize) -> anyhow::Result<Vec<Letter>> {
    walk.take_many(n)
        .await
        .context("reading the dead-letter queue")
}

/// Puts held letters back at the end of the queue, in order.
async fn give_back(walk: &DeadLetters, held: &[&Letter]) -> anyhow::Result<()> {
    walk.keep_all(held)
        .await
        .map_err(crate::env::broker_error)
        .context("returning a dead letter to its queue")
}

async fn list(
    walk: &mut DeadLetters,
    count: u32,
    limit: usize,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let held = take(walk, hold(count)).await?;
    let letters = distinct(&held);
    let mut table = Table::new(&[
        "#",
        "ID",
        "ROUTING KEY",
        "REASON",
        "SIZE",
        "RETURNS",
        "BODY",
    ]);
    for (i, copies) in letters.iter().enumerate().take(limit) {
        let d = &held[copies[0]];
        let origin = origin(&d.properties);
        table.row(vec![
            (i + 1).to_string(),
            fingerprint(d),
            origin.map(|o| describe(&o)).unwrap_or_else(|| "?".into()),
            clip(&reason(&d.properties), 60),
            d.data.len().to_string(),
            broker::delivery_count(&d.properties).to_string(),
            clip(
                &String::from_utf8_lossy(&d.data[..d.data.len().min(60)]),
                48,
            ),
        ]);
    }
    let refs: Vec<&Letter> = held.iter().collect();
    give_back(walk, &refs).await?;
    // More may have arrived since we counted; fewer if someone else took some.
    let total = if held.len() < hold(count) {
        letters.len()
    } else {
        (count as usize).max(held.len()) - (held.len() - letters.len())
    };
    let shown = letters.len().min(limit);
    writeln!(
        out,
        "{DEAD_QUEUE}: {}{}",
        crate::table::count(total, "dead letter", "dead letters"),
        if shown < total {
            format!(", first {shown} shown")
        } else {
            String::new()
        }
    )?;
    if !table.is_empty() {
        table.write(out, 0)?;
    }
    warn_returns(&held, out)?;
    Ok(())
}

async fn show(
    walk: &mut DeadLetters,
    count: u32,
    letter: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let held = take(walk, hold(count)).await?;
    let letters = distinct(&held);
    let found = find(&held, &letters, letter);
    let refs: Vec<&Letter> = held.iter().collect();
    give_back(walk, &refs).await?;
    let n = found? + 1;
    let first = letters[n - 1][0];
    let d = &held[first];
    let p = &d.properties;
    writeln!(
        out,
        "dead letter #{n} of {}, ID {}",
        letters.len(),
        fingerprint(d)
    )?;
    let copies = letters[n - 1].len();
    if copies > 1 {
        writeln!(
            out,
            "  copies              {copies} (the same message dead-lettered again)"
        )?;
    }
    let origin = origin(p);
    writeln!(
        out,
        "  first published to  {}",
        origin
            .as_ref()
            .map(describe)
            .unwrap_or_else(|| "unknown (no routing key header, no x-death)".into())
    )?;
    writeln!(out, "  reason              {}", clean(&reason(p)))?;
    writeln!(out, "  size                {} bytes", d.data.len())?;
    writeln!(out, "  returns             {}", broker::delivery_count(p))?;
    let props: [(&str, Option<String>); 6] = [
        (
            "content_type",
            p.content_type().as_ref().map(|v| v.to_string()),
        ),
        ("delivery_mode", p.delivery_mode().map(|v| v.to_string())),
        ("message_id", p.message_id().as_ref().map(|v| v.to_string())),
        (
            "correlation_id",
            p.correlation_id().as_ref().map(|v| v.to_string()),
        ),
        ("timestamp", p.timestamp().map(|v| v.to_string())),
        ("app_id", p.app_id().as_ref().map(|v| v.to_string())),
    ];
    writeln!(out, "properties")?;
    for (name, value) in props {
        if let Some(v) = value {
            writeln!(out, "  {name:<18}  {}", clean(&v))?;
        }
    }
    writeln!(out, "headers")?;
    match p.headers() {
        Some(h) if !h.inner().is_empty() => {
            for (k, v) in h.inner() {
                writeln!(
                    out,
                    "  {:<18}  {}",
                    clean(k.as_str()),
                    clean(&value_text(v))
                )?;
            }
        }
        _ => writeln!(out, "  (none)")?,
    }
    writeln!(out, "body")?;
    match std::str::from_utf8(&d.data) {
        Ok(text) => {
            let shown = text.replace(|c: char| c.is_control() && c != '\n' && c != '\t', "?");
            writeln!(out, "{}", shown.trim_end())?;
        }
        Err(_) => {
            writeln!(out, "  (not UTF-8; hex)")?;
            for chunk in d.data.chunks(32) {
                let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
                writeln!(out, "  {}", hex.join(" "))?;
            }
        }
    }
    if let Some(o) = origin.as_ref().filter(|o| o.exchange == EXCHANGE) {
        let content_type = p.content_type().as_ref().map(|c| c.as_str());
        let verdict = match Event::parse(&o.routing_key, content_type, &d.data, Utc::now()) {
            Ok(_) => "valid now: a replay would be accepted".to_string(),
            Err(e) => format!("still invalid: {e}"),
        };
        writeln!(out, "check (this version's parser)")?;
        writeln!(out, "  {}", clean(&verdict))?;
    }
    warn_returns(&held[first..=first], out)?;
    Ok(())
}

/// The letters held, each as the indices of its copies (one identity), in
/// the order of their first copies.
fn distinct(held: &[Letter]) -> Vec<Vec<usize>> {
    let mut ids: Vec<String> = Vec::new();
    let mut letters: Vec<Vec<usize>> = Vec::new();
    for (i, d) in held.iter().enumerate() {
        let id = broker::identity(&d.properties, &d.data);
        match ids.iter().position(|known| *known == id) {
            Some(at) => letters[at].push(i),
            None => {
                ids.push(id);
                letters.push(vec![i]);
            }
        }
    }
    letters
}

/// The index (in `letters`, see [`distinct`]) of the letter named by its
/// number (from 1) or its ID.
fn find(held: &[Letter], letters: &[Vec<usize>], letter: &str) -> anyhow::Result<usize> {
    let letter = letter.trim().trim_start_matches('#');
    if let Ok(n) = letter.parse::<usize>()
        && n <= letters.len()
    {
        if n == 0 {
            bail!("dead letters are numbered from 1");
        }
        return Ok(n - 1);
    }
    let id = letter.to_ascii_lowercase();
    if id.len() >= 4
        && let Some(i) = letters
            .iter()
            .position(|copies| fingerprint(&held[copies[0]]).starts_with(&id))
    {
        return Ok(i);
    }
    bail!(
        "there is no dead letter {letter:?} (neither a number up to {} nor an ID in {DEAD_QUEUE})",
        letters.len()
    )
}

/// A stable ID: the first 8 hex digits of the letter's identity.
fn fingerprint(d: &Letter) -> String {
    broker::identity(&d.properties, &d.data)
        .chars()
        .take(8)
        .collect()
}

async fn replay(
    walk: &mut DeadLetters,
    count: u32,
    letter: Option<String>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let (replayed, kept) = match letter {
        Some(letter) => {
            let held = take(walk, hold(count)).await?;
            let letters = distinct(&held);
            let chosen = find(&held, &letters, &letter);
            let done = match &chosen {
                Ok(i) => replay_one(walk, *i, &held[letters[*i][0]], out).await?,
                Err(_) => false,
            };
            // The copies of a replayed letter go with it.
            let gone: &[usize] = match &chosen {
                Ok(i) if done => &letters[*i],
                _ => &[],
            };
            for i in gone.iter().skip(1) {
                remove_copy(walk, &held[*i]).await?;
            }
            let kept: Vec<&Letter> = held
                .iter()
                .enumerate()
                .filter(|(i, _)| !gone.contains(i))
                .map(|(_, d)| d)
                .collect();
            give_back(walk, &kept).await?;
            chosen?;
            (usize::from(done), letters.len() - usize::from(done))
        }
        None => {
            // One at a time, only as many as the queue held when we started
            // (the walk stops there): a replayed message refused again comes
            // back behind them and is not replayed in a loop.
            // A copy of a letter replayed before in this walk is removed,
            // not published again; a copy of one kept is kept with it.
            let (mut replayed, mut kept) = (0, 0);
            let mut seen: Vec<(String, bool)> = Vec::new();
            for _ in 0..count as usize {
                let Some(d) = take(walk, 1).await?.pop() else {
                    break;
                };
                let id = broker::identity(&d.properties, &d.data);
                match seen.iter().find(|(known, _)| *known == id) {
                    Some((_, true)) => remove_copy(walk, &d).await?,
                    Some((_, false)) => give_back(walk, &[&d]).await?,
                    None => {
                        let done = replay_one(walk, seen.len(), &d, out).await?;
                        if done {
                            replayed += 1;
                        } else {
                            give_back(walk, &[&d]).await?;
                            kept += 1;
                        }
                        seen.push((id, done));
                    }
                }
            }
            (replayed, kept)
        }
    };
    writeln!(out, "replayed {replayed}, kept {kept} in {DEAD_QUEUE}")?;
    Ok(())
}

/// Replays letter `index` (0-based); whether it was replayed (and removed).
async fn replay_one(
    walk: &DeadLetters,
    index: usize,
    d: &Letter,
    out: &mut dyn Write,
) -> anyhow::Result<bool> {
    let n = index + 1;
    let Some(origin) = origin(&d.properties) else {
        writeln!(out, "#{n}: kept: where it was first published is unknown")?;
        return Ok(false);
    };
    // Republishing the start of a body would only be refused again, or worse, taken.
    if let Some(size) = broker::original_size(&d.properties) {
        writeln!(
            out,
            "#{n}: kept: only the first {} of its {size} bytes were kept; the original is not in the queue",
            d.data.len()
        )?;
        return Ok(false);
    }
    if let Err(e) = walk.replay(d, &origin).await {
        let why = match e {
            BrokerError::Unroutable(_) => anyhow!(
                "no queue is bound for {}: nothing would receive it",
                describe(&origin)
            ),
            BrokerError::Nacked(_) => anyhow!("the broker refused (nacked) the publish"),
            e => crate::env::broker_error(e),
        };
        writeln!(out, "#{n}: kept: {why:#}")?;
        return Ok(false);
    }
    walk.remove(d)
        .await
        .map_err(crate::env::broker_error)
        .context("removing a replayed message from the dead-letter queue")?;
    writeln!(out, "#{n}: replayed to {} (confirmed)", describe(&origin))?;
    Ok(true)
}

/// Removes a copy of a letter just replayed.
async fn remove_copy(walk: &DeadLetters, d: &Letter) -> anyhow::Result<()> {
    walk.remove(d)
        .await
        .map_err(crate::env::broker_error)
        .context("removing a copy of a replayed message from the dead-letter queue")
}

fn describe(o: &Origin) -> String {
    if o.exchange == EXCHANGE {
        clean(&o.routing_key)
    } else if o.exchange.is_empty() {
        format!("queue {}", clean(&o.routing_key))
    } else {
        format!("{} on {}", clean(&o.routing_key), clean(&o.exchange))
    }
}

fn reason(p: &BasicProperties) -> String {
    broker::dead_letter_reason(p).unwrap_or_else(|| "-".into())
}

fn warn_returns(held: &[Letter], out: &mut dyn Write) -> anyhow::Result<()> {
    let worn = held
        .iter()
        .filter(|d| broker::delivery_count(&d.properties) >= MANY_RETURNS)
        .count();
    if worn > 0 {
        writeln!(
            out,
            "note: {worn} dead letters have been returned {MANY_RETURNS}+ times by list/show; on RabbitMQ 4 a quorum queue drops a message past its delivery limit (20 unless a policy raises it)"
        )?;
    }
    Ok(())
}
