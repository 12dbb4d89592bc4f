//! A three-node RabbitMQ cluster on this machine, beside the system broker
//! (which it never touches): the cluster test and `firstweek-bench --cluster`
//! share it.
//!
//! Nodes `fwc1@localhost`, `fwc2@localhost`, `fwc3@localhost` listen on
//! 127.0.0.1:5673, :5674, :5675 (distribution ports 25673-25675), each with
//! its own config file, mnesia and log directories under
//! `$TMPDIR/firstweek-cluster/` (owned by the `rabbitmq` user), and are
//! clustered with each other only. [`Cluster::start`] first stops the nodes
//! of an earlier run that did not clean up (an aborted test) and removes
//! their files; dropping the [`Cluster`] stops its nodes and removes its
//! files, also when a test fails or panics. A lock file keeps two users (the
//! test and the bench) from sharing the ports.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures_util::future::try_join_all;
use tokio::process::Command;

use crate::Broker;

/// (node name, AMQP port, distribution port) of the three nodes.
pub const NODES: [(&str, u16, u16); 3] = [
    ("fwc1@localhost", 5673, 25673),
    ("fwc2@localhost", 5674, 25674),
    ("fwc3@localhost", 5675, 25675),
];

/// The system broker's node, which a cluster must never include.
const SYSTEM_NODE: &str = "rabbit@localhost";
const RABBITMQ_SERVER: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";

/// One node of the cluster.
#[derive(Debug, Clone)]
pub struct Node {
    /// `fwcN@localhost`.
    pub name: String,
    /// Its AMQP port on 127.0.0.1.
    pub port: u16,
    dist_port: u16,
    dir: PathBuf,
    up: bool,
}

impl Node {
    /// `127.0.0.1:port`, as the services' logs and readiness name it.
    pub fn host_port(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// Three clustered RabbitMQ nodes, stopped and removed on drop.
pub struct Cluster {
    /// How long each part of [`Cluster::start`] took.
    pub timings: Vec<(&'static str, Duration)>,
    base: PathBuf,
    nodes: Vec<Node>,
    _lock: File,
}

fn base_dir() -> PathBuf {
    std::env::temp_dir().join("firstweek-cluster")
}

async fn run(cmd: &mut Command, what: &str) -> anyhow::Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `rabbitmqctl -q -n node args...`.
pub async fn ctl(node: &str, args: &[&str]) -> anyhow::Result<String> {
    run(
        Command::new("rabbitmqctl")
            .args(["-q", "-n", node])
            .args(args),
        &format!("rabbitmqctl -n {node} {args:?}"),
    )
    .await
}

/// The names of the nodes registered with epmd (`fwc1`, `rabbit`, ...).
fn registered() -> Vec<String> {
    std::process::Command::new("epmd")
        .arg("-names")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter_map(|l| l.strip_prefix("name ")?.split_whitespace().next())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Pids of the RabbitMQ processes whose files are under `base`: ours (their
/// environment names our mnesia directory), whatever state they are in.
fn our_pids(base: &Path) -> Vec<String> {
    let marker = format!("RABBITMQ_MNESIA_BASE={}/", base.display());
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let pid = e.file_name().to_string_lossy().into_owned();
            if !pid.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let environ = std::fs::read(e.path().join("environ")).ok()?;
            environ
                .split(|b| *b == 0)
                .any(|var| var.starts_with(marker.as_bytes()))
                .then_some(pid)
        })
        .collect()
}

/// Stops our nodes by name (blocking; used by `Drop` and at start for a
/// previous run's leftovers), then kills by pid whatever of ours is left
/// (a node still booting, one that did not stop), then removes `base`.
fn stop_all_blocking(base: &Path) {
    let running = registered();
    let stops: Vec<_> = NODES
        .iter()
        .filter(|(name, _, _)| {
            running
                .iter()
                .any(|r| Some(r.as_str()) == name.split('@').next())
        })
        .map(|(name, _, _)| {
            let name = name.to_string();
            std::thread::spawn(move || {
                let _ = std::process::Command::new("rabbitmqctl")
                    .args(["-q", "-n", &name, "stop"])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            })
        })
        .collect();
    for s in stops {
        let _ = s.join();
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left = our_pids(base);
        if left.is_empty() || Instant::now() > deadline {
            break;
        }
        for pid in left {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = std::fs::remove_dir_all(base);
}

impl Cluster {
    /// Starts the three nodes and clusters them (about 20 s here).
    pub async fn start() -> anyhow::Result<Cluster> {
        let lock_path = std::env::temp_dir().join("firstweek-cluster.lock");
        let lock = tokio::task::spawn_blocking(move || -> anyhow::Result<File> {
            let f = File::create(&lock_path)
                .with_context(|| format!("creating {}", lock_path.display()))?;
            f.lock().context("locking the cluster's lock file")?;
            Ok(f)
        })
        .await??;
        let base = base_dir();
        let mut timings = Vec::new();
        let mut t = Instant::now();
        // Whatever is left of an earlier run (we hold the lock: nobody uses it).
        {
            let base = base.clone();
            tokio::task::spawn_blocking(move || stop_all_blocking(&base)).await?;
        }
        timings.push(("leftovers removed", t.elapsed()));
        t = Instant::now();
        std::fs::create_dir_all(&base)?;
        let mut nodes = Vec::new();
        for (name, port, dist_port) in NODES {
            let short = name.split('@').next().unwrap_or(name);
            let dir = base.join(short);
            std::fs::create_dir_all(dir.join("mnesia"))?;
            std::fs::create_dir_all(dir.join("log"))?;
            std::fs::write(
                dir.join("rabbitmq.conf"),
                format!(
                    "listeners.tcp.default = 127.0.0.1:{port}\n\
                     # as deploy/rabbitmq/rabbitmq.conf\n\
                     max_message_size = 131072\n"
                ),
            )?;
            std::fs::write(dir.join("enabled_plugins"), "[].\n")?;
            nodes.push(Node {
                name: name.to_string(),
                port,
                dist_port,
                dir,
                up: false,
            });
        }
        run(
            Command::new("chown")
                .args(["-R", "rabbitmq:rabbitmq"])
                .arg(&base),
            "chown rabbitmq",
        )
        .await?;
        // From here a failure still stops what was started.
        let mut cluster = Cluster {
            timings,
            base,
            nodes,
            _lock: lock,
        };
        try_join_all(cluster.nodes.iter().map(spawn_node)).await?;
        try_join_all(cluster.nodes.iter().map(|n| await_node(&n.name))).await?;
        for n in &mut cluster.nodes {
            n.up = true;
        }
        cluster.timings.push(("nodes booted", t.elapsed()));
        t = Instant::now();
        let first = cluster.nodes[0].name.clone();
        for n in &cluster.nodes[1..] {
            ctl(&n.name, &["stop_app"]).await?;
            ctl(&n.name, &["join_cluster", &first]).await?;
            ctl(&n.name, &["start_app"]).await?;
        }
        let status = ctl(&first, &["cluster_status", "--formatter", "json"]).await?;
        let status: serde_json::Value =
            serde_json::from_str(&status).context("cluster_status is not JSON")?;
        let running: Vec<&str> = status["running_nodes"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        anyhow::ensure!(
            running.len() == NODES.len() && !running.contains(&SYSTEM_NODE),
            "the cluster runs {running:?}, not the three extra nodes"
        );
        cluster.timings.push(("clustered", t.elapsed()));
        Ok(cluster)
    }

    /// The nodes.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// What [`crate::Options::broker`] takes to put a test's vhost on this cluster.
    pub fn broker(&self) -> Broker {
        Broker::Cluster {
            nodes: self.nodes.iter().map(|n| n.name.clone()).collect(),
            ports: self.nodes.iter().map(|n| n.port).collect(),
        }
    }

    fn up_node(&self) -> anyhow::Result<&str> {
        self.nodes
            .iter()
            .find(|n| n.up)
            .map(|n| n.name.as_str())
            .context("no node of the cluster is running")
    }

    /// `rabbitmqctl` on a running node of the cluster.
    pub async fn ctl(&self, args: &[&str]) -> anyhow::Result<String> {
        ctl(self.up_node()?, args).await
    }

    /// The node leading `queue` in `vhost` (`fwcN@localhost`).
    pub async fn leader(&self, vhost: &str, queue: &str) -> anyhow::Result<String> {
        self.queue_info(vhost, queue, "leader").await
    }

    /// The members (replicas) of `queue` in `vhost`.
    pub async fn members(&self, vhost: &str, queue: &str) -> anyhow::Result<Vec<String>> {
        let line = self.queue_info(vhost, queue, "members").await?;
        Ok(line
            .trim_start_matches('[')
            .trim_end_matches(']')
            .split(',')
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty())
            .collect())
    }

    /// One column (`list_queues` info item) of `queue` in `vhost`, trimmed.
    async fn queue_info(&self, vhost: &str, queue: &str, item: &str) -> anyhow::Result<String> {
        let out = self
            .ctl(&[
                "list_queues",
                "-p",
                vhost,
                "--no-table-headers",
                "name",
                item,
            ])
            .await?;
        out.lines()
            .filter_map(|l| l.split_once('\t'))
            .find(|(name, _)| name.trim() == queue)
            .map(|(_, value)| value.trim().to_string())
            .with_context(|| format!("no {item} of {queue} in {out:?}"))
    }

    /// Waits until `queue` is led by a running node other than `not`.
    pub async fn wait_new_leader(
        &self,
        vhost: &str,
        queue: &str,
        not: &str,
        limit: Duration,
    ) -> anyhow::Result<String> {
        let start = Instant::now();
        loop {
            if let Ok(leader) = self.leader(vhost, queue).await
                && leader != not
                && self.nodes.iter().any(|n| n.up && n.name == leader)
            {
                return Ok(leader);
            }
            if start.elapsed() > limit {
                bail!("{queue} has no leader but {not} after {limit:?}");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Stops the whole node (its Erlang VM): every connection to it drops,
    /// and its queues' leaders move to the others.
    pub async fn stop_node(&mut self, name: &str) -> anyhow::Result<()> {
        let i = self.index(name)?;
        // Marked down first: the commands that follow go to another node.
        self.nodes[i].up = false;
        ctl(name, &["stop"]).await?;
        Ok(())
    }

    /// Starts a stopped node again; it rejoins the cluster by itself.
    pub async fn start_node(&mut self, name: &str) -> anyhow::Result<()> {
        let i = self.index(name)?;
        spawn_node(&self.nodes[i]).await?;
        await_node(name).await?;
        self.nodes[i].up = true;
        Ok(())
    }

    fn index(&self, name: &str) -> anyhow::Result<usize> {
        self.nodes
            .iter()
            .position(|n| n.name == name)
            .with_context(|| format!("{name} is not a node of the cluster"))
    }
}

/// Starts one node detached, as the `rabbitmq` user, with its own files.
async fn spawn_node(node: &Node) -> anyhow::Result<()> {
    let d = &node.dir;
    let p = |f: &str| d.join(f).display().to_string();
    run(
        Command::new("runuser")
            .args(["-u", "rabbitmq", "--", RABBITMQ_SERVER, "-detached"])
            .env("HOME", "/var/lib/rabbitmq")
            .env("RABBITMQ_NODENAME", &node.name)
            .env("RABBITMQ_NODE_PORT", node.port.to_string())
            .env("RABBITMQ_DIST_PORT", node.dist_port.to_string())
            .env("RABBITMQ_CONFIG_FILE", p("rabbitmq.conf"))
            .env("RABBITMQ_MNESIA_BASE", p("mnesia"))
            .env("RABBITMQ_LOG_BASE", p("log"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", p("enabled_plugins"))
            .env("RABBITMQ_PID_FILE", p("pid")),
        &format!("starting {}", node.name),
    )
    .await?;
    Ok(())
}

/// Waits until the node has booted (it takes a moment to register at all).
async fn await_node(name: &str) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        match ctl(name, &["await_startup", "--timeout", "90"]).await {
            Ok(_) => return Ok(()),
            Err(e) if start.elapsed() > Duration::from_secs(120) => {
                return Err(e.context(format!("{name} did not start")));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let base = self.base.clone();
        let keep = std::env::var_os("FIRSTWEEK_KEEP_TEST_FILES").is_some();
        // Its own thread: the test's runtime may be gone or busy by now.
        let _ = std::thread::spawn(move || {
            if keep {
                // A copy for a look at the nodes' logs; the nodes still go.
                let logs = std::env::temp_dir().join("firstweek-cluster-logs");
                let _ = std::fs::remove_dir_all(&logs);
                let _ = std::process::Command::new("cp")
                    .arg("-a")
                    .arg(&base)
                    .arg(&logs)
                    .status();
            }
            stop_all_blocking(&base);
        })
        .join();
    }
}
