//! The events API as a program uses it: keys from the operator's CLI, and
//! events `POST`ed to `firstweek-web` (`/api/v1/events`, `/api/v1/events/batch`).

use std::time::Duration;

use serde_json::{Value, json};

use crate::restricted::{RestrictedWeb, WebRole};
use crate::{TestDb, bin_dir, http::http_post_json};

/// An answer of the events API.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status code (0 when nothing answered).
    pub status: u16,
    /// The response's head (status line and headers).
    pub head: String,
    /// The body.
    pub body: String,
}

impl Answer {
    /// The body as JSON (`Null` if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// A header's value, if present (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

/// One event with its routing key, as `POST /api/v1/events` takes it.
pub fn envelope(routing_key: &str, event: &Value) -> Value {
    json!({"type": routing_key, "event": event})
}

/// POSTs `body` to `path` on `firstweek-web` at `port`, with `key` as the bearer.
pub async fn post(port: u16, path: &str, key: Option<&str>, body: &[u8]) -> Answer {
    let auth = key
        .map(|k| format!("authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    let raw = http_post_json(port, path, &auth, body).await;
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Answer {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

/// POSTs one event.
pub async fn post_event(port: u16, key: &str, routing_key: &str, event: &Value) -> Answer {
    let body = envelope(routing_key, event).to_string();
    post(port, "/api/v1/events", Some(key), body.as_bytes()).await
}

/// POSTs a batch of `(routing key, event)`.
pub async fn post_batch(port: u16, key: &str, events: &[(&str, Value)]) -> Answer {
    let events: Vec<Value> = events.iter().map(|(k, e)| envelope(k, e)).collect();
    let body = json!({ "events": events }).to_string();
    post(port, "/api/v1/events/batch", Some(key), body.as_bytes()).await
}

/// Runs `firstweek api-key …` against the database at `database_url`; its standard output.
pub async fn api_key_cli(database_url: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = tokio::process::Command::new(bin_dir().join("firstweek"))
        .arg("api-key")
        .args(args)
        .env("DATABASE_URL", database_url)
        .output()
        .await?;
    anyhow::ensure!(
        out.status.success(),
        "firstweek api-key {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Creates a key for `program` with the CLI: its id and the key, as printed once.
pub async fn create_key(database_url: &str, program: &str) -> anyhow::Result<(i64, String)> {
    let out = api_key_cli(database_url, &["create", "--program", program]).await?;
    let id = out
        .split_whitespace()
        .nth(2)
        .and_then(|w| w.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no key id in {out:?}"))?;
    let key = out
        .lines()
        .find(|l| l.starts_with("fwk_"))
        .ok_or_else(|| anyhow::anyhow!("no key in {out:?}"))?;
    Ok((id, key.to_string()))
}

/// Waits until the web answers the API (a refusal of an empty batch).
pub async fn wait_for_api(port: u16, key: &str) -> anyhow::Result<()> {
    let start = std::time::Instant::now();
    while post(port, "/api/v1/events/batch", Some(key), br#"{"events":[]}"#)
        .await
        .status
        != 422
    {
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(30),
            "firstweek-web did not answer"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// `firstweek-web` as the web's restricted database role, with a database
/// of its own (no broker: the API needs none).
pub struct ApiSite {
    /// `firstweek-web`.
    pub web: RestrictedWeb,
    /// Its database role.
    pub role: WebRole,
    /// Its database.
    pub db: TestDb,
}

impl ApiSite {
    /// Starts it; a key may publish `rate` events a minute.
    pub async fn start(rate: u32) -> anyhow::Result<ApiSite> {
        let db = TestDb::create("fwapi").await?;
        let role = WebRole::create(&db).await?;
        let rate = rate.to_string();
        let web =
            RestrictedWeb::start_with(&role, &[("FIRSTWEEK_API_RATE_PER_MINUTE", &rate)]).await?;
        Ok(ApiSite { web, role, db })
    }

    /// A new key for `program`, made by the CLI.
    pub async fn key(&self, program: &str) -> anyhow::Result<String> {
        Ok(create_key(&self.db.url, program).await?.1)
    }

    /// POSTs one event with `key`.
    pub async fn post(&self, key: &str, routing_key: &str, event: &Value) -> Answer {
        post_event(self.web.port, key, routing_key, event).await
    }
}

/// Asserts `answer` is problem details (RFC 9457) with `status`; its body.
pub fn problem(answer: &Answer, status: u16) -> Value {
    assert_eq!(answer.status, status, "{answer:?}");
    assert_eq!(
        answer.header("content-type").as_deref(),
        Some("application/problem+json"),
        "{answer:?}"
    );
    let body = answer.json();
    assert_eq!(body["status"], status, "{answer:?}");
    for member in ["type", "title", "detail"] {
        assert!(body[member].is_string(), "{member} in {answer:?}");
    }
    body
}
