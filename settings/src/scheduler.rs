//! What `firstweek-scheduler` reads: the database, the broker, the rules, its
//! admin endpoints and logs, and its own jobs' settings. It sends no email,
//! so it never reads the mail section (`SMTP_URL`, `FIRSTWEEK_FROM`, ...).

use firstweek::Rules;
use firstweek_broker::BrokerAddresses;

use crate::environment::invalid;
use crate::{AdminAddr, Environment, LogFormat, SettingsError};

/// Where the scheduler's admin endpoints listen unless told otherwise.
pub const DEFAULT_ADMIN_ADDR: &str = "0.0.0.0:9100";

/// The digest job's default tick: every minute (six fields, seconds first),
/// so a digest goes out within a minute of its coordinator's local
/// `digest_at` (the playbook's; when is each coordinator's, not the tick's).
pub const DEFAULT_DIGEST_CRON: &str = "0 * * * * *";

/// The scheduler's settings.
#[derive(Clone)]
pub struct SchedulerSettings {
    /// `DATABASE_URL`: the PostgreSQL database (required).
    pub database_url: String,
    /// `AMQP_URL`: the RabbitMQ broker, one URL per node of a cluster (required).
    pub amqp_url: BrokerAddresses,
    /// `FIRSTWEEK_PSEUDONYM_KEY`: what pseudonyms are keyed with (required; never printed).
    pub pseudonym_key: firstweek::pseudonym::PseudonymKey,
    /// The playbook, time scale and send window (`FIRSTWEEK_PLAYBOOK`,
    /// `FIRSTWEEK_PLAYBOOKS_DIR`, `FIRSTWEEK_TIME_SCALE`, `FIRSTWEEK_SEND_WINDOW`).
    pub rules: Rules,
    /// `FIRSTWEEK_ADMIN_ADDR`: where `/healthz`, `/readyz` and `/metrics` listen.
    pub admin_addr: AdminAddr,
    /// `FIRSTWEEK_LOG_FORMAT`: JSON unless stdout is a terminal.
    pub log_format: LogFormat,
    /// `FIRSTWEEK_REDELIVER_AFTER_SECS`: a published step no worker finished
    /// within this is published again.
    pub redeliver_after: chrono::Duration,
    /// `FIRSTWEEK_DIGEST_CRON`: how often the digest job looks for
    /// coordinators whose local `digest_at` has passed (six-field cron, UTC);
    /// `None`: no digests. The scheduler checks the expression when it
    /// builds the job.
    pub digest_cron: Option<String>,
    /// `FIRSTWEEK_RETENTION_DAYS`: the people of pairs that ended, or
    /// finished their first week, longer ago than this many program days are
    /// forgotten; `None` (the default, or `off`): never.
    pub retention_days: Option<u32>,
}

// Secrets (URLs with passwords) are never printed, not even in debug output.
impl std::fmt::Debug for SchedulerSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchedulerSettings")
            .field("playbook", &self.rules.playbook.name)
            .field("scale", &self.rules.scale.factor())
            .field("window", &self.rules.window)
            .field("admin_addr", &self.admin_addr)
            .field("amqp", &self.amqp_url)
            .field("digest_cron", &self.digest_cron)
            .field("retention_days", &self.retention_days)
            .finish_non_exhaustive()
    }
}

impl SchedulerSettings {
    /// Reads the process environment.
    pub fn from_env() -> Result<SchedulerSettings, SettingsError> {
        Environment::process().scheduler_settings(DEFAULT_ADMIN_ADDR)
    }
}

impl<G: Fn(&str) -> Option<String>> Environment<G> {
    /// The scheduler's settings; `default_admin` is its admin address.
    pub fn scheduler_settings(
        &self,
        default_admin: &str,
    ) -> Result<SchedulerSettings, SettingsError> {
        Ok(SchedulerSettings {
            database_url: self.database_url()?,
            amqp_url: self.amqp_url()?,
            pseudonym_key: self.pseudonym_key()?,
            rules: self.rules()?,
            admin_addr: self.admin_addr(default_admin)?,
            log_format: self.log_format()?,
            redeliver_after: chrono::Duration::seconds(
                self.seconds("FIRSTWEEK_REDELIVER_AFTER_SECS", 300)?,
            ),
            digest_cron: self.digest_cron(),
            retention_days: self.retention_days()?,
        })
    }

    /// `FIRSTWEEK_DIGEST_CRON`: the digest job's tick (default every minute;
    /// `off`: no digest).
    pub fn digest_cron(&self) -> Option<String> {
        match self.var("FIRSTWEEK_DIGEST_CRON") {
            None => Some(DEFAULT_DIGEST_CRON.to_string()),
            Some(v) if v.eq_ignore_ascii_case("off") => None,
            Some(v) => Some(v),
        }
    }

    /// `FIRSTWEEK_RETENTION_DAYS`: whole program days from 1 to 36500, or
    /// `off` (the default): how long the people of a finished pair are kept.
    pub fn retention_days(&self) -> Result<Option<u32>, SettingsError> {
        match self.var("FIRSTWEEK_RETENTION_DAYS") {
            None => Ok(None),
            Some(v) if v.trim().eq_ignore_ascii_case("off") => Ok(None),
            Some(v) => v
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|d| (1..=36_500).contains(d))
                .map(Some)
                .ok_or_else(|| {
                    invalid(
                        "FIRSTWEEK_RETENTION_DAYS",
                        format!("{v:?} is not a number of days from 1 to 36500, or off"),
                    )
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{assert_refused_naming, env_of, with_base};
    use firstweek::timeline::{SendWindow, TimeScale};

    fn settings(pairs: &[(&str, &str)]) -> Result<SchedulerSettings, SettingsError> {
        env_of(pairs).scheduler_settings("127.0.0.1:0")
    }

    fn with(extra: &[(&str, &str)]) -> Result<SchedulerSettings, SettingsError> {
        settings(&with_base(extra))
    }

    #[test]
    fn a_missing_or_wrong_setting_names_its_variable() {
        assert_refused_naming(
            settings,
            &[
                ("FIRSTWEEK_TIME_SCALE", "fast"),
                ("FIRSTWEEK_SEND_WINDOW", "9-5"),
                ("FIRSTWEEK_REDELIVER_AFTER_SECS", "0"),
                ("FIRSTWEEK_ADMIN_ADDR", "9100"),
                ("FIRSTWEEK_LOG_FORMAT", "xml"),
                ("FIRSTWEEK_RETENTION_DAYS", "soon"),
                ("FIRSTWEEK_RETENTION_DAYS", "0"),
                ("FIRSTWEEK_RETENTION_DAYS", "-3"),
                ("AMQP_URL", "amqp://a/v, "),
            ],
        );
        let e = with(&[("FIRSTWEEK_PLAYBOOK", "/nonexistent/playbook.toml")]).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/playbook.toml"), "{e}");
    }

    #[test]
    fn the_mail_and_web_settings_are_not_the_schedulers_concern() {
        let s = with(&[
            ("SMTP_URL", "http://not-smtp"),
            ("FIRSTWEEK_FROM", "nobody"),
            ("FIRSTWEEK_CLAIM_LEASE_SECS", "10"),
            ("FIRSTWEEK_UNKNOWN_DELIVERY", "maybe"),
            ("FIRSTWEEK_MAIL_CONCURRENCY", "0"),
            ("FIRSTWEEK_STALE_AFTER", "1 week"),
            ("FIRSTWEEK_WEB_ADDR", "8080"),
            ("FIRSTWEEK_PUBLIC_URL", "firstweek.example.org"),
        ]);
        assert!(s.is_ok(), "{s:?}");
    }

    #[test]
    fn defaults_are_the_briefs() {
        let s = settings(&with_base(&[])).unwrap();
        assert_eq!(s.rules.scale, TimeScale::REAL);
        assert_eq!(s.rules.window, SendWindow::default());
        assert_eq!(s.rules.playbook.name, "first-week");
        assert_eq!(s.redeliver_after, chrono::Duration::seconds(300));
        assert_eq!(s.digest_cron.as_deref(), Some(DEFAULT_DIGEST_CRON));
        assert_eq!(s.retention_days, None, "people are kept unless asked");
        assert!(
            !format!("{s:?}").contains("postgres://"),
            "debug output hides secrets"
        );
        for (v, want) in [("30", Some(30)), ("off", None), ("OFF", None)] {
            assert_eq!(
                with(&[("FIRSTWEEK_RETENTION_DAYS", v)])
                    .unwrap()
                    .retention_days,
                want,
                "{v}"
            );
        }
        assert_eq!(
            with(&[("FIRSTWEEK_DIGEST_CRON", "off")])
                .unwrap()
                .digest_cron,
            None
        );
    }

    #[test]
    fn amqp_url_lists_one_url_per_node() {
        let s = with(&[(
            "AMQP_URL",
            "amqp://u:s3cret@a:5673/v,amqp://u:s3cret@b:5674/v",
        )])
        .unwrap();
        assert_eq!(s.amqp_url.len(), 2);
        let shown = format!("{s:?}");
        assert!(shown.contains("a:5673"), "debug output names the nodes");
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
