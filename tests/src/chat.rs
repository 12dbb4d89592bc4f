//! A local Slack and Teams for the chat tests: `POST /slack/<name>` and
//! `POST /teams/<name>` on 127.0.0.1 check each body against the platform's
//! documented shape ([`firstweek::chat::Platform::problems`]), refuse one
//! that breaks it as the platform would (`400 invalid_blocks`), and record
//! the others; Slack answers `200 ok`, Teams `202`. A route can be made to
//! answer `503` a number of times first ([`ChatReceiver::busy_for`]).
//! Beside it, what the chat tests share: the CLI, a silent pair of a
//! program, waiting for its escalation row.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use chrono::Utc;
use firstweek::chat::Platform;
use serde_json::Value;

use crate::{Env, Pair, bin_dir};

/// What was posted: the route (`slack/<name>`) and the body.
type Posts = Arc<Mutex<Vec<(String, Value)>>>;

/// How many more requests each route answers with `503`.
type Busy = Arc<Mutex<HashMap<String, u32>>>;

/// The receiver, serving until the test ends.
pub struct ChatReceiver {
    port: u16,
    posts: Posts,
    busy: Busy,
}

impl ChatReceiver {
    /// Starts it on a free port.
    pub async fn start() -> anyhow::Result<ChatReceiver> {
        let posts: Posts = Arc::default();
        let busy: Busy = Arc::default();
        let app = axum::Router::new()
            .route("/{platform}/{name}", post(receive))
            .with_state((posts.clone(), busy.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(ChatReceiver { port, posts, busy })
    }

    /// The webhook URL of `route` (`slack/<name>`, `teams/<name>`).
    pub fn hook(&self, route: &str) -> String {
        format!("http://127.0.0.1:{}/{route}", self.port)
    }

    /// `route` answers its next `times` requests with `503` (recording nothing).
    pub fn busy_for(&self, route: &str, times: u32) {
        if let Ok(mut busy) = self.busy.lock() {
            busy.insert(route.to_string(), times);
        }
    }

    /// The bodies posted to `route` so far, in order.
    pub fn posted_to(&self, route: &str) -> Vec<Value> {
        self.posts
            .lock()
            .map(|all| {
                all.iter()
                    .filter(|(r, _)| r == route)
                    .map(|(_, b)| b.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The first body posted to `route`, waiting up to `limit` for it.
    pub async fn wait_post(&self, route: &str, limit: Duration) -> anyhow::Result<Value> {
        let start = Instant::now();
        loop {
            if let Some(v) = self.posted_to(route).into_iter().next() {
                return Ok(v);
            }
            anyhow::ensure!(start.elapsed() < limit, "nothing posted to {route}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// `firstweek chat …` against `env`'s database; its standard output.
pub fn cli(env: &Env, args: &[&str]) -> anyhow::Result<String> {
    let mut all = vec!["chat"];
    all.extend_from_slice(args);
    firstweek(env, &all)
}

/// `firstweek …` against `env`'s database; its standard output.
pub fn firstweek(env: &Env, args: &[&str]) -> anyhow::Result<String> {
    let out = std::process::Command::new(bin_dir().join("firstweek"))
        .args(args)
        .env("DATABASE_URL", &env.database_url)
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    anyhow::ensure!(
        out.status.success(),
        "firstweek {args:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(stdout)
}

/// A pair of `program`, silent since its start 4.3 program days ago.
pub fn silent(env: &Env, name: &str, program: &str) -> (Pair, Value) {
    let pair = Pair::new(&format!("{}-{name}", env.name), Utc::now() - env.days(4.3));
    let mut start = pair.started(&format!("{}-start", pair.id));
    start["program_id"] = program.into();
    (pair, start)
}

/// Waits until `want` of the `pairs`' early escalation rows are sent and finished.
pub async fn wait_sent(
    env: &Env,
    pairs: &[&Pair],
    want: i64,
    limit: Duration,
) -> anyhow::Result<()> {
    let ids: Vec<String> = pairs.iter().map(|p| p.id.clone()).collect();
    let start = Instant::now();
    loop {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM timeline WHERE mentorship_id = ANY($1)
               AND step_id = 'escalation_early' AND status = 'sent' AND finished_at IS NOT NULL",
        )
        .bind(&ids)
        .fetch_one(&env.pool)
        .await?;
        if n >= want {
            return Ok(());
        }
        anyhow::ensure!(start.elapsed() < limit, "{n} of {want} rows sent");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn receive(
    State((posts, busy)): State<(Posts, Busy)>,
    Path((platform, name)): Path<(String, String)>,
    body: String,
) -> (StatusCode, String) {
    let route = format!("{platform}/{name}");
    if let Ok(mut busy) = busy.lock()
        && let Some(left) = busy.get_mut(&route).filter(|n| **n > 0)
    {
        *left -= 1;
        return (StatusCode::SERVICE_UNAVAILABLE, "busy".into());
    }
    let Some(p) = Platform::parse(&platform) else {
        return (StatusCode::NOT_FOUND, "no_service".into());
    };
    let Ok(body) = serde_json::from_str::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "invalid_payload".into());
    };
    let problems = p.problems(&body);
    if !problems.is_empty() {
        let why = format!("invalid_blocks: {problems:?}");
        return (StatusCode::BAD_REQUEST, why);
    }
    if let Ok(mut all) = posts.lock() {
        all.push((route, body));
    }
    match p {
        Platform::Slack => (StatusCode::OK, "ok".into()),
        Platform::Teams => (StatusCode::ACCEPTED, String::new()),
    }
}
