//! `firstweek-scheduler`: owns time. A heartbeat (tokio-cron-scheduler, every
//! second) wakes the publisher, which claims due timeline rows in PostgreSQL
//! and publishes them to RabbitMQ with publisher confirms.

mod backlog;
mod digest;
mod heartbeat;
mod publisher;
mod startup;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    startup::run().await
}
