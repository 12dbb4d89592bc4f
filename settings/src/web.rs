//! What `firstweek-web` reads: it has no broker and sends no email, so it
//! needs neither `AMQP_URL` nor the mail section; only `DATABASE_URL` is
//! required.

use std::net::SocketAddr;
use std::path::PathBuf;

use firstweek::Rules;

use crate::environment::invalid;
use crate::{Environment, LogFormat, SettingsError};

/// The web service's settings.
#[derive(Clone)]
pub struct WebSettings {
    /// `DATABASE_URL`: the PostgreSQL database (required).
    pub database_url: String,
    /// The playbook, time scale and send window: a pair's day and risks on
    /// the pages are judged by the same rules as the digest.
    pub rules: Rules,
    /// `FIRSTWEEK_PUBLIC_URL`: the base of the links it makes; `None`: none.
    pub public_url: Option<String>,
    /// `FIRSTWEEK_WEB_ADDR`: where it listens (default `0.0.0.0:8080`).
    pub web_addr: SocketAddr,
    /// `FIRSTWEEK_WEB_TEMPLATES_DIR`: page template overrides; `None`: the built-in pages.
    pub templates_dir: Option<PathBuf>,
    /// `FIRSTWEEK_LOG_FORMAT`: JSON unless stdout is a terminal.
    pub log_format: LogFormat,
}

impl std::fmt::Debug for WebSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSettings")
            .field("playbook", &self.rules.playbook.name)
            .field("scale", &self.rules.scale.factor())
            .field("public_url", &self.public_url)
            .field("web_addr", &self.web_addr)
            .field("templates_dir", &self.templates_dir)
            .finish_non_exhaustive()
    }
}

impl WebSettings {
    /// Reads the process environment.
    pub fn from_env() -> Result<WebSettings, SettingsError> {
        Environment::process().web_settings()
    }
}

impl<G: Fn(&str) -> Option<String>> Environment<G> {
    /// The settings of `firstweek-web` (only `DATABASE_URL` is required).
    pub fn web_settings(&self) -> Result<WebSettings, SettingsError> {
        Ok(WebSettings {
            database_url: self.database_url()?,
            rules: self.rules()?,
            public_url: self.public_url()?,
            web_addr: self.web_addr()?,
            templates_dir: self.var("FIRSTWEEK_WEB_TEMPLATES_DIR").map(PathBuf::from),
            log_format: self.log_format()?,
        })
    }

    /// `FIRSTWEEK_WEB_ADDR` (default `0.0.0.0:8080`).
    pub fn web_addr(&self) -> Result<SocketAddr, SettingsError> {
        let v = self
            .var("FIRSTWEEK_WEB_ADDR")
            .unwrap_or_else(|| "0.0.0.0:8080".into());
        v.parse()
            .map_err(|_| invalid("FIRSTWEEK_WEB_ADDR", format!("{v:?} is not host:port")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::env_of;

    fn web_settings(pairs: &[(&str, &str)]) -> Result<WebSettings, SettingsError> {
        env_of(pairs).web_settings()
    }

    #[test]
    fn the_web_service_needs_only_the_database() {
        let s = web_settings(&[("DATABASE_URL", "postgres://x")]).unwrap();
        assert_eq!(s.database_url, "postgres://x");
        assert_eq!(s.web_addr, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(s.public_url, None);
        assert_eq!(s.templates_dir, None);
        assert_eq!(s.rules.playbook.name, "first-week");
        assert!(
            !format!("{s:?}").contains("postgres://"),
            "debug output hides secrets"
        );

        let e = web_settings(&[("AMQP_URL", "amqp://y")]).unwrap_err();
        assert!(e.to_string().starts_with("DATABASE_URL is not set"), "{e}");

        let s = web_settings(&[
            ("DATABASE_URL", "postgres://x"),
            ("FIRSTWEEK_WEB_ADDR", "127.0.0.1:9999"),
            ("FIRSTWEEK_PUBLIC_URL", "https://fw.example.org/"),
            ("FIRSTWEEK_WEB_TEMPLATES_DIR", "/etc/firstweek/pages"),
            ("FIRSTWEEK_TIME_SCALE", "86400"),
        ])
        .unwrap();
        assert_eq!(s.web_addr, "127.0.0.1:9999".parse().unwrap());
        assert_eq!(s.public_url.as_deref(), Some("https://fw.example.org"));
        assert_eq!(s.templates_dir, Some(PathBuf::from("/etc/firstweek/pages")));
        assert_eq!(s.rules.scale.factor(), 86_400.0);

        for (k, v) in [
            ("FIRSTWEEK_WEB_ADDR", "8080"),
            ("FIRSTWEEK_PUBLIC_URL", "fw.example.org"),
            ("FIRSTWEEK_TIME_SCALE", "fast"),
        ] {
            let e = web_settings(&[("DATABASE_URL", "postgres://x"), (k, v)]).unwrap_err();
            assert!(e.to_string().starts_with(k), "{e}");
        }
    }

    #[test]
    fn the_broker_and_the_mail_are_not_the_webs_concern() {
        let s = web_settings(&[
            ("DATABASE_URL", "postgres://x"),
            ("AMQP_URL", "http://not-amqp"),
            ("SMTP_URL", "http://not-smtp"),
            ("FIRSTWEEK_FROM", "nobody"),
            ("FIRSTWEEK_CLAIM_LEASE_SECS", "10"),
            ("FIRSTWEEK_ADMIN_ADDR", "9100"),
            ("FIRSTWEEK_RETENTION_DAYS", "soon"),
        ]);
        assert!(s.is_ok(), "{s:?}");
    }
}
