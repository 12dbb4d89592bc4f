//! A test's own PostgreSQL database and RabbitMQ vhost, removed when the
//! guard is dropped: when the test ends, passed, failed or panicked early.

use anyhow::{Context as _, bail};
use chrono::Utc;
use lapin::options::BasicGetOptions;
use lapin::{BasicProperties, Channel, Connection};
use serde_json::Value;
use sqlx::PgPool;
use tokio::process::Command;

use firstweek::Rules;
use firstweek::event::Event;
use firstweek::playbook::Playbook;
use firstweek::timeline::{SendWindow, TimeScale};
use firstweek_broker as broker;

use crate::{AMQP_BASE, Broker, PG_ADMIN_URL, unique};

/// A private database, migrated.
pub struct TestDb {
    /// The database's name.
    pub name: String,
    /// Its URL (`DATABASE_URL` for the binaries).
    pub url: String,
    /// A small pool on it.
    pub pool: PgPool,
}

impl TestDb {
    /// Creates and migrates a database named after `prefix`.
    pub async fn create(prefix: &str) -> anyhow::Result<TestDb> {
        let name = unique(prefix);
        let admin = PgPool::connect(PG_ADMIN_URL)
            .await
            .context("connecting to PostgreSQL")?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await?;
        admin.close().await;
        // From here a failure (a migration that does not apply) still drops it.
        let guard = DbName(name.clone());
        let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
        let pool = firstweek_store::connect(&url, 4).await?;
        firstweek_store::migrate(&pool).await?;
        std::mem::forget(guard);
        Ok(TestDb { name, url, pool })
    }

    /// Stores one event as a worker would (built-in playbook, real clock, no send window).
    pub async fn ingest(&self, routing_key: &str, body: &Value) -> anyhow::Result<()> {
        let rules = Rules {
            playbook: Playbook::built_in(),
            programs: Default::default(),
            scale: TimeScale::REAL,
            window: SendWindow::Off,
        };
        let event = Event::parse(routing_key, None, body.to_string().as_bytes(), Utc::now())
            .map_err(|e| anyhow::anyhow!("not a valid event: {e}"))?;
        firstweek_store::ingest(&self.pool, &event, &rules, &crate::pseudonym_key()).await?;
        Ok(())
    }

    /// Rows in `table`.
    pub async fn count(&self, table: &str) -> anyhow::Result<i64> {
        Ok(
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                .fetch_one(&self.pool)
                .await?,
        )
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        drop_database(&self.name);
    }
}

/// Drops the database if creating the rest failed half-way.
struct DbName(String);

impl Drop for DbName {
    fn drop(&mut self) {
        drop_database(&self.0);
    }
}

fn drop_database(name: &str) {
    {
        let name = name.to_string();
        // A runtime of its own: the test's may be gone or busy by now.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let admin = PgPool::connect(PG_ADMIN_URL).await.ok()?;
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&admin).await;
                admin.close().await;
                Some(())
            })
        });
        let _ = dropped.join();
    }
}

/// A private vhost with firstweek's topology, and a confirm channel on it.
pub struct TestVhost {
    /// The vhost's name.
    pub name: String,
    /// Its URL (`AMQP_URL` for the binaries; on a cluster one per node, comma-separated).
    pub url: String,
    conn: Connection,
    channel: Channel,
    broker: Broker,
}

/// `rabbitmqctl args` against `broker` (on a cluster, the first node that answers).
async fn rabbitmqctl_on(broker: &Broker, args: &[&str]) -> anyhow::Result<()> {
    match broker {
        Broker::System => rabbitmqctl(args).await,
        Broker::Cluster { nodes, .. } => {
            let mut last = None;
            for node in nodes {
                match crate::cluster::ctl(node, args).await {
                    Ok(_) => return Ok(()),
                    Err(e) => last = Some(e),
                }
            }
            Err(last.unwrap_or_else(|| anyhow::anyhow!("a cluster without nodes")))
        }
    }
}

pub(crate) async fn rabbitmqctl(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("rabbitmqctl")
        .args(args)
        .output()
        .await
        .context("running rabbitmqctl")?;
    if !out.status.success() {
        bail!(
            "rabbitmqctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

impl TestVhost {
    /// Creates a vhost named after `prefix` on the system broker and declares the topology on it.
    pub async fn create(prefix: &str) -> anyhow::Result<TestVhost> {
        TestVhost::create_on(&Broker::System, prefix).await
    }

    /// Creates a vhost named after `prefix` on `broker` and declares the topology on it.
    pub async fn create_on(broker: &Broker, prefix: &str) -> anyhow::Result<TestVhost> {
        let name = unique(prefix);
        rabbitmqctl_on(broker, &["add_vhost", &name]).await?;
        let guard = VhostName(name.clone(), broker.clone());
        rabbitmqctl_on(
            broker,
            &["set_permissions", "-p", &name, "guest", ".*", ".*", ".*"],
        )
        .await?;
        let url = match broker {
            Broker::System => format!("{AMQP_BASE}/{name}"),
            Broker::Cluster { ports, .. } => ports
                .iter()
                .map(|p| format!("amqp://guest:guest@127.0.0.1:{p}/{name}"))
                .collect::<Vec<_>>()
                .join(","),
        };
        let conn = broker::connect(&url, "firstweek-tests").await?;
        let setup = conn.create_channel().await?;
        broker::declare_topology(&setup).await?;
        let channel = broker::confirm_channel(&conn).await?;
        std::mem::forget(guard);
        Ok(TestVhost {
            name,
            url,
            conn,
            channel,
            broker: broker.clone(),
        })
    }

    /// A channel with publisher confirms.
    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// The connection the channel is on.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Dead-letters a message as a worker does: one of firstweek's queue
    /// names as `routing_key` is a due step that came through the default
    /// exchange, anything else an event from the public exchange.
    pub async fn dead_letter(
        &self,
        routing_key: &str,
        body: &[u8],
        reason: &str,
    ) -> anyhow::Result<()> {
        let original = BasicProperties::default().with_content_type("application/json".into());
        let queue = [broker::STEPS_QUEUE, broker::EVENTS_QUEUE].contains(&routing_key);
        let origin = broker::Origin {
            exchange: if queue { "" } else { broker::EXCHANGE }.into(),
            routing_key: routing_key.into(),
        };
        broker::dead_letter(&self.channel, &origin, &original, body, reason).await?;
        Ok(())
    }

    /// Drains a queue: each message's routing key, properties and body.
    pub async fn drain(&self, queue: &str) -> anyhow::Result<Vec<Drained>> {
        let mut out = Vec::new();
        while let Some(m) = self
            .channel
            .basic_get(queue.into(), BasicGetOptions { no_ack: true })
            .await?
        {
            let d = m.delivery;
            out.push(Drained {
                routing_key: d.routing_key.as_str().to_string(),
                properties: d.properties,
                body: d.data,
            });
        }
        Ok(out)
    }
}

/// One message taken off a queue.
pub struct Drained {
    /// Its routing key.
    pub routing_key: String,
    /// Its properties (headers included).
    pub properties: BasicProperties,
    /// Its body.
    pub body: Vec<u8>,
}

impl Drop for TestVhost {
    fn drop(&mut self) {
        delete_vhost(&self.name, &self.broker);
    }
}

/// Deletes the vhost if creating the rest failed half-way.
struct VhostName(String, Broker);

impl Drop for VhostName {
    fn drop(&mut self) {
        delete_vhost(&self.0, &self.1);
    }
}

/// The vhost goes, and its connections with it.
fn delete_vhost(name: &str, broker: &Broker) {
    match broker {
        Broker::System => {
            let _ = std::process::Command::new("rabbitmqctl")
                .args(["delete_vhost", name])
                .output();
        }
        Broker::Cluster { nodes, .. } => {
            for node in nodes {
                let deleted = std::process::Command::new("rabbitmqctl")
                    .args(["-q", "-n", node, "delete_vhost", name])
                    .output()
                    .is_ok_and(|o| o.status.success());
                if deleted {
                    break;
                }
            }
        }
    }
}
