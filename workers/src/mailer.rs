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
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, MailParameter};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use firstweek::email::Composed;

/// How one send ended badly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// Nothing was delivered (connection refused, a 4xx): retry later.
    #[error("transient: {0}")]
    Transient(String),
    /// The server refused the message (a 5xx): never retried.
    #[error("permanent: {0}")]
    Permanent(String),
    /// The server may have the message: never resent by itself.
    #[error("outcome unknown: {0}")]
    Unknown(String),
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Called right before the message is handed over (see [`Mailer::send`]).
pub type Handover<'a> =
    dyn Fn() -> futures_util::future::BoxFuture<'a, Result<(), String>> + Send + Sync + 'a;

/// Where emails go.
pub enum Mailer {
    /// An SMTP server (`SMTP_URL`).
    Smtp(SmtpPool),
    /// `.eml` files in this directory (no `SMTP_URL`).
    Outbox(PathBuf),
}

impl Mailer {
    /// Builds the mailer from `SMTP_URL` (or the outbox when unset).
    pub fn new(
        smtp_url: Option<&str>,
        outbox: PathBuf,
        timeout: Duration,
        ca_file: Option<&std::path::Path>,
        concurrency: usize,
    ) -> anyhow::Result<Mailer> {
        match smtp_url {
            None => {
                std::fs::create_dir_all(&outbox).map_err(|e| {
                    anyhow::anyhow!("FIRSTWEEK_OUTBOX_DIR {}: {e}", outbox.display())
                })?;
                Ok(Mailer::Outbox(outbox))
            }
            Some(url) => Ok(Mailer::Smtp(
                SmtpPool::parse(url, timeout, ca_file)?.with_pool_size(concurrency),
            )),
        }
    }

    /// Sends one email.
    /// `handover` runs just before the message itself goes out (after the
    /// server accepted sender and recipients): it records that from now on
    /// the outcome may be unknown. If it fails, nothing is sent.
    pub async fn send(
        &self,
        email: &Composed,
        file_stem: &str,
        handover: &Handover<'_>,
    ) -> Result<(), MailError> {
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
    /// `smtps://`: TLS from the first byte. Otherwise STARTTLS when offered.
    implicit_tls: bool,
    /// Extra trusted root (PEM), for a relay with a private CA.
    ca_pem: Option<Vec<u8>>,
    hello: ClientId,
    timeout: Duration,
    /// Idle connections kept: the steps consumer's concurrency, or sends reconnect.
    pool_size: usize,
    idle: Mutex<Vec<AsyncSmtpConnection>>,
}

impl SmtpPool {
    /// Parses `smtp://[user:pass@]host[:port]` or `smtps://...` (percent-encoded
    /// credentials are decoded). `ca_file` adds a trusted root certificate.
    pub fn parse(
        url: &str,
        timeout: Duration,
        ca_file: Option<&std::path::Path>,
    ) -> anyhow::Result<SmtpPool> {
        let (rest, implicit_tls, default_port) = if let Some(r) = url.strip_prefix("smtps://") {
            (r, true, 465)
        } else if let Some(r) = url.strip_prefix("smtp://") {
            (r, false, 25)
        } else {
            anyhow::bail!("SMTP_URL must start with smtp:// or smtps://");
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
            None => (hostport.to_string(), default_port),
        };
        anyhow::ensure!(!host.is_empty(), "SMTP_URL: no host");
        let credentials = userinfo.map(|u| {
            let (user, pass) = u.split_once(':').unwrap_or((u, ""));
            Credentials::new(percent_decode(user), percent_decode(pass))
        });
        let ca_pem = ca_file
            .map(|p| {
                std::fs::read(p)
                    .map_err(|e| anyhow::anyhow!("FIRSTWEEK_SMTP_CA_FILE {}: {e}", p.display()))
            })
            .transpose()?;
        if let Some(pem) = &ca_pem {
            Certificate::from_pem(pem).map_err(|e| {
                anyhow::anyhow!("FIRSTWEEK_SMTP_CA_FILE: not a PEM certificate: {e}")
            })?;
        }
        Ok(SmtpPool {
            host,
            port,
            credentials,
            implicit_tls,
            ca_pem,
            hello: ClientId::Domain("firstweek.local".into()),
            timeout,
            pool_size: 1,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// Keeps up to `n` idle connections: as many as emails are sent at once.
    pub fn with_pool_size(mut self, n: usize) -> SmtpPool {
        self.pool_size = n.max(1);
        self
    }

    fn tls_parameters(&self) -> Result<TlsParameters, MailError> {
        let mut builder = TlsParameters::builder(self.host.clone());
        if let Some(pem) = &self.ca_pem {
            let cert = Certificate::from_pem(pem)
                .map_err(|e| MailError::Permanent(format!("CA certificate: {e}")))?;
            builder = builder.add_root_certificate(cert);
        }
        builder
            .build_rustls()
            .map_err(|e| MailError::Permanent(format!("TLS setup: {e}")))
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, MailError> {
        let addr = format!("{}:{}", self.host, self.port);
        let mut conn = if self.implicit_tls {
            let tls = self.tls_parameters()?;
            AsyncSmtpConnection::connect_tokio1(
                (self.host.as_str(), self.port),
                Some(self.timeout),
                &self.hello,
                Some(tls),
                None,
            )
            .await
            .map_err(|e| MailError::Transient(format!("connecting to {addr} with TLS: {e}")))?
        } else {
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
            if conn.can_starttls() {
                conn.starttls(self.tls_parameters()?, &self.hello)
                    .await
                    .map_err(|e| MailError::Transient(format!("STARTTLS with {addr}: {e}")))?;
            } else if self.credentials.is_some() {
                return Err(MailError::Transient(format!(
                    "{addr} offers no STARTTLS: credentials are not sent in clear (use smtps://)"
                )));
            }
            conn
        };
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
        if idle.len() < self.pool_size && !conn.has_broken() {
            idle.push(conn);
        }
    }

    /// Sends one email. A pooled connection that turns out dead before the
    /// handover is replaced once, transparently.
    pub async fn send(&self, email: &Composed, handover: &Handover<'_>) -> Result<(), MailError> {
        match self.try_send(self.checkout().await?, email, handover).await {
            Err(MailError::Transient(_)) => {
                self.try_send(self.connect().await?, email, handover).await
            }
            other => other,
        }
    }

    async fn try_send(
        &self,
        mut conn: AsyncSmtpConnection,
        email: &Composed,
        handover: &Handover<'_>,
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
        handover()
            .await
            .map_err(|e| MailError::Transient(format!("recording the handover: {e}")))?;
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
            Ok(Err(e)) => Err(MailError::Transient(format!(
                "connection lost before the final reply: {e}"
            ))),
            Ok(Ok(_)) => {
                self.checkin(conn).await;
                Ok(())
            }
        }
    }
}

/// Decodes `%XX` escapes (credentials in URLs).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
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
        let p = SmtpPool::parse("smtp://127.0.0.1:2525", T, None).unwrap();
        assert_eq!(
            (p.host.as_str(), p.port, p.credentials.is_some()),
            ("127.0.0.1", 2525, false)
        );
        let p = SmtpPool::parse("smtp://u:secret@mail.example.org", T, None).unwrap();
        assert_eq!(
            (p.host.as_str(), p.port, p.credentials.is_some()),
            ("mail.example.org", 25, true)
        );
        let p = SmtpPool::parse("smtps://u%40x:p%3Aw@mail.example.org", T, None).unwrap();
        assert_eq!((p.port, p.implicit_tls), (465, true));
        let e = SmtpPool::parse("http://u:secret@x", T, None)
            .err()
            .unwrap()
            .to_string();
        assert!(!e.contains("secret"), "{e}");
        assert_eq!(percent_decode("p%3Aw%40rd"), "p:w@rd");
    }
}
