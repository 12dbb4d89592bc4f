//! The admin port: `/healthz` (the process answers), `/readyz` (database and
//! broker reachable, and which broker node each link is on) and `/metrics`
//! (Prometheus text).
//!
//! Three GET endpoints do not need a web framework; this keeps the tree lean.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use firstweek_settings::AdminAddr;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// What readiness reports; each part is set by the code that owns the connection.
#[derive(Debug, Default)]
pub struct Health {
    database: AtomicBool,
    broker: AtomicBool,
    /// Broker link (`firstweek.steps`, `publisher`, ...) -> `host:port` of its node.
    nodes: Mutex<BTreeMap<String, String>>,
    /// When the service's own work last had an answer from PostgreSQL.
    database_answered: Mutex<Option<Instant>>,
    /// The service uses no broker (`firstweek-web`): readiness is the database alone.
    without_broker: bool,
}

impl Health {
    /// A fresh state: nothing reachable yet.
    pub fn new() -> Arc<Health> {
        Arc::new(Health::default())
    }

    /// A fresh state for a service without a broker (`firstweek-web`):
    /// ready when the database answers, and readiness does not mention RabbitMQ.
    pub fn without_broker() -> Arc<Health> {
        Arc::new(Health {
            without_broker: true,
            ..Health::default()
        })
    }

    /// Records whether PostgreSQL answers.
    pub fn set_database(&self, up: bool) {
        self.database.store(up, Ordering::Relaxed);
        metrics::gauge!("firstweek_dependency_up", "dependency" => "postgresql").set(if up {
            1.0
        } else {
            0.0
        });
    }

    /// Records that the service's own work just had an answer from
    /// PostgreSQL (the scheduler's heartbeat): the readiness watch need not
    /// ask again for a while (see [`watch_database`]).
    pub fn database_answered(&self) {
        *self
            .database_answered
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        if !self.database.load(Ordering::Relaxed) {
            self.set_database(true);
        }
    }

    /// Whether PostgreSQL answered the service's own work within `within`.
    fn database_answered_within(&self, within: Duration) -> bool {
        self.database_answered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|at| at.elapsed() < within)
    }

    /// Records whether RabbitMQ is connected.
    pub fn set_broker(&self, up: bool) {
        self.broker.store(up, Ordering::Relaxed);
        metrics::gauge!("firstweek_dependency_up", "dependency" => "rabbitmq").set(if up {
            1.0
        } else {
            0.0
        });
    }

    /// Records that the broker link `link` is connected to `node`
    /// (`host:port`), or lost (`None`); readiness lists the nodes.
    pub fn set_broker_node(&self, link: &str, node: Option<&str>) {
        let mut nodes = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        match node {
            Some(node) => {
                nodes.insert(link.to_string(), node.to_string());
            }
            None => {
                nodes.remove(link);
            }
        }
    }

    /// The broker node of each connected link.
    pub fn broker_nodes(&self) -> BTreeMap<String, String> {
        self.nodes.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Both reachable (the database alone for a service without a broker).
    pub fn ready(&self) -> bool {
        self.database.load(Ordering::Relaxed)
            && (self.without_broker || self.broker.load(Ordering::Relaxed))
    }

    fn describe(&self) -> String {
        let s = |b: &AtomicBool| {
            if b.load(Ordering::Relaxed) {
                "up"
            } else {
                "down"
            }
        };
        let mut text = format!("postgresql: {}\n", s(&self.database));
        if !self.without_broker {
            text.push_str(&format!("rabbitmq: {}\n", s(&self.broker)));
        }
        for (link, node) in self.broker_nodes() {
            text.push_str(&format!("rabbitmq node: {node} ({link})\n"));
        }
        text
    }
}

/// A broker link's state lands in readiness; its requeues and dead letters in the metrics.
impl firstweek_broker::Watch for Health {
    fn up(&self, link: &str, node: &str) {
        self.set_broker(true);
        self.set_broker_node(link, Some(node));
    }

    fn down(&self, link: &str) {
        self.set_broker(false);
        self.set_broker_node(link, None);
    }

    fn requeued(&self) {
        metrics::counter!("firstweek_deliveries_requeued_total").increment(1);
    }

    fn dead_lettered(&self) {
        metrics::counter!("firstweek_dead_letters_total").increment(1);
    }
}

/// Installs the Prometheus recorder once per process; later calls get the
/// same recorder (services run side by side in one test process share it).
pub fn install_metrics() -> anyhow::Result<PrometheusHandle> {
    static INSTALLED: Mutex<Option<PrometheusHandle>> = Mutex::new(None);
    let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(handle) = installed.as_ref() {
        return Ok(handle.clone());
    }
    let lateness_buckets = [
        0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0,
    ];
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Suffix("lateness_seconds".into()),
            &lateness_buckets,
        )?
        .install_recorder()?;
    *installed = Some(handle.clone());
    Ok(handle)
}

/// The admin address could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The operator's `FIRSTWEEK_ADMIN_ADDR` cannot be listened on.
    #[error(
        "FIRSTWEEK_ADMIN_ADDR={addr} cannot be bound ({source}); set FIRSTWEEK_ADMIN_ADDR to a free host:port, to host:0 for any free port, or to off"
    )]
    Explicit {
        /// The address asked for.
        addr: SocketAddr,
        /// Why not.
        source: std::io::Error,
    },
    /// Neither the default address nor a free port next to it can be listened on.
    #[error(
        "the default admin address {addr} cannot be bound ({source}); set FIRSTWEEK_ADMIN_ADDR to a free host:port, or to off"
    )]
    Default {
        /// The default address.
        addr: SocketAddr,
        /// Why not.
        source: std::io::Error,
    },
}

/// Binds the admin endpoints' address at start-up. An address the operator
/// set is bound exactly or stops the service, naming the variable. The
/// default address is what every replica on a host wants, and the README
/// allows as many replicas as one likes: when it is taken, the service
/// listens on a free port of the same interface instead and logs where (a
/// replica that stops for want of a metrics port would be worse than one whose
/// metrics port must be read from its log).
pub async fn bind(addr: AdminAddr) -> Result<Option<TcpListener>, BindError> {
    match addr {
        AdminAddr::Off => Ok(None),
        AdminAddr::Explicit(addr) => TcpListener::bind(addr)
            .await
            .map(Some)
            .map_err(|source| BindError::Explicit { addr, source }),
        AdminAddr::Default(addr) => match TcpListener::bind(addr).await {
            Ok(listener) => Ok(Some(listener)),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                let fallback = TcpListener::bind(SocketAddr::new(addr.ip(), 0))
                    .await
                    .map_err(|source| BindError::Default { addr, source })?;
                if let Ok(now) = fallback.local_addr() {
                    tracing::warn!(
                        default = %addr,
                        addr = %now,
                        "the default admin port is taken (another replica on this host?); \
                         admin endpoints on a free port instead; set FIRSTWEEK_ADMIN_ADDR to choose one"
                    );
                }
                Ok(Some(fallback))
            }
            Err(source) => Err(BindError::Default { addr, source }),
        },
    }
}

/// Serves the admin endpoints on `listener` until `shutdown`; requests in
/// flight are finished (each is bounded by a 5 s read timeout).
pub async fn serve(
    listener: TcpListener,
    health: Arc<Health>,
    metrics: PrometheusHandle,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "admin endpoints: /healthz /readyz /metrics");
    }
    let mut requests = tokio::task::JoinSet::new();
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => break,
            // Reap finished requests so the set does not grow.
            Some(_) = requests.join_next(), if !requests.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok((s, _)) => s,
                Err(e) => { tracing::warn!(error = %e, "admin accept"); continue; }
            },
        };
        requests.spawn(answer(stream, health.clone(), metrics.clone()));
    }
    while requests.join_next().await.is_some() {}
    Ok(())
}

async fn answer(mut stream: tokio::net::TcpStream, health: Arc<Health>, metrics: PrometheusHandle) {
    let mut buf = [0u8; 1024];
    let Ok(Ok(n)) =
        tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut buf)).await
    else {
        return;
    };
    let request = String::from_utf8_lossy(&buf[..n]);
    let path = request.split_whitespace().nth(1).unwrap_or("/");
    let (status, content_type, body) = match path {
        "/healthz" => ("200 OK", "text/plain", "ok\n".to_string()),
        "/readyz" if health.ready() => ("200 OK", "text/plain", health.describe()),
        "/readyz" => ("503 Service Unavailable", "text/plain", health.describe()),
        "/metrics" => ("200 OK", "text/plain; version=0.0.4", metrics.render()),
        _ => (
            "404 Not Found",
            "text/plain",
            "try /healthz, /readyz or /metrics\n".to_string(),
        ),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
}

/// How recent an answer to the service's own work stands for the
/// readiness watch's ping: more than the heartbeat's second, so a heartbeat
/// a little late still counts.
pub const ANSWER_STANDS_FOR: Duration = Duration::from_millis(1500);

/// Pings PostgreSQL every second and records the answer in `health`, on a
/// connection of its own ([`firstweek_store::Dedicated`]): this runs every
/// second of an idle service's life. While the service's own work has
/// answers ([`Health::database_answered`]: the scheduler's heartbeat, every
/// second), that answer stands for the ping: one round trip a second less.
/// A heartbeat that fails stops recording answers, and within
/// [`ANSWER_STANDS_FOR`] the ping tells readiness.
pub async fn watch_database(
    pool: sqlx::PgPool,
    health: Arc<Health>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut conn = firstweek_store::Dedicated::new(pool);
    loop {
        if !health.database_answered_within(ANSWER_STANDS_FOR) {
            let up = tokio::time::timeout(Duration::from_secs(2), conn.ping())
                .await
                .is_ok_and(|r| r.is_ok());
            if !up {
                conn.reset();
            }
            health.set_database(up);
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
    conn.close().await;
    Ok(())
}

/// A service's admin side, set up at start-up: its health, its metrics
/// recorder and, unless `FIRSTWEEK_ADMIN_ADDR=off`, its bound listener.
pub struct Admin {
    /// What `/readyz` reports.
    pub health: Arc<Health>,
    metrics: PrometheusHandle,
    listener: Option<TcpListener>,
}

impl Admin {
    /// Installs the metrics recorder and binds `addr` (see [`bind`]: an
    /// explicit address in use stops start-up, a taken default does not).
    pub async fn bind(addr: AdminAddr) -> anyhow::Result<Admin> {
        let listener = bind(addr).await?;
        Ok(Admin {
            health: Health::new(),
            metrics: install_metrics()?,
            listener,
        })
    }

    /// [`Admin::bind`] for a service that uses no broker: its readiness is
    /// the database alone.
    pub async fn bind_without_broker(addr: AdminAddr) -> anyhow::Result<Admin> {
        Ok(Admin {
            health: Health::without_broker(),
            ..Admin::bind(addr).await?
        })
    }

    /// Where the endpoints listen, if they do.
    pub fn addr(&self) -> Option<SocketAddr> {
        self.listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Starts serving in `tasks` (nothing when off); returns the health to report into.
    pub fn spawn(
        self,
        tasks: &mut tokio::task::JoinSet<anyhow::Result<()>>,
        shutdown: &CancellationToken,
    ) -> Arc<Health> {
        if let Some(listener) = self.listener {
            tasks.spawn(serve(
                listener,
                self.health.clone(),
                self.metrics,
                shutdown.clone(),
            ));
        }
        self.health
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_names_the_broker_node_of_each_link() {
        let health = Health::default();
        health.set_database(true);
        health.set_broker(true);
        health.set_broker_node("firstweek.steps", Some("127.0.0.1:5674"));
        health.set_broker_node("firstweek.events", Some("127.0.0.1:5673"));
        assert_eq!(
            health.describe(),
            "postgresql: up\nrabbitmq: up\n\
             rabbitmq node: 127.0.0.1:5673 (firstweek.events)\n\
             rabbitmq node: 127.0.0.1:5674 (firstweek.steps)\n"
        );
        health.set_broker(false);
        health.set_broker_node("firstweek.steps", None);
        assert!(!health.ready());
        assert_eq!(
            health.describe(),
            "postgresql: up\nrabbitmq: down\nrabbitmq node: 127.0.0.1:5673 (firstweek.events)\n"
        );
    }

    /// The scheduler's heartbeat stands for the readiness ping only while it
    /// keeps getting answers: once they stop, the watch pings, and a
    /// database nobody answers for reads as down.
    #[tokio::test]
    async fn an_answer_stands_for_the_readiness_ping_only_while_it_is_recent() {
        // Nothing listens on port 1: every ping fails at once.
        let pool = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://firstweek@127.0.0.1:1/none")
            .unwrap();
        let health = Health::new();
        health.database_answered();
        assert!(health.database.load(Ordering::Relaxed));
        let shutdown = CancellationToken::new();
        let watch = tokio::spawn(watch_database(pool, health.clone(), shutdown.clone()));
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            health.database.load(Ordering::Relaxed),
            "a fresh answer stands for the ping"
        );
        let deadline = Instant::now() + ANSWER_STANDS_FOR + Duration::from_secs(3);
        while health.database.load(Ordering::Relaxed) {
            assert!(
                Instant::now() < deadline,
                "the database still reads up with no answer for {ANSWER_STANDS_FOR:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        shutdown.cancel();
        watch.await.unwrap().unwrap();
    }
}
