//! RabbitMQ topology and the few publishing rules everyone shares.
//!
//! - `firstweek` (durable topic exchange): the public contract.
//! - `firstweek.events` (quorum queue, bound with `#`): everything published
//!   there, including unknown routing keys, so those can be dead-lettered.
//! - `firstweek.steps` (quorum queue): due steps, published by the scheduler.
//! - `firstweek.dead` (quorum queue): refused messages, with the reason in `x-firstweek-error`.
//!   It is bounded by a broker **policy** (`firstweek-dead-bounded` in
//!   `deploy/rabbitmq/definitions.json`: `max-length`, `max-length-bytes`,
//!   overflow `drop-head`, so the oldest dead letters go first), not by
//!   queue arguments declared here: a queue's arguments cannot change once it
//!   exists (a declare with other arguments fails with `PRECONDITION_FAILED`
//!   and would stop every service at start-up on an existing installation),
//!   while a policy applies to the existing queue at once and an operator can
//!   retune it without a release. The work queues get no such bound: their
//!   `reject-publish` overflow never drops an accepted message.
//!   A refused body larger than the contract's 64 KiB keeps only its first
//!   4 KiB in its dead letter ([`dead_body`]).
//!
//! This crate owns what travels on the wire between firstweek's processes
//! (the [`DueStep`]) and how a dead letter's headers read.
//!
//! The work queues have a delivery limit: a message that keeps failing is
//! dead-lettered by the broker (at-least-once) instead of looping forever.
//!
//! On a cluster every quorum queue is replicated to up to
//! [`QUORUM_GROUP_SIZE`] nodes (`x-quorum-initial-group-size`): one node can
//! stop and the queue keeps its messages and elects a new leader among the
//! others. `AMQP_URL` lists the nodes ([`BrokerAddresses`]); [`connect_from`]
//! takes the first that answers.

use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
};

mod addresses;
pub use addresses::{AddressError, BrokerAddress, BrokerAddresses};

mod purge;
pub use purge::{Purged, purge_dead_letters};

/// The public exchange.
pub const EXCHANGE: &str = "firstweek";
/// Where workers read contract events.
pub const EVENTS_QUEUE: &str = "firstweek.events";
/// Where the scheduler puts due steps.
pub const STEPS_QUEUE: &str = "firstweek.steps";
/// Dead letters.
pub const DEAD_QUEUE: &str = "firstweek.dead";
/// Header carrying why a message was dead-lettered.
pub const ERROR_HEADER: &str = "x-firstweek-error";
/// Header carrying the routing key a dead letter was first published with.
pub const ROUTING_KEY_HEADER: &str = "x-firstweek-routing-key";
/// Header carrying the exchange a dead letter was first published to (empty:
/// the default exchange, as for `firstweek.steps`), so a replay goes back there.
pub const EXCHANGE_HEADER: &str = "x-firstweek-exchange";
/// Header set on a dead letter whose body was cut: the original body's size in bytes.
pub const ORIGINAL_SIZE_HEADER: &str = "x-firstweek-original-size";
/// A refused body up to this size (the contract's largest event) is kept whole
/// in its dead letter, so it can be fixed and replayed as it was.
pub const DEAD_BODY_WHOLE_MAX: usize = 64 * 1024;
/// Of a larger body a dead letter keeps only the first this many bytes (enough
/// to see what it was), so an oversized message cannot fill the dead-letter
/// queue; the reason says so and [`ORIGINAL_SIZE_HEADER`] holds the size.
pub const DEAD_BODY_KEPT: usize = 4 * 1024;
/// Deliveries of one message before the broker dead-letters it.
pub const DELIVERY_LIMIT: i64 = 5;
/// Replicas of each quorum queue on a cluster (`x-quorum-initial-group-size`;
/// a cluster of fewer nodes puts one on each). Three survive one node down;
/// more would cost publish rate (each publish is confirmed by a majority of
/// them) for no gain in a three-node cluster.
pub const QUORUM_GROUP_SIZE: i64 = 3;
/// How long one node has to accept a connection before the next is tried.
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Broker failures.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The connection or channel failed.
    #[error("amqp: {0}")]
    Amqp(#[from] lapin::Error),
    /// The broker refused the message (to this routing key).
    #[error("the broker refused (nacked) the publish to {0}")]
    Nacked(String),
    /// `AMQP_URL` cannot be used.
    #[error("{0}")]
    Config(#[from] AddressError),
    /// No node of the list answered; each node's `host:port` and its error.
    #[error("no RabbitMQ node answered: {}", .0.iter().map(|(n, e)| format!("{n}: {e}")).collect::<Vec<_>>().join("; "))]
    Unreachable(Vec<(String, String)>),
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

/// Opens a channel with publisher confirms on.
pub async fn confirm_channel(conn: &Connection) -> Result<Channel, BrokerError> {
    let channel = conn.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    Ok(channel)
}

/// A quorum queue replicated to up to [`QUORUM_GROUP_SIZE`] nodes.
fn quorum_args(replicated: bool) -> FieldTable {
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    if replicated {
        args.insert(
            "x-quorum-initial-group-size".into(),
            AMQPValue::LongLongInt(QUORUM_GROUP_SIZE),
        );
    }
    args
}

/// The arguments `queue` is declared with (the same in
/// `deploy/rabbitmq/definitions.json`, which a test checks); `replicated`:
/// with `x-quorum-initial-group-size`.
pub fn queue_arguments(queue: &str, replicated: bool) -> FieldTable {
    if queue == DEAD_QUEUE {
        quorum_args(replicated)
    } else {
        work_queue_args(replicated)
    }
}

fn work_queue_args(replicated: bool) -> FieldTable {
    let mut args = quorum_args(replicated);
    args.insert(
        "x-delivery-limit".into(),
        AMQPValue::LongLongInt(DELIVERY_LIMIT),
    );
    args.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString("".into()),
    );
    args.insert(
        "x-dead-letter-routing-key".into(),
        AMQPValue::LongString(DEAD_QUEUE.into()),
    );
    // With reject-publish overflow, at-least-once dead-lettering cannot drop a message.
    args.insert(
        "x-dead-letter-strategy".into(),
        AMQPValue::LongString("at-least-once".into()),
    );
    args.insert(
        "x-overflow".into(),
        AMQPValue::LongString("reject-publish".into()),
    );
    args
}

/// Declares exchanges, queues and bindings; idempotent. A queue that already
/// exists must have been declared with the same arguments, or the channel is
/// closed (`PRECONDITION_FAILED`): the services use [`declare`], which also
/// accepts the queues of an installation from before replication was declared.
pub async fn declare_topology(channel: &Channel) -> Result<(), BrokerError> {
    declare_on(channel, true).await
}

/// Declares the topology on a channel of its own, run by every service at
/// start. Queues that exist without `x-quorum-initial-group-size` (declared
/// by a release before it, when arguments could not be changed in place) are
/// kept as they are: on RabbitMQ 3.x their replicas are on every node that
/// was in the cluster when they were declared; see `deploy/README.md` for
/// moving them.
pub async fn declare(conn: &Connection) -> Result<(), BrokerError> {
    let channel = conn.create_channel().await?;
    match declare_on(&channel, true).await {
        Ok(()) => {
            let _ = channel.close(200, "topology declared".into()).await;
            Ok(())
        }
        Err(BrokerError::Amqp(e)) if is_precondition_failed(&e) => {
            let channel = conn.create_channel().await?;
            declare_on(&channel, false).await?;
            let _ = channel.close(200, "topology declared".into()).await;
            Ok(())
        }
        Err(e) => Err(e),
    }
}

fn is_precondition_failed(e: &lapin::Error) -> bool {
    // 406 PRECONDITION_FAILED "inequivalent arg 'x-quorum-initial-group-size' ..."
    let text = e.to_string();
    text.contains("PRECONDITION_FAILED") && text.contains("x-quorum-initial-group-size")
}

async fn declare_on(channel: &Channel, replicated: bool) -> Result<(), BrokerError> {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .exchange_declare(
            EXCHANGE.into(),
            ExchangeKind::Topic,
            durable,
            FieldTable::default(),
        )
        .await?;
    let queue = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    for name in [DEAD_QUEUE, EVENTS_QUEUE, STEPS_QUEUE] {
        channel
            .queue_declare(name.into(), queue, queue_arguments(name, replicated))
            .await?;
    }
    channel
        .queue_bind(
            EVENTS_QUEUE.into(),
            EXCHANGE.into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok(())
}

/// Messages ready in each of firstweek's queues (not counting those
/// delivered and not yet acknowledged), by a passive declare that changes nothing.
pub async fn queue_depths(channel: &Channel) -> Result<Vec<(&'static str, u32)>, BrokerError> {
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let mut depths = Vec::with_capacity(3);
    for name in [EVENTS_QUEUE, STEPS_QUEUE, DEAD_QUEUE] {
        let queue = channel
            .queue_declare(name.into(), passive, FieldTable::default())
            .await?;
        depths.push((name, queue.message_count()));
    }
    Ok(depths)
}

/// Properties for a persistent JSON message.
pub fn persistent_json() -> BasicProperties {
    BasicProperties::default()
        .with_content_type("application/json".into())
        .with_delivery_mode(2)
}

/// Publishes and waits for the broker's confirm.
pub async fn publish_confirmed(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    props: BasicProperties,
) -> Result<(), BrokerError> {
    let confirm = channel
        .basic_publish(
            exchange.into(),
            routing_key.into(),
            BasicPublishOptions::default(),
            body,
            props,
        )
        .await?
        .await?;
    match confirm {
        Confirmation::Nack(_) => Err(BrokerError::Nacked(routing_key.to_string())),
        _ => Ok(()),
    }
}

/// What a dead letter keeps of a refused body, and the reason it carries: a
/// body up to [`DEAD_BODY_WHOLE_MAX`] whole; of a larger one the first
/// [`DEAD_BODY_KEPT`] bytes, the reason saying so.
pub fn dead_body<'a>(body: &'a [u8], reason: &str) -> (&'a [u8], String) {
    if body.len() <= DEAD_BODY_WHOLE_MAX {
        return (body, reason.to_string());
    }
    (
        &body[..DEAD_BODY_KEPT],
        format!(
            "{reason} (the dead letter keeps the first {DEAD_BODY_KEPT} of its {} bytes)",
            body.len()
        ),
    )
}

/// Publishes a refused message to the dead-letter queue with its reason and
/// where it was first published (`origin`); returns once the broker has
/// confirmed it (only then may the original be acked). An oversized body is
/// cut (see [`dead_body`]).
pub async fn dead_letter(
    channel: &Channel,
    origin: &Origin,
    original: &BasicProperties,
    body: &[u8],
    reason: &str,
) -> Result<(), BrokerError> {
    let (kept, reason) = dead_body(body, reason);
    let mut headers = original.headers().clone().unwrap_or_default();
    headers.insert(
        ERROR_HEADER.into(),
        AMQPValue::LongString(LongString::from(reason)),
    );
    headers.insert(
        ROUTING_KEY_HEADER.into(),
        AMQPValue::LongString(LongString::from(origin.routing_key.as_str())),
    );
    headers.insert(
        EXCHANGE_HEADER.into(),
        AMQPValue::LongString(LongString::from(origin.exchange.as_str())),
    );
    if kept.len() < body.len() {
        headers.insert(
            ORIGINAL_SIZE_HEADER.into(),
            AMQPValue::LongLongInt(i64::try_from(body.len()).unwrap_or(i64::MAX)),
        );
    }
    let mut props = BasicProperties::default()
        .with_delivery_mode(2)
        .with_headers(headers);
    if let Some(ct) = original.content_type() {
        props = props.with_content_type(ct.clone());
    }
    publish_confirmed(channel, "", DEAD_QUEUE, kept, props).await
}

/// The size of the original body, if this dead letter keeps only its start.
pub fn original_size(props: &BasicProperties) -> Option<i64> {
    let headers = props.headers().as_ref()?;
    match headers
        .inner()
        .get(&ShortString::from(ORIGINAL_SIZE_HEADER))?
    {
        AMQPValue::LongLongInt(n) => Some(*n),
        AMQPValue::LongInt(n) => Some(i64::from(*n)),
        AMQPValue::LongUInt(n) => Some(i64::from(*n)),
        _ => None,
    }
}

/// A header's text, if present and a string.
pub fn header_text(props: &BasicProperties, name: &str) -> Option<String> {
    let headers = props.headers().as_ref()?;
    text(headers.inner().get(&ShortString::from(name))?)
}

/// A due timeline row, as the scheduler publishes it to `firstweek.steps`.
/// Workers read the row itself from PostgreSQL; the rest names it in logs.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DueStep {
    /// The timeline row.
    pub timeline_id: i64,
    /// Its subject: the pair's id, or a coordinator's opaque key for a digest
    /// (the field keeps its name so messages in flight across an upgrade still parse).
    pub mentorship_id: String,
    /// The step.
    pub step_id: String,
    /// `mentor`, `mentee` or `coordinator`.
    pub recipient: String,
    /// When it fell due.
    pub due_at: chrono::DateTime<chrono::Utc>,
    /// When it may be sent.
    pub send_at: chrono::DateTime<chrono::Utc>,
}

impl DueStep {
    /// The message body.
    pub fn to_json(&self) -> Vec<u8> {
        // A struct of strings, numbers and times always serialises.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses a message body; the error says what is wrong.
    pub fn from_json(body: &[u8]) -> Result<DueStep, String> {
        serde_json::from_slice(body).map_err(|e| format!("not a due step: {e}"))
    }
}

/// Where a dead letter was first published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The exchange (`firstweek`, or empty for a queue's default exchange).
    pub exchange: String,
    /// The routing key (a queue name on the default exchange).
    pub routing_key: String,
}

/// Headers the broker or firstweek added when dead-lettering.
pub fn is_dead_letter_header(name: &str) -> bool {
    name == ERROR_HEADER
        || name == ROUTING_KEY_HEADER
        || name == EXCHANGE_HEADER
        || name == ORIGINAL_SIZE_HEADER
        || name == "x-death"
        || name == "x-delivery-count"
        || name.starts_with("x-first-death-")
        || name.starts_with("x-last-death-")
}

/// Where the message was first published: firstweek's headers (refused by a
/// worker), else the broker's `x-death` (delivery limit reached).
pub fn origin(p: &BasicProperties) -> Option<Origin> {
    if let Some(key) = header_text(p, ROUTING_KEY_HEADER) {
        // Dead letters written before the exchange header existed: a queue's
        // name as the key means the step was published to that queue through
        // the default exchange (the scheduler's `firstweek.steps`); anything
        // else came from the public exchange.
        let exchange = header_text(p, EXCHANGE_HEADER).unwrap_or_else(|| {
            if [STEPS_QUEUE, EVENTS_QUEUE, DEAD_QUEUE].contains(&key.as_str()) {
                String::new()
            } else {
                EXCHANGE.into()
            }
        });
        return Some(Origin {
            exchange,
            routing_key: key,
        });
    }
    let headers = p.headers().as_ref()?;
    let AMQPValue::FieldArray(deaths) = headers.inner().get("x-death")? else {
        return None;
    };
    // The oldest death is last.
    let AMQPValue::FieldTable(death) = deaths.as_slice().last()? else {
        return None;
    };
    let exchange = text(death.inner().get("exchange")?)?;
    let AMQPValue::FieldArray(keys) = death.inner().get("routing-keys")? else {
        return None;
    };
    let routing_key = text(keys.as_slice().first()?)?;
    Some(Origin {
        exchange,
        routing_key,
    })
}

/// Why a message was dead-lettered: firstweek's reason header, or the
/// broker's delivery limit.
pub fn dead_letter_reason(p: &BasicProperties) -> Option<String> {
    header_text(p, ERROR_HEADER)
        .or_else(|| origin(p).map(|_| "delivery limit reached (x-death)".to_string()))
}

fn text(v: &AMQPValue) -> Option<String> {
    match v {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_string()),
        _ => None,
    }
}

/// A header value as text, for showing a dead letter.
pub fn value_text(v: &AMQPValue) -> String {
    match v {
        AMQPValue::LongString(_) | AMQPValue::ShortString(_) => text(v).unwrap_or_default(),
        AMQPValue::Boolean(b) => b.to_string(),
        AMQPValue::ShortShortInt(n) => n.to_string(),
        AMQPValue::ShortShortUInt(n) => n.to_string(),
        AMQPValue::ShortInt(n) => n.to_string(),
        AMQPValue::ShortUInt(n) => n.to_string(),
        AMQPValue::LongInt(n) => n.to_string(),
        AMQPValue::LongUInt(n) => n.to_string(),
        AMQPValue::LongLongInt(n) => n.to_string(),
        AMQPValue::Float(n) => n.to_string(),
        AMQPValue::Double(n) => n.to_string(),
        AMQPValue::Timestamp(t) => chrono::DateTime::from_timestamp(*t as i64, 0)
            .map(|t| t.to_rfc3339())
            .unwrap_or_else(|| t.to_string()),
        AMQPValue::FieldArray(a) => {
            let items: Vec<String> = a.as_slice().iter().map(value_text).collect();
            format!("[{}]", items.join(", "))
        }
        AMQPValue::FieldTable(t) => {
            let items: Vec<String> = t
                .inner()
                .iter()
                .map(|(k, v)| format!("{}: {}", k.as_str(), value_text(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        other => format!("{other:?}"),
    }
}

/// How many times the broker has delivered this message before (quorum queues
/// count it in `x-delivery-count`).
pub fn delivery_count(props: &BasicProperties) -> i64 {
    let Some(headers) = props.headers().as_ref() else {
        return 0;
    };
    match headers.inner().get(&ShortString::from("x-delivery-count")) {
        Some(AMQPValue::LongLongInt(n)) => *n,
        Some(AMQPValue::LongInt(n)) => i64::from(*n),
        Some(AMQPValue::LongUInt(n)) => i64::from(*n),
        Some(AMQPValue::ShortInt(n)) => i64::from(*n),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_headers(pairs: &[(&str, &str)]) -> BasicProperties {
        let mut t = FieldTable::default();
        for (k, v) in pairs {
            t.insert((*k).into(), AMQPValue::LongString(LongString::from(*v)));
        }
        BasicProperties::default().with_headers(t)
    }

    fn json_of(args: &FieldTable) -> serde_json::Value {
        let map = args
            .inner()
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    AMQPValue::LongLongInt(n) => serde_json::json!(n),
                    other => serde_json::json!(text(other).unwrap_or_else(|| format!("{other:?}"))),
                };
                (k.as_str().to_string(), v)
            })
            .collect();
        serde_json::Value::Object(map)
    }

    /// The deployed definitions declare the queues before any service runs
    /// (a cluster imports them at boot): with other arguments than the
    /// services' every service would fail its declare with PRECONDITION_FAILED.
    #[test]
    fn the_deployed_definitions_declare_the_queues_as_the_services_do() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../deploy/rabbitmq/definitions.json"
        );
        let defs: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("definitions.json"))
                .expect("definitions.json is JSON");
        let queues = defs["queues"].as_array().expect("queues");
        for name in [DEAD_QUEUE, EVENTS_QUEUE, STEPS_QUEUE] {
            let q = queues
                .iter()
                .find(|q| q["name"] == name)
                .unwrap_or_else(|| panic!("definitions.json lacks {name}"));
            assert_eq!(q["durable"], true, "{name}");
            assert_eq!(q["auto_delete"], false, "{name}");
            assert_eq!(
                q["arguments"],
                json_of(&queue_arguments(name, true)),
                "{name}"
            );
            assert_eq!(
                q["arguments"]["x-quorum-initial-group-size"], QUORUM_GROUP_SIZE,
                "{name} is replicated"
            );
        }
        assert_eq!(queues.len(), 3, "only firstweek's queues");
        let exchange = &defs["exchanges"][0];
        assert_eq!(
            (&exchange["name"], &exchange["type"], &exchange["durable"]),
            (
                &serde_json::json!(EXCHANGE),
                &serde_json::json!("topic"),
                &serde_json::json!(true)
            )
        );
        let binding = &defs["bindings"][0];
        assert_eq!(
            (
                &binding["source"],
                &binding["destination"],
                &binding["routing_key"]
            ),
            (
                &serde_json::json!(EXCHANGE),
                &serde_json::json!(EVENTS_QUEUE),
                &serde_json::json!("#")
            )
        );
    }

    #[test]
    fn a_dead_letter_goes_back_where_it_was_first_published() {
        let step = with_headers(&[(ROUTING_KEY_HEADER, STEPS_QUEUE), (EXCHANGE_HEADER, "")]);
        assert_eq!(
            origin(&step),
            Some(Origin {
                exchange: String::new(),
                routing_key: STEPS_QUEUE.into()
            })
        );
        // Written before the exchange header: a queue name means the default exchange.
        let legacy_step = with_headers(&[(ROUTING_KEY_HEADER, STEPS_QUEUE)]);
        assert_eq!(origin(&legacy_step).unwrap().exchange, "");
        let legacy_event = with_headers(&[(ROUTING_KEY_HEADER, "mentorship.started")]);
        assert_eq!(origin(&legacy_event).unwrap().exchange, EXCHANGE);
        assert!(is_dead_letter_header(EXCHANGE_HEADER));
        assert!(is_dead_letter_header(ORIGINAL_SIZE_HEADER));
    }

    #[test]
    fn a_dead_letter_keeps_a_contract_sized_body_whole_and_the_start_of_a_larger_one() {
        let fits = vec![b'x'; DEAD_BODY_WHOLE_MAX];
        let (kept, reason) = dead_body(&fits, "field `x`: bad");
        assert_eq!(
            (kept.len(), reason.as_str()),
            (fits.len(), "field `x`: bad")
        );

        let huge = vec![b'y'; 10 * 1024 * 1024];
        let (kept, reason) = dead_body(
            &huge,
            "body is 10485760 bytes, larger than the 65536 allowed",
        );
        assert_eq!(kept, &huge[..DEAD_BODY_KEPT]);
        assert!(reason.starts_with("body is 10485760 bytes"), "{reason}");
        assert!(
            reason.ends_with("(the dead letter keeps the first 4096 of its 10485760 bytes)"),
            "{reason}"
        );
    }
}
