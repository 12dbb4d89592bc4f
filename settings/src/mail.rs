//! How a worker sends email: the SMTP server (`SMTP_URL`) or the outbox
//! directory, the sender, the email templates (`FIRSTWEEK_TEMPLATES_DIR`,
//! read here and handed to the domain as text), and the delivery ledger's
//! timings. Only the worker reads this section.

use std::path::{Path, PathBuf};

use firstweek::Rules;
use firstweek::delivery::UnknownDelivery;
use firstweek::email::{EmailError, Templates};
use lettre::message::Mailbox;

use crate::environment::invalid;
use crate::{Environment, SettingsError};

/// The mail section.
#[derive(Clone)]
pub struct MailSettings {
    /// `SMTP_URL`: `smtp://host:port` or `smtps://user:pass@host:port`;
    /// `None`: write `.eml` files.
    pub smtp_url: Option<String>,
    /// `FIRSTWEEK_OUTBOX_DIR`: where `.eml` files go when `smtp_url` is unset (default `outbox/`).
    pub outbox_dir: PathBuf,
    /// `FIRSTWEEK_SMTP_CA_FILE`: extra trusted root certificate (PEM) for the SMTP server's TLS.
    pub smtp_ca_file: Option<PathBuf>,
    /// `FIRSTWEEK_FROM`: the sender mailbox; its domain is used in Message-IDs.
    pub from: Mailbox,
    /// `FIRSTWEEK_TEMPLATES_DIR`: template overrides; `None`: the built-in templates.
    pub templates_dir: Option<PathBuf>,
    /// `FIRSTWEEK_MAIL_DEADLINE_SECS`: transient mail failures are retried
    /// until this long after the step fell due.
    pub deadline: chrono::Duration,
    /// `FIRSTWEEK_SMTP_TIMEOUT_SECS`: how long one SMTP command may take; no
    /// final reply in time means "outcome unknown".
    pub smtp_timeout: std::time::Duration,
    /// `FIRSTWEEK_CLAIM_LEASE_SECS`: a `sending` claim older than this
    /// belongs to a dead worker and is taken over.
    pub claim_lease: chrono::Duration,
    /// `FIRSTWEEK_UNKNOWN_DELIVERY`: what becomes of an email the SMTP server
    /// may or may not have (`record`, the default, or `resend`).
    pub unknown_delivery: UnknownDelivery,
    /// `FIRSTWEEK_MAIL_CONCURRENCY`: emails a worker sends at once, and so
    /// SMTP connections it may hold.
    pub concurrency: usize,
}

// The SMTP URL may hold a password: it is never printed, not even in debug output.
impl std::fmt::Debug for MailSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailSettings")
            .field("smtp", &self.smtp_url.as_ref().map(|_| "<set>"))
            .field("outbox_dir", &self.outbox_dir)
            .field("from", &self.from.to_string())
            .field("templates_dir", &self.templates_dir)
            .finish_non_exhaustive()
    }
}

impl MailSettings {
    /// Loads the templates (with the overrides of `templates_dir`) and checks
    /// every playbook's steps against them.
    pub fn templates(&self, rules: &Rules) -> Result<Templates, EmailError> {
        let templates = load_templates(self.templates_dir.as_deref())?;
        for playbook in rules.all_playbooks() {
            templates.check(playbook)?;
        }
        Ok(templates)
    }
}

impl<G: Fn(&str) -> Option<String>> Environment<G> {
    /// The mail section.
    pub fn mail(&self) -> Result<MailSettings, SettingsError> {
        let smtp_url = self.smtp_url()?;
        let from = self
            .var("FIRSTWEEK_FROM")
            .unwrap_or_else(|| "firstweek <firstweek@localhost>".into())
            .parse::<Mailbox>()
            .map_err(|e| invalid("FIRSTWEEK_FROM", format!("not a mailbox: {e}")))?;
        let deadline = self.seconds("FIRSTWEEK_MAIL_DEADLINE_SECS", 24 * 3600)?;
        let smtp_timeout = self.seconds("FIRSTWEEK_SMTP_TIMEOUT_SECS", 30)?;
        let claim_lease = self.seconds("FIRSTWEEK_CLAIM_LEASE_SECS", 120)?;
        let concurrency = self.count("FIRSTWEEK_MAIL_CONCURRENCY", 64)?;
        // A live worker still waiting on SMTP must never look dead.
        if claim_lease < 3 * smtp_timeout {
            return Err(invalid(
                "FIRSTWEEK_CLAIM_LEASE_SECS",
                format!(
                    "{claim_lease} must be at least three times FIRSTWEEK_SMTP_TIMEOUT_SECS ({smtp_timeout})"
                ),
            ));
        }
        Ok(MailSettings {
            smtp_url,
            outbox_dir: PathBuf::from(
                self.var("FIRSTWEEK_OUTBOX_DIR")
                    .unwrap_or_else(|| "outbox".into()),
            ),
            smtp_ca_file: self.var("FIRSTWEEK_SMTP_CA_FILE").map(PathBuf::from),
            from,
            templates_dir: self.templates_dir(),
            deadline: chrono::Duration::seconds(deadline),
            smtp_timeout: std::time::Duration::from_secs(smtp_timeout as u64),
            claim_lease: chrono::Duration::seconds(claim_lease),
            unknown_delivery: self.unknown_delivery()?,
            concurrency,
        })
    }

    /// `SMTP_URL`, if set: `smtp://` or `smtps://`.
    fn smtp_url(&self) -> Result<Option<String>, SettingsError> {
        let smtp_url = self.var("SMTP_URL");
        if let Some(url) = &smtp_url
            && !(url.starts_with("smtp://") || url.starts_with("smtps://"))
        {
            return Err(invalid(
                "SMTP_URL",
                "must start with smtp:// or smtps://".into(),
            ));
        }
        Ok(smtp_url)
    }

    /// `FIRSTWEEK_OUTBOX_DIR`, only if set: where a tool that is not the
    /// worker (`firstweek erase`) finds the worker's `.eml` files.
    pub fn outbox_dir_set(&self) -> Option<PathBuf> {
        self.var("FIRSTWEEK_OUTBOX_DIR").map(PathBuf::from)
    }

    /// `FIRSTWEEK_TEMPLATES_DIR`, if set.
    pub fn templates_dir(&self) -> Option<PathBuf> {
        self.var("FIRSTWEEK_TEMPLATES_DIR").map(PathBuf::from)
    }

    /// `FIRSTWEEK_UNKNOWN_DELIVERY`: `record` (the default) or `resend`.
    pub fn unknown_delivery(&self) -> Result<UnknownDelivery, SettingsError> {
        let Some(value) = self.var("FIRSTWEEK_UNKNOWN_DELIVERY") else {
            return Ok(UnknownDelivery::default());
        };
        match value.trim() {
            "record" => Ok(UnknownDelivery::Record),
            "resend" => Ok(UnknownDelivery::Resend),
            other => Err(invalid(
                "FIRSTWEEK_UNKNOWN_DELIVERY",
                format!("{other:?} is not record or resend"),
            )),
        }
    }
}

/// The built-in templates, overridden by any template file (`.subject`,
/// `.txt`, `.html`) of the same name in `dir`; a directory or file that
/// cannot be read is named.
pub fn load_templates(dir: Option<&Path>) -> Result<Templates, EmailError> {
    let Some(dir) = dir else {
        return Templates::built_in();
    };
    let mut overrides = Vec::new();
    read_parts(dir, "", &mut overrides)?;
    // A subdirectory named by a locale (`de`, `es`, `de-AT`) holds that
    // locale's templates: `de/welcome.txt` overrides the German welcome.
    let derr = |message: String| EmailError::Directory {
        dir: dir.display().to_string(),
        message,
    };
    for entry in std::fs::read_dir(dir).map_err(|e| derr(e.to_string()))? {
        let path = entry.map_err(|e| derr(e.to_string()))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if path.is_dir() && firstweek::locale::Locale::parse(name).is_ok() {
            read_parts(&path, &format!("{name}/"), &mut overrides)?;
        }
    }
    Templates::from_sources(overrides)
}

/// The template parts of one directory, named with `prefix` (`""`, `de/`).
fn read_parts(
    dir: &Path,
    prefix: &str,
    overrides: &mut Vec<(String, String)>,
) -> Result<(), EmailError> {
    let derr = |message: String| EmailError::Directory {
        dir: dir.display().to_string(),
        message,
    };
    let entries = std::fs::read_dir(dir).map_err(|e| derr(e.to_string()))?;
    for entry in entries {
        let path = entry.map_err(|e| derr(e.to_string()))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !Templates::is_part(name) || !path.is_file() {
            continue;
        }
        let name = format!("{prefix}{name}");
        let source = std::fs::read_to_string(&path).map_err(|e| derr(format!("{name}: {e}")))?;
        overrides.push((name, source));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_override_directory_adds_and_replaces_templates_and_a_broken_one_is_refused() {
        let dir = std::env::temp_dir().join(format!("fw-templates-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for part in ["subject", "txt", "html"] {
            std::fs::write(dir.join(format!("hello.{part}")), "Hello {{ program_id }}").unwrap();
        }
        std::fs::write(dir.join("notes.md"), "{% if %}").unwrap();
        let names = load_templates(Some(&dir)).unwrap().names();
        assert!(names.iter().any(|n| n == "hello"), "{names:?}");
        assert!(names.iter().any(|n| n == "welcome"), "{names:?}");

        std::fs::write(dir.join("welcome.txt"), "{% if %}").unwrap();
        assert!(matches!(
            load_templates(Some(&dir)),
            Err(EmailError::Template { name, .. }) if name == "welcome.txt"
        ));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(
            load_templates(Some(&dir)),
            Err(EmailError::Directory { .. })
        ));
    }

    #[test]
    fn a_locale_subdirectory_overrides_that_locales_templates() {
        let dir = std::env::temp_dir().join(format!("fw-templates-locale-{}", std::process::id()));
        for sub in ["", "de", "es", "de-AT", "not a locale"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        for part in ["subject", "txt", "html"] {
            std::fs::write(dir.join(format!("hello.{part}")), "Hello").unwrap();
            std::fs::write(dir.join(format!("de/hello.{part}")), "Hallo").unwrap();
            std::fs::write(dir.join(format!("es/hello.{part}")), "Hola").unwrap();
        }
        std::fs::write(dir.join("de-AT/hello.subject"), "Servus").unwrap();
        std::fs::write(dir.join("not a locale/hello.subject"), "{% if %}").unwrap();
        let templates = load_templates(Some(&dir)).unwrap();
        let tags: Vec<String> = templates.locales().iter().map(|l| l.to_string()).collect();
        assert_eq!(tags, ["de", "de-AT", "es"]);
        let in_locale = |tag: &str| {
            let ctx = std::collections::HashMap::from([("locale", tag)]);
            let r = templates.render_parts("hello", &ctx).unwrap();
            (r.subject, r.text)
        };
        assert_eq!(in_locale("de-AT"), ("Servus".into(), "Hallo".into()));
        assert_eq!(in_locale("es-MX"), ("Hola".into(), "Hola".into()));
        assert_eq!(in_locale("fr"), ("Hello".into(), "Hello".into()));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
