//! The SMTP capture server (aiosmtpd, `scripts/smtp_capture.py`) a test's
//! services send to: started, stopped, and told which fault to play.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::{Env, port, repo_root};

impl Env {
    /// Starts (or restarts) the SMTP capture server on this env's port.
    pub async fn start_smtp(&mut self) -> anyhow::Result<()> {
        if self.smtp_port == 0 {
            self.smtp_port = port();
        }
        let script = repo_root().join("scripts/smtp_capture.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script)
            .args(["--port", &self.smtp_port.to_string(), "--dir"])
            .arg(&self.mail_dir);
        if self.options.smtp_tls {
            let (cert, key) = self_signed(&self.log_dir).await?;
            cmd.arg("--tls-cert").arg(cert).arg("--tls-key").arg(key);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting the SMTP capture server (python3 -m pip install aiosmtpd)")?;
        let stdout = child.stdout.take().context("smtp stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(15), lines.next_line()).await;
        match ready {
            Ok(Ok(Some(l))) if l.starts_with("READY") => {}
            other => bail!("SMTP capture server did not start: {other:?}"),
        }
        self.smtp = Some(child);
        Ok(())
    }

    /// Stops the SMTP server (an outage).
    pub async fn stop_smtp(&mut self) {
        if let Some(mut c) = self.smtp.take() {
            let _ = c.kill().await;
        }
    }

    /// Sets the SMTP server's fault mode (`ok`, `4xx`, `5xx`, `5xx:ADDR`, `slow:SECS`).
    pub fn smtp_mode(&self, mode: &str) -> anyhow::Result<()> {
        std::fs::write(self.mail_dir.join("mode"), mode)?;
        Ok(())
    }

    /// The services' `SMTP_URL`.
    pub fn smtp_url(&self) -> String {
        if self.options.smtp_tls {
            format!("smtps://localhost:{}", self.smtp_port)
        } else {
            format!("smtp://127.0.0.1:{}", self.smtp_port)
        }
    }
}

/// A private CA (`smtp-ca.pem`) and a certificate it signed for `localhost`, in `d` (made once per env).
async fn self_signed(d: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let (ca, ca_key, cert, key, csr, ext) = (
        d.join("smtp-ca.pem"),
        d.join("smtp-ca-key.pem"),
        d.join("smtp-cert.pem"),
        d.join("smtp-key.pem"),
        d.join("smtp.csr"),
        d.join("smtp-ext.cnf"),
    );
    if !cert.exists() {
        std::fs::write(
            &ext,
            "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
        )?;
        let p = |x: &PathBuf| x.display().to_string();
        let steps: [Vec<String>; 3] = [
            [
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=firstweek test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign",
                "-keyout",
                &p(&ca_key),
                "-out",
                &p(&ca),
            ]
            .map(String::from)
            .to_vec(),
            [
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=localhost",
                "-keyout",
                &p(&key),
                "-out",
                &p(&csr),
            ]
            .map(String::from)
            .to_vec(),
            [
                "x509",
                "-req",
                "-in",
                &p(&csr),
                "-CA",
                &p(&ca),
                "-CAkey",
                &p(&ca_key),
                "-CAcreateserial",
                "-days",
                "1",
                "-extfile",
                &p(&ext),
                "-out",
                &p(&cert),
            ]
            .map(String::from)
            .to_vec(),
        ];
        for args in steps {
            let status = Command::new("openssl")
                .args(&args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .await
                .context("running openssl")?;
            anyhow::ensure!(status.success(), "openssl {args:?} failed");
        }
    }
    Ok((cert, key))
}
