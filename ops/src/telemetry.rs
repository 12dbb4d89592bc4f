//! Logging: JSON lines in production, readable lines on a terminal. Spans carry
//! `mentorship_id` and `event_id`; URLs with passwords and email bodies are never logged,
//! and every line has its email addresses replaced by `<address>` ([`Scrubbed`]), whatever
//! logged them (an SMTP reply quoting the recipient, an error from a library).

use std::io::{self, Write};

use tracing_subscriber::EnvFilter;

use firstweek_settings::LogFormat;

/// Installs the global subscriber; `RUST_LOG` filters (default `info`).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,lapin=warn,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| Scrubbed(io::stderr()));
    // A second init (tests) is harmless: the first subscriber stays.
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}

/// A log writer that takes the email addresses out of what it writes. The
/// formatter hands it one whole line per write, so an address is never split.
pub struct Scrubbed<W>(pub W);

impl<W: Write> Write for Scrubbed<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        if text.contains('@') {
            self.0
                .write_all(firstweek::email::without_addresses(&text).as_bytes())?;
        } else {
            self.0.write_all(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_log_line_holds_an_email_address() {
        let mut out = Vec::new();
        let line = "WARN delivery failed error=\"550 5.1.1 <bo@example.org>: unknown\" to=ada@example.org\n";
        Scrubbed(&mut out).write_all(line.as_bytes()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "WARN delivery failed error=\"550 5.1.1 <<address>>: unknown\" to=<address>\n"
        );
    }
}
