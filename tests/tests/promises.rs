//! The fault suite, second part: faults that do not restart the machine's
//! shared RabbitMQ or PostgreSQL, so each test runs in its own database and
//! vhost, in parallel. Each one is a fault production has and a promise it
//! used to break: an SMTP relay that stores a message and resets the
//! connection before its reply, a worker frozen past its claim lease, a
//! mentorship that ends while its email is being sent, a retry that would
//! land at night, a pair announced after its week, a database that refuses
//! connections or times statements out, a worker outage that used to pile up
//! copies of every due step.
//!
//! Each test adds a line (lost, duplicated, unknown, late) to
//! `target/<profile>/fault-suite-promises.txt`, which `scripts/test.sh` prints.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{Timelike, Utc};
use firstweek_tests::cohort::archetype;
use firstweek_tests::expect::{Expected, Tally};
use firstweek_tests::{Env, Mail, Options, Pair, bin_dir};

/// The welcome, to both.
const WELCOME: [&str; 2] = ["welcome->mentor", "welcome->mentee"];

fn options(extra: &[(&str, &str)]) -> Options {
    let mut o = Options {
        start_services: false,
        ..Options::default()
    };
    o.env
        .extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    o
}

/// One line of the report: what this fault did to the promises.
fn report(
    fault: &str,
    expected: usize,
    lost: usize,
    duplicated: usize,
    unknown: usize,
    late: &str,
) {
    let line = format!(
        "{fault}: emails expected {expected}, lost {lost}, duplicated {duplicated}, unknown {unknown}, {late}\n"
    );
    print!("{line}");
    use std::io::Write as _;
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(bin_dir().join("fault-suite-promises.txt"))
    {
        let _ = f.write_all(line.as_bytes());
    }
}

async fn statuses(env: &Env, sql: &'static str, id: &str) -> anyhow::Result<Vec<(String, String)>> {
    Ok(sqlx::query_as(sql).bind(id).fetch_all(&env.pool).await?)
}

/// Item 1: the relay stores the message and resets the connection before its
/// final reply. The message is recorded `unknown` and never resent.
#[tokio::test(flavor = "multi_thread")]
async fn a_message_stored_before_a_reset_is_unknown_and_never_resent() -> anyhow::Result<()> {
    let mut env = Env::start(options(&[])).await?;
    env.smtp_mode("cut")?;
    env.spawn("firstweek-scheduler", &[]).await?;
    env.spawn("firstweek-worker", &[]).await?;
    let pair = Pair::new(&format!("{}-cut", env.name), Utc::now());
    env.publish_json("mentorship.started", &pair.started("cut-start"))
        .await?;
    env.wait_count(
        "SELECT count(*) FROM deliveries WHERE once_key = 'welcome' AND status = 'unknown'",
        2,
        Duration::from_secs(30),
    )
    .await?;
    env.smtp_mode("ok")?;
    let welcome = |m: &Mail| m.step == "welcome";
    env.expect_no_more_mail_where(Duration::from_secs(6), welcome)
        .await?;
    let mails = env.mails();
    let welcome = [Expected::new(pair, &WELCOME)];
    let verdict = Tally::of(&mails, &welcome).check(&welcome, &HashSet::new());
    report(
        "SMTP stores, then resets before its reply",
        2,
        verdict.lost,
        verdict.duplicated,
        2,
        "not resent",
    );
    assert_eq!(
        (verdict.lost, verdict.duplicated),
        (0, 0),
        "stored once each, never resent"
    );
    env.stop().await;
    Ok(())
}

/// Item 1, the other policy: `FIRSTWEEK_UNKNOWN_DELIVERY=resend` sends an
/// unknown email again, with the same Message-ID, until a reply says it arrived.
#[tokio::test(flavor = "multi_thread")]
async fn with_the_resend_policy_an_unknown_message_is_resent_with_its_message_id()
-> anyhow::Result<()> {
    let mut env = Env::start(options(&[("FIRSTWEEK_UNKNOWN_DELIVERY", "resend")])).await?;
    env.smtp_mode("cut")?;
    env.spawn("firstweek-scheduler", &[]).await?;
    env.spawn("firstweek-worker", &[]).await?;
    let pair = Pair::new(&format!("{}-resend", env.name), Utc::now());
    env.publish_json("mentorship.started", &pair.started("resend-start"))
        .await?;
    let start = Instant::now();
    let to_mentor = |mails: &[Mail]| {
        mails
            .iter()
            .filter(|m| m.step == "welcome" && m.rcpt == pair.mentor())
            .map(|m| m.message_id.clone())
            .collect::<Vec<_>>()
    };
    while to_mentor(&env.mails()).len() < 2 {
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(30),
            "the unknown welcome was not resent"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    env.smtp_mode("ok")?;
    env.wait_count(
        "SELECT count(*) FROM deliveries WHERE once_key = 'welcome' AND status = 'sent'",
        2,
        Duration::from_secs(30),
    )
    .await?;
    let ids = to_mentor(&env.mails());
    assert!(ids.len() >= 2, "{ids:?}");
    assert!(
        ids.iter().all(|id| id == &ids[0] && !id.is_empty()),
        "every copy carries the same Message-ID: {ids:?}"
    );
    env.stop().await;
    Ok(())
}

/// Item 2: a worker frozen mid-send past its lease (SIGSTOP) while another
/// takes its claims over and sends; resumed, the frozen one sends nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_worker_frozen_past_its_lease_sends_nothing_when_it_wakes() -> anyhow::Result<()> {
    let mut env = Env::start(options(&[("FIRSTWEEK_REDELIVER_AFTER_SECS", "2")])).await?;
    // The server sits on RCPT for 3 s: the first worker is caught between
    // its claim and the hand-over when it is frozen.
    env.smtp_mode("stall-rcpt:3")?;
    env.spawn("firstweek-scheduler", &[]).await?;
    // A long SMTP timeout, so that when it wakes nothing has timed out yet
    // and it carries on where it stopped.
    let frozen = env
        .spawn(
            "firstweek-worker",
            &[
                ("FIRSTWEEK_SMTP_TIMEOUT_SECS", "20"),
                ("FIRSTWEEK_CLAIM_LEASE_SECS", "60"),
            ],
        )
        .await?;
    let pairs: Vec<Pair> = (0..2)
        .map(|i| Pair::new(&format!("{}-frozen{i}", env.name), Utc::now()))
        .collect();
    for p in &pairs {
        env.publish_json("mentorship.started", &p.started(&format!("{}-start", p.id)))
            .await?;
    }
    env.wait_count(
        "SELECT count(*) FROM deliveries WHERE once_key = 'welcome' AND status = 'sending'",
        4,
        Duration::from_secs(20),
    )
    .await?;
    env.signal_pid(frozen, "STOP").await?;
    let frozen_at = Instant::now();
    env.smtp_mode("ok")?;
    env.spawn(
        "firstweek-worker",
        &[
            ("FIRSTWEEK_SMTP_TIMEOUT_SECS", "2"),
            ("FIRSTWEEK_CLAIM_LEASE_SECS", "6"),
        ],
    )
    .await?;
    let took_over = env
        .wait_count(
            "SELECT count(*) FROM deliveries WHERE once_key = 'welcome' AND status = 'sent'",
            4,
            Duration::from_secs(40),
        )
        .await;
    env.signal_pid(frozen, "CONT").await?;
    took_over?;
    let frozen_for = frozen_at.elapsed();
    // The woken worker's RCPT replies are waiting in its sockets.
    let welcome = |m: &Mail| m.step == "welcome";
    env.expect_no_more_mail_where(Duration::from_secs(5), welcome)
        .await
        .ok();
    let mails = env.mails();
    let welcomes: Vec<Expected> = pairs
        .into_iter()
        .map(|p| Expected::new(p, &WELCOME))
        .collect();
    let verdict = Tally::of(&mails, &welcomes).check(&welcomes, &HashSet::new());
    let (lost, duplicated) = (verdict.lost, verdict.duplicated);
    report(
        &format!(
            "worker frozen (SIGSTOP) mid-send for {:.0} s, past its lease",
            frozen_for.as_secs_f64()
        ),
        4,
        lost,
        duplicated,
        0,
        "taken over after the lease",
    );
    assert_eq!((lost, duplicated), (0, 0));
    env.stop().await;
    Ok(())
}

/// Item 3: the mentorship ends while its welcome is being sent (the worker
/// holds the claim, the server sits on RCPT). Nothing goes out after the
/// ending is committed, and the timeline and the ledger agree.
#[tokio::test(flavor = "multi_thread")]
async fn an_ending_committed_mid_send_stops_the_email() -> anyhow::Result<()> {
    let mut env = Env::start(options(&[])).await?;
    env.smtp_mode("stall-rcpt:3")?;
    env.spawn("firstweek-scheduler", &[]).await?;
    env.spawn("firstweek-worker", &[]).await?;
    let pair = Pair::new(&format!("{}-ends", env.name), Utc::now());
    env.publish_json("mentorship.started", &pair.started("ends-start"))
        .await?;
    env.wait_count(
        "SELECT count(*) FROM deliveries WHERE once_key = 'welcome' AND status = 'sending'",
        2,
        Duration::from_secs(20),
    )
    .await?;
    env.publish_json("mentorship.ended", &pair.ended(chrono::Duration::zero()))
        .await?;
    env.wait_count(
        "SELECT count(*) FROM mentorships WHERE ended_at IS NOT NULL",
        1,
        Duration::from_secs(10),
    )
    .await?;
    env.smtp_mode("ok")?;
    env.wait_settled(&[&pair.id], Duration::from_secs(20))
        .await?;
    env.expect_no_more_mail(Duration::from_secs(4)).await.ok();
    let sent_after_end = env.mails().len();
    let timeline = statuses(
        &env,
        "SELECT step_id || '->' || recipient, status FROM timeline WHERE mentorship_id = $1",
        &pair.id,
    )
    .await?;
    let ledger = statuses(
        &env,
        "SELECT once_key || '->' || recipient, status FROM deliveries WHERE mentorship_id = $1",
        &pair.id,
    )
    .await?;
    report(
        "mentorship ended mid-send",
        0,
        0,
        sent_after_end,
        0,
        "none sent after the end",
    );
    assert_eq!(sent_after_end, 0, "no email after the ending was committed");
    assert!(
        timeline.iter().all(|(_, s)| s == "cancelled"),
        "{timeline:?}"
    );
    assert!(
        ledger.iter().all(|(_, s)| s != "sent"),
        "the ledger agrees with the timeline: {ledger:?}"
    );
    env.stop().await;
    Ok(())
}

/// Item 4: a retry that would land outside the recipient's send window waits
/// for the window to open again (here: tomorrow).
#[tokio::test(flavor = "multi_thread")]
async fn a_retry_that_would_land_at_night_waits_for_the_morning() -> anyhow::Result<()> {
    // A window (UTC) that is open now and closes at a minute boundary at
    // least 20 s away.
    let now = Utc::now();
    let mut close = now
        .with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .context("time")?
        + chrono::Duration::minutes(1);
    if close - now < chrono::Duration::seconds(20) {
        close += chrono::Duration::minutes(1);
    }
    let open = close - chrono::Duration::minutes(3);
    let window = format!("{}-{}", open.format("%H:%M"), close.format("%H:%M"));
    let mut o = options(&[]);
    o.env.retain(|(k, _)| k != "FIRSTWEEK_SEND_WINDOW");
    o.env.push(("FIRSTWEEK_SEND_WINDOW".into(), window.clone()));
    let mut env = Env::start(o).await?;
    env.smtp_mode("4xx")?;
    env.spawn("firstweek-scheduler", &[]).await?;
    env.spawn("firstweek-worker", &[]).await?;
    let mut pair = Pair::new(&format!("{}-night", env.name), Utc::now());
    pair.tz_mentor = "Etc/UTC".into();
    pair.tz_mentee = "Etc/UTC".into();
    env.publish_json("mentorship.started", &pair.started("night-start"))
        .await?;
    // The window closes while the relay still answers 4xx; then it recovers.
    let until_closed = (close - Utc::now()).to_std().unwrap_or_default() + Duration::from_secs(1);
    tokio::time::sleep(until_closed).await;
    env.smtp_mode("ok")?;
    // The coordinator gave no time zone: the window cannot apply to them.
    let to_the_pair = |m: &Mail| m.rcpt == pair.mentor() || m.rcpt == pair.mentee();
    env.expect_no_more_mail_where(Duration::from_secs(10), to_the_pair)
        .await?;
    assert_eq!(env.mails().iter().filter(|m| to_the_pair(m)).count(), 0);
    let next: Vec<(String, Option<chrono::DateTime<Utc>>)> = sqlx::query_as(
        "SELECT recipient, next_at FROM timeline WHERE mentorship_id = $1 AND step_id = 'welcome'",
    )
    .bind(&pair.id)
    .fetch_all(&env.pool)
    .await?;
    let tomorrow = open + chrono::Duration::days(1);
    report(
        &format!("SMTP 4xx until the send window {window} closed"),
        0,
        0,
        0,
        0,
        "retries wait for the next window",
    );
    for (recipient, at) in next {
        let at = at.context("the welcome is still to be retried")?;
        assert!(
            (at - tomorrow).num_seconds().abs() <= 60,
            "{recipient}: retried at {at}, not at tomorrow's opening {tomorrow}"
        );
    }
    env.stop().await;
    Ok(())
}

/// Item 5: a pair announced after its week is over gets no burst of old
/// nudges: each step is recorded `skipped` (stale). A pair on time is served.
#[tokio::test(flavor = "multi_thread")]
async fn a_pair_announced_after_its_week_gets_no_burst_of_old_nudges() -> anyhow::Result<()> {
    let mut o = options(&[]);
    o.env.retain(|(k, _)| k != "FIRSTWEEK_STALE_AFTER");
    o.env.push(("FIRSTWEEK_STALE_AFTER".into(), "1d".into()));
    let mut env = Env::start(o).await?;
    env.spawn("firstweek-scheduler", &[]).await?;
    env.spawn("firstweek-worker", &[]).await?;
    let late = Pair::new(&format!("{}-late", env.name), Utc::now() - env.days(10.0));
    let on_time = Pair::new(&format!("{}-ontime", env.name), Utc::now());
    env.publish_json("mentorship.started", &late.started("late-start"))
        .await?;
    env.publish_json("mentorship.started", &on_time.started("ontime-start"))
        .await?;
    env.wait_settled(&[&late.id], Duration::from_secs(30))
        .await?;
    env.wait_count(
        "SELECT count(*) FROM deliveries WHERE once_key = 'welcome' AND status = 'sent'",
        2,
        Duration::from_secs(20),
    )
    .await?;
    let rows = statuses(
        &env,
        "SELECT step_id || '->' || recipient, coalesce(outcome, '') FROM timeline WHERE mentorship_id = $1",
        &late.id,
    )
    .await?;
    let sent_late = env
        .mails()
        .iter()
        .filter(|m| m.mentorship == late.id)
        .count();
    report(
        "pair announced 10 program days late",
        0,
        0,
        sent_late,
        0,
        &format!("{} stale steps skipped", rows.len()),
    );
    assert_eq!(sent_late, 0, "no old nudges");
    assert!(!rows.is_empty());
    assert!(
        rows.iter().all(|(_, why)| why.starts_with("stale")),
        "{rows:?}"
    );
    env.stop().await;
    Ok(())
}

/// Item 8: with the worker's steps role down (intake still up), the
/// scheduler publishes each due step once, not once per redelivery interval.
#[tokio::test(flavor = "multi_thread")]
async fn a_worker_outage_leaves_one_message_per_due_step() -> anyhow::Result<()> {
    let mut env = Env::start(options(&[("FIRSTWEEK_REDELIVER_AFTER_SECS", "1")])).await?;
    env.spawn("firstweek-scheduler", &[]).await?;
    env.spawn("firstweek-worker", &[("FIRSTWEEK_WORKER_ROLE", "intake")])
        .await?;
    let pairs: Vec<Pair> = (0..3)
        .map(|i| Pair::new(&format!("{}-outage{i}", env.name), Utc::now()))
        .collect();
    for p in &pairs {
        env.publish_json("mentorship.started", &p.started(&format!("{}-start", p.id)))
            .await?;
    }
    // Ten redelivery intervals with nobody consuming the steps.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let published: i64 =
        sqlx::query_scalar("SELECT count(*) FROM timeline WHERE status = 'published'")
            .fetch_one(&env.pool)
            .await?;
    let depth = env.queue_depth("firstweek.steps").await?;
    report(
        "steps consumer down for 10 redelivery intervals",
        published as usize,
        0,
        (depth as usize).saturating_sub(published as usize),
        0,
        &format!("{depth} messages queued for {published} due rows"),
    );
    assert!(published > 0);
    assert!(
        i64::from(depth) <= published,
        "{depth} messages in firstweek.steps for {published} published rows"
    );
    // The consumer comes back: each email once.
    env.spawn("firstweek-worker", &[("FIRSTWEEK_WORKER_ROLE", "steps")])
        .await?;
    env.wait_count(
        "SELECT count(*) FROM deliveries WHERE once_key = 'welcome' AND status = 'sent'",
        6,
        Duration::from_secs(30),
    )
    .await?;
    env.stop().await;
    Ok(())
}

/// A login role of the test's own for the services, so its connections can
/// be limited and its statements timed out without touching anyone else's
/// (a superuser is exempt from connection limits). Dropped with the test.
struct ServiceRole {
    name: String,
    database_url: String,
}

impl ServiceRole {
    async fn create(env: &Env) -> anyhow::Result<ServiceRole> {
        let name = format!("{}_svc", env.name);
        let role = ServiceRole {
            name: name.clone(),
            database_url: env.database_url.replace("postgres@", &format!("{name}@")),
        };
        for sql in [
            format!("CREATE ROLE {name} LOGIN"),
            format!("GRANT ALL ON SCHEMA public TO {name}"),
            format!("GRANT ALL ON ALL TABLES IN SCHEMA public TO {name}"),
            format!("GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {name}"),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&env.pool)
                .await?;
        }
        Ok(role)
    }

    async fn sql(&self, env: &Env, sql: String) -> anyhow::Result<()> {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&env.pool)
            .await?;
        Ok(())
    }

    /// Ends the role's sessions: the services reconnect (and meet the new settings).
    async fn disconnect(&self, env: &Env) -> anyhow::Result<()> {
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1")
            .bind(&self.name)
            .execute(&env.pool)
            .await?;
        Ok(())
    }
}

impl Drop for ServiceRole {
    fn drop(&mut self) {
        let (name, url) = (
            self.name.clone(),
            self.database_url
                .replace(&format!("{}@", self.name), "postgres@"),
        );
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let pool = sqlx::PgPool::connect(&url).await.ok()?;
                for sql in [
                    format!("ALTER ROLE {name} NOLOGIN"),
                    format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{name}'"),
                    format!("DROP OWNED BY {name}"),
                    format!("DROP ROLE {name}"),
                ] {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await;
                }
                pool.close().await;
                Some(())
            })
        })
        .join();
    }
}

/// Item 7: connections refused ("too many connections"), then statements
/// failing on a lock timeout and on a statement timeout, during a cohort.
/// These are outages: retried with backoff, never dead-lettered, nothing
/// lost, nothing sent twice.
#[tokio::test(flavor = "multi_thread")]
async fn refused_connections_and_lock_and_statement_timeouts_lose_nothing() -> anyhow::Result<()> {
    let mut env = Env::start(options(&[])).await?;
    let role = ServiceRole::create(&env).await?;
    let url = role.database_url.clone();
    env.spawn("firstweek-scheduler", &[("DATABASE_URL", &url)])
        .await?;
    env.spawn("firstweek-worker", &[("DATABASE_URL", &url)])
        .await?;
    env.spawn("firstweek-worker", &[("DATABASE_URL", &url)])
        .await?;
    let silent = archetype("silent");
    let mut pairs = Vec::new();
    let wave = |tag: &str, n: usize| -> Vec<Pair> {
        (0..n)
            .map(|i| Pair::new(&format!("{}-{tag}{i}", env.name), Utc::now()))
            .collect()
    };
    let first = wave("a", 4);
    for p in &first {
        env.publish_json("mentorship.started", &p.started(&format!("{}-start", p.id)))
            .await?;
    }
    pairs.extend(first);
    tokio::time::sleep(Duration::from_secs(1)).await;

    // 1. New connections refused: SQLSTATE 53300.
    role.sql(&env, format!("ALTER ROLE {} CONNECTION LIMIT 0", role.name))
        .await?;
    role.disconnect(&env).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    role.sql(
        &env,
        format!("ALTER ROLE {} CONNECTION LIMIT -1", role.name),
    )
    .await?;

    // 2. Statements fail on a lock they cannot get: SQLSTATE 55P03.
    role.sql(
        &env,
        format!("ALTER ROLE {} SET lock_timeout = '100ms'", role.name),
    )
    .await?;
    role.disconnect(&env).await?;
    let second = wave("b", 3);
    for p in &second {
        env.publish_json("mentorship.started", &p.started(&format!("{}-start", p.id)))
            .await?;
    }
    pairs.extend(second);
    hold_locks(
        &env,
        "timeline, deliveries, mentorships",
        Duration::from_secs(3),
    )
    .await?;
    role.sql(&env, format!("ALTER ROLE {} RESET lock_timeout", role.name))
        .await?;

    // 3. Statements time out: SQLSTATE 57014.
    role.sql(
        &env,
        format!("ALTER ROLE {} SET statement_timeout = '150ms'", role.name),
    )
    .await?;
    role.disconnect(&env).await?;
    hold_locks(
        &env,
        "timeline, deliveries, interactions",
        Duration::from_secs(3),
    )
    .await?;
    role.sql(
        &env,
        format!("ALTER ROLE {} RESET statement_timeout", role.name),
    )
    .await?;

    let ids: Vec<&str> = pairs.iter().map(|p| p.id.as_str()).collect();
    env.wait_settled(&ids, Duration::from_secs(90)).await?;
    env.expect_no_more_mail(Duration::from_secs(3)).await?;
    let mails = env.mails();
    let cohort: Vec<Expected> = pairs
        .into_iter()
        .map(|p| Expected::new(p, &silent.expected))
        .collect();
    let verdict = Tally::of(&mails, &cohort).check(&cohort, &HashSet::new());
    let (expected, lost, duplicated) = (verdict.expected, verdict.lost, verdict.duplicated);
    if lost > 0 {
        let steps: Vec<&str> = silent
            .expected
            .iter()
            .filter_map(|e| e.split("->").next())
            .collect();
        // What became of the rows whose email never came, for the failure message.
        let rows: Vec<(String, String, String, String, Option<String>)> = sqlx::query_as(
            "SELECT mentorship_id, step_id, recipient, status, outcome FROM timeline
             WHERE step_id = ANY($1) AND status <> 'sent' ORDER BY 1, 2, 3",
        )
        .bind(steps)
        .fetch_all(&env.pool)
        .await?;
        for row in rows {
            eprintln!("not sent: {row:?}");
        }
    }
    let dead = env.dead_letters().await?;
    let failed: i64 = sqlx::query_scalar("SELECT count(*) FROM timeline WHERE status = 'failed'")
        .fetch_one(&env.pool)
        .await?;
    report(
        "connections refused 3 s, lock timeouts 3 s, statement timeouts 3 s",
        expected,
        lost,
        duplicated,
        0,
        &format!("{} dead letters, {failed} rows failed", dead.len()),
    );
    assert_eq!((lost, duplicated), (0, 0));
    assert!(
        dead.is_empty(),
        "dead-lettered: {:?}",
        dead.iter().map(|d| &d.1).collect::<Vec<_>>()
    );
    assert_eq!(failed, 0);
    env.stop().await;
    drop(role);
    Ok(())
}

/// Holds ACCESS EXCLUSIVE locks on `tables` for `hold` (as a migration or a
/// long maintenance statement would).
async fn hold_locks(env: &Env, tables: &str, hold: Duration) -> anyhow::Result<()> {
    let mut tx = env.pool.begin().await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE"
    )))
    .execute(&mut *tx)
    .await?;
    tokio::time::sleep(hold).await;
    tx.commit().await?;
    Ok(())
}
