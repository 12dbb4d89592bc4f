//! Walking `firstweek.dead`: each letter is taken once (`basic.get`, held
//! unacked) and then settled one way, never returned with a requeue: a quorum
//! queue counts each return against its delivery limit and, on RabbitMQ 4,
//! drops a letter returned often enough.
//!
//! - [`DeadLetters::remove`]: acked away.
//! - [`DeadLetters::keep`]: republished to the back of the dead queue as it
//!   was (headers and reason kept, the broker's delivery count dropped), with
//!   confirms, and only then acked.
//! - [`DeadLetters::replay`] then [`DeadLetters::remove`]: republished where
//!   it was first published (mandatory, with confirms), and only then acked.
//!
//! A failure part way leaves a duplicate, never a loss; a letter not settled
//! goes back to the queue when the walk's channel closes. Only as many
//! letters as the queue held at the start are taken: those kept are behind
//! them, so a walk that keeps every letter leaves the queue in its order.

use std::collections::BTreeMap;

use lapin::Acker;
use lapin::options::{BasicAckOptions, BasicGetOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection};

use crate::dead::{Origin, is_dead_letter_header};
use crate::publish::{Message, Publisher};
use crate::{BrokerError, DEAD_QUEUE};

/// Header set on a replayed message: when it was replayed (RFC 3339).
pub const REPLAYED_AT_HEADER: &str = "x-firstweek-replayed-at";

/// One dead letter, taken and held until settled.
pub struct Letter {
    /// The body (for an oversized original, its start).
    pub data: Vec<u8>,
    /// Its properties and headers.
    pub properties: BasicProperties,
    acker: Acker,
}

/// A walk over `firstweek.dead`.
pub struct DeadLetters {
    channel: Channel,
    publisher: Publisher,
    /// Letters in the queue when the walk started.
    count: u32,
    taken: u32,
}

impl DeadLetters {
    /// Starts a walk; `None` when the vhost has no dead queue.
    pub async fn open(conn: &Connection) -> Result<Option<DeadLetters>, BrokerError> {
        let channel = conn.create_channel().await?;
        let passive = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let Ok(queue) = channel
            .queue_declare(DEAD_QUEUE.into(), passive, FieldTable::default())
            .await
        else {
            return Ok(None);
        };
        Ok(Some(DeadLetters {
            channel,
            publisher: Publisher::open(conn).await?,
            count: queue.message_count(),
            taken: 0,
        }))
    }

    /// Letters in the queue when the walk started.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The next letter, held; `None` once as many as [`count`](Self::count)
    /// were taken, or the queue is empty.
    pub async fn take(&mut self) -> Result<Option<Letter>, BrokerError> {
        if self.taken >= self.count {
            return Ok(None);
        }
        let got = self
            .channel
            .basic_get(DEAD_QUEUE.into(), BasicGetOptions { no_ack: false })
            .await?;
        let Some(message) = got else {
            return Ok(None);
        };
        self.taken += 1;
        let d = message.delivery;
        Ok(Some(Letter {
            data: d.data,
            properties: d.properties,
            acker: d.acker,
        }))
    }

    /// Takes up to `n` letters, held.
    pub async fn take_many(&mut self, n: usize) -> Result<Vec<Letter>, BrokerError> {
        let mut held = Vec::new();
        while held.len() < n {
            match self.take().await? {
                Some(letter) => held.push(letter),
                None => break,
            }
        }
        Ok(held)
    }

    /// Removes the letter from the queue.
    pub async fn remove(&self, letter: &Letter) -> Result<(), BrokerError> {
        letter.acker.ack(BasicAckOptions::default()).await?;
        Ok(())
    }

    /// Puts the letter at the back of the queue as it was.
    pub async fn keep(&self, letter: &Letter) -> Result<(), BrokerError> {
        self.keep_all(&[letter]).await
    }

    /// Puts the letters at the back of the queue as they were, in their
    /// order; their confirms are awaited together. A letter not confirmed
    /// stays held (and returns when the walk ends); the first failure is
    /// returned.
    pub async fn keep_all(&self, letters: &[&Letter]) -> Result<(), BrokerError> {
        let mut messages = Vec::with_capacity(letters.len());
        for (i, l) in letters.iter().enumerate() {
            let message = Message::new("", DEAD_QUEUE, &l.data, as_it_was(&l.properties));
            messages.push((i, message));
        }
        let settled = self
            .publisher
            .send_all(messages)
            .await
            .settle(KEEP_TIMEOUT)
            .await;
        for i in settled.confirmed {
            self.remove(letters[i]).await?;
        }
        match settled.failed.into_iter().next() {
            Some((_, e)) => Err(e),
            None => Ok(()),
        }
    }

    /// Republishes the letter where it was first published (mandatory: a
    /// message no queue would receive is an error, [`BrokerError::Unroutable`]),
    /// with confirms. The letter is still held: [`remove`](Self::remove) it
    /// once replayed, [`keep`](Self::keep) it if not.
    pub async fn replay(&self, letter: &Letter, origin: &Origin) -> Result<(), BrokerError> {
        let message = Message::new(
            &origin.exchange,
            &origin.routing_key,
            &letter.data,
            replayed(&letter.properties),
        );
        self.publisher.publish(message.mandatory()).await
    }

    /// Ends the walk; letters still held go back to the queue.
    pub async fn close(self) {
        self.publisher.close().await;
        let _ = self.channel.close(200, "done".into()).await;
    }
}

/// How long the broker has to confirm letters kept.
const KEEP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A letter's properties for its copy in the dead queue: persistent,
/// everything kept but the delivery count the broker adds on each delivery.
fn as_it_was(p: &BasicProperties) -> BasicProperties {
    let mut props = p.clone().with_delivery_mode(2);
    if let Some(headers) = p.headers() {
        let kept: BTreeMap<ShortString, AMQPValue> = headers
            .inner()
            .iter()
            .filter(|(k, _)| k.as_str() != "x-delivery-count")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        props = props.with_headers(FieldTable::from(kept));
    }
    props
}

/// A letter's properties for its replay: persistent, its own properties and
/// headers without those the dead-lettering added, and when it was replayed.
fn replayed(p: &BasicProperties) -> BasicProperties {
    let mut headers: BTreeMap<ShortString, AMQPValue> = p
        .headers()
        .as_ref()
        .map(|h| {
            h.inner()
                .iter()
                .filter(|(k, _)| !is_dead_letter_header(k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    headers.insert(
        REPLAYED_AT_HEADER.into(),
        AMQPValue::LongString(LongString::from(chrono::Utc::now().to_rfc3339())),
    );
    let mut props = BasicProperties::default()
        .with_delivery_mode(2)
        .with_headers(FieldTable::from(headers));
    if let Some(v) = p.content_type() {
        props = props.with_content_type(v.clone());
    }
    if let Some(v) = p.message_id() {
        props = props.with_message_id(v.clone());
    }
    if let Some(v) = p.correlation_id() {
        props = props.with_correlation_id(v.clone());
    }
    if let Some(v) = p.timestamp() {
        props = props.with_timestamp(*v);
    }
    if let Some(v) = p.app_id() {
        props = props.with_app_id(v.clone());
    }
    props
}
