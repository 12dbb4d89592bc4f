//! Sends composed emails: over SMTP (our own small pool of connections with
//! TCP_NODELAY, see crate-notes on lettre's Nagle stall) or, without
//! `SMTP_URL`, as `.eml` files in the outbox directory.
//!
//! Every failure is classified, because what happens next depends on it:
//! - `Transient`: nothing was delivered (connection refused, a 4xx, any
//!   failure before the whole message was written): retry later.
//! - `Permanent`: the server refused the message (5xx): never retry.
//! - `Unknown`: the whole message, final dot included, was written, and no
//!   final reply came: a timeout, a reset and an EOF alike. The server may
//!   have stored it (a relay that restarts between storing and replying), so
//!   it is never retried here; what happens next is the program's policy
//!   (`FIRSTWEEK_UNKNOWN_DELIVERY`).
//! - `Withheld`: the ledger did not let the message go (the claim was taken
//!   over, or the mentorship ended): nothing was sent.
//!
//! A send has two phases, so the caller records the hand-over in the ledger
//! between them, without the mailer calling back into it: [`Mailer::open`]
//! gets the server to accept sender and recipients (nothing of the message
//! is sent yet), then [`Opened::send`] sends the message itself. Dropping an
//! [`Opened`] sends nothing.
//!
//! Every SMTP stage (connect, TLS, greeting and EHLO, STARTTLS, AUTH, MAIL,
//! RCPT, DATA, the message, RSET) has its own timeout, so a send never hangs
//! past what the claim lease assumes.
//!
//! TLS: `smtps://` is TLS from the first byte. `smtp://` to anything but a
//! loopback address requires STARTTLS unless the URL says `?tls=opportunistic`
//! (then STARTTLS is used when offered); credentials never go in clear.

pub mod outbox;
mod smtp;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use firstweek::email::Composed;

use smtp::SmtpOpened;
pub use smtp::SmtpPool;

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
    /// The ledger did not let the message go: nothing was sent.
    #[error("withheld: {0:?}")]
    Withheld(firstweek_store::Handover),
}

/// Where emails go, and how many may be on their way at once.
pub struct Mailer {
    to: Destination,
    /// One permit per email being sent: as many as SMTP connections may be
    /// open. A worker keeps more due steps in flight than this (their
    /// database work batches better), and each waits here for its turn.
    slots: Arc<Semaphore>,
}

enum Destination {
    /// An SMTP server (`SMTP_URL`).
    Smtp(SmtpPool),
    /// `.eml` files in this directory (no `SMTP_URL`).
    Outbox(PathBuf),
}

/// The right to send one email now (see [`Mailer::slot`]).
pub struct SendSlot(#[allow(dead_code)] OwnedSemaphorePermit);

impl Mailer {
    /// Builds the mailer from `SMTP_URL` (or the outbox when unset), sending
    /// at most `connections` emails at once.
    pub fn new(
        smtp_url: Option<&str>,
        outbox: PathBuf,
        timeout: Duration,
        ca_file: Option<&std::path::Path>,
        connections: usize,
    ) -> anyhow::Result<Mailer> {
        let to = match smtp_url {
            None => {
                std::fs::create_dir_all(&outbox).map_err(|e| {
                    anyhow::anyhow!("FIRSTWEEK_OUTBOX_DIR {}: {e}", outbox.display())
                })?;
                Destination::Outbox(outbox)
            }
            Some(url) => Destination::Smtp(
                SmtpPool::parse(url, timeout, ca_file)?.with_pool_size(connections),
            ),
        };
        Ok(Mailer {
            to,
            slots: Arc::new(Semaphore::new(connections.max(1))),
        })
    }

    /// Waits until one more email may be sent. Taken before a delivery is
    /// claimed, so a claim never waits behind other sends and its lease
    /// covers the send alone.
    pub async fn slot(&self) -> SendSlot {
        // Never closed: a permit always comes.
        let permit = Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .expect("the mailer's semaphore is never closed");
        SendSlot(permit)
    }

    /// Opens the way for one email, in the slot taken for it: over SMTP the
    /// server has accepted sender and recipients and waits for the message
    /// on the connection asked for (a pooled connection found dead on the
    /// way is replaced once; [`Connection::Fresh`] after an
    /// [`Opened::may_reopen`] that failed transiently). The caller records
    /// the hand-over, then [`Opened::send`]s the message; dropping it sends
    /// nothing.
    pub async fn open<'a>(
        &'a self,
        _slot: &SendSlot,
        email: &'a Composed,
        file_stem: &'a str,
        connection: Connection,
    ) -> Result<Opened<'a>, MailError> {
        let to = match &self.to {
            Destination::Smtp(pool) => {
                OpenedTo::Smtp(Box::new(pool.open(email, connection).await?))
            }
            Destination::Outbox(dir) => OpenedTo::Outbox(dir),
        };
        Ok(Opened {
            to,
            email,
            file_stem,
        })
    }
}

/// Decodes the escapes `<marker>XX` (two hex digits) into the bytes they
/// stand for: `%` in URLs, `=` in quoted-printable text. Anything else,
/// a marker without two hex digits included, stays as it is; bytes that are
/// not UTF-8 afterwards become U+FFFD.
pub fn decode_hex_escapes(s: &str, marker: u8) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == marker
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

/// Which connection an email is opened on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    /// An idle pooled one if there is one.
    Pooled,
    /// A new one.
    Fresh,
}

/// One email ready to go: nothing of the message itself has been sent yet.
pub struct Opened<'a> {
    to: OpenedTo<'a>,
    email: &'a Composed,
    file_stem: &'a str,
}

enum OpenedTo<'a> {
    /// Mid-DATA on this connection (boxed: a connection is large, and the
    /// caller's future holds it across the hand-over).
    Smtp(Box<SmtpOpened<'a>>),
    /// The outbox directory.
    Outbox(&'a std::path::Path),
}

impl Opened<'_> {
    /// Sends the message. From its start the server may have it: call this
    /// only once the hand-over is recorded.
    pub async fn send(self) -> Result<(), MailError> {
        match self.to {
            OpenedTo::Smtp(opened) => opened.send().await,
            OpenedTo::Outbox(dir) => {
                write_eml(dir, self.file_stem, &self.email.message.formatted()).await
            }
        }
    }

    /// Whether a transient failure from here on (recording the hand-over,
    /// or the message) is tried once more on a new connection
    /// ([`Mailer::open`] on a [`Connection::Fresh`]): over SMTP, when this
    /// is the first connection tried; never for the outbox.
    pub fn may_reopen(&self) -> bool {
        matches!(&self.to, OpenedTo::Smtp(o) if o.connection == Connection::Pooled)
    }
}

/// A file name's stem with anything but `[A-Za-z0-9._-]` replaced by `_`.
fn safe_stem(stem: &str) -> String {
    stem.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Writes atomically (temp file, then rename) so a reader never sees half a message.
async fn write_eml(dir: &std::path::Path, stem: &str, bytes: &[u8]) -> Result<(), MailError> {
    let safe = safe_stem(stem);
    let tmp = dir.join(format!(".{safe}.tmp"));
    let path = dir.join(format!("{safe}.eml"));
    tokio::fs::write(&tmp, bytes)
        .await
        .map_err(|e| MailError::Transient(format!("writing {}: {e}", tmp.display())))?;
    tokio::fs::rename(&tmp, &path)
        .await
        .map_err(|e| MailError::Transient(format!("renaming to {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::decode_hex_escapes;

    /// The outbox writes the welcome as SMTP would send it: answered to the
    /// partner, with its intro-call times as text/calendar parts.
    #[tokio::test]
    async fn the_outbox_keeps_the_welcomes_reply_to_and_calendar_files() -> anyhow::Result<()> {
        use firstweek::email::{self, Context, Templates};
        use firstweek::event::{Coordinator, MentorshipStarted, Person};
        use firstweek::playbook::Playbook;
        use firstweek::rule::Recipient;
        use firstweek::timeline::{SendWindow, TimeScale};

        let person = |name: &str, tz: &str| Person {
            id: name.into(),
            name: name.into(),
            email: format!("{name}@example.org"),
            timezone: tz.into(),
            locale: None,
        };
        let now = chrono::Utc::now();
        let started = MentorshipStarted {
            event_id: "e".into(),
            mentorship_id: "m-outbox".into(),
            program_id: None,
            started_at: now,
            mentor: person("ada", "Europe/Berlin"),
            mentee: person("bo", "Europe/Berlin"),
            coordinator: Coordinator {
                name: "cy".into(),
                email: "cy@example.org".into(),
                timezone: None,
                locale: None,
            },
        };
        let ctx = Context::new(
            &started,
            "welcome",
            Recipient::Mentee,
            now,
            TimeScale::REAL,
            Default::default(),
            vec![],
            now,
        )
        .with_reach(
            &started,
            &Playbook::built_in(),
            SendWindow::Off,
            "welcome",
            now,
        );
        let from = "firstweek <fw@example.org>".parse()?;
        let composed = email::compose(
            &Templates::built_in()?,
            "welcome",
            &ctx,
            &from,
            "bo",
            "bo@example.org",
            "<m@example.org>".into(),
        )?;
        let dir = std::env::temp_dir().join(format!("fw-outbox-reach-{}", std::process::id()));
        let mailer = super::Mailer::new(
            None,
            dir.clone(),
            std::time::Duration::from_secs(5),
            None,
            1,
        )?;
        let slot = mailer.slot().await;
        mailer
            .open(&slot, &composed, "welcome", super::Connection::Pooled)
            .await?
            .send()
            .await?;
        let written = std::fs::read_to_string(dir.join("welcome.eml"))?;
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            written.contains("Reply-To: ada <ada@example.org>"),
            "{written}"
        );
        assert!(
            written.contains("Content-Type: multipart/mixed"),
            "{written}"
        );
        let calendars = written
            .matches("Content-Type: text/calendar; charset=utf-8; method=PUBLISH")
            .count();
        assert!((2..=3).contains(&calendars), "{calendars} in {written}");
        Ok(())
    }

    #[test]
    fn hex_escapes_decode_only_after_their_marker() {
        for (text, marker, decoded) in [
            ("p%3Aw%40rd", b'%', "p:w@rd"),
            ("caf=C3=A9", b'=', "café"),
            ("caf=C3=A9", b'%', "caf=C3=A9"),
            ("100%", b'%', "100%"),
            ("%zz%4", b'%', "%zz%4"),
        ] {
            assert_eq!(decode_hex_escapes(text, marker), decoded, "{text}");
        }
    }
}
