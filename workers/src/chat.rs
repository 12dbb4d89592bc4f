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
    /// One request's limit, connect to answer.
    timeout: Duration,
    /// The first wait between tries (doubling).
    first_wait: Duration,
}

impl ChatPoster {
    /// A client whose requests take at most `timeout` ([`TIMEOUT`] in the
    /// worker); `first_wait` before the second try.
    pub fn new(timeout: Duration, first_wait: Duration) -> Result<ChatPoster, PostError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("firstweek")
            .build()
            .map_err(|e| PostError::Permanent(format!("no HTTP client: {}", e.without_url())))?;
        Ok(ChatPoster {
            client,
            timeout,
            first_wait,
        })
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
                let limit = self.timeout;
                return Err(PostError::Unknown(format!("no answer within {limit:?}")));
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A webhook on loopback answering the `n`-th request with `statuses[n]`
    /// (the last one from then on; `0`: no answer at all); how many came.
    async fn webhook(statuses: Vec<u16>) -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let seen = Arc::new(AtomicUsize::new(0));
        let count = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let n = count.fetch_add(1, Ordering::SeqCst);
                let status = statuses[n.min(statuses.len() - 1)];
                tokio::spawn(async move {
                    let mut buf = vec![0; 65536];
                    let _ = s.read(&mut buf).await;
                    if status == 0 {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        return;
                    }
                    let answer = format!(
                        "HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nno"
                    );
                    let _ = s.write_all(answer.as_bytes()).await;
                });
            }
        });
        (url, seen)
    }

    fn poster() -> ChatPoster {
        ChatPoster::new(Duration::from_millis(500), Duration::from_millis(10)).unwrap()
    }

    #[tokio::test]
    async fn a_busy_webhook_is_tried_again_and_a_refusal_is_not() {
        let body = serde_json::json!({"text": "hi"});
        let (url, seen) = webhook(vec![503, 429, 200]).await;
        assert_eq!(poster().post(&url, &body).await, Ok(()));
        assert_eq!(seen.load(Ordering::SeqCst), 3);

        let (url, seen) = webhook(vec![503]).await;
        let err = poster().post(&url, &body).await;
        assert!(
            matches!(err, Err(PostError::Transient(ref w)) if w.contains("503") && w.contains("3 tries")),
            "{err:?}"
        );
        assert_eq!(seen.load(Ordering::SeqCst), TRIES as usize);

        let (url, seen) = webhook(vec![404, 200]).await;
        let err = poster().post(&url, &body).await;
        assert!(
            matches!(err, Err(PostError::Permanent(ref w)) if w.contains("404")),
            "{err:?}"
        );
        assert_eq!(seen.load(Ordering::SeqCst), 1, "a refusal is final");
    }

    #[tokio::test]
    async fn no_answer_is_unknown_and_never_repeated_and_no_connection_is_transient() {
        let body = serde_json::json!({"text": "hi"});
        let (url, seen) = webhook(vec![0, 200]).await;
        let err = poster().post(&url, &body).await;
        assert!(matches!(err, Err(PostError::Unknown(_))), "{err:?}");
        assert_eq!(seen.load(Ordering::SeqCst), 1, "it may have been posted");

        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}/secret-path", l.local_addr().unwrap())
        };
        let err = poster().post(&closed, &body).await;
        assert!(matches!(err, Err(PostError::Transient(_))), "{err:?}");
        assert!(
            !format!("{err:?}").contains("secret-path"),
            "no URL in errors: {err:?}"
        );
    }
}
