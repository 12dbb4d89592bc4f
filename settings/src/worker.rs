//! What `firstweek-worker` reads: the database, the broker, the rules, the
//! mail section, the links, its admin endpoints and logs, and its own role
//! and throughput.

use firstweek::Rules;
use firstweek::email::{EmailError, Templates};
use firstweek_broker::BrokerAddresses;

use crate::environment::invalid;
use crate::{AdminAddr, Environment, LogFormat, MailSettings, SettingsError, parse_span};

/// Where the worker's admin endpoints listen unless told otherwise.
pub const DEFAULT_ADMIN_ADDR: &str = "0.0.0.0:9101";

/// Which queues a worker consumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerRole {
    /// Both.
    All,
    /// Contract events only.
    Intake,
    /// Due steps only.
    Steps,
    /// Webhooks out only (the dispatcher; no queue).
    Webhooks,
}

impl WorkerRole {
    /// Whether this role consumes the events queue.
    pub fn intake(self) -> bool {
        matches!(self, WorkerRole::All | WorkerRole::Intake)
    }
    /// Whether this role consumes the steps queue.
    pub fn steps(self) -> bool {
        matches!(self, WorkerRole::All | WorkerRole::Steps)
    }
    /// Whether this role posts webhooks.
    pub fn webhooks(self) -> bool {
        matches!(self, WorkerRole::All | WorkerRole::Webhooks)
    }
}

impl WorkerRole {
    /// Parses `all`, `intake`, `steps` or `webhooks` (`FIRSTWEEK_WORKER_ROLE`, or the
    /// worker's first argument).
    pub fn parse(value: &str) -> Result<WorkerRole, SettingsError> {
        match value {
            "all" => Ok(WorkerRole::All),
            "intake" => Ok(WorkerRole::Intake),
            "steps" => Ok(WorkerRole::Steps),
            "webhooks" => Ok(WorkerRole::Webhooks),
            other => Err(invalid(
                "FIRSTWEEK_WORKER_ROLE",
                format!("{other:?} is not all, intake, steps or webhooks"),
            )),
        }
    }
}

/// The worker's settings.
#[derive(Clone)]
pub struct WorkerSettings {
    /// `DATABASE_URL`: the PostgreSQL database (required).
    pub database_url: String,
    /// `AMQP_URL`: the RabbitMQ broker, one URL per node of a cluster (required).
    pub amqp_url: BrokerAddresses,
    /// `FIRSTWEEK_PSEUDONYM_KEY`: what pseudonyms are keyed with (required; never printed).
    pub pseudonym_key: firstweek::pseudonym::PseudonymKey,
    /// The playbook, time scale and send window (`FIRSTWEEK_PLAYBOOK`,
    /// `FIRSTWEEK_PLAYBOOKS_DIR`, `FIRSTWEEK_TIME_SCALE`, `FIRSTWEEK_SEND_WINDOW`).
    pub rules: Rules,
    /// How email is sent, from whom, with which templates.
    pub mail: MailSettings,
    /// `FIRSTWEEK_PUBLIC_URL`: the base of every link in emails (`https://...`,
    /// no trailing slash); `None`: emails carry no links.
    pub public_url: Option<String>,
    /// `FIRSTWEEK_ADMIN_ADDR`: where `/healthz`, `/readyz` and `/metrics` listen.
    pub admin_addr: AdminAddr,
    /// `FIRSTWEEK_LOG_FORMAT`: JSON unless stdout is a terminal.
    pub log_format: LogFormat,
    /// `FIRSTWEEK_WORKER_ROLE`: which queues it consumes, and whether it
    /// posts webhooks (default `all`: everything).
    pub role: WorkerRole,
    /// How webhooks are posted (`FIRSTWEEK_WEBHOOK_*`).
    pub webhooks: crate::WebhookSettings,
    /// `FIRSTWEEK_INTAKE_CONCURRENCY`: events handled at once (their
    /// database work is group-committed).
    pub intake_concurrency: usize,
    /// `FIRSTWEEK_STEPS_IN_FLIGHT`: due steps handled at once (read, judged,
    /// claimed, recorded; their database work is group-committed), of which
    /// the mail section's `concurrency` send at a time.
    pub steps_in_flight: usize,
    /// `FIRSTWEEK_BATCH_LINGER_MS`: when the worker is quiet (no batch of its
    /// database work running), how long an item waits for others to share its
    /// transaction: CPU saved at a cohort's pace, for this much latency.
    pub batch_linger: std::time::Duration,
    /// `FIRSTWEEK_STALE_AFTER`: a coordinator's email handled more than this
    /// (program time) after it became sendable is skipped as stale (a
    /// participant's step when it no longer makes sense,
    /// `firstweek::decision::relevance`); `None` (`off`): nothing is ever stale.
    pub stale_after: Option<chrono::Duration>,
    /// `FIRSTWEEK_RETENTION_DAYS`, read by a worker writing `.eml` files (no
    /// `SMTP_URL`): a file is removed this many program days after it was
    /// written; `None`: kept.
    pub retention_days: Option<u32>,
}

// Secrets (URLs with passwords) are never printed, not even in debug output.
impl std::fmt::Debug for WorkerSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerSettings")
            .field("role", &self.role)
            .field("playbook", &self.rules.playbook.name)
            .field("scale", &self.rules.scale.factor())
            .field("window", &self.rules.window)
            .field("mail", &self.mail)
            .field("admin_addr", &self.admin_addr)
            .field("amqp", &self.amqp_url)
            .finish_non_exhaustive()
    }
}

impl WorkerSettings {
    /// Reads the process environment.
    pub fn from_env() -> Result<WorkerSettings, SettingsError> {
        Environment::process().worker_settings(DEFAULT_ADMIN_ADDR)
    }

    /// Loads the email templates and checks every playbook's steps against them.
    pub fn templates(&self) -> Result<Templates, EmailError> {
        self.mail.templates(&self.rules)
    }
}

impl<G: Fn(&str) -> Option<String>> Environment<G> {
    /// The worker's settings; `default_admin` is its admin address.
    pub fn worker_settings(&self, default_admin: &str) -> Result<WorkerSettings, SettingsError> {
        Ok(WorkerSettings {
            database_url: self.database_url()?,
            amqp_url: self.amqp_url()?,
            pseudonym_key: self.pseudonym_key()?,
            mail: self.mail()?,
            rules: self.rules()?,
            admin_addr: self.admin_addr(default_admin)?,
            log_format: self.log_format()?,
            intake_concurrency: self.count("FIRSTWEEK_INTAKE_CONCURRENCY", 128)?,
            steps_in_flight: self.count("FIRSTWEEK_STEPS_IN_FLIGHT", 256)?,
            batch_linger: self.millis("FIRSTWEEK_BATCH_LINGER_MS", 20)?,
            role: self.worker_role()?,
            webhooks: self.webhooks()?,
            public_url: self.public_url()?,
            stale_after: self.stale_after()?,
            retention_days: self.retention_days()?,
        })
    }

    /// `FIRSTWEEK_WORKER_ROLE` (default `all`).
    pub fn worker_role(&self) -> Result<WorkerRole, SettingsError> {
        WorkerRole::parse(
            self.var("FIRSTWEEK_WORKER_ROLE")
                .as_deref()
                .unwrap_or("all"),
        )
    }

    /// `FIRSTWEEK_STALE_AFTER`: a program-time span (default `1d`), or `off`.
    pub fn stale_after(&self) -> Result<Option<chrono::Duration>, SettingsError> {
        parse_span(
            &self
                .var("FIRSTWEEK_STALE_AFTER")
                .unwrap_or_else(|| "1d".into()),
        )
        .map_err(|p| invalid("FIRSTWEEK_STALE_AFTER", p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{assert_refused_naming, env_of, with_base};
    use firstweek::delivery::UnknownDelivery;
    use firstweek::timeline::{SendWindow, TimeScale};

    fn settings(pairs: &[(&str, &str)]) -> Result<WorkerSettings, SettingsError> {
        env_of(pairs).worker_settings("127.0.0.1:0")
    }

    fn with(extra: &[(&str, &str)]) -> Result<WorkerSettings, SettingsError> {
        settings(&with_base(extra))
    }

    #[test]
    fn a_missing_or_wrong_setting_names_its_variable() {
        assert_refused_naming(
            settings,
            &[
                ("FIRSTWEEK_CLAIM_LEASE_SECS", "10"),
                ("FIRSTWEEK_SMTP_TIMEOUT_SECS", "0"),
                ("FIRSTWEEK_MAIL_DEADLINE_SECS", "soon"),
                ("FIRSTWEEK_TIME_SCALE", "fast"),
                ("FIRSTWEEK_SEND_WINDOW", "9-5"),
                ("SMTP_URL", "http://x"),
                ("FIRSTWEEK_FROM", "nobody"),
                ("FIRSTWEEK_MAIL_CONCURRENCY", "0"),
                ("FIRSTWEEK_STEPS_IN_FLIGHT", "2000"),
                ("FIRSTWEEK_BATCH_LINGER_MS", "5s"),
                ("FIRSTWEEK_BATCH_LINGER_MS", "1001"),
                ("FIRSTWEEK_INTAKE_CONCURRENCY", "lots"),
                ("FIRSTWEEK_UNKNOWN_DELIVERY", "maybe"),
                ("FIRSTWEEK_STALE_AFTER", "1 week"),
                ("FIRSTWEEK_STALE_AFTER", "0h"),
                ("FIRSTWEEK_RETENTION_DAYS", "soon"),
                ("FIRSTWEEK_PUBLIC_URL", "firstweek.example.org"),
                ("FIRSTWEEK_PUBLIC_URL", "https://x.org/?a=b"),
                ("FIRSTWEEK_WORKER_ROLE", "both"),
                ("FIRSTWEEK_WEBHOOK_TIMEOUT_SECS", "never"),
                ("FIRSTWEEK_PSEUDONYM_KEY", "too short"),
                ("FIRSTWEEK_ADMIN_ADDR", "9101"),
                ("FIRSTWEEK_LOG_FORMAT", "xml"),
                ("AMQP_URL", "amqp://a/v, "),
            ],
        );
        let e = with(&[("FIRSTWEEK_PLAYBOOK", "/nonexistent/playbook.toml")]).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/playbook.toml"), "{e}");
    }

    #[test]
    fn the_schedulers_and_the_webs_own_settings_are_not_the_workers_concern() {
        let s = with(&[
            ("FIRSTWEEK_REDELIVER_AFTER_SECS", "0"),
            ("FIRSTWEEK_WEB_ADDR", "8080"),
        ]);
        assert!(s.is_ok(), "{s:?}");
    }

    #[test]
    fn defaults_are_the_briefs() {
        let s = settings(&with_base(&[])).unwrap();
        assert_eq!(s.rules.scale, TimeScale::REAL);
        assert_eq!(s.rules.window, SendWindow::default());
        assert_eq!(s.rules.playbook.name, "first-week");
        assert!(s.mail.smtp_url.is_none());
        assert_eq!(s.mail.unknown_delivery, UnknownDelivery::Record);
        assert_eq!(s.mail.claim_lease, chrono::Duration::seconds(120));
        assert_eq!(s.mail.concurrency, 64);
        assert_eq!(s.role, WorkerRole::All);
        assert_eq!(s.stale_after, Some(chrono::Duration::days(1)));
        assert_eq!(s.public_url, None, "no links unless asked");
        assert_eq!(
            with(&[("FIRSTWEEK_UNKNOWN_DELIVERY", "resend")])
                .unwrap()
                .mail
                .unknown_delivery,
            UnknownDelivery::Resend
        );
        let s = with(&[("SMTP_URL", "smtps://u:s3cret@mail:465")]).unwrap();
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("postgres://") && !shown.contains("s3cret"),
            "debug output hides secrets: {shown}"
        );
        assert!(
            s.templates().is_ok(),
            "the built-in templates fit the built-in playbook"
        );
    }
}
