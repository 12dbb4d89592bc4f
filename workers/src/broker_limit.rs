//! The broker's message size limit, checked at start-up. A worker reads a
//! whole message into memory before intake's 64 KiB check, so what bounds
//! its memory per message is the broker's `max_message_size`
//! (`deploy/rabbitmq/rabbitmq.conf`: 128 KiB; RabbitMQ's default is 128
//! MiB). AMQP does not report that setting (it is not among the server
//! properties), so the worker asks the broker the only way AMQP can: it
//! publishes one body just over the largest limit firstweek accepts
//! ([`PROBE_BYTES`]) to the default exchange with a routing key no queue
//! has (so it goes nowhere) and sees whether the broker refuses it.

use firstweek::event::MAX_BODY_BYTES;
use firstweek_broker::{BrokerAddresses, Message, Publisher, connect};
use lapin::BasicProperties;

/// The probe's size: one byte over the largest `max_message_size`
/// firstweek accepts (four times the contract's 64 KiB; `deploy/check.sh`
/// holds the deploy files to the same bound).
pub const PROBE_BYTES: usize = 4 * MAX_BODY_BYTES + 1;

/// The routing key of the probe: no queue is bound to it.
const PROBE_KEY: &str = "firstweek.size-probe";

/// What the broker said about a body of [`PROBE_BYTES`].
#[derive(Debug, PartialEq, Eq)]
pub enum BrokerLimit {
    /// Refused for its size: `max_message_size` is in force and low enough.
    Enforced,
    /// Accepted: the broker takes bodies larger than firstweek allows.
    TooLarge,
    /// No answer either way (a permission, a lost connection); carries why.
    Unknown(String),
}

/// Asks the broker at `amqp` (its first node that answers) on a connection
/// of its own, closed afterwards.
pub async fn probe(amqp: &BrokerAddresses) -> BrokerLimit {
    let conn = match connect(amqp, "firstweek-worker size check").await {
        Ok(conn) => conn,
        Err(e) => return BrokerLimit::Unknown(e.to_string()),
    };
    let limit = publish_probe(&conn).await;
    let _ = conn.close(200, "size check done".into()).await;
    limit
}

async fn publish_probe(conn: &lapin::Connection) -> BrokerLimit {
    let publisher = match Publisher::open(conn).await {
        Ok(p) => p,
        Err(e) => return BrokerLimit::Unknown(e.to_string()),
    };
    let body = vec![b' '; PROBE_BYTES];
    let sent = async {
        publisher
            .send(Message::new(
                "",
                PROBE_KEY,
                body,
                BasicProperties::default(),
            ))
            .await?
            .confirmed()
            .await
    };
    match tokio::time::timeout(std::time::Duration::from_secs(10), sent).await {
        Ok(Ok(())) => BrokerLimit::TooLarge,
        Ok(Err(e)) => classify(&e.to_string()),
        Err(_) => BrokerLimit::Unknown("no answer within 10 s".into()),
    }
}

/// A refusal that names the size (RabbitMQ closes the channel with
/// `PRECONDITION_FAILED - message size N is larger than configured max
/// size M`) means the limit is in force; anything else says nothing.
fn classify(error: &str) -> BrokerLimit {
    if error.contains("larger than configured max size") {
        BrokerLimit::Enforced
    } else {
        BrokerLimit::Unknown(error.to_string())
    }
}

/// Probes and logs the outcome: a warning, with the requirement, unless
/// the broker refused the probe.
pub async fn check(amqp: BrokerAddresses) {
    match probe(&amqp).await {
        BrokerLimit::Enforced => tracing::info!(
            probe_bytes = PROBE_BYTES,
            "the broker refuses bodies over 256 KiB (max_message_size is set)"
        ),
        BrokerLimit::TooLarge => tracing::warn!(
            probe_bytes = PROBE_BYTES,
            "the broker accepted a {PROBE_BYTES}-byte body: set max_message_size at most 262144 \
             (deploy/rabbitmq/rabbitmq.conf sets 131072); a worker reads a whole message into \
             memory before its 64 KiB check, and only the broker's limit bounds that"
        ),
        BrokerLimit::Unknown(why) => tracing::warn!(
            error = %why,
            "could not check the broker's max_message_size; it must be set at most 262144 \
             (deploy/rabbitmq/rabbitmq.conf sets 131072): a worker reads a whole message into \
             memory before its 64 KiB check"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_refusal_for_size_counts_as_the_limit_in_force() {
        assert_eq!(
            classify(
                "amqp: protocol error: AMQP soft error: PRECONDITION-FAILED: message size 262145 is larger than configured max size 131072"
            ),
            BrokerLimit::Enforced
        );
        assert!(matches!(
            classify("amqp: ACCESS-REFUSED: access to exchange 'amq.default' refused"),
            BrokerLimit::Unknown(_)
        ));
    }
}
