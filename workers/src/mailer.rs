//! Sends composed emails: over SMTP (our own small pool of connections with
//! TCP_NODELAY, see crate-notes on lettre's Nagle stall) or, without
//! `SMTP_URL`, as `.eml` files in the outbox directory.
//!
//! Every failure is classified, because what happens next depends on it:
//! - `Transient`: nothing was delivered (connection refused, a 4xx): retry later.
//! - `Permanent`: the server refused the message (5xx): never retry.
//! - `Unknown`: the message was handed over but no final reply came in time:
//!   the server may have it. Policy: never resend (prefer no duplicate).
//!   (A connection that breaks before the final reply is `Transient`: per
//!   RFC 5321 the server has not taken responsibility.)

use std::path::PathBuf;
use std::time::Duration;

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, MailParameter};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use firstweek::email::Composed;

/// How one send ended badly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    #[error("transient: {0}")]
    Transient(String),
    #[error("permanent: {0}")]
    Permanent(String),
    #[error("outcome unknown: {0}")]
    Unknown(String),
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const POOL_SIZE: usize = 8;

/// Called right before the message is handed over (see [`Mailer::send`]).
pub type Handover = dyn Fn() -> futures_util::future::BoxFuture<'static, Result<(), String>> + Send + Sync;

/// Where emails go.
pub enum Mailer {
    Smtp(SmtpPool),
    Outbox(PathBuf),
}

impl Mailer {
    /// Builds the mailer from `SMTP_URL` (or the outbox when unset).
    pub fn new(smtp_url: Option<&str>, outbox: PathBuf, timeout: Duration) -> anyhow::Result<Mailer> {
        match smtp_url {
            None => {
                std::fs::create_dir_all(&outbox).map_err(|e| {
                    anyhow::anyhow!("FIRSTWEEK_OUTBOX_DIR {}: {e}", outbox.display())
                })?;
                Ok(Mailer::Outbox(outbox))
            }
            Some(url) => Ok(Mailer::Smtp(SmtpPool::parse(url, timeout)?)),
        }
    }

    /// Sends one email.
    /// `handover` runs just before the message itself goes out (after the
    /// server accepted sender and recipients): it records that from now on
    /// the outcome may be unknown. If it fails, nothing is sent.
    pub async fn send(&self, email: &Composed, file_stem: &str, handover: &Handover) -> Result<(), MailError> {
        match self {
            Mailer::Smtp(pool) => pool.send(email, handover).await,
            Mailer::Outbox(dir) => {
                handover().await.map_err(MailError::Transient)?;
                write_eml(dir, file_stem, &email.message.formatted()).await
            }
        }
    }
}

/// Writes atomically (temp file, then rename) so a reader never sees half a message.
async fn write_eml(dir: &std::path::Path, stem: &str, bytes: &[u8]) -> Result<(), MailError> {
    let safe: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let tmp = dir.join(format!(".{safe}.tmp"));
    let path = dir.join(format!("{safe}.eml"));
    tokio::fs::write(&tmp, bytes)
        .await
        .map_err(|e| MailError::Transient(format!("writing {}: {e}", tmp.display())))?;
    tokio::fs::rename(&tmp, &path)
        .await
        .map_err(|e| MailError::Transient(format!("renaming to {}: {e}", path.display())))
}

/// A few reusable SMTP connections to one server.
pub struct SmtpPool {
    host: String,
    port: u16,
    credentials: Option<Credentials>,
    hello: ClientId,
    timeout: Duration,
    idle: Mutex<Vec<AsyncSmtpConnection>>,
}

impl SmtpPool {
    /// Parses `smtp://[user:pass@]host[:port]`. (`smtps://` needs TLS, which
    /// this build leaves out to keep the tree lean: refused with a clear error.)
    pub fn parse(url: &str, timeout: Duration) -> anyhow::Result<SmtpPool> {
        let rest = match url.strip_prefix("smtp://") {
            Some(r) => r,
            None if url.starts_with("smtps://") => {
                anyhow::bail!(
                    "SMTP_URL: smtps:// is not supported by this build; use smtp:// to a local relay"
                )
            }
            None => anyhow::bail!("SMTP_URL must start with smtp://"),
        };
        let rest = rest.trim_end_matches('/');
        let (userinfo, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (
                h.to_string(),
                p.parse()
                    .map_err(|_| anyhow::anyhow!("SMTP_URL: bad port"))?,
            ),
            None => (hostport.to_string(), 25),
        };
        anyhow::ensure!(!host.is_empty(), "SMTP_URL: no host");
        let credentials = userinfo.map(|u| {
            let (user, pass) = u.split_once(':').unwrap_or((u, ""));
            Credentials::new(user.to_string(), pass.to_string())
        });
        Ok(SmtpPool {
            host,
            port,
            credentials,
            hello: ClientId::Domain("firstweek.local".into()),
            timeout,
            idle: Mutex::new(Vec::new()),
        })
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, MailError> {
        let addr = format!("{}:{}", self.host, self.port);
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&addr))
            .await
            .map_err(|_| MailError::Transient(format!("connecting to {addr}: timed out")))?
            .map_err(|e| MailError::Transient(format!("connecting to {addr}: {e}")))?;
        // Without this each email waits ~40 ms for a delayed ACK.
        stream
            .set_nodelay(true)
            .map_err(|e| MailError::Transient(format!("TCP_NODELAY: {e}")))?;
        let mut conn = tokio::time::timeout(
            self.timeout,
            AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello),
        )
        .await
        .map_err(|_| MailError::Transient(format!("greeting from {addr}: timed out")))?
        .map_err(classify_before_handover)?;
        if let Some(creds) = &self.credentials {
            conn.auth(&[Mechanism::Plain, Mechanism::Login], creds)
                .await
                .map_err(classify_before_handover)?;
        }
        Ok(conn)
    }

    async fn checkout(&self) -> Result<AsyncSmtpConnection, MailError> {
        if let Some(conn) = self.idle.lock().await.pop() {
            return Ok(conn);
        }
        self.connect().await
    }

    async fn checkin(&self, conn: AsyncSmtpConnection) {
        let mut idle = self.idle.lock().await;
        if idle.len() < POOL_SIZE && !conn.has_broken() {
            idle.push(conn);
        }
    }

    /// Sends one email. A pooled connection that turns out dead before the
    /// handover is replaced once, transparently.
    pub async fn send(&self, email: &Composed, handover: &Handover) -> Result<(), MailError> {
        match self.try_send(self.checkout().await?, email, handover).await {
            Err(MailError::Transient(_)) => self.try_send(self.connect().await?, email, handover).await,
            other => other,
        }
    }

    async fn try_send(
        &self,
        mut conn: AsyncSmtpConnection,
        email: &Composed,
        handover: &Handover,
    ) -> Result<(), MailError> {
        let envelope = email.message.envelope();
        let mut params = Vec::new();
        if envelope
            .to()
            .iter()
            .chain(envelope.from())
            .any(|a| !a.to_string().is_ascii())
        {
            params.push(MailParameter::SmtpUtfEight);
        }
        let before = async {
            conn.command(Mail::new(envelope.from().cloned(), params))
                .await?;
            for to in envelope.to() {
                conn.command(Rcpt::new(to.clone(), vec![])).await?;
            }
            conn.command(Data).await
        };
        match tokio::time::timeout(self.timeout, before).await {
            Err(_) => {
                return Err(MailError::Transient(
                    "SMTP command timed out before the message was sent".into(),
                ));
            }
            Ok(Err(e)) => {
                let err = classify_before_handover(e);
                if !matches!(err, MailError::Transient(_)) {
                    // The connection is fine, the message was refused: reset and keep it.
                    let _ = conn.command(lettre::transport::smtp::commands::Rset).await;
                    self.checkin(conn).await;
                }
                return Err(err);
            }
            Ok(Ok(_)) => {}
        }
        // Ready before the handover is recorded, so a crash finds as little as
        // possible between "recorded" and "written to the socket".
        let bytes = email.message.formatted();
        // The connection is mid-DATA: if recording fails, drop it unsent.
        handover().await.map_err(|e| MailError::Transient(format!("recording the handover: {e}")))?;
        match tokio::time::timeout(self.timeout, conn.message(&bytes)).await {
            Err(_) => Err(MailError::Unknown(
                "no reply to the end of the message".into(),
            )),
            Ok(Err(e)) if e.is_permanent() => {
                self.checkin(conn).await;
                Err(MailError::Permanent(e.to_string()))
            }
            Ok(Err(e)) if e.is_transient() => {
                self.checkin(conn).await;
                Err(MailError::Transient(e.to_string()))
            }
            // The connection broke before the server's final reply. The server takes
            // responsibility only with that reply (RFC 5321), so the message is ours
            // to retry; only a reply that never comes in time is "unknown".
            Ok(Err(e)) => Err(MailError::Transient(format!("connection lost before the final reply: {e}"))),
            Ok(Ok(_)) => {
                self.checkin(conn).await;
                Ok(())
            }
        }
    }
}

fn classify_before_handover(e: lettre::transport::smtp::Error) -> MailError {
    if e.is_permanent() {
        MailError::Permanent(e.to_string())
    } else {
        MailError::Transient(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(30);

    #[test]
    fn smtp_urls_parse_and_smtps_is_refused_clearly() {
        let p = SmtpPool::parse("smtp://127.0.0.1:2525", T).unwrap();
        assert_eq!(
            (p.host.as_str(), p.port, p.credentials.is_some()),
            ("127.0.0.1", 2525, false)
        );
        let p = SmtpPool::parse("smtp://u:secret@mail.example.org", T).unwrap();
        assert_eq!(
            (p.host.as_str(), p.port, p.credentials.is_some()),
            ("mail.example.org", 25, true)
        );
        let e = SmtpPool::parse("smtps://u:p@x:465", T)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("smtps://") && !e.contains("u:p"), "{e}");
    }
}
