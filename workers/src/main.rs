//! `firstweek-worker`: consumes contract events (intake) and due steps
//! (steps). It runs both roles by default; `FIRSTWEEK_WORKER_ROLE=intake` or
//! `steps` (or the first argument) runs one, so roles can scale apart.

use anyhow::Context as _;
use firstweek_ops::{shutdown, telemetry};
use firstweek_settings::{WorkerRole, WorkerSettings};
use firstweek_workers::App;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut settings = WorkerSettings::from_env()?;
    if let Some(role) = std::env::args().nth(1) {
        settings.role = WorkerRole::parse(&role)?;
    }
    telemetry::init(settings.log_format);
    let app = App::build(settings)
        .await
        .context("starting firstweek-worker")?;
    let stop = CancellationToken::new();
    shutdown::run_until_signal(stop.clone(), app.run_until_stopped(stop)).await
}
