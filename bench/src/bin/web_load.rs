//! `web_load`: requests per second and latency of `firstweek-web` on a
//! coordinator's page (GET) and on a one-click unsubscribe (POST, RFC 8058),
//! with the load from this process over loopback.
//!
//!     cargo build --release -p firstweek-web -p firstweek-bench
//!     target/release/web_load --web now=target/release/firstweek-web \
//!         [--web before=/path/to/an/older/firstweek-web] [--rounds 3] [--seconds 10] [--connections 16]
//!
//! It seeds a database of its own (a coordinator with 20 pairs in their
//! first week, a page link and an unsubscribe link per pair), then for each
//! round starts each given binary in turn on it (interleaved, so drift in
//! the machine's load falls on all alike), loads it and stops it. Each
//! connection is kept alive and sends one request after the other.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use chrono::Utc;
use firstweek::link::Purpose;
use firstweek::rule::Recipient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The pairs of the coordinator whose page is loaded.
const PAIRS: i64 = 20;

struct Args {
    webs: Vec<(String, String)>,
    rounds: usize,
    seconds: u64,
    connections: usize,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        webs: Vec::new(),
        rounds: 3,
        seconds: 10,
        connections: 16,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--web" => {
                let v = value()?;
                let (label, path) = v.split_once('=').context("--web LABEL=PATH")?;
                a.webs.push((label.to_string(), path.to_string()));
            }
            "--rounds" => a.rounds = value()?.parse()?,
            "--seconds" => a.seconds = value()?.parse()?,
            "--connections" => a.connections = value()?.parse()?,
            other => bail!("unknown argument {other:?}"),
        }
    }
    if a.webs.is_empty() {
        bail!("give at least one --web LABEL=PATH");
    }
    Ok(a)
}

/// The requests the load sends: one coordinator page, and the unsubscribe links.
struct Targets {
    page: String,
    unsubscribes: Vec<String>,
}

async fn seed(db: &firstweek_tests::TestDb) -> anyhow::Result<Targets> {
    let coordinator = "coord.bench@example.org";
    sqlx::query(
        "INSERT INTO mentorships (id, program_id, started_at, people)
         SELECT 'bench-' || i, 'bench', $2, jsonb_build_object(
             'event_id', 'bench-' || i || '-start', 'mentorship_id', 'bench-' || i, 'program_id', 'bench', 'started_at', $2,
             'mentor', jsonb_build_object('id', 'bench-' || i || '-mentor', 'name', 'Ada Mentor', 'email', 'mentor.' || i || '@example.org', 'timezone', 'Europe/Berlin'),
             'mentee', jsonb_build_object('id', 'bench-' || i || '-mentee', 'name', 'Bo Mentee', 'email', 'mentee.' || i || '@example.org', 'timezone', 'America/Sao_Paulo'),
             'coordinator', jsonb_build_object('name', 'Cy Coordinator', 'email', $1::text))
         FROM generate_series(0, $3 - 1) AS i",
    )
    .bind(coordinator)
    .bind(Utc::now() - chrono::Duration::days(1))
    .bind(PAIRS)
    .execute(&db.pool)
    .await?;
    let pseudonyms = firstweek_tests::pseudonym_key();
    firstweek_store::fill_coordinator_keys(&db.pool, &pseudonyms).await?;
    let key = pseudonyms.coordinator(coordinator);
    let expires = Utc::now() + chrono::Duration::days(7);
    let page =
        firstweek_store::issue_link(&db.pool, Purpose::CoordinatorPage, &key, expires).await?;
    let mut unsubscribes = Vec::new();
    for i in 0..PAIRS {
        let token = firstweek_store::issue_personal_link(
            &db.pool,
            Purpose::Unsubscribe,
            &format!("bench-{i}"),
            Recipient::Mentor,
            expires,
        )
        .await?;
        unsubscribes.push(format!("/u/{}", token.as_str()));
    }
    Ok(Targets {
        page: format!("/c/{}", page.as_str()),
        unsubscribes,
    })
}

/// One request on a kept-alive connection; returns the status.
async fn request(s: &mut TcpStream, raw: &[u8], buf: &mut Vec<u8>) -> anyhow::Result<u16> {
    s.write_all(raw).await?;
    buf.clear();
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        buf.reserve(16 * 1024);
        if s.read_buf(buf).await? == 0 {
            bail!("connection closed mid-response");
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("no status")?;
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .context("no content-length")?;
    while buf.len() < head_end + length {
        buf.reserve(16 * 1024);
        if s.read_buf(buf).await? == 0 {
            bail!("connection closed mid-body");
        }
    }
    Ok(status)
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n").into_bytes()
}

fn one_click(path: &str) -> Vec<u8> {
    let body = "List-Unsubscribe=One-Click";
    format!(
        "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Figures of one load.
struct Figures {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: usize,
}

/// Loads `port` with `requests` (connection `i` sends `requests[i % len]`)
/// from `connections` connections for `seconds`, after a one-second warm-up.
async fn load(
    port: u16,
    requests: &[Vec<u8>],
    connections: usize,
    seconds: u64,
) -> anyhow::Result<Figures> {
    let warm_until = Instant::now() + Duration::from_secs(1);
    let end = warm_until + Duration::from_secs(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..connections {
        let raw = requests[i % requests.len()].clone();
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            let mut buf = Vec::new();
            let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
            s.set_nodelay(true)?;
            while Instant::now() < end {
                let t = Instant::now();
                match request(&mut s, &raw, &mut buf).await {
                    Ok(200) if t >= warm_until => latencies.push(t.elapsed()),
                    Ok(200) => {}
                    Ok(_) | Err(_) => {
                        errors += 1;
                        s = TcpStream::connect(("127.0.0.1", port)).await?;
                        s.set_nodelay(true)?;
                    }
                }
            }
            anyhow::Ok((latencies, errors))
        });
    }
    let (mut all, mut errors) = (Vec::new(), 0);
    while let Some(done) = tasks.join_next().await {
        let (latencies, e) = done??;
        all.extend(latencies);
        errors += e;
    }
    all.sort();
    let at = |q: f64| {
        all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1)))
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    };
    Ok(Figures {
        rps: all.len() as f64 / seconds as f64,
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        errors,
    })
}

/// Starts `bin` on `db` and waits until `page` answers 200.
async fn start_web(
    bin: &str,
    db: &firstweek_tests::TestDb,
    port: u16,
    page: &str,
) -> anyhow::Result<tokio::process::Child> {
    let addr = format!("127.0.0.1:{port}");
    let child = tokio::process::Command::new(bin)
        .env_clear()
        .env("DATABASE_URL", &db.url)
        .env("FIRSTWEEK_WEB_ADDR", &addr)
        .env("FIRSTWEEK_ADMIN_ADDR", "127.0.0.1:0")
        .env("FIRSTWEEK_PUBLIC_URL", format!("http://{addr}"))
        .env("FIRSTWEEK_LOG_FORMAT", "json")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {bin}"))?;
    let started = Instant::now();
    let raw = get(page);
    loop {
        let answered = async {
            let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
            request(&mut s, &raw, &mut Vec::new()).await
        };
        if let Ok(Ok(200)) = tokio::time::timeout(Duration::from_secs(2), answered).await {
            return Ok(child);
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("{bin} does not answer {page} with 200 within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = args()?;
    let db = firstweek_tests::TestDb::create("fw_web_load").await?;
    let targets = seed(&db).await?;
    let page = vec![get(&targets.page)];
    let clicks: Vec<Vec<u8>> = targets.unsubscribes.iter().map(|p| one_click(p)).collect();
    println!(
        "firstweek-web under load: {} connections kept alive, {} s per figure, {} round(s)",
        a.connections, a.seconds, a.rounds
    );
    println!(
        "{:<10} {:>5} {:<22} {:>9} {:>8} {:>8} {:>6}",
        "binary", "round", "request", "req/s", "p50 ms", "p99 ms", "errors"
    );
    let mut summary: Vec<(String, &str, Vec<Figures>)> = Vec::new();
    for round in 1..=a.rounds {
        for (label, bin) in &a.webs {
            let port = firstweek_tests::port();
            let mut web = start_web(bin, &db, port, &targets.page).await?;
            for (what, requests) in [("coordinator page GET", &page), ("one-click POST", &clicks)] {
                let f = load(port, requests, a.connections, a.seconds).await?;
                println!(
                    "{label:<10} {round:>5} {what:<22} {:>9.0} {:>8.2} {:>8.2} {:>6}",
                    f.rps, f.p50_ms, f.p99_ms, f.errors
                );
                match summary
                    .iter_mut()
                    .find(|(l, w, _)| l == label && *w == what)
                {
                    Some((_, _, all)) => all.push(f),
                    None => summary.push((label.clone(), what, vec![f])),
                }
            }
            let _ = web.kill().await;
        }
    }
    println!("\nmedian of the rounds:");
    for (label, what, mut all) in summary {
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let mut rps: Vec<f64> = all.iter().map(|f| f.rps).collect();
        let mut p99: Vec<f64> = all.iter().map(|f| f.p99_ms).collect();
        let errors: usize = all.drain(..).map(|f| f.errors).sum();
        println!(
            "{label:<10} {what:<22} {:>9.0} req/s  p99 {:>7.2} ms  errors {errors}",
            median(&mut rps),
            median(&mut p99)
        );
    }
    db.pool.close().await;
    Ok(())
}
