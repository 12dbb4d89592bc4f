//! `firstweek`: the operator's command line.
//!
//! Reads `DATABASE_URL` and `AMQP_URL` (and the `FIRSTWEEK_*` settings the
//! services read) from the environment, each only when a command needs it.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod api_key;
mod at_risk;
mod chat;
mod dead;
mod env;
mod erase;
mod escalation;
mod experiments;
mod link;
mod playbook;
mod publish;
mod report;
mod resend;
mod sample;
mod table;
mod template;
mod timeline;
mod webhook;

/// Operate firstweek: look at pairs and dead letters, check playbooks and
/// templates, publish test events.
#[derive(Parser)]
#[command(name = "firstweek", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per run: the size of the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// API keys for the events API: create, list, revoke (needs DATABASE_URL)
    ///
    /// Programs publish events over HTTP (`POST /api/v1/events` on
    /// firstweek-web) with a key scoped to their program. A key is printed
    /// once, when created; only its SHA-256 is stored.
    #[command(subcommand)]
    ApiKey(api_key::Command),
    /// One pair: people, timeline rows, deliveries and interactions (needs DATABASE_URL)
    ///
    /// Every timeline row (step, recipient, due and send times, status, tries,
    /// delivery-ledger status, and the outcome: why it was skipped or failed),
    /// the delivery ledger with Message-IDs, and the interactions counted by
    /// kind and side. Read-only.
    Timeline(timeline::Args),
    /// Pairs in or just past their first week that the escalation rules flag now (needs DATABASE_URL)
    ///
    /// The rules are the `when` lists of the playbook's timed steps to the
    /// coordinator (built-in: `escalation_early` and `escalation`). A step
    /// already due is judged as of its due time, as the workers did; one still
    /// ahead is judged as of now. Reads FIRSTWEEK_PLAYBOOK and
    /// FIRSTWEEK_TIME_SCALE as the services do. Read-only.
    AtRisk(at_risk::Args),
    /// Escalations in Slack or Teams: add, list, remove a program's chat routes (needs DATABASE_URL)
    ///
    /// A route posts a program's coordinator escalations (and, with
    /// --digest, their daily digests) to a Slack incoming webhook or a Teams
    /// workflow webhook, beside the email or instead of it. Webhook URLs are
    /// secrets: kept in the database, shown by host only.
    #[command(subcommand)]
    Chat(chat::Command),
    /// Dead letters in `firstweek.dead`: list, show, replay (needs AMQP_URL)
    ///
    /// A replayed letter is republished, with publisher confirms, where it was
    /// first published (exchange `firstweek` and its original routing key, or
    /// the queue the broker dead-lettered it from), then acked away. The
    /// others stay in the queue, in order.
    #[command(subcommand)]
    Dead(dead::Command),
    /// Forget a person, as a `person.erased` event does (needs DATABASE_URL and AMQP_URL)
    ///
    /// No more email to them; their name, address and time zone are
    /// replaced in every pair naming them (the pairs' counts stay), only a
    /// hash is kept so a later start naming them is stored with the
    /// placeholder, and the dead letters mentioning them are removed from
    /// `firstweek.dead` (the others are republished there, with confirms).
    Erase(erase::Args),
    /// Escalations: list, show, acknowledge, resolve (needs DATABASE_URL)
    ///
    /// An escalation is opened by the first coordinator step that fires for
    /// a pair; later ones add their evidence. Acknowledging stops its
    /// reminder; resolving by hand closes it without a resolution email.
    /// Both are announced on the exchange (`escalation.*`).
    #[command(subcommand)]
    Escalation(escalation::Command),
    /// Links in emails: revoke those of a pair, a person or a coordinator (needs DATABASE_URL)
    ///
    /// A revoked link opens the page saying it no longer works. Links are
    /// also revoked by themselves: on erasure, when a correction hands a
    /// pair to another coordinator (the first one's acknowledge links), and
    /// when a pair ends (its answer links).
    #[command(subcommand)]
    Link(link::Command),
    /// Check a playbook file, or preview what it would do to the stored pairs
    #[command(subcommand)]
    Playbook(playbook::Command),
    /// Publish a test event of the public contract, with confirms (needs AMQP_URL)
    ///
    /// Defaults make a valid event with generated ids; the event is checked
    /// with firstweek's own parser before it is sent, and the JSON sent is
    /// printed on standard output.
    Publish(publish::Args),
    /// Reports over the stored pairs: `outcomes`, `experiments` (needs DATABASE_URL)
    #[command(subcommand)]
    Report(report::Command),
    /// Send one email again whose delivery failed or whose outcome is unknown (needs DATABASE_URL)
    ///
    /// firstweek never resends an email by itself once the SMTP server may
    /// have it (outcome unknown), nor one refused for good (failed). After
    /// checking (the recipient's mailbox, the relay's logs), an operator can:
    /// the ledger entry is cleared and the step scheduled again; a worker
    /// sends it with the same Message-ID.
    Resend(resend::Args),
    /// Preview email templates (built-in, or overridden from FIRSTWEEK_TEMPLATES_DIR)
    #[command(subcommand)]
    Template(template::Command),
    /// Signed webhooks out: add, list, deliveries, replay, remove (needs DATABASE_URL)
    ///
    /// A program's endpoints receive the events they chose (escalation.*,
    /// participant.unsubscribed, email.*) as the exchange carries them,
    /// signed per Standard Webhooks, retried for about a day; an endpoint
    /// whose delivery used up its retries is listed as failing.
    #[command(subcommand)]
    Webhook(webhook::Command),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut stdout = std::io::stdout().lock();
    let result = run(cli, &mut stdout).and_then(|()| Ok(stdout.flush()?));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `firstweek dead list | head`: the reader left; that is not an error.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            drop(stdout);
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli, out: &mut dyn Write) -> anyhow::Result<()> {
    match cli.command {
        Command::Template(cmd) => template::run(cmd, out),
        Command::Playbook(playbook::Command::Validate { file }) => playbook::validate(&file, out),
        command => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            runtime.block_on(run_async(command, out))
        }
    }
}

async fn run_async(command: Command, out: &mut dyn Write) -> anyhow::Result<()> {
    match command {
        Command::ApiKey(cmd) => api_key::run(cmd, out).await,
        Command::Timeline(args) => timeline::run(args, out).await,
        Command::AtRisk(args) => at_risk::run(args, out).await,
        Command::Chat(cmd) => chat::run(cmd, out).await,
        Command::Dead(cmd) => dead::run(cmd, out).await,
        Command::Erase(args) => erase::run(args, out).await,
        Command::Escalation(cmd) => escalation::run(cmd, out).await,
        Command::Link(cmd) => link::run(cmd, out).await,
        Command::Playbook(playbook::Command::DryRun(args)) => playbook::dry_run(args, out).await,
        Command::Playbook(playbook::Command::List) => playbook::list(out).await,
        Command::Playbook(playbook::Command::Diff {
            old,
            new,
            mentorship,
        }) => playbook::diff(&old, &new, mentorship, out).await,
        Command::Playbook(playbook::Command::Validate { file }) => playbook::validate(&file, out),
        Command::Publish(args) => publish::run(args, out).await,
        Command::Report(cmd) => report::run(cmd, out).await,
        Command::Resend(args) => resend::run(args, out).await,
        Command::Template(cmd) => template::run(cmd, out),
        Command::Webhook(cmd) => webhook::run(cmd, out).await,
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
