//! Settings from the environment, parsed once at start-up into a typed struct.
//! A missing or wrong setting names its variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use lettre::message::Mailbox;

use crate::decision::Rules;
use crate::email::Templates;
use crate::playbook::{Playbook, PlaybookError, Programs, load_programs};
use crate::timeline::{SendWindow, TimeScale};

/// A setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is unset.
    #[error("{variable} is not set ({hint})")]
    Missing {
        /// The variable's name.
        variable: &'static str,
        /// An example of a good value.
        hint: &'static str,
    },
    /// A variable is set to something that cannot be used.
    #[error("{variable}: {problem}")]
    Invalid {
        /// The variable's name.
        variable: &'static str,
        /// What is wrong with its value.
        problem: String,
    },
    /// The playbook named by `FIRSTWEEK_PLAYBOOK` cannot be loaded.
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
    /// `DATABASE_URL`: the PostgreSQL database (required).
    pub database_url: String,
    /// `AMQP_URL`: the RabbitMQ broker, one URL per node of a cluster (required).
    pub amqp_url: BrokerAddresses,
    /// `smtp://host:port` or `smtps://user:pass@host:port`; `None`: write `.eml` files.
    pub smtp_url: Option<String>,
    /// `FIRSTWEEK_OUTBOX_DIR`: where `.eml` files go when `smtp_url` is unset (default `outbox/`).
    pub outbox_dir: PathBuf,
    /// Extra trusted root certificate (PEM) for the SMTP server's TLS.
    pub smtp_ca_file: Option<PathBuf>,
    /// `FIRSTWEEK_FROM`: the sender mailbox; its domain is used in Message-IDs.
    pub from: Mailbox,
    /// `FIRSTWEEK_TEMPLATES_DIR`: template overrides; `None`: the built-in templates.
    pub templates_dir: Option<PathBuf>,
    /// The playbook, time scale and send window (`FIRSTWEEK_PLAYBOOK`,
    /// `FIRSTWEEK_TIME_SCALE`, `FIRSTWEEK_SEND_WINDOW`).
    pub rules: Rules,
    /// `FIRSTWEEK_ADMIN_ADDR`: where `/healthz`, `/readyz` and `/metrics` listen.
    pub admin_addr: AdminAddr,
    /// `FIRSTWEEK_LOG_FORMAT`: JSON unless stdout is a terminal.
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
    /// Emails a worker sends at once, and so SMTP connections it may hold.
    pub mail_concurrency: usize,
    /// Due steps a worker handles at once (read, judged, claimed, recorded;
    /// their database work is group-committed), of which `mail_concurrency`
    /// send at a time.
    pub steps_in_flight: usize,
    /// `FIRSTWEEK_BATCH_LINGER_MS`: when a worker is quiet (no batch of its
    /// database work running), how long an item waits for others to share its
    /// transaction: CPU saved at a cohort's pace, for this much latency.
    pub batch_linger: std::time::Duration,
    /// Which queues a worker consumes.
    pub worker_role: WorkerRole,
    /// How often the scheduler's digest job looks for coordinators whose
    /// local `digest_at` has passed (six-field cron, UTC); `None`: no digests.
    pub digest_cron: Option<String>,
    /// `FIRSTWEEK_UNKNOWN_DELIVERY`: what becomes of an email the SMTP server
    /// may or may not have (`record`, the default, or `resend`).
    pub unknown_delivery: UnknownDelivery,
    /// `FIRSTWEEK_PUBLIC_URL`: the base of every link in emails (`https://...`,
    /// no trailing slash); `None`: emails carry no links.
    pub public_url: Option<String>,
    /// `FIRSTWEEK_WEB_ADDR`: where `firstweek-web` listens (default `0.0.0.0:8080`).
    pub web_addr: SocketAddr,
    /// `FIRSTWEEK_STALE_AFTER`: a step handled more than this (program time)
    /// after it became sendable is skipped as stale; `None`: never (`off`).
    pub stale_after: Option<chrono::Duration>,
    /// `FIRSTWEEK_RETENTION_DAYS`: the scheduler forgets the people of pairs
    /// that ended, or finished their first week, longer ago than this many
    /// program days; `None` (the default, or `off`): never.
    pub retention_days: Option<u32>,
}

/// What becomes of an email whose whole message reached the SMTP server but
/// whose final reply never came (a timeout, a reset, a worker that stopped):
/// the server may have it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownDelivery {
    /// Recorded `unknown` and never resent: a possible gap, never a duplicate.
    #[default]
    Record,
    /// Sent again, with the same Message-ID (so receiving systems can collapse
    /// the copies): a possible duplicate, never a gap.
    Resend,
}

impl UnknownDelivery {
    /// Parses `record` or `resend`.
    pub fn parse(value: &str) -> Result<UnknownDelivery, ConfigError> {
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

/// Parses a program-time span: `off`, or a number with a unit `d`, `h`, `m`
/// or `s` (`1d`, `12h`, `90m`).
pub fn parse_span(value: &str) -> Result<Option<chrono::Duration>, String> {
    let v = value.trim();
    if v.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let split = v
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(v.len());
    let (number, unit) = v.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("{v:?} is not off or a span like 1d, 12h, 90m"))?;
    let seconds = match unit {
        "d" => 86_400.0,
        "h" => 3_600.0,
        "m" => 60.0,
        "s" => 1.0,
        _ => return Err(format!("{v:?}: the unit must be d, h, m or s")),
    } * n;
    if !seconds.is_finite() || seconds <= 0.0 || seconds > 366.0 * 86_400.0 {
        return Err(format!("{v:?} must be more than 0 and at most a year"));
    }
    Ok(Some(chrono::Duration::milliseconds(
        (seconds * 1000.0) as i64,
    )))
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
            .field("amqp", &self.amqp_url)
            .finish_non_exhaustive()
    }
}

/// `AMQP_URL`: the RabbitMQ broker's address, or the addresses of the nodes
/// of a cluster (same vhost and credentials), comma-separated. A service
/// connects to the first that answers and, on losing its connection, tries
/// the others in turn.
///
/// The URLs may hold a password: `Debug` and `Display` show `host:port` only.
#[derive(Clone, PartialEq, Eq)]
pub struct BrokerAddresses(Vec<BrokerAddress>);

/// One node's `amqp://` (or `amqps://`) URL.
#[derive(Clone, PartialEq, Eq)]
pub struct BrokerAddress {
    url: String,
    host_port: String,
}

impl BrokerAddress {
    /// The whole URL, credentials included: for connecting, never for a log.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `host:port`, what logs and readiness name the node by.
    pub fn host_port(&self) -> &str {
        &self.host_port
    }
}

impl std::fmt::Debug for BrokerAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.host_port)
    }
}

impl BrokerAddresses {
    /// Parses `AMQP_URL`: one or more `amqp://` or `amqps://` URLs separated
    /// by commas. An empty entry, another scheme, an entry without a host, the
    /// same `host:port` twice, or entries naming different vhosts or users are
    /// refused with an error naming `AMQP_URL` (and never quoting a password).
    pub fn parse(value: &str) -> Result<BrokerAddresses, ConfigError> {
        let mut nodes: Vec<BrokerAddress> = Vec::new();
        let mut first_vhost_user: Option<(String, String)> = None;
        let entries: Vec<&str> = value.split(',').map(str::trim).collect();
        let several = entries.len() > 1;
        for (i, entry) in entries.into_iter().enumerate() {
            let which = if several {
                format!("entry {} of {}", i + 1, value.split(',').count())
            } else {
                "the URL".to_string()
            };
            if entry.is_empty() {
                return Err(invalid("AMQP_URL", format!("{which} is empty")));
            }
            let (scheme, rest) = entry.split_once("://").ok_or_else(|| {
                invalid(
                    "AMQP_URL",
                    format!("{which} is not an amqp:// or amqps:// URL"),
                )
            })?;
            let default_port = match scheme.to_ascii_lowercase().as_str() {
                "amqp" => 5672,
                "amqps" => 5671,
                _ => {
                    return Err(invalid(
                        "AMQP_URL",
                        format!("{which} is a {scheme:?} URL, not amqp:// or amqps://"),
                    ));
                }
            };
            let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            let (user, host_port) = match authority.rsplit_once('@') {
                Some((userinfo, host)) => (
                    userinfo.split(':').next().unwrap_or_default().to_string(),
                    host,
                ),
                None => (String::new(), authority),
            };
            let (host, port) = split_host_port(host_port);
            if host.is_empty() {
                return Err(invalid("AMQP_URL", format!("{which} names no host")));
            }
            let port =
                match port {
                    None => default_port,
                    Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                        invalid("AMQP_URL", format!("{which}: {p:?} is not a port"))
                    })?,
                };
            let host_port = if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            };
            if nodes.iter().any(|n| n.host_port == host_port) {
                return Err(invalid("AMQP_URL", format!("{host_port} is listed twice")));
            }
            let vhost = path
                .split(['?', '#'])
                .next()
                .unwrap_or_default()
                .to_string();
            match &first_vhost_user {
                None => first_vhost_user = Some((vhost, user)),
                Some((v, u)) if *v != vhost || *u != user => {
                    return Err(invalid(
                        "AMQP_URL",
                        format!(
                            "{which} ({host_port}) names another vhost or user than the first: \
                             the URLs of a cluster differ only in host and port"
                        ),
                    ));
                }
                Some(_) => {}
            }
            nodes.push(BrokerAddress {
                url: entry.to_string(),
                host_port,
            });
        }
        Ok(BrokerAddresses(nodes))
    }

    /// The nodes, in the order given (never empty).
    pub fn nodes(&self) -> &[BrokerAddress] {
        &self.0
    }

    /// How many nodes are listed.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: a parsed list names at least one node.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The list as `AMQP_URL` takes it (credentials included: for a child
    /// process's environment, never for a log).
    pub fn to_env_value(&self) -> String {
        self.0
            .iter()
            .map(|n| n.url.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// `host[:port]` or `[v6]:port`, into the host and the port if given.
fn split_host_port(s: &str) -> (&str, Option<&str>) {
    if let Some(rest) = s.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((host, after)) => (host, after.strip_prefix(':')),
            None => ("", None),
        };
    }
    match s.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (s, None),
    }
}

impl std::str::FromStr for BrokerAddresses {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BrokerAddresses::parse(s)
    }
}

impl std::fmt::Debug for BrokerAddresses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(&self.0).finish()
    }
}

/// `host:port` of each node, comma-separated: safe to log.
impl std::fmt::Display for BrokerAddresses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, n) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(&n.host_port)?;
        }
        Ok(())
    }
}

/// What `firstweek-web` reads from the environment: it has no broker and
/// sends no email, so it needs neither `AMQP_URL` nor the mail settings.
#[derive(Clone)]
pub struct WebSettings {
    /// `DATABASE_URL`: the PostgreSQL database (required).
    pub database_url: String,
    /// The playbook, time scale and send window: a pair's day and risks on
    /// the pages are judged by the same rules as the digest.
    pub rules: Rules,
    /// `FIRSTWEEK_PUBLIC_URL`, as for [`Settings::public_url`].
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

/// Where a service's admin endpoints listen (`FIRSTWEEK_ADMIN_ADDR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAddr {
    /// `off`: no admin endpoints.
    Off,
    /// The variable is unset: the service's default address. Replicas on one
    /// host all want it, so when it is taken the service listens on another
    /// port of the same interface and logs which.
    Default(SocketAddr),
    /// Set by the operator: exactly this address, or the service does not start.
    Explicit(SocketAddr),
}

impl AdminAddr {
    /// The address asked for, if any.
    pub fn addr(self) -> Option<SocketAddr> {
        match self {
            AdminAddr::Off => None,
            AdminAddr::Default(a) | AdminAddr::Explicit(a) => Some(a),
        }
    }
}

/// Which queues a worker consumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerRole {
    /// Both.
    All,
    /// Contract events only.
    Intake,
    /// Due steps only.
    Steps,
}

impl WorkerRole {
    /// Parses `all`, `intake` or `steps`.
    pub fn parse(value: &str) -> Result<WorkerRole, ConfigError> {
        match value {
            "all" => Ok(WorkerRole::All),
            "intake" => Ok(WorkerRole::Intake),
            "steps" => Ok(WorkerRole::Steps),
            other => Err(ConfigError::Invalid {
                variable: "FIRSTWEEK_WORKER_ROLE",
                problem: format!("{other:?} is not all, intake or steps"),
            }),
        }
    }
}

/// The scheduler's default digest tick: every minute (six fields, seconds
/// first), so a digest goes out within a minute of its coordinator's local
/// `digest_at` (the playbook's; when is each coordinator's, not the tick's).
pub const DEFAULT_DIGEST_CRON: &str = "0 * * * * *";

/// The one set of parsers for firstweek's variables, over any lookup (the
/// process environment, or a map in tests). The services read them all at
/// once into [`Settings`]; the CLI reads only those a command needs.
pub struct Environment<G> {
    get: G,
}

impl Environment<fn(&str) -> Option<String>> {
    /// The process environment (an empty variable counts as unset).
    pub fn process() -> Self {
        fn get(k: &str) -> Option<String> {
            std::env::var(k).ok().filter(|v| !v.is_empty())
        }
        Environment { get }
    }
}

impl<G: Fn(&str) -> Option<String>> Environment<G> {
    /// Reads variables through `get`.
    pub fn new(get: G) -> Self {
        Environment { get }
    }

    /// A variable's value, if set.
    pub fn var(&self, variable: &str) -> Option<String> {
        (self.get)(variable)
    }

    fn required(&self, variable: &'static str, hint: &'static str) -> Result<String, ConfigError> {
        self.var(variable)
            .ok_or(ConfigError::Missing { variable, hint })
    }

    /// `DATABASE_URL` (required).
    pub fn database_url(&self) -> Result<String, ConfigError> {
        self.required(
            "DATABASE_URL",
            "e.g. postgres://firstweek@127.0.0.1/firstweek",
        )
    }

    /// `AMQP_URL` (required): one URL, or one per node of a cluster,
    /// comma-separated.
    pub fn amqp_url(&self) -> Result<BrokerAddresses, ConfigError> {
        BrokerAddresses::parse(&self.required(
            "AMQP_URL",
            "e.g. amqp://guest:guest@127.0.0.1:5672/%2f, or one URL per node separated by commas",
        )?)
    }

    /// `FIRSTWEEK_PLAYBOOK`, or the built-in playbook.
    pub fn playbook(&self) -> Result<Playbook, ConfigError> {
        Ok(match self.var("FIRSTWEEK_PLAYBOOK") {
            Some(path) => Playbook::load(std::path::Path::new(&path))?,
            None => Playbook::built_in(),
        })
    }

    /// `FIRSTWEEK_PLAYBOOKS_DIR`: the programs' own playbooks
    /// (`<program_id>.toml`), each validated; none when unset.
    pub fn programs(&self) -> Result<Programs, ConfigError> {
        Ok(match self.var("FIRSTWEEK_PLAYBOOKS_DIR") {
            Some(dir) => load_programs(std::path::Path::new(&dir))?,
            None => Programs::default(),
        })
    }

    /// `FIRSTWEEK_TIME_SCALE` (default 1).
    pub fn scale(&self) -> Result<TimeScale, ConfigError> {
        match self.var("FIRSTWEEK_TIME_SCALE") {
            None => Ok(TimeScale::REAL),
            Some(s) => s
                .parse::<f64>()
                .ok()
                .and_then(TimeScale::new)
                .ok_or_else(|| {
                    invalid(
                        "FIRSTWEEK_TIME_SCALE",
                        format!("{s:?} is not a number of at least 1"),
                    )
                }),
        }
    }

    /// `FIRSTWEEK_SEND_WINDOW` (default 08:00-20:00).
    pub fn window(&self) -> Result<SendWindow, ConfigError> {
        match self.var("FIRSTWEEK_SEND_WINDOW") {
            None => Ok(SendWindow::default()),
            Some(s) => SendWindow::parse(&s).map_err(|p| invalid("FIRSTWEEK_SEND_WINDOW", p)),
        }
    }

    /// The playbook, clock and send window together.
    pub fn rules(&self) -> Result<Rules, ConfigError> {
        Ok(Rules {
            playbook: self.playbook()?,
            programs: self.programs()?,
            scale: self.scale()?,
            window: self.window()?,
        })
    }

    /// `FIRSTWEEK_TEMPLATES_DIR`, if set.
    pub fn templates_dir(&self) -> Option<PathBuf> {
        self.var("FIRSTWEEK_TEMPLATES_DIR").map(PathBuf::from)
    }

    /// `FIRSTWEEK_WORKER_ROLE` (default `all`).
    pub fn worker_role(&self) -> Result<WorkerRole, ConfigError> {
        WorkerRole::parse(
            self.var("FIRSTWEEK_WORKER_ROLE")
                .as_deref()
                .unwrap_or("all"),
        )
    }

    /// `FIRSTWEEK_DIGEST_CRON`: the digest job's tick (default every minute;
    /// `off`: no digest). The scheduler checks the expression itself when it
    /// builds the job.
    pub fn digest_cron(&self) -> Option<String> {
        match self.var("FIRSTWEEK_DIGEST_CRON") {
            None => Some(DEFAULT_DIGEST_CRON.to_string()),
            Some(v) if v.eq_ignore_ascii_case("off") => None,
            Some(v) => Some(v),
        }
    }

    /// `FIRSTWEEK_RETENTION_DAYS`: whole program days from 1 to 36500, or
    /// `off` (the default): how long the people of a finished pair are kept.
    pub fn retention_days(&self) -> Result<Option<u32>, ConfigError> {
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

    fn seconds(&self, variable: &'static str, default: i64) -> Result<i64, ConfigError> {
        match self.var(variable) {
            None => Ok(default),
            Some(s) => s.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                invalid(
                    variable,
                    format!("{s:?} is not a positive number of seconds"),
                )
            }),
        }
    }

    fn count(&self, variable: &'static str, default: usize) -> Result<usize, ConfigError> {
        match self.var(variable) {
            None => Ok(default),
            Some(s) => s
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=1024).contains(n))
                .ok_or_else(|| invalid(variable, format!("{s:?} is not a number from 1 to 1024"))),
        }
    }

    fn millis(
        &self,
        variable: &'static str,
        default: u64,
    ) -> Result<std::time::Duration, ConfigError> {
        let ms = match self.var(variable) {
            None => default,
            Some(s) => s
                .parse::<u64>()
                .ok()
                .filter(|n| *n <= 1000)
                .ok_or_else(|| {
                    invalid(
                        variable,
                        format!("{s:?} is not a number of milliseconds from 0 to 1000"),
                    )
                })?,
        };
        Ok(std::time::Duration::from_millis(ms))
    }

    fn log_format(&self) -> Result<LogFormat, ConfigError> {
        match self.var("FIRSTWEEK_LOG_FORMAT").as_deref() {
            Some("json") => Ok(LogFormat::Json),
            Some("pretty") => Ok(LogFormat::Pretty),
            Some(other) => Err(invalid(
                "FIRSTWEEK_LOG_FORMAT",
                format!("{other:?} is not json or pretty"),
            )),
            None => {
                use std::io::IsTerminal;
                Ok(if std::io::stdout().is_terminal() {
                    LogFormat::Pretty
                } else {
                    LogFormat::Json
                })
            }
        }
    }

    fn admin_addr(&self, default_admin: &str) -> Result<AdminAddr, ConfigError> {
        let Some(admin) = self.var("FIRSTWEEK_ADMIN_ADDR") else {
            return default_admin.parse().map(AdminAddr::Default).map_err(|_| {
                invalid(
                    "FIRSTWEEK_ADMIN_ADDR",
                    format!("the default {default_admin:?} is not host:port"),
                )
            });
        };
        if admin.eq_ignore_ascii_case("off") {
            return Ok(AdminAddr::Off);
        }
        admin.parse().map(AdminAddr::Explicit).map_err(|_| {
            invalid(
                "FIRSTWEEK_ADMIN_ADDR",
                format!("{admin:?} is not host:port or off"),
            )
        })
    }

    fn public_url(&self) -> Result<Option<String>, ConfigError> {
        let Some(url) = self.var("FIRSTWEEK_PUBLIC_URL") else {
            return Ok(None);
        };
        let url = url.trim().trim_end_matches('/').to_string();
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or_else(|| {
                invalid(
                    "FIRSTWEEK_PUBLIC_URL",
                    format!("{url:?} is not an http(s):// URL"),
                )
            })?;
        if rest.is_empty() || rest.contains(['?', '#', ' ']) {
            return Err(invalid(
                "FIRSTWEEK_PUBLIC_URL",
                format!("{url:?} must be a base URL like https://firstweek.example.org"),
            ));
        }
        Ok(Some(url))
    }

    fn web_addr(&self) -> Result<SocketAddr, ConfigError> {
        let v = self
            .var("FIRSTWEEK_WEB_ADDR")
            .unwrap_or_else(|| "0.0.0.0:8080".into());
        v.parse()
            .map_err(|_| invalid("FIRSTWEEK_WEB_ADDR", format!("{v:?} is not host:port")))
    }

    /// The settings of `firstweek-web` (only `DATABASE_URL` is required).
    pub fn web_settings(&self) -> Result<WebSettings, ConfigError> {
        Ok(WebSettings {
            database_url: self.database_url()?,
            rules: self.rules()?,
            public_url: self.public_url()?,
            web_addr: self.web_addr()?,
            templates_dir: self.var("FIRSTWEEK_WEB_TEMPLATES_DIR").map(PathBuf::from),
            log_format: self.log_format()?,
        })
    }

    /// Every setting of a service; `default_admin` is its admin address.
    pub fn settings(&self, default_admin: &str) -> Result<Settings, ConfigError> {
        let database_url = self.database_url()?;
        let amqp_url = self.amqp_url()?;
        let smtp_url = self.var("SMTP_URL");
        if let Some(url) = &smtp_url
            && !(url.starts_with("smtp://") || url.starts_with("smtps://"))
        {
            return Err(invalid(
                "SMTP_URL",
                "must start with smtp:// or smtps://".into(),
            ));
        }
        let outbox_dir = PathBuf::from(
            self.var("FIRSTWEEK_OUTBOX_DIR")
                .unwrap_or_else(|| "outbox".into()),
        );
        let from = self
            .var("FIRSTWEEK_FROM")
            .unwrap_or_else(|| "firstweek <firstweek@localhost>".into())
            .parse::<Mailbox>()
            .map_err(|e| invalid("FIRSTWEEK_FROM", format!("not a mailbox: {e}")))?;
        let rules = self.rules()?;
        let admin_addr = self.admin_addr(default_admin)?;
        let log_format = self.log_format()?;
        let deadline_s = self.seconds("FIRSTWEEK_MAIL_DEADLINE_SECS", 24 * 3600)?;
        let smtp_timeout = self.seconds("FIRSTWEEK_SMTP_TIMEOUT_SECS", 30)?;
        let claim_lease = self.seconds("FIRSTWEEK_CLAIM_LEASE_SECS", 120)?;
        let redeliver_after = self.seconds("FIRSTWEEK_REDELIVER_AFTER_SECS", 300)?;
        let intake_concurrency = self.count("FIRSTWEEK_INTAKE_CONCURRENCY", 128)?;
        let mail_concurrency = self.count("FIRSTWEEK_MAIL_CONCURRENCY", 64)?;
        let steps_in_flight = self.count("FIRSTWEEK_STEPS_IN_FLIGHT", 256)?;
        let batch_linger = self.millis("FIRSTWEEK_BATCH_LINGER_MS", 20)?;
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
            smtp_ca_file: self.var("FIRSTWEEK_SMTP_CA_FILE").map(PathBuf::from),
            from,
            templates_dir: self.templates_dir(),
            rules,
            admin_addr,
            log_format,
            mail_deadline: chrono::Duration::seconds(deadline_s),
            smtp_timeout: std::time::Duration::from_secs(smtp_timeout as u64),
            claim_lease: chrono::Duration::seconds(claim_lease),
            redeliver_after: chrono::Duration::seconds(redeliver_after),
            intake_concurrency,
            mail_concurrency,
            steps_in_flight,
            batch_linger,
            worker_role: self.worker_role()?,
            digest_cron: self.digest_cron(),
            unknown_delivery: self
                .var("FIRSTWEEK_UNKNOWN_DELIVERY")
                .map(|v| UnknownDelivery::parse(&v))
                .transpose()?
                .unwrap_or_default(),
            public_url: self.public_url()?,
            web_addr: self.web_addr()?,
            stale_after: parse_span(
                &self
                    .var("FIRSTWEEK_STALE_AFTER")
                    .unwrap_or_else(|| "1d".into()),
            )
            .map_err(|p| invalid("FIRSTWEEK_STALE_AFTER", p))?,
            retention_days: self.retention_days()?,
        })
    }
}

fn invalid(variable: &'static str, problem: String) -> ConfigError {
    ConfigError::Invalid { variable, problem }
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env(default_admin: &str) -> Result<Settings, ConfigError> {
        Environment::process().settings(default_admin)
    }

    /// Reads settings through `get` (tests pass a map).
    pub fn from_lookup(
        default_admin: &str,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConfigError> {
        Environment::new(get).settings(default_admin)
    }

    /// Loads the templates and checks the playbook's steps against them.
    pub fn templates(&self) -> Result<Templates, crate::email::EmailError> {
        let t = Templates::load(self.templates_dir.as_deref())?;
        for playbook in self.rules.all_playbooks() {
            t.check(playbook)?;
        }
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
            ("FIRSTWEEK_STEPS_IN_FLIGHT", "2000"),
            ("FIRSTWEEK_BATCH_LINGER_MS", "5s"),
            ("FIRSTWEEK_BATCH_LINGER_MS", "1001"),
            ("FIRSTWEEK_INTAKE_CONCURRENCY", "lots"),
            ("FIRSTWEEK_UNKNOWN_DELIVERY", "maybe"),
            ("FIRSTWEEK_STALE_AFTER", "1 week"),
            ("FIRSTWEEK_STALE_AFTER", "0h"),
            ("FIRSTWEEK_PUBLIC_URL", "firstweek.example.org"),
            ("FIRSTWEEK_PUBLIC_URL", "https://x.org/?a=b"),
            ("FIRSTWEEK_WEB_ADDR", "8080"),
            ("FIRSTWEEK_RETENTION_DAYS", "soon"),
            ("FIRSTWEEK_RETENTION_DAYS", "0"),
            ("FIRSTWEEK_RETENTION_DAYS", "-3"),
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
        assert_eq!(s.unknown_delivery, UnknownDelivery::Record);
        assert_eq!(s.stale_after, Some(chrono::Duration::days(1)));
        assert_eq!(s.public_url, None, "no links unless asked");
        assert_eq!(s.web_addr, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(s.retention_days, None, "people are kept unless asked");
        assert!(
            !format!("{s:?}").contains("postgres://"),
            "debug output hides secrets"
        );
        for (v, want) in [("30", Some(30)), ("off", None), ("OFF", None)] {
            let mut pairs = BASE.to_vec();
            pairs.push(("FIRSTWEEK_RETENTION_DAYS", v));
            assert_eq!(settings(&pairs).unwrap().retention_days, want, "{v}");
        }
    }

    fn web_settings(pairs: &[(&str, &str)]) -> Result<WebSettings, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Environment::new(|k| map.get(k).cloned()).web_settings()
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
    fn amqp_url_lists_one_url_per_node() {
        let one = BrokerAddresses::parse("amqp://guest:s3cret@127.0.0.1:5672/%2f").unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one.nodes()[0].host_port(), "127.0.0.1:5672");
        assert_eq!(
            one.nodes()[0].url(),
            "amqp://guest:s3cret@127.0.0.1:5672/%2f"
        );

        let three = BrokerAddresses::parse(
            "amqp://fw:s3cret@rabbit-0:5672/firstweek, amqp://fw:s3cret@rabbit-1/firstweek,amqps://fw:s3cret@[::1]:5671/firstweek",
        )
        .unwrap();
        let hosts: Vec<&str> = three.nodes().iter().map(|n| n.host_port()).collect();
        assert_eq!(hosts, ["rabbit-0:5672", "rabbit-1:5672", "[::1]:5671"]);
        assert_eq!(
            three.nodes()[1].url(),
            "amqp://fw:s3cret@rabbit-1/firstweek",
            "entries are trimmed"
        );
        assert_eq!(
            three.to_env_value(),
            "amqp://fw:s3cret@rabbit-0:5672/firstweek,amqp://fw:s3cret@rabbit-1/firstweek,amqps://fw:s3cret@[::1]:5671/firstweek"
        );
        for shown in [format!("{three}"), format!("{three:?}")] {
            assert!(
                !shown.contains("s3cret") && !shown.contains("fw:"),
                "{shown}"
            );
            assert!(
                shown.contains("rabbit-0:5672") && shown.contains("rabbit-1:5672"),
                "{shown}"
            );
        }
        let mut pairs = BASE.to_vec();
        pairs.retain(|(k, _)| *k != "AMQP_URL");
        pairs.push(("AMQP_URL", "amqp://a:5673/v,amqp://b:5674/v"));
        let s = settings(&pairs).unwrap();
        assert_eq!(s.amqp_url.len(), 2);
        assert!(
            format!("{s:?}").contains("a:5673"),
            "debug output names the nodes"
        );
    }

    #[test]
    fn a_bad_amqp_url_list_is_refused_naming_the_variable_and_no_password() {
        for (value, problem) in [
            ("", "the URL is empty"),
            ("amqp://u:s3cret@a/v,", "entry 2 of 2 is empty"),
            (
                "amqp://u:s3cret@a/v,,amqp://u:s3cret@b/v",
                "entry 2 of 3 is empty",
            ),
            ("http://u:s3cret@a/v", "not amqp:// or amqps://"),
            (
                "amqp://u:s3cret@a/v,rabbit-1:5672",
                "entry 2 of 2 is not an amqp:// or amqps:// URL",
            ),
            ("amqp://u:s3cret@/v", "names no host"),
            ("amqp://u:s3cret@a:99999/v", "is not a port"),
            (
                "amqp://u:s3cret@a/v,amqp://u:s3cret@a:5672/v",
                "a:5672 is listed twice",
            ),
            (
                "amqp://u:s3cret@a/v,amqp://u:s3cret@b/other",
                "another vhost or user",
            ),
            (
                "amqp://u:s3cret@a/v,amqp://x:s3cret@b/v",
                "another vhost or user",
            ),
        ] {
            let e = BrokerAddresses::parse(value).unwrap_err().to_string();
            assert!(e.starts_with("AMQP_URL: "), "{value}: {e}");
            assert!(e.contains(problem), "{value}: {e}");
            assert!(!e.contains("s3cret"), "{value}: {e}");
        }
        let mut pairs = BASE.to_vec();
        pairs.retain(|(k, _)| *k != "AMQP_URL");
        pairs.push(("AMQP_URL", "amqp://a/v, "));
        let e = settings(&pairs).unwrap_err();
        assert!(e.to_string().starts_with("AMQP_URL"), "{e}");
    }

    #[test]
    fn spans_read_as_program_time() {
        assert_eq!(parse_span("off"), Ok(None));
        assert_eq!(parse_span("12h"), Ok(Some(chrono::Duration::hours(12))));
        assert_eq!(parse_span("1.5d"), Ok(Some(chrono::Duration::hours(36))));
        assert_eq!(parse_span("90m"), Ok(Some(chrono::Duration::minutes(90))));
        assert!(parse_span("3").is_err());
        assert!(parse_span("2y").is_err());
    }

    #[test]
    fn an_unset_admin_address_is_the_default_and_a_set_one_is_explicit() {
        let addr = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = BASE.to_vec();
            pairs.extend_from_slice(extra);
            settings(&pairs).unwrap().admin_addr
        };
        let default: SocketAddr = "127.0.0.1:0".parse().unwrap();
        assert_eq!(addr(&[]), AdminAddr::Default(default));
        // The same address, but the operator asked for it: no fallback.
        assert_eq!(
            addr(&[("FIRSTWEEK_ADMIN_ADDR", "127.0.0.1:0")]),
            AdminAddr::Explicit(default)
        );
        assert_eq!(addr(&[("FIRSTWEEK_ADMIN_ADDR", "off")]), AdminAddr::Off);
    }
}
