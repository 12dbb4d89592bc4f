//! `firstweek-worker`: consumes contract events (intake) and due steps
//! (steps). It runs both roles by default; `FIRSTWEEK_WORKER_ROLE=intake` or
//! `steps` (or the first argument) runs one, so roles can scale apart.

mod consumer;
mod intake;
mod mailer;
mod startup;
mod steps;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    startup::run().await
}
