//! Settings from the environment, read one at a time so a command needs only
//! what it uses (`playbook validate` needs no database), with the services'
//! own parsers ([`firstweek::config::Environment`]). URLs are never printed
//! with their password.

use std::path::PathBuf;

use anyhow::{Context as _, anyhow, bail};
use firstweek::Rules;
use firstweek::config::Environment;
use firstweek::playbook::Playbook;
use firstweek_broker as broker;
use firstweek_store as store;
use sqlx::PgPool;

fn env() -> Environment<fn(&str) -> Option<String>> {
    Environment::process()
}

/// The playbook the services use: `FIRSTWEEK_PLAYBOOK`, or the built-in one.
pub fn playbook() -> anyhow::Result<Playbook> {
    Ok(env().playbook()?)
}

/// The playbook, clock and send window the services run with; `playbook`
/// replaces `FIRSTWEEK_PLAYBOOK` (a file being tried out).
pub fn rules(playbook: Option<Playbook>) -> anyhow::Result<Rules> {
    let env = env();
    Ok(Rules {
        playbook: match playbook {
            Some(p) => p,
            None => env.playbook()?,
        },
        scale: env.scale()?,
        window: env.window()?,
    })
}

/// `FIRSTWEEK_TEMPLATES_DIR`, if set.
pub fn templates_dir() -> Option<PathBuf> {
    env().templates_dir()
}

/// Opens a small pool on `DATABASE_URL`.
pub async fn pool() -> anyhow::Result<PgPool> {
    let url = env().database_url()?;
    store::connect(&url, 2)
        .await
        .map_err(|e| anyhow!(scrub(&e.to_string(), &url)))
        .with_context(|| format!("connecting to PostgreSQL at {}", redact(&url)))
}

/// Connects to `AMQP_URL`.
pub async fn amqp() -> anyhow::Result<lapin::Connection> {
    let url = env().amqp_url()?;
    let conn = broker::connect(&url, "firstweek-cli")
        .await
        .map_err(|e| anyhow!(scrub(&e.to_string(), &url)))
        .with_context(|| format!("connecting to RabbitMQ at {}", redact(&url)))?;
    Ok(conn)
}

/// Checks that the public exchange exists (the services declare the topology
/// at start-up; the CLI does not), so a publish has somewhere to go.
pub async fn check_exchange(conn: &lapin::Connection) -> anyhow::Result<()> {
    let channel = conn.create_channel().await?;
    let passive = lapin::options::ExchangeDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let declared = channel
        .exchange_declare(
            broker::EXCHANGE.into(),
            lapin::ExchangeKind::Topic,
            passive,
            Default::default(),
        )
        .await;
    if declared.is_err() {
        bail!(
            "the exchange {:?} does not exist on this vhost: start a firstweek service first (it declares the topology)",
            broker::EXCHANGE
        );
    }
    let _ = channel.close(200, "checked".into()).await;
    Ok(())
}

/// `url` with its password replaced by `***`.
pub fn redact(url: &str) -> String {
    match password_span(url) {
        Some((start, end)) => format!("{}***{}", &url[..start], &url[end..]),
        None => url.to_string(),
    }
}

/// `text` with any occurrence of the password in `url` replaced by `***`.
pub fn scrub(text: &str, url: &str) -> String {
    match password_span(url) {
        Some((start, end)) if end > start => text.replace(&url[start..end], "***"),
        _ => text.to_string(),
    }
}

/// Byte range of the password in `scheme://user:password@host/...`.
fn password_span(url: &str) -> Option<(usize, usize)> {
    let authority_start = url.find("://")? + 3;
    let rest = &url[authority_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let at = authority.rfind('@')?;
    let colon = authority[..at].find(':')?;
    Some((authority_start + colon + 1, authority_start + at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            redact("amqp://guest:s3cret@rabbit:5672/%2f"),
            "amqp://guest:***@rabbit:5672/%2f"
        );
        assert_eq!(
            redact("postgres://postgres@127.0.0.1:5432/fw"),
            "postgres://postgres@127.0.0.1:5432/fw"
        );
        assert_eq!(
            redact("postgres:///fw?host=/run"),
            "postgres:///fw?host=/run"
        );
        assert_eq!(
            scrub("failed for s3cret", "amqp://u:s3cret@h/v"),
            "failed for ***"
        );
    }
}
