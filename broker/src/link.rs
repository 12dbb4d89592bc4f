//! Reaching the broker: connecting to the first node of `AMQP_URL` that
//! answers ([`connect_from`]), and the one [`Link`] every long-running user
//! keeps (the consumer loop, the scheduler's publisher): it declares the
//! topology on each new connection, reports where it is to a [`Watch`], and
//! after a loss starts with the next node, so a stopped node is not waited for.

use std::time::Duration;

use lapin::{Connection, ConnectionProperties};
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::{BrokerAddresses, BrokerError, CONNECT_TIMEOUT};

/// Who hears about a link's state: readiness (is the broker reachable, and
/// which node each link is on) and the delivery counters. The broker crate
/// reports; the service decides what that means for its health endpoint.
pub trait Watch: Send + Sync {
    /// The link named `link` is connected to `node` (`host:port`).
    fn up(&self, link: &str, node: &str);
    /// The link named `link` is not connected.
    fn down(&self, link: &str);
    /// A delivery was given back to its queue to be tried again.
    fn requeued(&self) {}
    /// A delivery was dead-lettered.
    fn dead_lettered(&self) {}
}

/// A [`Watch`] that hears nothing (tools, tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct Unwatched;

impl Watch for Unwatched {
    fn up(&self, _: &str, _: &str) {}
    fn down(&self, _: &str) {}
}

/// How long a lost session's connection has to close before it is dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// One long-lived connection to the broker, rebuilt on demand.
pub struct Link {
    addrs: BrokerAddresses,
    /// The connection's name on the broker (its management UI shows it).
    name: String,
    /// What readiness calls this link.
    label: String,
    watch: std::sync::Arc<dyn Watch>,
    /// The node to try first when (re)connecting.
    next_node: usize,
    current: Option<Connected>,
    backoff: Backoff,
}

impl Link {
    /// A link that connects on first use; `name`: the connection's name on
    /// the broker; `label`: the link's name in readiness.
    pub fn new(
        addrs: BrokerAddresses,
        name: impl Into<String>,
        label: impl Into<String>,
        watch: std::sync::Arc<dyn Watch>,
    ) -> Link {
        Link {
            addrs,
            name: name.into(),
            label: label.into(),
            watch,
            next_node: 0,
            current: None,
            backoff: Backoff::default(),
        }
    }

    /// What readiness calls this link.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Who hears about this link.
    pub fn watch(&self) -> &std::sync::Arc<dyn Watch> {
        &self.watch
    }

    /// Whether the connection is there and open (no round trip).
    pub fn is_up(&self) -> bool {
        self.current
            .as_ref()
            .is_some_and(|c| c.connection.status().connected())
    }

    /// The connection: the current one while it is open, else a new one to
    /// the first node that answers (starting after the one last lost), with
    /// the topology declared.
    pub async fn connect(&mut self) -> Result<&Connection, BrokerError> {
        let current = match self.current.take() {
            Some(c) if c.connection.status().connected() => c,
            lost => {
                if lost.is_some() {
                    self.rotate();
                }
                match self.open().await {
                    Ok(c) => c,
                    Err(e) => {
                        self.watch.down(&self.label);
                        return Err(e);
                    }
                }
            }
        };
        Ok(&self.current.insert(current).connection)
    }

    async fn open(&mut self) -> Result<Connected, BrokerError> {
        let connected = connect_from(&self.addrs, self.next_node, &self.name).await?;
        self.next_node = connected.index;
        declare_or_close(&connected.connection).await?;
        self.watch.up(&self.label, &connected.node);
        tracing::info!(link = %self.label, node = %connected.node, "connected to RabbitMQ");
        Ok(connected)
    }

    /// Forgets a connection that failed (or must be rebuilt): the next
    /// [`connect`](Link::connect) starts with the next node.
    pub fn lose(&mut self) {
        if self.current.take().is_some() {
            self.rotate();
        }
    }

    fn rotate(&mut self) {
        self.next_node = (self.next_node + 1) % self.addrs.len().max(1);
        self.watch.down(&self.label);
    }

    /// The link worked (a session started): the next loss waits the shortest delay again.
    pub fn settled(&mut self) {
        self.backoff.reset();
    }

    /// After a loss: logs it and waits the backoff's next delay; false when
    /// `shutdown` came first.
    pub async fn pause(&mut self, error: &str, shutdown: &CancellationToken) -> bool {
        // The connection may still be alive (the broker cancelled a consumer): close it, briefly.
        if let Some(c) = self.current.take() {
            let _ =
                tokio::time::timeout(CLOSE_TIMEOUT, c.connection.close(200, "bye".into())).await;
            self.rotate();
        }
        self.watch.down(&self.label);
        let delay: Duration = self.backoff.next_delay();
        tracing::warn!(link = %self.label, error = %error, retry_in_ms = delay.as_millis() as u64, "broker session lost; reconnecting");
        tokio::select! {
            _ = shutdown.cancelled() => false,
            _ = tokio::time::sleep(delay) => true,
        }
    }

    /// Closes the connection, if any.
    pub async fn close(&mut self) {
        if let Some(c) = self.current.take() {
            let _ = c.connection.close(200, "bye".into()).await;
        }
    }
}

async fn declare_or_close(conn: &Connection) -> Result<(), BrokerError> {
    let declared = crate::declare(conn).await;
    if declared.is_err() {
        let _ = conn.close(200, "topology not declared".into()).await;
    }
    declared
}

/// What [`connect`] accepts: the parsed `AMQP_URL` ([`BrokerAddresses`]), or
/// its text (one URL, or several separated by commas), parsed here.
pub trait ToBrokerAddresses {
    /// The list of nodes.
    fn to_broker_addresses(&self) -> Result<std::borrow::Cow<'_, BrokerAddresses>, BrokerError>;
}

impl ToBrokerAddresses for BrokerAddresses {
    fn to_broker_addresses(&self) -> Result<std::borrow::Cow<'_, BrokerAddresses>, BrokerError> {
        Ok(std::borrow::Cow::Borrowed(self))
    }
}

impl ToBrokerAddresses for str {
    fn to_broker_addresses(&self) -> Result<std::borrow::Cow<'_, BrokerAddresses>, BrokerError> {
        Ok(std::borrow::Cow::Owned(BrokerAddresses::parse(self)?))
    }
}

impl ToBrokerAddresses for String {
    fn to_broker_addresses(&self) -> Result<std::borrow::Cow<'_, BrokerAddresses>, BrokerError> {
        self.as_str().to_broker_addresses()
    }
}

/// A connection and the node it is on.
pub struct Connected {
    /// The connection.
    pub connection: Connection,
    /// Its node's position in the list.
    pub index: usize,
    /// Its node's `host:port` (what logs and readiness show; never the URL).
    pub node: String,
}

/// Connects to the first node of `addrs` that answers (see [`connect_from`]).
pub async fn connect(
    addrs: &(impl ToBrokerAddresses + ?Sized),
    name: &str,
) -> Result<Connection, BrokerError> {
    Ok(connect_from(&*addrs.to_broker_addresses()?, 0, name)
        .await?
        .connection)
}

/// Tries the nodes in turn, from the one at `first` (wrapping around), each
/// for at most [`CONNECT_TIMEOUT`], with a short heartbeat so a dead
/// connection is noticed in seconds; returns the first that answers. A
/// service that lost its node passes the next one as `first`, so it moves on
/// rather than waiting for the lost one. URLs are never logged nor put in an
/// error: they may hold a password; nodes are named by `host:port`.
pub async fn connect_from(
    addrs: &BrokerAddresses,
    first: usize,
    name: &str,
) -> Result<Connected, BrokerError> {
    let nodes = addrs.nodes();
    let mut failures = Vec::new();
    for k in 0..nodes.len() {
        let index = (first + k) % nodes.len();
        let node = &nodes[index];
        let url = node.url();
        let url = if url.contains("heartbeat=") {
            url.to_string()
        } else if url.contains('?') {
            format!("{url}&heartbeat=5")
        } else {
            format!("{url}?heartbeat=5")
        };
        let props = ConnectionProperties::default().with_connection_name(name.into());
        match tokio::time::timeout(CONNECT_TIMEOUT, Connection::connect(&url, props)).await {
            Ok(Ok(connection)) => {
                return Ok(Connected {
                    connection,
                    index,
                    node: node.host_port().to_string(),
                });
            }
            // One node: its own error, as before there were lists.
            Ok(Err(e)) if nodes.len() == 1 => return Err(BrokerError::Amqp(e)),
            Ok(Err(e)) => failures.push((node.host_port().to_string(), e.to_string())),
            Err(_) => failures.push((
                node.host_port().to_string(),
                format!("no answer within {CONNECT_TIMEOUT:?}"),
            )),
        }
    }
    Err(BrokerError::Unreachable(failures))
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Default)]
    struct Heard(Mutex<Vec<String>>);

    impl Watch for Heard {
        fn up(&self, link: &str, node: &str) {
            self.0.lock().unwrap().push(format!("up {link} {node}"));
        }
        fn down(&self, link: &str) {
            self.0.lock().unwrap().push(format!("down {link}"));
        }
    }

    /// Two local ports nothing listens on: each refuses at once.
    fn two_dead_nodes() -> BrokerAddresses {
        BrokerAddresses::parse("amqp://127.0.0.1:9/%2f,amqp://127.0.0.1:7/%2f").unwrap()
    }

    #[tokio::test]
    async fn nodes_are_tried_in_turn_from_the_one_asked_for() {
        let Err(BrokerError::Unreachable(failures)) =
            connect_from(&two_dead_nodes(), 1, "test").await
        else {
            panic!("nothing listens there");
        };
        let tried: Vec<&str> = failures.iter().map(|(node, _)| node.as_str()).collect();
        assert_eq!(tried, ["127.0.0.1:7", "127.0.0.1:9"]);
    }

    #[tokio::test]
    async fn a_link_that_cannot_connect_says_it_is_down() {
        let heard = Arc::new(Heard::default());
        let mut link = Link::new(two_dead_nodes(), "test", "publisher", heard.clone());
        assert!(link.connect().await.is_err());
        assert!(!link.is_up());
        assert_eq!(*heard.0.lock().unwrap(), ["down publisher"]);
    }
}
