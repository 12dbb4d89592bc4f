//! Test harness: a private firstweek installation per test.
//!
//! [`Env::start`] creates its own PostgreSQL database, its own RabbitMQ vhost
//! and its own SMTP capture server (aiosmtpd, `scripts/smtp_capture.py`), then
//! starts the real `firstweek-scheduler` and `firstweek-worker` binaries
//! against them (or, for tests that kill no process, their libraries' `App`s
//! in the test process: [`Launch::InProcess`]). Tests publish contract events
//! like any program would and read back what the SMTP server received;
//! [`cohort`] and [`expect`] say what a cohort does and what it should get.
//!
//! [`web::CoordinatorPages`] adds a coordinator with their pairs and
//! `firstweek-web`; [`browser::Browser`] opens its pages in headless Chromium.
//! [`chat::ChatReceiver`] stands in for Slack and Teams webhooks.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::Context as _;
use chrono::Utc;

mod amqp;
pub mod api;
pub mod browser;
pub mod chat;
pub mod cluster;
pub mod cohort;
mod env;
pub mod expect;
mod http;
pub mod in_process;
pub mod kept;
mod mail;
mod pair;
mod processes;
pub mod reader;
mod resources;
pub mod restricted;
mod smtp;
pub mod web;
pub mod webhooks;
pub use env::{Broker, Env, Launch, Options};
pub use expect::{once_key, received};
pub use http::{http_get, http_get_with, http_post, http_post_json, http_status, link_in};
pub use mail::{Mail, MimePart, header};
pub use pair::Pair;
pub use resources::{Drained, TestDb, TestVhost};

/// Local services, as on the CI machine.
pub const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// RabbitMQ host (per-test vhosts are appended).
pub const AMQP_BASE: &str = "amqp://guest:guest@127.0.0.1:5672";
/// `FIRSTWEEK_PSEUDONYM_KEY` of every test's services (not a secret: a test's).
pub const PSEUDONYM_KEY: &str = "firstweek test pseudonym key, not a secret";

/// The key of [`PSEUDONYM_KEY`], for a test that computes a pseudonym itself.
pub fn pseudonym_key() -> firstweek::pseudonym::PseudonymKey {
    firstweek::pseudonym::PseudonymKey::new(PSEUDONYM_KEY).expect("a long enough test key")
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A unique, readable name for this test's resources.
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = Utc::now().timestamp_millis() % 100_000_000;
    format!("{prefix}_{}_{t}_{n}", std::process::id())
}

/// The workspace's build output, where the service binaries are.
pub fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("FIRSTWEEK_BIN_DIR") {
        return PathBuf::from(dir);
    }
    // target/<profile>/deps/<test-binary> or target/<profile>/<binary> -> target/<profile>
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.parent().map(Path::to_path_buf).unwrap_or_default()
    } else {
        dir
    }
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// A free TCP port on loopback.
pub fn port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// The built-in playbook with the digest at `digest_at` (`"HH:MM"`, each
/// coordinator's local time) and `digest_all_quiet`, written to a file for
/// `FIRSTWEEK_PLAYBOOK`. Digests follow the wall clock: a test picks a
/// `digest_at` (and zones) relative to the time it runs.
pub fn digest_playbook(label: &str, digest_at: &str, all_quiet: bool) -> anyhow::Result<PathBuf> {
    let built_in = firstweek::playbook::BUILT_IN;
    let text = built_in
        .replace(
            "digest_at = \"08:00\"",
            &format!("digest_at = \"{digest_at}\""),
        )
        .replace(
            "digest_all_quiet = false",
            &format!("digest_all_quiet = {all_quiet}"),
        );
    anyhow::ensure!(
        text != built_in || (digest_at == "08:00" && !all_quiet),
        "the built-in playbook no longer sets digest_at and digest_all_quiet as expected"
    );
    let path = std::env::temp_dir().join(format!("{}.toml", unique(label)));
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}
