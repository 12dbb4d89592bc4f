//! Posts chat messages to Slack and Teams webhooks (reqwest, one client
//! for the process). Every failure is classified, as the mailer's are:
//! - `Transient`: nothing was posted (no connection, `429`, a `5xx`): it
//!   is tried again here a few times with backoff, then the caller decides
//!   ([`crate::steps`]: the row is retried later while no email goes instead);
//! - `Permanent`: the webhook refused the message (another `4xx`: a
//!   revoked webhook, a payload it does not take): never retried;
//! - `Unknown`: the request was sent and no answer came in time: the
//!   message may be in the channel, so it is never posted again.
//!
//! The URL is a secret: no error or log line here carries it (reqwest's
//! errors are stripped of it).

use std::time::Duration;

use firstweek_ops::backoff::Backoff;

/// How long one request may take, connect to answer.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Tries of one post while it fails transiently, the first included.
pub const TRIES: u32 = 3;

/// How a post ended badly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostError {
    /// Nothing was posted: worth trying again.
    #[error("transient: {0}")]
    Transient(String),
    /// The webhook refused it: never retry.
    #[error("permanent: {0}")]
    Permanent(String),
    /// Sent, no answer: it may have been posted.
    #[error("unknown: {0}")]
    Unknown(String),
}

/// The webhook client.
pub struct ChatPoster {
    client: reqwest::Client,
    /// The first wait between tries (doubling).
    first_wait: Duration,
}

impl ChatPoster {
    /// A client with [`TIMEOUT`]; `first_wait` before the second try.
    pub fn new(first_wait: Duration) -> Result<ChatPoster, PostError> {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("firstweek")
            .build()
            .map_err(|e| PostError::Permanent(format!("no HTTP client: {}", e.without_url())))?;
        Ok(ChatPoster { client, first_wait })
    }

    /// Posts `payload` to `url`, up to [`TRIES`] times while it fails transiently.
    pub async fn post(&self, url: &str, payload: &serde_json::Value) -> Result<(), PostError> {
        let mut backoff = Backoff::new(self.first_wait, self.first_wait * 8);
        let mut tries = 1;
        loop {
            match self.post_once(url, payload).await {
                Err(PostError::Transient(why)) if tries < TRIES => {
                    tracing::warn!(error = %why, tries, "chat post failed; trying again");
                    tokio::time::sleep(backoff.next_delay()).await;
                    tries += 1;
                }
                Err(PostError::Transient(why)) => {
                    return Err(PostError::Transient(format!("{why} ({tries} tries)")));
                }
                other => return other,
            }
        }
    }

    async fn post_once(&self, url: &str, payload: &serde_json::Value) -> Result<(), PostError> {
        let response = self.client.post(url).json(payload).send().await;
        let response = match response {
            Ok(r) => r,
            // Before anything was sent: a connection refused or not made in time.
            Err(e) if e.is_connect() => {
                return Err(PostError::Transient(e.without_url().to_string()));
            }
            Err(e) if e.is_builder() => {
                return Err(PostError::Permanent(e.without_url().to_string()));
            }
            Err(e) if e.is_timeout() => {
                return Err(PostError::Unknown(format!(
                    "no answer within {TIMEOUT:?}"
                )));
            }
            Err(e) => return Err(PostError::Unknown(e.without_url().to_string())),
        };
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        // The answer's first words say why (Slack: `invalid_blocks`, `no_service`).
        let body: String = response
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect();
        let why = format!("HTTP {}: {}", status.as_u16(), body.trim());
        if status.as_u16() == 429 || status.is_server_error() {
            Err(PostError::Transient(why))
        } else {
            Err(PostError::Permanent(why))
        }
    }
}
