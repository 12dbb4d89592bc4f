//! `firstweek chat`: route a program's coordinator messages to Slack or
//! Teams. A webhook URL is a secret (whoever has it posts to the channel),
//! so routes live in PostgreSQL, not in a playbook file that is committed,
//! reviewed and copied around; and no command prints more of a URL than
//! its host.

use std::io::Write;

use anyhow::bail;
use firstweek::chat::Platform;
use firstweek_store::{self as store, NewChatRoute};

use crate::table::Table;

/// The subcommands.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Post a program's escalations (and with --digest its digests) to a Slack or Teams webhook
    ///
    /// Email stays the default: without --instead-of-email the coordinator
    /// gets both. With it, no email goes while a post succeeds (when none
    /// can be posted, the email goes after all). Adding the same program,
    /// platform and URL again changes its options.
    Add(Add),
    /// The routes, with each URL's host only
    List,
    /// Stop posting through a route
    Remove {
        /// The route's id, as `chat list` shows it
        id: i64,
    },
}

/// Where to post: one webhook.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("webhook").required(true).args(["slack", "teams"])))]
pub struct Add {
    /// The program (its `program_id` in `mentorship.started`)
    #[arg(long)]
    program: String,
    /// A Slack incoming webhook URL (https://hooks.slack.com/services/…)
    #[arg(long)]
    slack: Option<String>,
    /// A Teams workflow webhook URL ("Post to a channel when a webhook request is received")
    #[arg(long)]
    teams: Option<String>,
    /// The coordinators' daily digests too
    #[arg(long)]
    digest: bool,
    /// No email while a post succeeds
    #[arg(long)]
    instead_of_email: bool,
}

/// Runs one subcommand.
pub async fn run(cmd: Command, out: &mut dyn Write) -> anyhow::Result<()> {
    let pool = crate::env::pool().await?;
    match cmd {
        Command::Add(add) => {
            let (platform, url) = match (&add.slack, &add.teams) {
                (Some(url), None) => (Platform::Slack, url.as_str()),
                (None, Some(url)) => (Platform::Teams, url.as_str()),
                // clap requires exactly one of them.
                _ => bail!("say where: --slack URL or --teams URL"),
            };
            check_url(url)?;
            let route = NewChatRoute {
                program_id: &add.program,
                platform,
                url,
                digest: add.digest,
                instead_of_email: add.instead_of_email,
            };
            let id = store::add_chat_route(&pool, &route).await?;
            writeln!(
                out,
                "chat route {id}: {} of program {} to {platform} ({})",
                carries(add.digest),
                add.program,
                beside(add.instead_of_email)
            )?;
        }
        Command::List => {
            let routes = store::chat_routes(&pool).await?;
            let mut table = Table::new(&["id", "program", "platform", "url", "carries", "email"]);
            for r in &routes {
                table.row(vec![
                    r.id.to_string(),
                    r.program_id.clone(),
                    r.platform.to_string(),
                    r.shown_url(),
                    carries(r.digest).to_string(),
                    beside(r.instead_of_email).to_string(),
                ]);
            }
            if table.is_empty() {
                writeln!(out, "no chat routes: coordinators are emailed only")?;
            } else {
                table.write(out, 0)?;
            }
        }
        Command::Remove { id } => {
            if !store::remove_chat_route(&pool, id).await? {
                bail!("no chat route {id}");
            }
            writeln!(out, "chat route {id} removed")?;
        }
    }
    Ok(())
}

fn carries(digest: bool) -> &'static str {
    if digest {
        "escalations and digests"
    } else {
        "escalations"
    }
}

fn beside(instead: bool) -> &'static str {
    if instead {
        "instead of email"
    } else {
        "beside email"
    }
}

/// A webhook is reached over HTTPS; plain HTTP only on this machine (a
/// local relay, a test receiver).
fn check_url(url: &str) -> anyhow::Result<()> {
    if url
        .strip_prefix("https://")
        .is_some_and(|rest| !rest.is_empty())
    {
        return Ok(());
    }
    if let Some(rest) = url.strip_prefix("http://") {
        let host = rest.split(['/', ':']).next().unwrap_or_default();
        if matches!(host, "127.0.0.1" | "localhost") {
            return Ok(());
        }
    }
    bail!("a webhook URL starts with https:// (http:// only to 127.0.0.1 or localhost)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhooks_are_https_but_on_this_machine() {
        assert!(check_url("https://hooks.slack.com/services/T/B/x").is_ok());
        assert!(check_url("http://127.0.0.1:8080/slack").is_ok());
        assert!(check_url("http://localhost/teams").is_ok());
        assert!(check_url("http://hooks.slack.com/services/T/B/x").is_err());
        assert!(check_url("https://").is_err());
        assert!(check_url("hooks.slack.com").is_err());
    }
}
