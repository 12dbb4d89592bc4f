//! Settings from the environment, read one at a time so a command needs only
//! what it uses (`playbook validate` needs no database). Values follow the
//! services' meaning (`firstweek::config`); URLs are never printed with their
//! password.

use std::path::PathBuf;

use anyhow::{Context as _, anyhow, bail};
use firstweek::playbook::Playbook;
use firstweek::timeline::{SendWindow, TimeScale};
use firstweek::{broker, store};
use sqlx::PgPool;

/// A non-empty environment variable.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn required(name: &str, hint: &str) -> anyhow::Result<String> {
    var(name).ok_or_else(|| anyhow!("{name} is not set ({hint})"))
}

/// The playbook the services use: `FIRSTWEEK_PLAYBOOK`, or the built-in one.
pub fn playbook() -> anyhow::Result<Playbook> {
    match var("FIRSTWEEK_PLAYBOOK") {
        Some(path) => Playbook::load(std::path::Path::new(&path)).context("FIRSTWEEK_PLAYBOOK"),
        None => Ok(Playbook::built_in()),
    }
}

/// `FIRSTWEEK_TIME_SCALE` (default 1).
pub fn scale() -> anyhow::Result<TimeScale> {
    match var("FIRSTWEEK_TIME_SCALE") {
        None => Ok(TimeScale::REAL),
        Some(s) => s
            .parse::<f64>()
            .ok()
            .and_then(TimeScale::new)
            .ok_or_else(|| anyhow!("FIRSTWEEK_TIME_SCALE: {s:?} is not a number of at least 1")),
    }
}

/// `FIRSTWEEK_SEND_WINDOW` (default 08:00-20:00).
pub fn window() -> anyhow::Result<SendWindow> {
    match var("FIRSTWEEK_SEND_WINDOW") {
        None => Ok(SendWindow::default()),
        Some(s) => SendWindow::parse(&s).map_err(|p| anyhow!("FIRSTWEEK_SEND_WINDOW: {p}")),
    }
}

/// `FIRSTWEEK_TEMPLATES_DIR`, if set.
pub fn templates_dir() -> Option<PathBuf> {
    var("FIRSTWEEK_TEMPLATES_DIR").map(PathBuf::from)
}

/// Opens a small pool on `DATABASE_URL`.
pub async fn pool() -> anyhow::Result<PgPool> {
    let url = required(
        "DATABASE_URL",
        "e.g. postgres://firstweek@127.0.0.1/firstweek",
    )?;
    store::connect(&url, 2)
        .await
        .map_err(|e| anyhow!(scrub(&e.to_string(), &url)))
        .with_context(|| format!("connecting to PostgreSQL at {}", redact(&url)))
}

/// Connects to `AMQP_URL`.
pub async fn amqp() -> anyhow::Result<lapin::Connection> {
    let url = required("AMQP_URL", "e.g. amqp://guest:guest@127.0.0.1:5672/%2f")?;
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
