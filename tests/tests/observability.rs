//! What an operator sees on the scheduler's `/metrics`: the backlog of work
//! waiting in the queues and in the database.

use std::time::{Duration, Instant};

use firstweek_tests::{Env, Options, http_get, port};

/// The value of one sample line (`name{labels} value`) of a Prometheus page.
fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines().find_map(|l| {
        l.strip_prefix(series)
            .and_then(|rest| rest.trim().parse().ok())
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn the_scheduler_reports_queue_and_ledger_backlog() -> anyhow::Result<()> {
    // No worker: whatever is published stays in the queues.
    let mut env = Env::start(Options {
        start_services: false,
        ..Options::default()
    })
    .await?;
    sqlx::query(
        "INSERT INTO timeline (mentorship_id, step_id, recipient, due_at, send_at, next_at)
         SELECT 'pair-' || n, 'welcome', 'mentor', now(), now(), now() FROM generate_series(1, 25) n",
    )
    .execute(&env.pool)
    .await?;
    sqlx::query(
        "INSERT INTO deliveries (mentorship_id, once_key, recipient, step_id, timeline_id, message_id, status)
         VALUES ('pair-1', 'welcome', 'mentee', 'welcome', 0, '<a@x>', 'unknown'),
                ('pair-2', 'welcome', 'mentee', 'welcome', 0, '<b@x>', 'sending'),
                ('pair-3', 'welcome', 'mentee', 'welcome', 0, '<c@x>', 'sent')",
    )
    .execute(&env.pool)
    .await?;
    for n in 0..7 {
        env.publish("interaction.recorded", format!("not json {n}").as_bytes())
            .await?;
    }
    let admin = port();
    env.spawn(
        "firstweek-scheduler",
        &[("FIRSTWEEK_ADMIN_ADDR", &format!("127.0.0.1:{admin}"))],
    )
    .await?;

    // Sampled every 10 s; the 25 rows are published within a second of start.
    let want = [
        ("firstweek_queue_messages{queue=\"firstweek.steps\"}", 25.0),
        ("firstweek_queue_messages{queue=\"firstweek.events\"}", 7.0),
        ("firstweek_queue_messages{queue=\"firstweek.dead\"}", 0.0),
        ("firstweek_timeline_due_steps", 0.0),
        ("firstweek_deliveries_unknown", 1.0),
    ];
    let began = Instant::now();
    let mut page = String::new();
    while began.elapsed() < Duration::from_secs(40) {
        page = http_get(admin, "/metrics").await;
        if want
            .iter()
            .all(|(series, value)| sample(&page, series) == Some(*value))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for (series, value) in want {
        assert_eq!(sample(&page, series), Some(value), "{series} in:\n{page}");
    }
    assert!(
        sample(&page, "firstweek_timeline_oldest_due_seconds").is_some(),
        "{page}"
    );
    env.stop().await;
    Ok(())
}

/// A worker reads a whole message before its 64 KiB check, so the broker's
/// `max_message_size` is what bounds its memory: at start-up it checks the
/// broker and says so when the limit is missing. This machine's broker runs
/// with RabbitMQ's default (128 MiB), which is exactly that case.
#[tokio::test(flavor = "multi_thread")]
async fn a_worker_warns_at_start_up_when_the_broker_takes_bodies_over_its_limit()
-> anyhow::Result<()> {
    let mut env = Env::start(Options {
        start_services: false,
        ..Options::default()
    })
    .await?;
    env.spawn("firstweek-worker", &[]).await?;
    let started = Instant::now();
    let warning = loop {
        let log = env.logs("firstweek-worker").concat();
        if let Some(line) = log
            .lines()
            .find(|l| l.contains("max_message_size") && l.contains("WARN"))
        {
            break line.to_string();
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(20),
            "no warning about the broker's max_message_size:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        warning.contains("262144") && warning.contains("64 KiB"),
        "the warning states the requirement: {warning}"
    );
    env.stop().await;
    Ok(())
}
