//! Removing the dead letters that mention an erased person.

use lapin::options::{BasicAckOptions, BasicGetOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Connection};

use crate::{BrokerError, DEAD_QUEUE, confirm_channel, publish_confirmed};

/// What a purge of `firstweek.dead` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Letters removed (their bodies mentioned the person).
    pub removed: usize,
    /// Letters kept (republished to the dead queue as they were).
    pub kept: usize,
}

/// Takes every letter in `firstweek.dead` once: one whose body `mentions`
/// says mentions the person is acked away; any other is republished to the
/// dead queue as it was (headers and reason kept, the broker's delivery
/// count dropped) with confirms, and only then acked, so a failure part way
/// leaves a duplicate, never a loss. Returning letters with a requeue
/// instead would count against the quorum queue's delivery limit, which
/// drops a letter after enough returns. Only as many letters as the queue
/// held at the start are taken: the republished ones are behind them.
/// A vhost without the dead queue has nothing to purge.
pub async fn purge_dead_letters(
    conn: &Connection,
    mentions: impl Fn(&[u8]) -> bool,
) -> Result<Purged, BrokerError> {
    let channel = conn.create_channel().await?;
    let passive = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    let Ok(queue) = channel
        .queue_declare(DEAD_QUEUE.into(), passive, FieldTable::default())
        .await
    else {
        return Ok(Purged::default());
    };
    let confirms = confirm_channel(conn).await?;
    let mut purged = Purged::default();
    for _ in 0..queue.message_count() {
        let Some(message) = channel
            .basic_get(DEAD_QUEUE.into(), BasicGetOptions { no_ack: false })
            .await?
        else {
            break;
        };
        let d = message.delivery;
        if mentions(&d.data) {
            purged.removed += 1;
        } else {
            publish_confirmed(&confirms, "", DEAD_QUEUE, &d.data, as_it_was(&d.properties)).await?;
            purged.kept += 1;
        }
        d.acker.ack(BasicAckOptions::default()).await?;
    }
    let _ = confirms.close(200, "done".into()).await;
    let _ = channel.close(200, "done".into()).await;
    Ok(purged)
}

/// A letter's properties for its copy: persistent, everything kept but the
/// delivery count the broker adds on each delivery.
fn as_it_was(p: &BasicProperties) -> BasicProperties {
    let mut props = p.clone().with_delivery_mode(2);
    if let Some(headers) = p.headers() {
        let kept: std::collections::BTreeMap<ShortString, AMQPValue> = headers
            .inner()
            .iter()
            .filter(|(k, _)| k.as_str() != "x-delivery-count")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        props = props.with_headers(FieldTable::from(kept));
    }
    props
}
