//! Several replicas of each service on one host, as the README allows: with
//! the admin address left at its default they share the host (each says
//! where its admin endpoints ended up); an explicit address that cannot be
//! bound stops the binary with a message naming the variable.

use std::time::Duration;

use chrono::Utc;
use firstweek_tests::{Env, Options, Pair, bin_dir, http_status};
use serde_json::Value;

const SERVICES: [&str; 2] = ["firstweek-scheduler", "firstweek-worker"];

/// The admin addresses a service's log says it listens on.
fn admin_addrs(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains("admin endpoints"))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["fields"]["addr"].as_str().map(str::to_string))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn port_of(addr: &str) -> u16 {
    addr.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_with_the_default_admin_address_all_run_and_say_where_their_endpoints_are()
-> anyhow::Result<()> {
    let mut env = Env::start(Options {
        start_services: false,
        ..Options::default()
    })
    .await?;
    // FIRSTWEEK_ADMIN_ADDR unset: every replica wants its service's default port.
    for _ in 0..2 {
        for service in SERVICES {
            env.spawn_without(service, &["FIRSTWEEK_ADMIN_ADDR"], &[])
                .await?;
        }
    }
    let start = Utc::now() + chrono::Duration::milliseconds(500);
    let pairs: Vec<Pair> = (0..6)
        .map(|n| Pair::new(&format!("{}-replica-{n}", env.name), start))
        .collect();
    for pair in &pairs {
        env.publish_json(
            "mentorship.started",
            &pair.started(&format!("{}-start", pair.id)),
        )
        .await?;
    }
    let ids: Vec<&str> = pairs.iter().map(|p| p.id.as_str()).collect();
    env.wait_settled(&ids, Duration::from_secs(60)).await?;
    let welcomes = env.mails().iter().filter(|m| m.step == "welcome").count();
    assert_eq!(welcomes, 12, "every pair's welcome, once per person");

    for service in SERVICES {
        assert_eq!(
            env.running(service),
            2,
            "both {service} replicas still run; logs in {}",
            env.log_dir.display()
        );
        let logs = env.logs(service);
        assert_eq!(logs.len(), 2, "{service}: one log per replica");
        let mut ports = Vec::new();
        for log in &logs {
            let addrs = admin_addrs(log);
            assert_eq!(
                addrs.len(),
                1,
                "{service} says where its admin endpoints are:\n{log}"
            );
            let port = port_of(&addrs[0]);
            assert_eq!(
                http_status(port, "/healthz").await,
                200,
                "{service}'s /healthz on {}",
                addrs[0]
            );
            ports.push(port);
        }
        assert_ne!(ports[0], ports[1], "{service} replicas share no port");
    }
    // Both workers took their share of the steps.
    for log in env.logs("firstweek-worker") {
        assert!(log.contains("email sent"), "a worker sent nothing:\n{log}");
    }
    env.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_explicit_admin_address_in_use_stops_either_service_naming_the_variable()
-> anyhow::Result<()> {
    let env = Env::start(Options {
        start_services: false,
        ..Options::default()
    })
    .await?;
    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = taken.local_addr()?.to_string();
    for service in SERVICES {
        let output = tokio::process::Command::new(bin_dir().join(service))
            .envs(env.service_env())
            .env("FIRSTWEEK_ADMIN_ADDR", &addr)
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(Duration::from_secs(20), output)
            .await
            .map_err(|_| anyhow::anyhow!("{service} kept running with {addr} taken"))??;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{service} exited 0:\n{stderr}");
        assert!(
            stderr.contains("FIRSTWEEK_ADMIN_ADDR") && stderr.contains(&addr),
            "{service}'s error names the variable and the address:\n{stderr}"
        );
    }
    drop(taken);
    env.stop().await;
    Ok(())
}
