//! The services as processes: the real binaries, with their logs, which a
//! test can signal, freeze, kill and restart.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tokio::process::Command;

use crate::{Env, bin_dir};

impl Env {
    /// Starts one service binary; `label` names its log file.
    pub async fn spawn(&mut self, binary: &str, extra_env: &[(&str, &str)]) -> anyhow::Result<u32> {
        self.spawn_without(binary, &[], extra_env).await
    }

    /// [`Env::spawn`], with the variables in `unset` left out of its
    /// environment (even those [`Env::service_env`] sets), so the binary
    /// falls back to its own default for them.
    pub async fn spawn_without(
        &mut self,
        binary: &str,
        unset: &[&str],
        extra_env: &[(&str, &str)],
    ) -> anyhow::Result<u32> {
        let exe_name = match binary {
            "firstweek-workers" | "firstweek-worker" => "firstweek-worker",
            other => other,
        };
        let path = bin_dir().join(exe_name);
        if !path.exists() {
            bail!(
                "{} not found: run `cargo build --workspace --bins` first (or set FIRSTWEEK_BIN_DIR)",
                path.display()
            );
        }
        let n = self.spawned;
        self.spawned += 1;
        let log = std::fs::File::create(self.log_dir.join(format!("{exe_name}-{n}.log")))?;
        let mut cmd = Command::new(&path);
        let mut env = self.service_env();
        env.retain(|(k, _)| !unset.contains(&k.as_str()));
        for k in unset {
            // Not inherited from the test's own environment either.
            cmd.env_remove(k);
        }
        cmd.envs(env)
            .envs(
                extra_env
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string())),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", path.display()))?;
        let pid = child.id().unwrap_or(0);
        self.services.push((exe_name.to_string(), child));
        Ok(pid)
    }

    /// How many services named `binary` are still running.
    pub fn running(&mut self, binary: &str) -> usize {
        self.services
            .iter_mut()
            .map(|(name, child)| name.starts_with(binary) && matches!(child.try_wait(), Ok(None)))
            .filter(|running| *running)
            .count()
    }

    /// The log (stderr) of every service named `binary` started so far, in start order.
    pub fn logs(&self, binary: &str) -> Vec<String> {
        (0..self.spawned)
            .filter_map(|n| {
                std::fs::read_to_string(self.log_dir.join(format!("{binary}-{n}.log"))).ok()
            })
            .collect()
    }

    /// Sends a signal to every running service whose name starts with `binary`; returns how many.
    pub async fn signal(&mut self, binary: &str, signal: &str) -> usize {
        let mut n = 0;
        for (name, child) in &mut self.services {
            if name.starts_with(binary)
                && let Some(pid) = child.id()
            {
                let _ = Command::new("kill")
                    .args([&format!("-{signal}"), &pid.to_string()])
                    .status()
                    .await;
                n += 1;
            }
        }
        n
    }

    /// Sends `signal` (`STOP`, `CONT`, ...) to the service with this pid.
    pub async fn signal_pid(&self, pid: u32, signal: &str) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status()
            .await?;
        anyhow::ensure!(status.success(), "kill -{signal} {pid} failed");
        Ok(())
    }

    /// SIGKILLs the most recently started service named `binary` (a crash).
    pub async fn kill_newest(&mut self, binary: &str) {
        if let Some(i) = self
            .services
            .iter()
            .rposition(|(name, _)| name.starts_with(binary))
        {
            let (_, mut child) = self.services.remove(i);
            let _ = child.kill().await;
        }
    }

    /// Waits for every service named `binary` to exit; returns how long it took.
    pub async fn wait_exit(&mut self, binary: &str, limit: Duration) -> anyhow::Result<Duration> {
        let start = Instant::now();
        for (name, child) in &mut self.services {
            if name.starts_with(binary) {
                let left = limit.saturating_sub(start.elapsed());
                tokio::time::timeout(left, child.wait())
                    .await
                    .context("service did not exit in time")??;
            }
        }
        self.services
            .retain_mut(|(_, c)| matches!(c.try_wait(), Ok(None)));
        Ok(start.elapsed())
    }

    /// Stops the services and the SMTP server, keeping database, vhost and mail.
    pub async fn stop_processes(&mut self) {
        for (_, c) in &mut self.services {
            let _ = c.kill().await;
        }
        self.services.clear();
        self.stop_smtp().await;
    }
}
