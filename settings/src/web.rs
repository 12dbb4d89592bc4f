//! What `firstweek-web` reads: it has no broker and sends no email, so it
//! needs neither `AMQP_URL` nor the mail section; only `DATABASE_URL` is
//! required.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use firstweek::Rules;

use crate::environment::invalid;
use crate::{AdminAddr, ApiSettings, Environment, LogFormat, SettingsError};

/// Where the web service's `/healthz`, `/readyz` and `/metrics` listen
/// unless told otherwise: beside the scheduler's 9100 and the worker's 9101,
/// never on the public address.
pub const DEFAULT_WEB_ADMIN_ADDR: &str = "0.0.0.0:9102";

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
    /// `FIRSTWEEK_ADMIN_ADDR`: `/healthz`, `/readyz` and `/metrics`
    /// (default [`DEFAULT_WEB_ADMIN_ADDR`]; `off`).
    pub admin_addr: AdminAddr,
    /// `FIRSTWEEK_WEB_READ_TIMEOUT_SECS`: a client must send a request's
    /// headers within this, and then its body and get its answer within it
    /// again (default 10 s); a client that trickles is cut off.
    pub read_timeout: Duration,
    /// `FIRSTWEEK_WEB_MAX_CONNECTIONS`: open connections at most (default
    /// 512); more wait in the listen backlog until one closes.
    pub max_connections: usize,
    /// `FIRSTWEEK_WEB_TEMPLATES_DIR`: page template overrides; `None`: the built-in pages.
    pub templates_dir: Option<PathBuf>,
    /// `FIRSTWEEK_LOG_FORMAT`: JSON unless stdout is a terminal.
    pub log_format: LogFormat,
    /// The events API's limits (`FIRSTWEEK_API_*`).
    pub api: ApiSettings,
}

impl std::fmt::Debug for WebSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSettings")
            .field("playbook", &self.rules.playbook.name)
            .field("scale", &self.rules.scale.factor())
            .field("public_url", &self.public_url)
            .field("web_addr", &self.web_addr)
            .field("admin_addr", &self.admin_addr)
            .field("read_timeout", &self.read_timeout)
            .field("max_connections", &self.max_connections)
            .field("templates_dir", &self.templates_dir)
            .field("api", &self.api)
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
            admin_addr: self.admin_addr(DEFAULT_WEB_ADMIN_ADDR)?,
            read_timeout: Duration::from_secs(
                self.seconds("FIRSTWEEK_WEB_READ_TIMEOUT_SECS", 10)?
                    .unsigned_abs(),
            ),
            max_connections: self.count("FIRSTWEEK_WEB_MAX_CONNECTIONS", 512)?,
            templates_dir: self.var("FIRSTWEEK_WEB_TEMPLATES_DIR").map(PathBuf::from),
            log_format: self.log_format()?,
            api: self.api_settings()?,
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
        assert_eq!(
            s.admin_addr,
            AdminAddr::Default(DEFAULT_WEB_ADMIN_ADDR.parse().unwrap())
        );
        assert_eq!(s.read_timeout, Duration::from_secs(10));
        assert_eq!(s.max_connections, 512);
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
            ("FIRSTWEEK_ADMIN_ADDR", "9102"),
            ("FIRSTWEEK_WEB_READ_TIMEOUT_SECS", "0"),
            ("FIRSTWEEK_WEB_MAX_CONNECTIONS", "100000"),
            ("FIRSTWEEK_PUBLIC_URL", "http://fw.example.org"),
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
            ("FIRSTWEEK_RETENTION_DAYS", "soon"),
        ]);
        assert!(s.is_ok(), "{s:?}");
    }
}
