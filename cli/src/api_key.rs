//! `firstweek api-key`: the keys programs publish events over HTTP with
//! (`POST /api/v1/events` on firstweek-web). A key is printed once, when it
//! is created; only its hash is stored. Each key publishes for one program:
//! starts naming it as their `program_id`, and events about its pairs and
//! the people in them.

use std::io::Write;

use firstweek_store as store;

use crate::table::{self, Table};

/// The subcommands.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Create a key for a program and print it (only now) (needs DATABASE_URL)
    Create {
        /// The program the key publishes for (a start's `program_id`)
        #[arg(long)]
        program: String,
    },
    /// List the keys: id, program, created, last used, revoked (never the key) (needs DATABASE_URL)
    List,
    /// Revoke a key by its id: it is refused (401) from its next request (needs DATABASE_URL)
    Revoke {
        /// The key's id, as `list` shows it
        id: i64,
    },
}

/// Runs one subcommand.
pub async fn run(cmd: Command, out: &mut dyn Write) -> anyhow::Result<()> {
    let pool = crate::env::pool().await?;
    match cmd {
        Command::Create { program } => {
            let n = program.chars().count();
            anyhow::ensure!(
                (1..=firstweek::event::MAX_ID_CHARS).contains(&n)
                    && !program.chars().any(|c| c.is_whitespace() || c.is_control()),
                "--program must be a program id: 1 to 128 characters, no whitespace"
            );
            let (id, key) = store::create_api_key(&pool, &program).await?;
            writeln!(out, "API key {id} for program {program} (shown only now):")?;
            writeln!(out, "{}", key.as_str())?;
        }
        Command::List => {
            let keys = store::api_keys(&pool).await?;
            let mut t = Table::new(&["id", "program", "created", "last used", "revoked"]);
            let at = |t: Option<chrono::DateTime<chrono::Utc>>| {
                t.map(table::time).unwrap_or_else(|| "-".into())
            };
            for k in &keys {
                t.row(vec![
                    k.id.to_string(),
                    table::clean(&k.program_id),
                    table::time(k.created_at),
                    at(k.last_used_at),
                    at(k.revoked_at),
                ]);
            }
            if t.is_empty() {
                writeln!(out, "no API keys")?;
            } else {
                t.write(out, 0)?;
            }
        }
        Command::Revoke { id } => {
            if store::revoke_api_key(&pool, id).await? {
                writeln!(out, "API key {id} revoked")?;
            } else {
                anyhow::bail!("no live API key {id}");
            }
        }
    }
    Ok(())
}
