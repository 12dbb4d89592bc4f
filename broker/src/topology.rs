//! Declaring firstweek's exchange and queues (see the crate's documentation
//! for what each is), and reading their depths.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ExchangeKind};

use crate::{
    BrokerError, DEAD_QUEUE, DELIVERY_LIMIT, EVENTS_QUEUE, EXCHANGE, QUORUM_GROUP_SIZE, STEPS_QUEUE,
};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dead::text;
    use crate::{DEAD_QUEUE, EVENTS_QUEUE, EXCHANGE, QUORUM_GROUP_SIZE, STEPS_QUEUE};

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
}
