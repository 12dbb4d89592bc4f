//! Publishing with confirms, the one way every firstweek process does it: the
//! scheduler's due steps and announcements, the CLI's test events and
//! replays, the workers' dead letters, an erasure's kept letters.
//!
//! A publish is done only once the broker has confirmed it. Many publishes
//! are pipelined and their confirms awaited together ([`Publisher::send_all`]
//! then [`Batch::settle`]) rather than one round trip each.

use std::borrow::Cow;
use std::time::Duration;

use futures_util::future::join_all;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel, Confirmation, Connection, PublisherConfirm};

use crate::BrokerError;

/// Properties for a persistent JSON message.
pub fn persistent_json() -> BasicProperties {
    BasicProperties::default()
        .with_content_type("application/json".into())
        .with_delivery_mode(2)
}

/// Opens a channel with publisher confirms on.
pub async fn confirm_channel(conn: &Connection) -> Result<Channel, BrokerError> {
    let channel = conn.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    Ok(channel)
}

/// One message to publish.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    /// The exchange (empty: the default exchange, the routing key naming a queue).
    pub exchange: &'a str,
    /// The routing key.
    pub routing_key: &'a str,
    /// The body (borrowed, or made for this message).
    pub body: Cow<'a, [u8]>,
    /// Its properties.
    pub props: BasicProperties,
    /// Whether a message no queue receives counts as failed
    /// ([`BrokerError::Unroutable`]) rather than confirmed.
    pub mandatory: bool,
}

impl<'a> Message<'a> {
    /// A message that may go nowhere without failing (the services' own
    /// queues exist: they declared them).
    pub fn new(
        exchange: &'a str,
        routing_key: &'a str,
        body: impl Into<Cow<'a, [u8]>>,
        props: BasicProperties,
    ) -> Self {
        Message {
            exchange,
            routing_key,
            body: body.into(),
            props,
            mandatory: false,
        }
    }

    /// The same, failing when no queue receives it.
    pub fn mandatory(self) -> Self {
        Message {
            mandatory: true,
            ..self
        }
    }
}

/// A published message whose confirm is still to come.
pub struct Pending {
    confirm: PublisherConfirm,
    routing_key: String,
}

impl Pending {
    /// Waits for the broker's answer: `Ok` once confirmed (and, for a
    /// mandatory message, routed to a queue).
    pub async fn confirmed(self) -> Result<(), BrokerError> {
        answer(self.confirm.await?, self.routing_key)
    }
}

fn answer(confirmation: Confirmation, routing_key: String) -> Result<(), BrokerError> {
    match confirmation {
        Confirmation::Ack(None) | Confirmation::NotRequested => Ok(()),
        Confirmation::Ack(Some(_)) => Err(BrokerError::Unroutable(routing_key)),
        Confirmation::Nack(_) => Err(BrokerError::Nacked(routing_key)),
    }
}

/// A channel with confirms on, publishing.
#[derive(Clone)]
pub struct Publisher {
    channel: Channel,
}

impl Publisher {
    /// Opens a confirm channel on `conn`.
    pub async fn open(conn: &Connection) -> Result<Publisher, BrokerError> {
        Ok(Publisher {
            channel: confirm_channel(conn).await?,
        })
    }

    /// Publishes on a confirm channel opened elsewhere.
    pub fn on(channel: Channel) -> Publisher {
        Publisher { channel }
    }

    /// Whether the channel is still open (no round trip).
    pub fn is_open(&self) -> bool {
        self.channel.status().connected()
    }

    /// The channel, for what is not publishing (a passive declare).
    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// Sends the message (frames only); its confirm is awaited with [`Pending::confirmed`].
    pub async fn send(&self, m: Message<'_>) -> Result<Pending, BrokerError> {
        let options = BasicPublishOptions {
            mandatory: m.mandatory,
            ..Default::default()
        };
        let confirm = self
            .channel
            .basic_publish(
                m.exchange.into(),
                m.routing_key.into(),
                options,
                &m.body,
                m.props,
            )
            .await?;
        Ok(Pending {
            confirm,
            routing_key: m.routing_key.to_string(),
        })
    }

    /// Publishes and waits for the broker's confirm.
    pub async fn publish(&self, m: Message<'_>) -> Result<(), BrokerError> {
        self.send(m).await?.confirmed().await
    }

    /// Sends every message (frames only), each under its caller's `key`;
    /// the confirms are awaited by [`Batch::settle`], which may run
    /// elsewhere (a task) while the next batch is sent.
    pub async fn send_all<'a, K>(
        &self,
        messages: impl IntoIterator<Item = (K, Message<'a>)>,
    ) -> Batch<K> {
        let mut batch = Batch {
            pending: Vec::new(),
            unsent: Vec::new(),
        };
        for (key, m) in messages {
            match self.send(m).await {
                Ok(pending) => batch.pending.push((key, pending)),
                Err(e) => batch.unsent.push((key, e)),
            }
        }
        batch
    }

    /// Closes the channel.
    pub async fn close(self) {
        let _ = self.channel.close(200, "done".into()).await;
    }
}

/// Messages sent, their confirms to come.
pub struct Batch<K> {
    pending: Vec<(K, Pending)>,
    unsent: Vec<(K, BrokerError)>,
}

/// What became of a batch: the keys of the messages confirmed, and of the
/// others with why.
pub struct Settled<K> {
    /// Confirmed by the broker.
    pub confirmed: Vec<K>,
    /// Not sent, refused, or not confirmed in time.
    pub failed: Vec<(K, BrokerError)>,
}

impl<K> Batch<K> {
    /// Awaits the confirms, all within `timeout`: a broker that dies mid-batch
    /// may never answer, and then none of those awaited counts as confirmed.
    pub async fn settle(self, timeout: Duration) -> Settled<K> {
        let mut failed = self.unsent;
        let (keys, pending): (Vec<K>, Vec<Pending>) = self.pending.into_iter().unzip();
        let mut confirmed = Vec::with_capacity(keys.len());
        let answers = join_all(pending.into_iter().map(|p| p.confirmed()));
        match tokio::time::timeout(timeout, answers).await {
            Err(_) => failed.extend(
                keys.into_iter()
                    .map(|k| (k, BrokerError::Unconfirmed(timeout))),
            ),
            Ok(answers) => {
                for (key, answer) in keys.into_iter().zip(answers) {
                    match answer {
                        Ok(()) => confirmed.push(key),
                        Err(e) => failed.push((key, e)),
                    }
                }
            }
        }
        Settled { confirmed, failed }
    }
}

/// Publishes and waits for the broker's confirm, on a confirm channel.
pub async fn publish_confirmed(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    props: BasicProperties,
) -> Result<(), BrokerError> {
    Publisher::on(channel.clone())
        .publish(Message::new(exchange, routing_key, body, props))
        .await
}
