//! A fast SMTP sink (the SMTP server of the benchmark) and a minimal client
//! with TCP_NODELAY that measures the sink's own limit.
//!
//! The sink speaks just enough SMTP for lettre and for the client: EHLO/HELO,
//! MAIL, RCPT, DATA, RSET, NOOP, QUIT. It keeps nothing but, per accepted
//! message, the time it answered `250` to the end of DATA and the
//! `X-Firstweek-Mentorship` / `X-Firstweek-Step` headers and recipient, so the
//! benchmark can compute lateness against the stored due times.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;

/// One accepted message.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// Unix time in microseconds when `250` was written for the end of DATA.
    pub at_us: i64,
    pub mentorship: String,
    pub step: String,
    pub rcpt: String,
    /// Size of the message as received (DATA, without the final dot).
    pub bytes: usize,
}

/// The running sink.
pub struct Sink {
    pub port: u16,
    pub count: Arc<AtomicU64>,
    pub accepted: Arc<Mutex<Vec<Accepted>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

impl Sink {
    /// Listens on a free loopback port.
    pub async fn start() -> anyhow::Result<Sink> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let count = Arc::new(AtomicU64::new(0));
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let (c, a) = (count.clone(), accepted.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                let (c, a) = (c.clone(), a.clone());
                tokio::spawn(async move {
                    let _ = session(stream, c, a).await;
                });
            }
        });
        Ok(Sink {
            port,
            count,
            accepted,
            task,
        })
    }

    /// Messages accepted so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Forgets what was accepted.
    pub async fn reset(&self) {
        self.accepted.lock().await.clear();
        self.count.store(0, Ordering::Relaxed);
    }
}

async fn session(
    stream: TcpStream,
    count: Arc<AtomicU64>,
    accepted: Arc<Mutex<Vec<Accepted>>>,
) -> anyhow::Result<()> {
    let (r, w) = stream.into_split();
    let mut r = BufReader::with_capacity(64 * 1024, r);
    let mut w = BufWriter::new(w);
    w.write_all(b"220 firstweek-bench sink ESMTP\r\n").await?;
    w.flush().await?;
    let mut line = Vec::with_capacity(1024);
    let mut rcpt = String::new();
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let upper: Vec<u8> = line
            .iter()
            .take(4)
            .map(|b| b.to_ascii_uppercase())
            .collect();
        match &upper[..] {
            b"EHLO" => {
                w.write_all(
                    b"250-firstweek-bench\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 10485760\r\n",
                )
                .await?;
            }
            b"HELO" => w.write_all(b"250 firstweek-bench\r\n").await?,
            b"MAIL" => {
                rcpt.clear();
                w.write_all(b"250 OK\r\n").await?;
            }
            b"RCPT" => {
                let text = String::from_utf8_lossy(&line);
                if let (Some(a), Some(b)) = (text.find('<'), text.find('>')) {
                    rcpt = text[a + 1..b].to_string();
                }
                w.write_all(b"250 OK\r\n").await?;
            }
            b"DATA" => {
                w.write_all(b"354 go ahead\r\n").await?;
                w.flush().await?;
                let (mut mentorship, mut step) = (String::new(), String::new());
                let mut in_headers = true;
                let mut bytes = 0;
                loop {
                    line.clear();
                    if r.read_until(b'\n', &mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == b".\r\n" || line == b".\n" {
                        break;
                    }
                    bytes += line.len();
                    if in_headers {
                        if line == b"\r\n" || line == b"\n" {
                            in_headers = false;
                        } else if let Some(v) = header(&line, b"x-firstweek-mentorship:") {
                            mentorship = v;
                        } else if let Some(v) = header(&line, b"x-firstweek-step:") {
                            step = v;
                        }
                    }
                }
                w.write_all(b"250 OK queued\r\n").await?;
                w.flush().await?;
                let at_us = now_us();
                count.fetch_add(1, Ordering::Relaxed);
                if !mentorship.is_empty() {
                    accepted.lock().await.push(Accepted {
                        at_us,
                        mentorship,
                        step,
                        rcpt: std::mem::take(&mut rcpt),
                        bytes,
                    });
                }
                continue;
            }
            b"RSET" | b"NOOP" => w.write_all(b"250 OK\r\n").await?,
            b"QUIT" => {
                w.write_all(b"221 bye\r\n").await?;
                w.flush().await?;
                return Ok(());
            }
            _ => w.write_all(b"502 not implemented\r\n").await?,
        }
        w.flush().await?;
    }
}

fn header(line: &[u8], name: &[u8]) -> Option<String> {
    if line.len() < name.len() || !line[..name.len()].eq_ignore_ascii_case(name) {
        return None;
    }
    Some(
        String::from_utf8_lossy(&line[name.len()..])
            .trim()
            .to_string(),
    )
}

/// A minimal SMTP client: one connection with TCP_NODELAY, one command at a
/// time (as lettre does), the same round trips as firstweek's mailer.
struct Client {
    r: BufReader<tokio::net::tcp::OwnedReadHalf>,
    w: tokio::net::tcp::OwnedWriteHalf,
    line: Vec<u8>,
}

impl Client {
    async fn connect(port: u16) -> anyhow::Result<Client> {
        let stream = TcpStream::connect(("127.0.0.1", port)).await?;
        stream.set_nodelay(true)?;
        let (r, w) = stream.into_split();
        let mut c = Client {
            r: BufReader::new(r),
            w,
            line: Vec::new(),
        };
        c.reply().await?;
        c.command(b"EHLO bench.local\r\n").await?;
        Ok(c)
    }

    /// Reads one (possibly multi-line) reply.
    async fn reply(&mut self) -> anyhow::Result<()> {
        loop {
            self.line.clear();
            if self.r.read_until(b'\n', &mut self.line).await? == 0 {
                bail!("sink closed the connection");
            }
            if self.line.len() < 4 || !(b'2'..=b'3').contains(&self.line[0]) {
                bail!("sink said {:?}", String::from_utf8_lossy(&self.line));
            }
            if self.line[3] == b' ' {
                return Ok(());
            }
        }
    }

    async fn command(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.w.write_all(bytes).await?;
        self.reply().await
    }

    async fn send(&mut self, to: &str, message: &[u8]) -> anyhow::Result<()> {
        self.command(b"MAIL FROM:<firstweek@example.org>\r\n")
            .await?;
        self.command(format!("RCPT TO:<{to}>\r\n").as_bytes())
            .await?;
        self.command(b"DATA\r\n").await?;
        self.command(message).await
    }
}

/// A message of `size` bytes (headers + body), dot-terminated, like firstweek's emails.
pub fn sample_message(size: usize) -> Vec<u8> {
    let mut m =
        b"From: firstweek <firstweek@example.org>\r\nTo: someone@example.org\r\nSubject: bench\r\n\
MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            .to_vec();
    let line = b"The first week is for meeting each other, a plan and clear goals.\r\n";
    while m.len() + line.len() < size {
        m.extend_from_slice(line);
    }
    m.extend_from_slice(b".\r\n");
    m
}

/// How many messages `connections` minimal clients get accepted in `total`, per second.
pub async fn client_limit(
    port: u16,
    connections: usize,
    total: usize,
    message: &[u8],
) -> anyhow::Result<f64> {
    let message: Arc<[u8]> = message.into();
    let per = total / connections;
    let mut clients = Vec::new();
    for _ in 0..connections {
        clients.push(
            Client::connect(port)
                .await
                .context("connecting to the sink")?,
        );
    }
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for mut c in clients {
        let message = message.clone();
        tasks.spawn(async move {
            for i in 0..per {
                c.send(&format!("r{i}@example.org"), &message).await?;
            }
            let _ = c.command(b"QUIT\r\n").await;
            Ok::<_, anyhow::Error>(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    let elapsed = start.elapsed().max(Duration::from_micros(1));
    Ok((per * connections) as f64 / elapsed.as_secs_f64())
}
