//! `firstweek-scheduler`: owns time. A thin `main` around [`App`].

use anyhow::Context as _;
use firstweek_ops::{shutdown, telemetry};
use firstweek_scheduler::App;
use firstweek_settings::SchedulerSettings;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = SchedulerSettings::from_env()?;
    telemetry::init(settings.log_format);
    let app = App::build(settings)
        .await
        .context("starting firstweek-scheduler")?;
    let stop = CancellationToken::new();
    shutdown::run_until_signal(stop.clone(), app.run_until_stopped(stop)).await
}
