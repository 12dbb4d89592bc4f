//! `firstweek erase <person_id | address>`: forget a person, as a
//! `person.erased` event does; with `FIRSTWEEK_OUTBOX_DIR` set, the
//! worker's `.eml` files naming them go too.

use std::io::Write;

use anyhow::{Context as _, bail};
use chrono::Utc;
use firstweek::erasure::Target;
use firstweek::event::{Event, PERSON_ERASED, PersonErased};
use firstweek_broker as broker;
use firstweek_store::{self as store, ErasedVia};
use firstweek_workers::mailer::outbox;

#[derive(clap::Args)]
pub struct Args {
    /// The `id` of a mentor or mentee, or an email address (a coordinator's, or anyone's)
    pub person: String,
    /// Leave `firstweek.dead` alone (no AMQP_URL needed); the dead letters mentioning them stay
    #[arg(long)]
    pub keep_dead_letters: bool,
}

pub async fn run(args: Args, out: &mut dyn Write) -> anyhow::Result<()> {
    // The event's own rules, so the command and the event erase the same people.
    let probe = Event::Erased(PersonErased {
        event_id: "firstweek-cli".into(),
        person_id: args.person.trim().to_string(),
    });
    if let Err(e) = Event::parse(PERSON_ERASED, None, &probe.to_json(), Utc::now()) {
        bail!("{e}");
    }
    let key = crate::env::pseudonym_key()?;
    let target = Target::new(&args.person, &key);
    let pool = crate::env::pool().await?;
    // A database no service has keyed yet is keyed first (the same step
    // the services take at start-up), one keyed with another key refused.
    store::key_pseudonyms(&pool, &key).await?;
    // Dead letters and emails first, matched on what is stored of the
    // person: after the erasure nothing of them is left to match on but the id.
    let reach = store::erasure_reach(&pool, &target, &key).await?;
    let traces = &reach.traces;
    let files = match crate::env::outbox_dir() {
        Some(dir) => Some(
            outbox::remove_naming(&dir, traces, &reach.pairs)
                .with_context(|| format!("removing their emails from {}", dir.display()))?,
        ),
        None => None,
    };
    let removed = if args.keep_dead_letters {
        None
    } else {
        let conn = crate::env::amqp().await?;
        let purged = broker::purge_dead_letters(&conn, |body| traces.mentioned_in(body)).await;
        let _ = conn.close(200, "done".into()).await;
        Some(purged.context("removing their dead letters from firstweek.dead")?)
    };
    let erased = store::erase(&pool, &target, ErasedVia::Cli, &key).await?;
    let mut said = format!(
        "erased {} from {}",
        args.person.trim(),
        crate::table::count(erased.pairs as usize, "pair", "pairs")
    );
    if erased.digests_cancelled > 0 {
        said += &format!(
            "; {} not sent",
            crate::table::count(erased.digests_cancelled as usize, "digest", "digests")
        );
    }
    match removed {
        Some(p) => {
            said += &format!(
                "; {} removed",
                crate::table::count(p.removed, "dead letter", "dead letters")
            );
        }
        None => said += "; dead letters not checked (--keep-dead-letters)",
    }
    if let Some(n) = files {
        said += &format!(
            "; {} removed from the outbox",
            crate::table::count(n, "email file", "email files")
        );
    }
    if !erased.new {
        said += " (erased before)";
    }
    writeln!(out, "{said}")?;
    Ok(())
}
