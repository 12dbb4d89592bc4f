//! `firstweek-bench --cluster`: the raw lapin baselines and the ingest,
//! scheduler and lateness phases on a three-node RabbitMQ cluster started on
//! this machine (`firstweek_tests::cluster`, the same nodes as the cluster
//! test), each phase's vhost on it and the services given the three
//! addresses. The table's ratios are firstweek against lapin on the same
//! cluster; when a single-node run's JSON is at hand (the default
//! `<target>/firstweek-bench.json`), the cost of replication is printed as
//! cluster / single node for each figure.
//!
//! The three nodes share this machine's cores with everything else, so each
//! publish is written three times by the same CPUs: the replication cost
//! measured here is an upper bound of what separate machines would show.

use std::sync::OnceLock;
use std::time::Instant;

use anyhow::Context as _;
use chrono::Utc;
use serde_json::{Value, json};

use firstweek_tests::Broker;
use firstweek_tests::cluster::Cluster;

use crate::sink::Sink;
use crate::{Plan, baseline, ingest, lateness, machine, record_phase, scheduler, table};

/// Where the phases' vhosts go: the cluster once [`run`] started it.
static BROKER: OnceLock<Broker> = OnceLock::new();

/// The broker a phase's [`firstweek_tests::Env`] is created on.
pub fn broker() -> Broker {
    BROKER.get().cloned().unwrap_or_default()
}

/// The phases run on the cluster.
const PHASES: [&str; 4] = ["baseline", "ingest", "scheduler", "lateness"];

/// Figures compared with a single-node run: (label, JSON pointer).
const COMPARED: [(&str, &str); 10] = [
    (
        "raw publish events (confirms)",
        "/baseline/publish_events_per_s",
    ),
    (
        "raw consume events (acks)",
        "/baseline/consume_events_per_s",
    ),
    (
        "raw publish+consume events",
        "/baseline/pipeline_events_per_s",
    ),
    (
        "raw publish steps (confirms)",
        "/baseline/publish_steps_per_s",
    ),
    (
        "raw publish steps, batches of 1000",
        "/baseline/publish_steps_batch1000_per_s",
    ),
    ("raw consume steps (acks)", "/baseline/consume_steps_per_s"),
    ("ingest: events stored+acked", "/ingest/events_per_s"),
    ("scheduler: due steps published", "/scheduler/steps_per_s"),
    ("lateness p50 (s)", "/lateness/p50_s"),
    ("lateness p99 (s)", "/lateness/p99_s"),
];

/// Starts the cluster, runs the phases on it, prints the table (and the
/// comparison with a single-node run), writes the JSON (`json`, or
/// `<target>/firstweek-bench-cluster.json` when it is the default), and
/// stops the cluster.
pub async fn run(plan: &Plan, json: &str, only: Option<&[String]>) -> anyhow::Result<()> {
    let single_path = firstweek_tests::bin_dir()
        .parent()
        .map(|p| p.join("firstweek-bench.json").display().to_string())
        .unwrap_or_default();
    let out = if json == single_path {
        single_path.replace("firstweek-bench.json", "firstweek-bench-cluster.json")
    } else {
        json.to_string()
    };
    println!("cluster: starting three RabbitMQ nodes (127.0.0.1:5673-5675)");
    let started = Instant::now();
    let cluster = Cluster::start().await?;
    println!(
        "  clustered in {:.0}s: {}",
        started.elapsed().as_secs_f64(),
        cluster
            .nodes()
            .iter()
            .map(|n| n.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    BROKER
        .set(cluster.broker())
        .ok()
        .context("the cluster was started twice")?;

    let sink = Sink::start().await?;
    let mut results = json!({"machine": machine(), "smoke": plan.smoke, "started_at": Utc::now().to_rfc3339(),
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "cluster": {"nodes": cluster.nodes().iter().map(|n| json!({"name": n.name, "amqp": n.host_port()})).collect::<Vec<_>>(),
                    "quorum_group_size": firstweek_broker::QUORUM_GROUP_SIZE}});
    results["baseline"]["email_bytes"] = json!(2400);
    let total = Instant::now();
    let mut failed = Vec::new();
    for name in PHASES {
        if only.is_some_and(|o| !o.iter().any(|p| p == name)) {
            continue;
        }
        println!("{name} (cluster):");
        let t = Instant::now();
        let done = match name {
            "baseline" => baseline(plan, &sink, &mut results).await,
            "ingest" => ingest(plan, &sink, &mut results).await,
            "scheduler" => scheduler(plan, &sink, &mut results).await,
            _ => lateness(plan, &sink, &mut results).await,
        };
        record_phase(&mut results, &mut failed, name, t, done);
    }
    let (text, rows) = table(&results);
    results["table"] = rows;
    println!(
        "\non the three-node cluster (ratios: firstweek / lapin on the same cluster):\n{text}"
    );
    if let Some(comparison) = compare(&results, &single_path) {
        println!("{}", comparison.0);
        results["versus_single_node"] = comparison.1;
    }
    results["total_seconds"] = json!(total.elapsed().as_secs_f64());
    std::fs::write(&out, serde_json::to_string_pretty(&results)?)
        .with_context(|| format!("writing {out}"))?;
    println!("written to {out}");
    drop(cluster);
    anyhow::ensure!(failed.is_empty(), "phases failed: {}", failed.join(", "));
    Ok(())
}

/// Cluster / single node for each figure both runs have.
fn compare(cluster: &Value, single_path: &str) -> Option<(String, Value)> {
    let single: Value = serde_json::from_str(&std::fs::read_to_string(single_path).ok()?).ok()?;
    let mut text = format!(
        "cluster / single node ({single_path}, started {}):\n",
        single["started_at"].as_str().unwrap_or("?")
    );
    text.push_str(&format!(
        "| {:<36} | {:>12} | {:>12} | {:>8} |\n|{:-<38}|{:->14}|{:->14}|{:->10}|\n",
        "measure", "single node", "cluster", "ratio", "", "", "", ""
    ));
    let mut rows = Vec::new();
    for (label, pointer) in COMPARED {
        let (Some(s), Some(c)) = (
            single.pointer(pointer).and_then(Value::as_f64),
            cluster.pointer(pointer).and_then(Value::as_f64),
        ) else {
            continue;
        };
        let ratio = (s > 0.0).then(|| c / s);
        let num = |x: f64| {
            if x.abs() >= 100.0 {
                format!("{x:.0}")
            } else {
                format!("{x:.3}")
            }
        };
        text.push_str(&format!(
            "| {label:<36} | {:>12} | {:>12} | {:>8} |\n",
            num(s),
            num(c),
            ratio.map_or("-".to_string(), |r| format!("{r:.2}x"))
        ));
        rows.push(json!({"measure": label, "single_node": s, "cluster": c, "ratio": ratio}));
    }
    Some((text, Value::Array(rows)))
}
