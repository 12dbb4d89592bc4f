//! Settings from the environment, parsed once at start-up into a typed struct.
//! A missing or wrong setting names its variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use lettre::message::Mailbox;

use crate::email::Templates;
use crate::playbook::{Playbook, PlaybookError};
use crate::store::Rules;
use crate::timeline::{SendWindow, TimeScale};

/// A setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{variable} is not set ({hint})")]
    Missing {
        variable: &'static str,
        hint: &'static str,
    },
    #[error("{variable}: {problem}")]
    Invalid {
        variable: &'static str,
        problem: String,
    },
    #[error("FIRSTWEEK_PLAYBOOK: {0}")]
    Playbook(#[from] PlaybookError),
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// JSON lines (production).
    Json,
    /// Human-readable (a terminal).
    Pretty,
}

/// Everything the services read from the environment.
#[derive(Clone)]
pub struct Settings {
    pub database_url: String,
    pub amqp_url: String,
    /// `smtp://host:port` or `smtps://user:pass@host:port`; `None`: write `.eml` files.
    pub smtp_url: Option<String>,
    pub outbox_dir: PathBuf,
    /// Extra trusted root certificate (PEM) for the SMTP server's TLS.
    pub smtp_ca_file: Option<PathBuf>,
    pub from: Mailbox,
    pub templates_dir: Option<PathBuf>,
    pub rules: Rules,
    pub admin_addr: Option<SocketAddr>,
    pub log_format: LogFormat,
    /// Transient mail failures are retried until this long after the step fell due.
    pub mail_deadline: chrono::Duration,
    /// How long one SMTP command may take; no final reply in time means "outcome unknown".
    pub smtp_timeout: std::time::Duration,
    /// A `sending` claim older than this belongs to a dead worker and is taken over.
    pub claim_lease: chrono::Duration,
    /// A published step no worker finished within this is published again.
    pub redeliver_after: chrono::Duration,
    /// Events a worker handles at once (their database work is group-committed).
    pub intake_concurrency: usize,
    /// Due steps a worker handles at once, and so SMTP connections it may hold.
    pub mail_concurrency: usize,
}

// Secrets (URLs with passwords) are never printed, not even in debug output.
impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("smtp", &self.smtp_url.as_ref().map(|_| "<set>"))
            .field("outbox_dir", &self.outbox_dir)
            .field("from", &self.from.to_string())
            .field("playbook", &self.rules.playbook.name)
            .field("scale", &self.rules.scale.factor())
            .field("window", &self.rules.window)
            .field("admin_addr", &self.admin_addr)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env(default_admin: &str) -> Result<Settings, ConfigError> {
        Settings::from_lookup(default_admin, |k| {
            std::env::var(k).ok().filter(|v| !v.is_empty())
        })
    }

    /// Reads settings through `get` (tests pass a map).
    pub fn from_lookup(
        default_admin: &str,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConfigError> {
        let required = |variable: &'static str, hint: &'static str| {
            get(variable).ok_or(ConfigError::Missing { variable, hint })
        };
        let invalid =
            |variable: &'static str, problem: String| ConfigError::Invalid { variable, problem };

        let database_url = required(
            "DATABASE_URL",
            "e.g. postgres://firstweek@127.0.0.1/firstweek",
        )?;
        let amqp_url = required("AMQP_URL", "e.g. amqp://guest:guest@127.0.0.1:5672/%2f")?;
        let smtp_url = get("SMTP_URL");
        if let Some(url) = &smtp_url
            && !(url.starts_with("smtp://") || url.starts_with("smtps://"))
        {
            return Err(invalid(
                "SMTP_URL",
                "must start with smtp:// or smtps://".into(),
            ));
        }
        let outbox_dir =
            PathBuf::from(get("FIRSTWEEK_OUTBOX_DIR").unwrap_or_else(|| "outbox".into()));
        let from = get("FIRSTWEEK_FROM")
            .unwrap_or_else(|| "firstweek <firstweek@localhost>".into())
            .parse::<Mailbox>()
            .map_err(|e| invalid("FIRSTWEEK_FROM", format!("not a mailbox: {e}")))?;
        let playbook = match get("FIRSTWEEK_PLAYBOOK") {
            Some(path) => Playbook::load(std::path::Path::new(&path))?,
            None => Playbook::built_in(),
        };
        let templates_dir = get("FIRSTWEEK_TEMPLATES_DIR").map(PathBuf::from);
        let scale = match get("FIRSTWEEK_TIME_SCALE") {
            None => TimeScale::REAL,
            Some(s) => s
                .parse::<f64>()
                .ok()
                .and_then(TimeScale::new)
                .ok_or_else(|| {
                    invalid(
                        "FIRSTWEEK_TIME_SCALE",
                        format!("{s:?} is not a number of at least 1"),
                    )
                })?,
        };
        let window = match get("FIRSTWEEK_SEND_WINDOW") {
            None => SendWindow::default(),
            Some(s) => SendWindow::parse(&s).map_err(|p| invalid("FIRSTWEEK_SEND_WINDOW", p))?,
        };
        let admin = get("FIRSTWEEK_ADMIN_ADDR").unwrap_or_else(|| default_admin.to_string());
        let admin_addr = if admin.eq_ignore_ascii_case("off") {
            None
        } else {
            Some(admin.parse().map_err(|_| {
                invalid(
                    "FIRSTWEEK_ADMIN_ADDR",
                    format!("{admin:?} is not host:port or off"),
                )
            })?)
        };
        let log_format = match get("FIRSTWEEK_LOG_FORMAT").as_deref() {
            Some("json") => LogFormat::Json,
            Some("pretty") => LogFormat::Pretty,
            Some(other) => {
                return Err(invalid(
                    "FIRSTWEEK_LOG_FORMAT",
                    format!("{other:?} is not json or pretty"),
                ));
            }
            None => {
                use std::io::IsTerminal;
                if std::io::stdout().is_terminal() {
                    LogFormat::Pretty
                } else {
                    LogFormat::Json
                }
            }
        };
        let deadline_s = match get("FIRSTWEEK_MAIL_DEADLINE_SECS") {
            None => 24 * 3600,
            Some(s) => s.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                invalid(
                    "FIRSTWEEK_MAIL_DEADLINE_SECS",
                    format!("{s:?} is not a positive number of seconds"),
                )
            })?,
        };
        let seconds = |variable: &'static str, default: i64| -> Result<i64, ConfigError> {
            match get(variable) {
                None => Ok(default),
                Some(s) => s.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    invalid(
                        variable,
                        format!("{s:?} is not a positive number of seconds"),
                    )
                }),
            }
        };
        let smtp_timeout = seconds("FIRSTWEEK_SMTP_TIMEOUT_SECS", 30)?;
        let claim_lease = seconds("FIRSTWEEK_CLAIM_LEASE_SECS", 120)?;
        let redeliver_after = seconds("FIRSTWEEK_REDELIVER_AFTER_SECS", 300)?;
        let count = |variable: &'static str, default: usize| -> Result<usize, ConfigError> {
            match get(variable) {
                None => Ok(default),
                Some(s) => s
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=1024).contains(n))
                    .ok_or_else(|| {
                        invalid(variable, format!("{s:?} is not a number from 1 to 1024"))
                    }),
            }
        };
        let intake_concurrency = count("FIRSTWEEK_INTAKE_CONCURRENCY", 128)?;
        let mail_concurrency = count("FIRSTWEEK_MAIL_CONCURRENCY", 64)?;
        // A live worker still waiting on SMTP must never look dead.
        if claim_lease < 3 * smtp_timeout {
            return Err(invalid(
                "FIRSTWEEK_CLAIM_LEASE_SECS",
                format!(
                    "{claim_lease} must be at least three times FIRSTWEEK_SMTP_TIMEOUT_SECS ({smtp_timeout})"
                ),
            ));
        }
        Ok(Settings {
            database_url,
            amqp_url,
            smtp_url,
            outbox_dir,
            smtp_ca_file: get("FIRSTWEEK_SMTP_CA_FILE").map(PathBuf::from),
            from,
            templates_dir,
            rules: Rules {
                playbook,
                scale,
                window,
            },
            admin_addr,
            log_format,
            mail_deadline: chrono::Duration::seconds(deadline_s),
            smtp_timeout: std::time::Duration::from_secs(smtp_timeout as u64),
            claim_lease: chrono::Duration::seconds(claim_lease),
            redeliver_after: chrono::Duration::seconds(redeliver_after),
            intake_concurrency,
            mail_concurrency,
        })
    }

    /// Loads the templates and checks the playbook's steps against them.
    pub fn templates(&self) -> Result<Templates, crate::email::EmailError> {
        let t = Templates::load(self.templates_dir.as_deref())?;
        t.check(&self.rules.playbook)?;
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup("127.0.0.1:0", |k| map.get(k).cloned())
    }

    const BASE: [(&str, &str); 2] = [("DATABASE_URL", "postgres://x"), ("AMQP_URL", "amqp://y")];

    #[test]
    fn a_missing_setting_names_its_variable() {
        let e = settings(&[("AMQP_URL", "amqp://y")]).unwrap_err();
        assert!(e.to_string().starts_with("DATABASE_URL is not set"), "{e}");
    }

    #[test]
    fn wrong_values_name_their_variable() {
        for (k, v) in [
            ("FIRSTWEEK_CLAIM_LEASE_SECS", "10"),
            ("FIRSTWEEK_SMTP_TIMEOUT_SECS", "0"),
            ("FIRSTWEEK_TIME_SCALE", "fast"),
            ("FIRSTWEEK_SEND_WINDOW", "9-5"),
            ("SMTP_URL", "http://x"),
            ("FIRSTWEEK_FROM", "nobody"),
            ("FIRSTWEEK_MAIL_CONCURRENCY", "0"),
            ("FIRSTWEEK_INTAKE_CONCURRENCY", "lots"),
        ] {
            let mut pairs = BASE.to_vec();
            pairs.push((k, v));
            let e = settings(&pairs).unwrap_err();
            assert!(e.to_string().starts_with(k), "{e}");
        }
        let mut pairs = BASE.to_vec();
        pairs.push(("FIRSTWEEK_PLAYBOOK", "/nonexistent/playbook.toml"));
        assert!(
            settings(&pairs)
                .unwrap_err()
                .to_string()
                .contains("/nonexistent/playbook.toml")
        );
    }

    #[test]
    fn defaults_are_the_briefs() {
        let s = settings(&BASE).unwrap();
        assert_eq!(s.rules.scale, TimeScale::REAL);
        assert_eq!(s.rules.window, SendWindow::default());
        assert_eq!(s.rules.playbook.name, "first-week");
        assert!(s.smtp_url.is_none());
        assert!(
            !format!("{s:?}").contains("postgres://"),
            "debug output hides secrets"
        );
    }
}
