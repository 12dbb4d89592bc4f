//! What the SMTP capture server received: each email parsed, and waiting
//! for an email (or for none).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::bail;
use firstweek_workers::mailer::decode_hex_escapes;

use crate::Env;

impl Env {
    /// Every email the SMTP server accepted so far.
    pub fn mails(&self) -> Vec<Mail> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.mail_dir)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|e| e == "eml"));
        files.sort();
        files
            .iter()
            .filter_map(|p| std::fs::read(p).ok())
            .map(|raw| Mail::parse(&raw))
            .collect()
    }

    /// Waits for the first captured email to `rcpt` of `step`.
    pub async fn wait_mail(&self, rcpt: &str, step: &str, limit: Duration) -> anyhow::Result<Mail> {
        self.wait_mail_where(&format!("{step} email to {rcpt}"), limit, |m| {
            m.rcpt == rcpt && m.step == step
        })
        .await
    }

    /// Waits for the first captured email `wanted` picks; `what` names it
    /// when none comes within `limit`.
    pub async fn wait_mail_where(
        &self,
        what: &str,
        limit: Duration,
        wanted: impl Fn(&Mail) -> bool,
    ) -> anyhow::Result<Mail> {
        let start = Instant::now();
        loop {
            if let Some(m) = self.mails().into_iter().find(|m| wanted(m)) {
                return Ok(m);
            }
            anyhow::ensure!(
                start.elapsed() < limit,
                "no {what} within {limit:?}; logs in {}",
                self.log_dir.display()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Holds for `hold` and fails as soon as another email arrives meanwhile:
    /// for "nothing more is sent" checks, which no condition can end early.
    pub async fn expect_no_more_mail(&self, hold: Duration) -> anyhow::Result<()> {
        self.expect_no_more_mail_where(hold, |_| true).await
    }

    /// [`Env::expect_no_more_mail`], counting only the emails `counts` picks.
    pub async fn expect_no_more_mail_where(
        &self,
        hold: Duration,
        counts: impl Fn(&Mail) -> bool,
    ) -> anyhow::Result<()> {
        let seen = || self.mails().iter().filter(|m| counts(m)).count();
        let before = seen();
        let deadline = Instant::now() + hold;
        while Instant::now() < deadline {
            let now = seen();
            if now > before {
                bail!("{} more email(s) arrived while none should", now - before);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(())
    }
}

/// One received email.
#[derive(Debug, Clone)]
pub struct Mail {
    /// Envelope recipients, comma-separated (`X-Rcpt-To`).
    pub rcpt: String,
    /// The `X-Firstweek-Step` header.
    pub step: String,
    /// The `X-Firstweek-Mentorship` header.
    pub mentorship: String,
    /// The `Message-ID` header.
    pub message_id: String,
    /// The `Subject` header, as sent (possibly encoded).
    pub subject: String,
    /// When the server received it, in Unix seconds (`X-Received-At`).
    pub received_at: f64,
    /// The header block, unfolded.
    pub headers: String,
    /// The decoded text of the message (quoted-printable undone).
    pub text: String,
    /// The message as received, CRLF line endings included.
    pub raw: String,
}

/// One leaf part of a MIME message (`text/plain`, `text/html`, an attachment).
#[derive(Debug, Clone)]
pub struct MimePart {
    /// Its `Content-Type` header value.
    pub content_type: String,
    /// Its `Content-Disposition` header value (empty when none).
    pub disposition: String,
    /// Its body, decoded from base64 or quoted-printable, line endings kept.
    pub body: String,
}

impl Mail {
    fn parse(raw: &[u8]) -> Mail {
        let s = String::from_utf8_lossy(raw).replace("\r\n", "\n");
        let (headers, body) = s.split_once("\n\n").unwrap_or((&s, ""));
        let unfolded = headers.replace("\n ", " ").replace("\n\t", " ");
        let get = |name: &str| {
            unfolded
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
                })
                .unwrap_or_default()
        };
        Mail {
            rcpt: get("X-Rcpt-To"),
            step: get("X-Firstweek-Step"),
            mentorship: get("X-Firstweek-Mentorship"),
            message_id: get("Message-ID"),
            subject: get("Subject"),
            received_at: get("X-Received-At").parse().unwrap_or(0.0),
            headers: unfolded.clone(),
            text: decode_qp(body),
            raw: String::from_utf8_lossy(raw).into_owned(),
        }
    }

    /// The message's leaf parts, in order. A plain reader of what lettre
    /// writes: every line starting with `--` is taken for a boundary.
    pub fn parts(&self) -> Vec<MimePart> {
        let mut out = Vec::new();
        let mut chunks = self.raw.split("\r\n--");
        chunks.next(); // the message's own headers
        for chunk in chunks {
            let Some((headers, body)) = chunk.split_once("\r\n\r\n") else {
                continue;
            };
            let unfolded = headers.replace("\r\n ", " ").replace("\r\n\t", " ");
            let get =
                |name: &str| header(&unfolded.replace("\r\n", "\n"), name).map(str::to_string);
            let Some(content_type) = get("Content-Type") else {
                continue;
            };
            if content_type.starts_with("multipart/") {
                continue;
            }
            let body = match get("Content-Transfer-Encoding").as_deref() {
                Some("base64") => {
                    String::from_utf8_lossy(&firstweek_workers::mailer::outbox::decode_base64(body))
                        .into_owned()
                }
                Some("quoted-printable") => decode_hex_escapes(&body.replace("=\r\n", ""), b'='),
                _ => body.to_string(),
            };
            out.push(MimePart {
                content_type,
                disposition: get("Content-Disposition").unwrap_or_default(),
                body,
            });
        }
        out
    }
}

fn decode_qp(s: &str) -> String {
    decode_hex_escapes(&s.replace("=\n", ""), b'=')
}

/// The header's value in a raw header block, if present.
pub fn header<'a>(headers: &'a str, name: &str) -> Option<&'a str> {
    headers.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}
