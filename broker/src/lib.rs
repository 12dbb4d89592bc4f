//! firstweek's RabbitMQ adapter: the one place that speaks AMQP (topology,
//! connecting, publishing, consuming, dead letters).
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
//! (the [`DueStep`]) and how a dead letter's headers read. It knows nothing
//! of the store or of the services' health endpoints: handlers classify their
//! own errors ([`HandlerError`]) and a [`Watch`] hears how links fare.
//!
//! The work queues have a delivery limit: a message that keeps failing is
//! dead-lettered by the broker (at-least-once) instead of looping forever.
//!
//! On a cluster every quorum queue is replicated to up to
//! [`QUORUM_GROUP_SIZE`] nodes (`x-quorum-initial-group-size`): one node can
//! stop and the queue keeps its messages and elects a new leader among the
//! others. `AMQP_URL` lists the nodes ([`BrokerAddresses`]); [`connect_from`]
//! takes the first that answers, and a [`Link`] moves on to the next when it loses one.
//!
//! The modules:
//! - [`topology`]: declaring the exchange and queues, their depths.
//! - [`link`]: connecting, and the one reconnect-and-rotate ([`Link`]).
//! - [`publish`]: the one confirmed publisher ([`Publisher`]).
//! - [`consume`]: the one consumer loop, and how a handler's error says what
//!   becomes of its delivery ([`HandlerError`]).
//! - [`dead`]: writing and reading dead letters; [`walk`]: taking each letter
//!   of `firstweek.dead` once (never returning one with a requeue).
//! - [`backoff`]: the one retry policy.

mod addresses;
pub use addresses::{AddressError, BrokerAddress, BrokerAddresses};

pub mod backoff;
pub mod consume;
pub mod dead;
pub mod link;
pub mod publish;
pub mod topology;
pub mod walk;

mod purge;

pub use backoff::Backoff;
pub use consume::{Handler, HandlerError};
pub use dead::{
    Origin, dead_body, dead_letter, dead_letter_id, dead_letter_reason, delivery_count,
    header_text, identity, is_dead_letter_header, origin, original_size, value_text,
};
pub use link::{Connected, Link, ToBrokerAddresses, Unwatched, Watch, connect, connect_from};
pub use publish::{Message, Publisher, confirm_channel, persistent_json, publish_confirmed};
pub use purge::{Purged, purge_dead_letters};
pub use topology::{declare, declare_topology, queue_arguments, queue_depths};
pub use walk::{DeadLetters, Letter};

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
/// Header carrying a dead letter's identity: that of the message it came
/// from ([`dead_letter_id`]), so the copies a worker that died between
/// dead-lettering and acking leaves behind are seen as one letter.
pub const DEAD_ID_HEADER: &str = "x-firstweek-dead-id";
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
    /// A mandatory message reached no queue (this routing key).
    #[error("no queue is bound for {0}")]
    Unroutable(String),
    /// The broker did not confirm in time (it may have gone mid-batch).
    #[error("the broker did not confirm within {0:?}")]
    Unconfirmed(std::time::Duration),
    /// `AMQP_URL` cannot be used.
    #[error("{0}")]
    Config(#[from] AddressError),
    /// No node of the list answered; each node's `host:port` and its error.
    #[error("no RabbitMQ node answered: {}", .0.iter().map(|(n, e)| format!("{n}: {e}")).collect::<Vec<_>>().join("; "))]
    Unreachable(Vec<(String, String)>),
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
        serde_json::from_slice(body).map_err(|e| {
            let text = String::from_utf8_lossy(body);
            format!(
                "not a due step: {}",
                firstweek::event::json::problem_in(&text, &e)
            )
        })
    }
}
