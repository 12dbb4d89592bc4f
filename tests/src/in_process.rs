//! The services inside the test process: each service's library `App`,
//! built from the same settings parser its binary uses (fed the env's
//! variables instead of the process environment) and run until the test
//! stops it. For tests that kill no process: nothing to build first, no
//! process to start; the services write no log (no subscriber is installed).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::bail;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use firstweek::Rules;
use firstweek_settings::Environment;

use crate::Env;

/// How long a service may take to drain when the test stops it.
const DRAIN: Duration = Duration::from_secs(20);

/// The services an env runs in its process, and how to stop them.
#[derive(Default)]
pub(crate) struct InProcess {
    stop: CancellationToken,
    running: Vec<(String, JoinHandle<anyhow::Result<()>>)>,
}

impl InProcess {
    /// Tells every service to stop (what dropping the env does).
    pub(crate) fn cancel(&self) {
        self.stop.cancel();
    }
}

impl Env {
    /// Runs `binary`'s service (`firstweek-scheduler`, `firstweek-worker` or
    /// `firstweek-web`) in the test process, with [`Env::service_env`] and
    /// `extra_env`, its admin endpoints on a free port unless `extra_env`
    /// says otherwise. Returns where it listens: the admin endpoints, or
    /// the web service's pages.
    pub async fn run_in_process(
        &mut self,
        binary: &str,
        extra_env: &[(&str, &str)],
    ) -> anyhow::Result<Option<SocketAddr>> {
        let mut vars: HashMap<String, String> = self.service_env().into_iter().collect();
        vars.insert("FIRSTWEEK_ADMIN_ADDR".into(), "127.0.0.1:0".into());
        vars.extend(
            extra_env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let (addr, task) = start(binary, vars, self.in_process.stop.clone()).await?;
        self.in_process.running.push((binary.to_string(), task));
        Ok(addr)
    }

    /// Stops the services running in the test process and waits for them.
    pub async fn stop_in_process(&mut self) {
        self.in_process.cancel();
        for (name, task) in self.in_process.running.drain(..) {
            match tokio::time::timeout(DRAIN, task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => eprintln!("{name} (in process) failed: {e:#}"),
                Ok(Err(e)) => eprintln!("{name} (in process) panicked: {e}"),
                Err(_) => eprintln!("{name} (in process) did not stop within {DRAIN:?}"),
            }
        }
    }
}

/// The rules the services would run with, read from `vars` as they read
/// their environment.
pub fn rules(vars: &[(String, String)]) -> anyhow::Result<Rules> {
    Ok(environment(vars.iter().cloned().collect()).rules()?)
}

fn environment(vars: HashMap<String, String>) -> Environment<impl Fn(&str) -> Option<String>> {
    Environment::new(move |k: &str| vars.get(k).cloned())
}

/// Builds `binary`'s `App` from `vars` (the one place that knows the
/// services' settings types) and starts it until `stop`.
async fn start(
    binary: &str,
    vars: HashMap<String, String>,
    stop: CancellationToken,
) -> anyhow::Result<(Option<SocketAddr>, JoinHandle<anyhow::Result<()>>)> {
    let env = environment(vars);
    Ok(match binary {
        "firstweek-scheduler" => {
            let app =
                firstweek_scheduler::App::build(env.scheduler_settings("127.0.0.1:0")?).await?;
            (app.admin_addr(), tokio::spawn(app.run_until_stopped(stop)))
        }
        "firstweek-worker" | "firstweek-workers" => {
            let app = firstweek_workers::App::build(env.worker_settings("127.0.0.1:0")?).await?;
            (app.admin_addr(), tokio::spawn(app.run_until_stopped(stop)))
        }
        "firstweek-web" => {
            let app = firstweek_web::App::build(env.web_settings()?).await?;
            (app.addr(), tokio::spawn(app.run_until_stopped(stop)))
        }
        other => bail!("{other} cannot run in process"),
    })
}
