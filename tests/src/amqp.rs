//! The test's own link to its vhost: publishing as a program would,
//! listening as a program's consumer would, and reading the queues.

use lapin::options::BasicGetOptions;
use serde_json::Value;

use firstweek_broker as broker;

use crate::Env;

impl Env {
    /// Opens a new broker connection for publishing (after a broker restart).
    pub async fn reconnect_amqp(&mut self) -> anyhow::Result<()> {
        self.amqp = broker::connect(&self.amqp_url, "firstweek-tests").await?;
        self.channel = broker::confirm_channel(&self.amqp).await?;
        Ok(())
    }

    /// Publishes a contract event (or anything) to the `firstweek` exchange with a confirm.
    pub async fn publish(&self, routing_key: &str, body: &[u8]) -> anyhow::Result<()> {
        broker::publish_confirmed(
            &self.channel,
            broker::EXCHANGE,
            routing_key,
            body,
            broker::persistent_json(),
        )
        .await?;
        Ok(())
    }

    /// Publishes a JSON event.
    pub async fn publish_json(&self, routing_key: &str, body: &Value) -> anyhow::Result<()> {
        self.publish(routing_key, body.to_string().as_bytes()).await
    }

    /// Publishes with explicit properties.
    pub async fn publish_with(
        &self,
        routing_key: &str,
        body: &[u8],
        props: lapin::BasicProperties,
    ) -> anyhow::Result<()> {
        broker::publish_confirmed(&self.channel, broker::EXCHANGE, routing_key, body, props)
            .await?;
        Ok(())
    }

    /// Declares a private queue bound to the `firstweek` exchange with
    /// `binding`, as a program's own consumer of firstweek's events would.
    pub async fn listen(&self, binding: &str) -> anyhow::Result<String> {
        let q = self
            .channel
            .queue_declare(
                "".into(),
                lapin::options::QueueDeclareOptions {
                    exclusive: true,
                    ..Default::default()
                },
                lapin::types::FieldTable::default(),
            )
            .await?;
        let name = q.name().as_str().to_string();
        self.channel
            .queue_bind(
                name.as_str().into(),
                broker::EXCHANGE.into(),
                binding.into(),
                lapin::options::QueueBindOptions::default(),
                lapin::types::FieldTable::default(),
            )
            .await?;
        Ok(name)
    }

    /// Takes what waits in a queue from [`Env::listen`]: (routing key, JSON body).
    pub async fn take(&self, queue: &str) -> anyhow::Result<Vec<(String, Value)>> {
        let mut out = Vec::new();
        for (key, body) in self.take_raw(queue).await? {
            out.push((key, serde_json::from_slice(&body)?));
        }
        Ok(out)
    }

    /// [`Env::take`], the bodies as the broker carried them, byte for byte.
    pub async fn take_raw(&self, queue: &str) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
        let mut out = Vec::new();
        while let Some(m) = self
            .channel
            .basic_get(queue.into(), BasicGetOptions { no_ack: true })
            .await?
        {
            out.push((m.delivery.routing_key.as_str().to_string(), m.delivery.data));
        }
        Ok(out)
    }

    /// Messages ready in `queue` (waiting for a consumer).
    pub async fn queue_depth(&self, queue: &str) -> anyhow::Result<u32> {
        let passive = lapin::options::QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let q = self
            .channel
            .queue_declare(queue.into(), passive, lapin::types::FieldTable::default())
            .await?;
        Ok(q.message_count())
    }

    /// Drains the dead-letter queue: (routing key, reason, body) of each message.
    pub async fn dead_letters(&self) -> anyhow::Result<Vec<(String, String, Vec<u8>)>> {
        let mut out = Vec::new();
        loop {
            let got = self
                .channel
                .basic_get(broker::DEAD_QUEUE.into(), BasicGetOptions { no_ack: true })
                .await?;
            let Some(msg) = got else { break };
            let props = &msg.delivery.properties;
            out.push((
                broker::header_text(props, broker::ROUTING_KEY_HEADER).unwrap_or_default(),
                broker::header_text(props, broker::ERROR_HEADER).unwrap_or_default(),
                msg.delivery.data.clone(),
            ));
        }
        Ok(out)
    }
}
