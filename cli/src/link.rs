//! `firstweek link revoke`: make the links firstweek emailed open nothing
//! more, for one pair, one mentor or mentee, or one coordinator (a forwarded
//! digest, a lost phone). A revoked link shows the page saying it no longer
//! works; the next digest or email brings new ones.

use std::io::Write;

use firstweek_store as store;

/// The subcommands.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Revoke links: those of a pair, a person, or a coordinator (needs DATABASE_URL)
    ///
    /// `--pair`: the pair's acknowledge links and its mentor's and mentee's
    /// answer and unsubscribe links. `--person`: a mentor's or mentee's links
    /// in every pair they are part of. `--coordinator`: their page links
    /// (every digest they were sent) and the acknowledge links of their
    /// escalations.
    Revoke(Revoke),
}

/// Whose links to revoke: exactly one.
#[derive(clap::Args)]
#[group(required = true, multiple = false)]
pub struct Revoke {
    /// A pair's mentorship id
    #[arg(long)]
    pair: Option<String>,
    /// A mentor's or mentee's id (as in `mentorship.started`)
    #[arg(long)]
    person: Option<String>,
    /// A coordinator's address, or their key (`coordinator-…`, as `escalation.*` events carry it)
    #[arg(long)]
    coordinator: Option<String>,
}

/// Runs one subcommand.
pub async fn run(cmd: Command, out: &mut dyn Write) -> anyhow::Result<()> {
    let Command::Revoke(who) = cmd;
    let pool = crate::env::pool().await?;
    let (revoked, whose) = match (who.pair, who.person, who.coordinator) {
        (Some(pair), _, _) => (store::revoke_links_of_pair(&pool, &pair).await?, "the pair"),
        (_, Some(person), _) => (
            store::revoke_links_of_person(&pool, &person).await?,
            "the person",
        ),
        (_, _, Some(coordinator)) => (
            store::revoke_links_of_coordinator(&pool, &coordinator, &crate::env::pseudonym_key()?)
                .await?,
            "the coordinator",
        ),
        // clap requires exactly one of them.
        (None, None, None) => anyhow::bail!("say whose links: --pair, --person or --coordinator"),
    };
    writeln!(out, "{revoked} link(s) of {whose} revoked")?;
    Ok(())
}
