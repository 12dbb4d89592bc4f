//! The fault suite on a RabbitMQ cluster: three nodes started beside the
//! system broker (`firstweek_tests::cluster`), a cohort playing its first
//! week on two schedulers and two workers given all three addresses, while
//! the node leading `firstweek.steps` is stopped and started again, then the
//! node leading `firstweek.events`. A checker then counts, per pair, the
//! emails expected against those received: lost and duplicated must be 0.
//! The report (also how long publishing, sending and intake paused after each
//! stop, and where each service's readiness said it moved) is printed and
//! written to `target/<profile>/fault-suite-cluster.txt`.
//!
//! The cluster's nodes are stopped and their files removed when the test
//! ends, passed or failed; the system broker on 5672 is never touched.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use lapin::{Channel, Connection};
use serde_json::Value;

use firstweek_broker::{self as broker, BrokerAddresses};
use firstweek_tests::cluster::Cluster;
use firstweek_tests::cohort::{Archetype, archetype};
use firstweek_tests::expect::{Expected, Tally};
use firstweek_tests::{Env, Options, Pair, bin_dir, http_get, port};

/// A program's publisher given the cluster's addresses: on a failed or
/// unconfirmed publish it reconnects (the next node first) and publishes
/// again; the contract's event ids make a repeat harmless.
struct Feeder {
    addrs: BrokerAddresses,
    link: Option<(Connection, Channel)>,
    next: usize,
    republished: usize,
}

impl Feeder {
    fn new(amqp_url: &str) -> anyhow::Result<Feeder> {
        Ok(Feeder {
            addrs: BrokerAddresses::parse(amqp_url)?,
            link: None,
            next: 0,
            republished: 0,
        })
    }

    async fn publish(&mut self, key: &str, body: &Value) -> anyhow::Result<()> {
        let body = body.to_string();
        let start = Instant::now();
        loop {
            let attempt = async {
                if !self
                    .link
                    .as_ref()
                    .is_some_and(|(c, ch)| c.status().connected() && ch.status().connected())
                {
                    let connected =
                        broker::connect_from(&self.addrs, self.next, "firstweek-tests feeder")
                            .await?;
                    self.next = connected.index;
                    let channel = broker::confirm_channel(&connected.connection).await?;
                    self.link = Some((connected.connection, channel));
                }
                let (_, channel) = self.link.as_ref().context("no link")?;
                tokio::time::timeout(
                    Duration::from_secs(10),
                    broker::publish_confirmed(
                        channel,
                        broker::EXCHANGE,
                        key,
                        body.as_bytes(),
                        broker::persistent_json(),
                    ),
                )
                .await
                .context("no confirm within 10 s")??;
                anyhow::Ok(())
            };
            match attempt.await {
                Ok(()) => return Ok(()),
                Err(e) => {
                    anyhow::ensure!(
                        start.elapsed() < Duration::from_secs(90),
                        "could not publish for 90 s: {e:#}"
                    );
                    self.link = None;
                    self.next = (self.next + 1) % self.addrs.len();
                    self.republished += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }
}

/// The fault suite's archetypes but one (talking without a plan).
fn kinds() -> Vec<Archetype> {
    ["engaged", "silent", "one-sided", "intense"]
        .map(archetype)
        .to_vec()
}

/// Publishes a pair every `every` until `stop`; returns the pairs and the event count.
async fn feed(
    env: &Env,
    feeder: &mut Feeder,
    every: Duration,
    stop: &AtomicBool,
) -> anyhow::Result<(Vec<Expected>, usize)> {
    let kinds = kinds();
    let (mut pairs, mut events) = (Vec::new(), 0);
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        let next = Instant::now() + every;
        let kind = &kinds[i % kinds.len()];
        let pair = Pair::new(&format!("{}-{i}-{}", env.name, kind.name), Utc::now());
        for (key, body) in kind.events(&pair, |d| env.days(d)) {
            feeder.publish(key, &body).await?;
            events += 1;
        }
        pairs.push(Expected::new(pair, &kind.expected));
        i += 1;
        tokio::time::sleep_until(next.into()).await;
    }
    Ok((pairs, events))
}

/// One stopped node: when, which, and what readiness said before and after.
struct Stop {
    queue: &'static str,
    node: String,
    port: u16,
    at: DateTime<Utc>,
    new_leader: String,
    leader_after: Duration,
    moved: Vec<String>,
    ready_again: Option<Duration>,
    down_for: Duration,
}

/// The admin ports of the four services.
struct Services {
    admin: Vec<(String, u16)>,
}

impl Services {
    async fn readiness(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (name, port) in &self.admin {
            out.push((name.clone(), http_get(*port, "/readyz").await));
        }
        out
    }

    /// Waits until every service is ready and none names `gone` (`host:port`).
    async fn wait_moved_off(&self, gone: &str, limit: Duration) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < limit {
            let all = self.readiness().await;
            if all
                .iter()
                .all(|(_, r)| r.starts_with("HTTP/1.1 200") && !r.contains(gone))
            {
                return Some(start.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        None
    }
}

/// The `rabbitmq node:` lines of a `/readyz` answer.
fn nodes_of(readyz: &str) -> String {
    let nodes: Vec<&str> = readyz
        .lines()
        .filter_map(|l| l.strip_prefix("rabbitmq node: "))
        .collect();
    nodes.join(", ")
}

/// Stops the node leading `queue`, waits for a new leader and for every
/// service to be ready on another node, keeps it down for at least
/// `down_for`, then starts it again.
async fn stop_leader(
    cluster: &mut Cluster,
    env: &Env,
    services: &Services,
    queue: &'static str,
    down_for: Duration,
) -> anyhow::Result<Stop> {
    let node = cluster.leader(&env.vhost, queue).await?;
    let port = cluster
        .nodes()
        .iter()
        .find(|n| n.name == node)
        .map(|n| n.port)
        .context("the leader is not one of the cluster's nodes")?;
    let before = services.readiness().await;
    let at = Utc::now();
    let stopped = Instant::now();
    let gone = format!("127.0.0.1:{port}");
    // The services' readiness is watched while the node stops and the queue
    // elects its new leader.
    let (leader, ready_again) = tokio::join!(
        async {
            cluster.stop_node(&node).await?;
            let new_leader = cluster
                .wait_new_leader(&env.vhost, queue, &node, Duration::from_secs(60))
                .await?;
            anyhow::Ok((new_leader, stopped.elapsed()))
        },
        async {
            services
                .wait_moved_off(&gone, Duration::from_secs(60))
                .await
                .map(|_| stopped.elapsed())
        }
    );
    let (new_leader, leader_after) = leader?;
    let after = services.readiness().await;
    let moved = before
        .iter()
        .zip(&after)
        .map(|((name, b), (_, a))| format!("{name}: [{}] -> [{}]", nodes_of(b), nodes_of(a)))
        .collect();
    let left = down_for.saturating_sub(stopped.elapsed());
    tokio::time::sleep(left).await;
    let down = stopped.elapsed();
    cluster.start_node(&node).await?;
    Ok(Stop {
        queue,
        node,
        port,
        at,
        new_leader,
        leader_after,
        moved,
        ready_again,
        down_for: down,
    })
}

/// First moment in `times` after `at`, and the longest pause between
/// consecutive moments in the 20 s after `at` (counting from `at`).
fn resumption(times: &[f64], at: DateTime<Utc>) -> (Option<f64>, f64) {
    let t0 = at.timestamp_millis() as f64 / 1000.0;
    let window: Vec<f64> = times
        .iter()
        .copied()
        .filter(|t| *t > t0 && *t <= t0 + 20.0)
        .collect();
    let first = window.first().map(|t| t - t0);
    let mut longest = first.unwrap_or(20.0);
    for w in window.windows(2) {
        longest = longest.max(w[1] - w[0]);
    }
    (first, longest)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_loses_its_queue_leaders_mid_week_and_no_email_is_lost_or_sent_twice()
-> anyhow::Result<()> {
    let began = Instant::now();
    let mut cluster = Cluster::start().await?;
    let cluster_up = began.elapsed();
    let cluster_timings = cluster
        .timings
        .iter()
        .map(|(what, d)| format!("{what} {:.0} s", d.as_secs_f64()))
        .collect::<Vec<_>>()
        .join(", ");
    let mut env = Env::start(Options::for_faults(cluster.broker())).await?;
    anyhow::ensure!(
        env.amqp_url.split(',').count() == 3,
        "the services get the three addresses"
    );
    for queue in [broker::STEPS_QUEUE, broker::EVENTS_QUEUE] {
        let members = cluster.members(&env.vhost, queue).await?;
        assert_eq!(
            members.len(),
            3,
            "{queue} is replicated on every node: {members:?}"
        );
    }

    // Two schedulers and two workers, each with its admin port for readiness.
    let mut services = Services { admin: Vec::new() };
    for (binary, label) in [
        ("firstweek-scheduler", "scheduler-1"),
        ("firstweek-scheduler", "scheduler-2"),
        ("firstweek-worker", "worker-1"),
        ("firstweek-worker", "worker-2"),
    ] {
        let admin = port();
        let addr = format!("127.0.0.1:{admin}");
        env.spawn(binary, &[("FIRSTWEEK_ADMIN_ADDR", &addr)])
            .await?;
        services.admin.push((label.to_string(), admin));
    }
    let ready = services
        .wait_moved_off("no such node", Duration::from_secs(60))
        .await;
    anyhow::ensure!(
        ready.is_some(),
        "services never ready; logs in {}",
        env.log_dir.display()
    );
    let readiness_at_start = services.readiness().await;
    for (name, r) in &readiness_at_start {
        assert!(
            r.contains("rabbitmq node: 127.0.0.1:567"),
            "{name}'s readiness names its node: {r}"
        );
    }

    let mut feeder = Feeder::new(&env.amqp_url)?;
    let stop_feeding = AtomicBool::new(false);
    let week_began = Instant::now();
    let faults = async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let first = stop_leader(
            &mut cluster,
            &env,
            &services,
            broker::STEPS_QUEUE,
            Duration::from_secs(6),
        )
        .await;
        let second = match &first {
            Ok(_) => {
                tokio::time::sleep(Duration::from_secs(3)).await;
                stop_leader(
                    &mut cluster,
                    &env,
                    &services,
                    broker::EVENTS_QUEUE,
                    Duration::from_secs(6),
                )
                .await
            }
            Err(_) => Err(anyhow::anyhow!("not tried: the first stop failed")),
        };
        // Pairs keep arriving a little after the node is back.
        tokio::time::sleep(Duration::from_secs(3)).await;
        stop_feeding.store(true, Ordering::Relaxed);
        (first, second)
    };
    let (fed, (first, second)) = tokio::join!(
        feed(&env, &mut feeder, Duration::from_millis(400), &stop_feeding),
        faults
    );
    let (pairs, events) = fed?;
    let stops = vec![first?, second?];
    let fed_for = week_began.elapsed();

    let ids: Vec<&str> = pairs.iter().map(|e| e.pair.id.as_str()).collect();
    env.wait_settled(&ids, Duration::from_secs(180)).await?;
    // Anything still in flight has had its chance; nothing may come twice later.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mails = env.mails();
    let report = Tally::of(&mails, &pairs).check(&pairs, &HashSet::new());

    // How long each side paused after each stop.
    let published: Vec<f64> = sqlx::query_scalar(
        "SELECT extract(epoch FROM last_published_at)::float8 FROM timeline
         WHERE last_published_at IS NOT NULL ORDER BY 1",
    )
    .fetch_all(&env.pool)
    .await?;
    let stored: Vec<f64> = sqlx::query_scalar(
        "SELECT extract(epoch FROM received_at)::float8 FROM processed_events ORDER BY 1",
    )
    .fetch_all(&env.pool)
    .await?;
    let mut sent: Vec<f64> = mails.iter().map(|m| m.received_at).collect();
    sent.sort_by(f64::total_cmp);
    let mut text = format!(
        "cluster fault suite: 3 RabbitMQ nodes (started and clustered in {:.0} s: {}), 2 schedulers + 2 workers given all three addresses\n\
         {} pairs, {events} events published over {:.0} s ({} publishes repeated after a lost link or confirm), run {:.0} s\n\
         emails expected {}, received {}; lost {}, duplicated {}, unexpected {}\n",
        cluster_up.as_secs_f64(),
        cluster_timings,
        pairs.len(),
        fed_for.as_secs_f64(),
        feeder.republished,
        began.elapsed().as_secs_f64(),
        report.expected,
        report.received,
        report.lost,
        report.duplicated,
        report.unexpected,
    );
    for (i, s) in stops.iter().enumerate() {
        let fmt = |(first, longest): (Option<f64>, f64)| {
            format!(
                "first {} after the stop, longest pause {longest:.1} s",
                first.map_or("none".to_string(), |f| format!("{f:.1} s"))
            )
        };
        text.push_str(&format!(
            "stop {}: {} (127.0.0.1:{}), leader of {}, stopped for {:.0} s; new leader {} after {:.1} s; every service ready off it after {}\n\
             \x20 publishing (step confirmed): {}\n\
             \x20 consuming steps (email accepted): {}\n\
             \x20 consuming events (event stored): {}\n",
            i + 1,
            s.node,
            s.port,
            s.queue,
            s.down_for.as_secs_f64(),
            s.new_leader,
            s.leader_after.as_secs_f64(),
            s.ready_again
                .map_or("never (60 s)".to_string(), |d| format!("{:.1} s", d.as_secs_f64())),
            fmt(resumption(&published, s.at)),
            fmt(resumption(&sent, s.at)),
            fmt(resumption(&stored, s.at)),
        ));
        for m in &s.moved {
            text.push_str(&format!("  readiness {m}\n"));
        }
    }
    text.push_str(&report.problems.join("\n"));
    println!("{text}");
    let _ = std::fs::write(bin_dir().join("fault-suite-cluster.txt"), &text);

    assert_eq!(report.lost, 0, "{text}");
    assert_eq!(report.duplicated, 0, "{text}");
    assert_eq!(report.unexpected, 0, "{text}");
    for s in &stops {
        assert!(
            s.ready_again.is_some(),
            "every service is ready on another node after {} stopped:\n{text}",
            s.node
        );
    }
    env.stop().await;
    drop(cluster);
    Ok(())
}

/// An installation from before replication was declared keeps its queues:
/// declaring them again with `x-quorum-initial-group-size` would fail with
/// PRECONDITION_FAILED (arguments cannot change in place), and would stop
/// every service at start-up; the services' declare keeps them as they are.
#[tokio::test]
async fn queues_declared_before_replication_still_start_the_services() -> anyhow::Result<()> {
    struct Vhost(String);
    impl Drop for Vhost {
        fn drop(&mut self) {
            let _ = std::process::Command::new("rabbitmqctl")
                .args(["-q", "delete_vhost", &self.0])
                .output();
        }
    }
    let vhost = Vhost(firstweek_tests::unique("fw_legacy"));
    for args in [
        vec!["-q", "add_vhost", vhost.0.as_str()],
        vec![
            "-q",
            "set_permissions",
            "-p",
            &vhost.0,
            "guest",
            ".*",
            ".*",
            ".*",
        ],
    ] {
        let out = tokio::process::Command::new("rabbitmqctl")
            .args(&args)
            .output()
            .await?;
        anyhow::ensure!(out.status.success(), "rabbitmqctl {args:?}");
    }
    let url = format!("{}/{}", firstweek_tests::AMQP_BASE, vhost.0);
    let conn = broker::connect(&url, "firstweek-tests legacy").await?;
    let legacy = conn.create_channel().await?;
    let durable = lapin::options::QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    for name in [
        broker::DEAD_QUEUE,
        broker::EVENTS_QUEUE,
        broker::STEPS_QUEUE,
    ] {
        legacy
            .queue_declare(name.into(), durable, broker::queue_arguments(name, false))
            .await?;
    }
    // As the services declare: the replicated form, refused, then the queues kept.
    let strict = conn.create_channel().await?;
    let refused = broker::declare_topology(&strict).await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.to_string().contains("PRECONDITION_FAILED")),
        "{refused:?}"
    );
    broker::declare(&conn).await?;
    broker::declare(&conn).await?;
    let check = broker::confirm_channel(&conn).await?;
    broker::publish_confirmed(
        &check,
        broker::EXCHANGE,
        "mentorship.ended",
        b"{}",
        broker::persistent_json(),
    )
    .await?;
    let passive = lapin::options::QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let q = check
        .queue_declare(broker::EVENTS_QUEUE.into(), passive, Default::default())
        .await?;
    assert_eq!(
        q.message_count(),
        1,
        "the exchange and binding were declared"
    );
    let _ = conn.close(200, "bye".into()).await;
    Ok(())
}
