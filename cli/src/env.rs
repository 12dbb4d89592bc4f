//! Settings from the environment, read one at a time so a command needs only
//! what it uses (`playbook validate` needs no database), with the services'
//! own parsers ([`firstweek_settings::Environment`]). URLs are never printed
//! with their password.

use std::path::PathBuf;

use anyhow::{Context as _, anyhow, bail};
use firstweek::Rules;
use firstweek::playbook::Playbook;
use firstweek_broker as broker;
use firstweek_settings::Environment;
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
        programs: env.programs()?,
        scale: env.scale()?,
        window: env.window()?,
    })
}

/// `FIRSTWEEK_OUTBOX_DIR`, if set: the worker's `.eml` files.
pub fn outbox_dir() -> Option<PathBuf> {
    env().outbox_dir_set()
}

/// `FIRSTWEEK_PSEUDONYM_KEY`: the services' key, for a command that
/// computes pseudonyms (`erase`). Never printed.
pub fn pseudonym_key() -> anyhow::Result<firstweek::pseudonym::PseudonymKey> {
    Ok(env().pseudonym_key()?)
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

/// Connects to `AMQP_URL`: the first of its nodes that answers (the
/// services' list of one URL per node is accepted as it is).
pub async fn amqp() -> anyhow::Result<lapin::Connection> {
    let addrs = env().amqp_url()?;
    let conn = broker::connect(&addrs, "firstweek-cli")
        .await
        .map_err(|e| {
            let text = addrs
                .nodes()
                .iter()
                .fold(e.to_string(), |t, n| scrub(&t, n.url()));
            anyhow!(text)
        })
        .with_context(|| format!("connecting to RabbitMQ at {addrs}"))?;
    Ok(conn)
}

/// A broker error as the AMQP client said it (what the CLI printed before
/// the broker crate wrapped it).
pub fn broker_error(e: broker::BrokerError) -> anyhow::Error {
    match e {
        broker::BrokerError::Amqp(e) => e.into(),
        e => e.into(),
    }
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

/// `url` with its passwords replaced by `***`: the one in `user:password@`
/// and any given as a query parameter (`?password=...`, `sslpassword=...`,
/// which libpq and sqlx accept).
pub fn redact(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    let mut last = 0;
    for (start, end) in password_spans(url) {
        out.push_str(&url[last..start]);
        out.push_str("***");
        last = end;
    }
    out.push_str(&url[last..]);
    out
}

/// `text` with any occurrence of a password in `url` replaced by `***`.
pub fn scrub(text: &str, url: &str) -> String {
    password_spans(url)
        .into_iter()
        .fold(text.to_string(), |t, (start, end)| {
            t.replace(&url[start..end], "***")
        })
}

/// Byte ranges of the passwords in `scheme://user:password@host/...?password=...`,
/// in order, none empty.
fn password_spans(url: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let Some(scheme_end) = url.find("://") else {
        return spans;
    };
    let authority_start = scheme_end + 3;
    let rest = &url[authority_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    if let Some(at) = authority.rfind('@')
        && let Some(colon) = authority[..at].find(':')
        && colon + 1 < at
    {
        spans.push((authority_start + colon + 1, authority_start + at));
    }
    let Some(query_start) = url.find('?').map(|q| q + 1) else {
        return spans;
    };
    let query_end = url[query_start..]
        .find('#')
        .map_or(url.len(), |h| query_start + h);
    let mut pos = query_start;
    for pair in url[query_start..query_end].split('&') {
        if let Some((key, value)) = pair.split_once('=')
            && key.to_ascii_lowercase().ends_with("password")
            && !value.is_empty()
        {
            let value_start = pos + key.len() + 1;
            spans.push((value_start, value_start + value.len()));
        }
        pos += pair.len() + 1;
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_given_as_a_url_parameter_is_hidden_too() {
        assert_eq!(
            redact("postgres://fw@db:5432/fw?sslmode=require&password=hunter2"),
            "postgres://fw@db:5432/fw?sslmode=require&password=***"
        );
        assert_eq!(
            redact("postgres:///fw?password=hunter2&host=/run"),
            "postgres:///fw?password=***&host=/run"
        );
        assert_eq!(
            redact("postgres://fw:one@db/fw?PassWord=two#x"),
            "postgres://fw:***@db/fw?PassWord=***#x"
        );
        assert_eq!(
            redact("postgres://db/fw?sslpassword=key-pass"),
            "postgres://db/fw?sslpassword=***"
        );
        let url = "postgres://fw@db/fw?password=hunter2";
        assert_eq!(
            scrub("auth failed for hunter2 at db", url),
            "auth failed for *** at db"
        );
        // A parameter merely ending in "password" that is empty stays as it is.
        assert_eq!(
            redact("postgres://db/fw?password="),
            "postgres://db/fw?password="
        );
    }

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
