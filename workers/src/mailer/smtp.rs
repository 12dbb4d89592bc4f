//! The SMTP side of the mailer: a small pool of connections, each SMTP
//! stage under its own timeout, and the classification of every failure
//! (see the module above).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, MailParameter};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use firstweek::email::Composed;

use super::{Connection, MailError};

/// Whether the connection must be encrypted before anything is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tls {
    /// `smtps://`: TLS from the first byte.
    Implicit,
    /// STARTTLS, or nothing is sent (the default beyond loopback).
    Required,
    /// STARTTLS when offered, cleartext otherwise (loopback, or `?tls=opportunistic`).
    Opportunistic,
}

/// A few reusable SMTP connections to one server.
pub struct SmtpPool {
    host: String,
    port: u16,
    credentials: Option<Credentials>,
    tls: Tls,
    /// Extra trusted root (PEM), for a relay with a private CA.
    ca_pem: Option<Vec<u8>>,
    hello: ClientId,
    timeout: Duration,
    /// Idle connections kept: the steps consumer's concurrency, or sends reconnect.
    pool_size: usize,
    idle: Mutex<Vec<AsyncSmtpConnection>>,
}

impl SmtpPool {
    /// Parses `smtp://[user:pass@]host[:port][?tls=opportunistic]` or
    /// `smtps://...` (percent-encoded credentials are decoded). `ca_file`
    /// adds a trusted root certificate.
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
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
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
        let tls = tls_mode(implicit_tls, &host, query)?;
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
            tls,
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

    /// Runs one SMTP stage within the timeout; a stage that times out delivered nothing.
    async fn stage<T>(
        &self,
        what: &str,
        fut: impl std::future::Future<Output = Result<T, lettre::transport::smtp::Error>>,
    ) -> Result<T, MailError> {
        match tokio::time::timeout(self.timeout, fut).await {
            Err(_) => Err(MailError::Transient(format!(
                "{what} with {}:{}: timed out",
                self.host, self.port
            ))),
            Ok(Err(e)) => Err(classify_before_handover(e)),
            Ok(Ok(v)) => Ok(v),
        }
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, MailError> {
        let addr = format!("{}:{}", self.host, self.port);
        let mut conn = if self.tls == Tls::Implicit {
            let tls = self.tls_parameters()?;
            let connect = AsyncSmtpConnection::connect_tokio1(
                (self.host.as_str(), self.port),
                Some(self.timeout),
                &self.hello,
                Some(tls),
                None,
            );
            self.stage("connecting with TLS", connect).await?
        } else {
            let stream = tokio::time::timeout(self.timeout, TcpStream::connect(&addr))
                .await
                .map_err(|_| MailError::Transient(format!("connecting to {addr}: timed out")))?
                .map_err(|e| MailError::Transient(format!("connecting to {addr}: {e}")))?;
            // Without this each email waits ~40 ms for a delayed ACK.
            stream
                .set_nodelay(true)
                .map_err(|e| MailError::Transient(format!("TCP_NODELAY: {e}")))?;
            let greeting =
                AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello);
            let mut conn = self.stage("greeting and EHLO", greeting).await?;
            if conn.can_starttls() {
                let tls = self.tls_parameters()?;
                self.stage("STARTTLS", conn.starttls(tls, &self.hello))
                    .await?;
            } else if self.tls == Tls::Required {
                return Err(MailError::Transient(format!(
                    "{addr} offers no STARTTLS: nothing is sent in clear beyond this host \
                     (add ?tls=opportunistic to SMTP_URL to allow it)"
                )));
            } else if self.credentials.is_some() {
                return Err(MailError::Transient(format!(
                    "{addr} offers no STARTTLS: credentials are not sent in clear (use smtps://)"
                )));
            }
            conn
        };
        if let Some(creds) = &self.credentials {
            let mechanisms = [Mechanism::Plain, Mechanism::Login];
            self.stage("AUTH", conn.auth(&mechanisms, creds)).await?;
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

    /// Opens the way for one email (see [`Mailer::open`]). On a pooled
    /// connection, one that turns out dead is replaced once, transparently.
    pub(super) async fn open<'a>(
        &'a self,
        email: &'a Composed,
        connection: Connection,
    ) -> Result<SmtpOpened<'a>, MailError> {
        if connection == Connection::Fresh {
            return self
                .envelope(self.connect().await?, email, connection)
                .await;
        }
        match self
            .envelope(self.checkout().await?, email, connection)
            .await
        {
            Err(MailError::Transient(_)) => {
                self.envelope(self.connect().await?, email, Connection::Fresh)
                    .await
            }
            other => other,
        }
    }

    /// MAIL, RCPT and DATA: the server is then ready for the message.
    async fn envelope<'a>(
        &'a self,
        mut conn: AsyncSmtpConnection,
        email: &'a Composed,
        connection: Connection,
    ) -> Result<SmtpOpened<'a>, MailError> {
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
        let envelope_commands = async {
            self.stage(
                "MAIL",
                conn.command(Mail::new(envelope.from().cloned(), params)),
            )
            .await?;
            for to in envelope.to() {
                self.stage("RCPT", conn.command(Rcpt::new(to.clone(), vec![])))
                    .await?;
            }
            self.stage("DATA", conn.command(Data)).await
        };
        if let Err(err) = envelope_commands.await {
            // The connection is fine, the message was refused: reset and keep it.
            if !matches!(err, MailError::Transient(_)) {
                let rset = conn.command(lettre::transport::smtp::commands::Rset);
                if self.stage("RSET", rset).await.is_ok() {
                    self.checkin(conn).await;
                }
            }
            return Err(err);
        }
        // Ready before the handover is recorded, so a crash finds as little as
        // possible between "recorded" and "written to the socket".
        let bytes = email.message.formatted();
        // The connection is mid-DATA: if the ledger says no, it is dropped unsent.
        Ok(SmtpOpened {
            pool: self,
            conn,
            bytes,
            connection,
        })
    }
}

/// A connection mid-DATA and the message for it.
pub(super) struct SmtpOpened<'a> {
    pool: &'a SmtpPool,
    conn: AsyncSmtpConnection,
    bytes: Vec<u8>,
    pub(super) connection: Connection,
}

impl SmtpOpened<'_> {
    /// Writes the message and reads the final reply.
    pub(super) async fn send(self) -> Result<(), MailError> {
        let SmtpOpened {
            pool,
            mut conn,
            bytes,
            ..
        } = self;
        // Set once the whole body is written, right before the final dot:
        // from then on the server may have the message.
        let written = AtomicBool::new(false);
        let parts = std::iter::once(bytes.as_slice()).chain(std::iter::from_fn(|| {
            written.store(true, Ordering::SeqCst);
            None
        }));
        let reply = tokio::time::timeout(pool.timeout, conn.message_iter(parts)).await;
        let whole = written.load(Ordering::SeqCst);
        match reply {
            Ok(Ok(_)) => {
                pool.checkin(conn).await;
                Ok(())
            }
            Ok(Err(e)) if e.is_permanent() => {
                pool.checkin(conn).await;
                Err(MailError::Permanent(e.to_string()))
            }
            Ok(Err(e)) if e.is_transient() => {
                pool.checkin(conn).await;
                Err(MailError::Transient(e.to_string()))
            }
            // No final reply: once the final dot may have reached the server it
            // may have stored the message, whatever broke (timeout, reset, EOF).
            Err(_) if whole => Err(MailError::Unknown(
                "no reply to the end of the message in time".into(),
            )),
            Ok(Err(e)) if whole => Err(MailError::Unknown(format!(
                "connection lost after the whole message was written: {e}"
            ))),
            // Broken while the body was still being written: the server cannot
            // have accepted a message it never saw end.
            Err(_) => Err(MailError::Transient("timed out writing the message".into())),
            Ok(Err(e)) => Err(MailError::Transient(format!(
                "connection lost while writing the message: {e}"
            ))),
        }
    }
}

/// Decodes `%XX` escapes (credentials in URLs).
fn percent_decode(s: &str) -> String {
    super::decode_hex_escapes(s, b'%')
}

/// The TLS rule for a URL: `smtps://` is implicit; `smtp://` requires
/// STARTTLS beyond loopback unless `?tls=opportunistic` says otherwise.
fn tls_mode(implicit: bool, host: &str, query: &str) -> anyhow::Result<Tls> {
    let mut asked = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("tls", "opportunistic")) => asked = Some(Tls::Opportunistic),
            Some(("tls", "required")) => asked = Some(Tls::Required),
            _ => anyhow::bail!(
                "SMTP_URL: unknown parameter {pair:?} (only tls=required or tls=opportunistic)"
            ),
        }
    }
    if implicit {
        anyhow::ensure!(
            asked.is_none(),
            "SMTP_URL: smtps:// is always TLS; drop ?tls="
        );
        return Ok(Tls::Implicit);
    }
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    Ok(asked.unwrap_or(if loopback {
        Tls::Opportunistic
    } else {
        Tls::Required
    }))
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
    use std::path::PathBuf;
    use std::sync::Arc;

    use super::super::Mailer;
    use super::*;

    const T: Duration = Duration::from_secs(30);

    #[test]
    fn plain_smtp_beyond_loopback_requires_starttls_unless_the_url_opts_out() {
        let tls = |url: &str| SmtpPool::parse(url, T, None).map(|p| p.tls);
        assert_eq!(tls("smtp://mail.example.org").unwrap(), Tls::Required);
        assert_eq!(tls("smtp://10.1.2.3:2525").unwrap(), Tls::Required);
        assert_eq!(tls("smtp://127.0.0.1:2525").unwrap(), Tls::Opportunistic);
        assert_eq!(tls("smtp://localhost:2525").unwrap(), Tls::Opportunistic);
        assert_eq!(tls("smtp://[::1]:2525").unwrap(), Tls::Opportunistic);
        assert_eq!(
            tls("smtp://relay.internal:25?tls=opportunistic").unwrap(),
            Tls::Opportunistic
        );
        assert_eq!(tls("smtp://127.0.0.1?tls=required").unwrap(), Tls::Required);
        assert!(tls("smtp://relay:25?starttls=no").is_err());
        assert!(tls("smtps://relay?tls=opportunistic").is_err());
    }

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
        assert_eq!((p.port, p.tls), (465, Tls::Implicit));
        let e = SmtpPool::parse("http://u:secret@x", T, None)
            .err()
            .unwrap()
            .to_string();
        assert!(!e.contains("secret"), "{e}");
        assert_eq!(percent_decode("p%3Aw%40rd"), "p:w@rd");
    }

    /// A relay on loopback that answers every command, holds each message a
    /// moment before accepting it, and counts the connections open at once.
    async fn counting_relay() -> (
        u16,
        Arc<std::sync::atomic::AtomicUsize>,
        Arc<std::sync::atomic::AtomicUsize>,
    ) {
        use std::sync::atomic::AtomicUsize;
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (open, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (o, m) = (open.clone(), most.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (open, most) = (o.clone(), m.clone());
                tokio::spawn(async move {
                    let now = open.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    let (r, mut w) = stream.into_split();
                    let mut lines = BufReader::new(r).lines();
                    let _ = w.write_all(b"220 relay\r\n").await;
                    let mut in_data = false;
                    while let Ok(Some(line)) = lines.next_line().await {
                        let reply: &[u8] = if in_data {
                            if line != "." {
                                continue;
                            }
                            in_data = false;
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            b"250 queued\r\n"
                        } else if line.starts_with("DATA") {
                            in_data = true;
                            b"354 go\r\n"
                        } else if line.starts_with("QUIT") {
                            break;
                        } else {
                            b"250 ok\r\n"
                        };
                        if w.write_all(reply).await.is_err() {
                            break;
                        }
                    }
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        (port, open, most)
    }

    fn an_email(i: usize) -> Composed {
        let to: lettre::Address = format!("mentee{i}@example.org").parse().unwrap();
        let message = lettre::Message::builder()
            .from("firstweek <firstweek@example.org>".parse().unwrap())
            .to(lettre::message::Mailbox::new(None, to.clone()))
            .subject("Welcome")
            .body(String::from("Hello"))
            .unwrap();
        Composed {
            message,
            message_id: format!("<{i}@example.org>"),
            to,
        }
    }

    #[tokio::test]
    async fn more_emails_in_flight_than_connections_never_open_more_connections() {
        let (port, _, most) = counting_relay().await;
        let url = format!("smtp://127.0.0.1:{port}");
        let mailer = Arc::new(Mailer::new(Some(&url), PathBuf::new(), T, None, 3).unwrap());
        let mut senders = tokio::task::JoinSet::new();
        for i in 0..24 {
            let mailer = mailer.clone();
            senders.spawn(async move {
                let slot = mailer.slot().await;
                let email = an_email(i);
                mailer
                    .open(&slot, &email, "stem", Connection::Pooled)
                    .await?
                    .send()
                    .await
            });
        }
        let mut sent = 0;
        while let Some(done) = senders.join_next().await {
            done.unwrap().unwrap();
            sent += 1;
        }
        assert_eq!(sent, 24);
        let most = most.load(Ordering::SeqCst);
        assert!(
            most <= 3,
            "{most} connections were open at once; the limit is 3"
        );
        assert!(
            most >= 2,
            "the sends did not overlap at all ({most} connection)"
        );
    }
}
