//! Connections: N idle, authenticated WebSocket connections.
//!
//! Seeds N / per_user users, logs them in, opens `per_user` connections each
//! (bearer header; a 101 means the token was accepted), and measures the time
//! to open them all. Each connection is held by a task that keeps reading it,
//! as a real client would, so the server's keep-alive pings are answered. Then
//! one `ping`/`pong` round over every connection proves they are live. With `--server-pid`, the server's VmRSS is read from
//! /proc/<pid>/status before and after, giving RSS per connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures_util::{SinkExt, StreamExt, TryStreamExt, stream};
use serde_json::{Value, json};

use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

use crate::client::{Api, Ws, frame};
use crate::seed::Seeder;
use crate::stats::r1;

/// VmRSS of a process, in KiB.
pub fn vm_rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS line")
}

/// The soft open-files limit of a process (`None`: this one), from /proc.
fn open_files_limit(pid: Option<u32>) -> Option<u64> {
    let path = pid.map_or("/proc/self/limits".to_string(), |p| {
        format!("/proc/{p}/limits")
    });
    std::fs::read_to_string(path)
        .ok()?
        .lines()
        .find(|l| l.starts_with("Max open files"))?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()
}

/// One idle connection, owned by a task that keeps reading it: the server
/// pings every 30 s and drops a peer silent for two intervals, and a
/// tungstenite client only answers pings while it is being read. Dropping the
/// handle closes the connection.
struct Held {
    pings: mpsc::Sender<oneshot::Sender<Result<()>>>,
}

impl Held {
    fn new(ws: Ws, closed: Arc<AtomicUsize>) -> Self {
        let (tx, rx) = mpsc::channel(1);
        tokio::spawn(hold(ws, rx, closed));
        Self { pings: tx }
    }

    /// Sends `ping` and waits (up to 30 s) for the `pong`.
    async fn ping(&self) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.pings
            .send(tx)
            .await
            .map_err(|_| anyhow::anyhow!("the connection is closed"))?;
        tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .context("no pong within 30 s")?
            .context("the connection closed before its pong")?
    }
}

async fn hold(
    mut ws: Ws,
    mut pings: mpsc::Receiver<oneshot::Sender<Result<()>>>,
    closed: Arc<AtomicUsize>,
) {
    let mut waiting: Option<oneshot::Sender<Result<()>>> = None;
    loop {
        tokio::select! {
            request = pings.recv() => match request {
                Some(reply) => match ws.send(frame(&json!({"type": "ping"}))).await {
                    Ok(()) => waiting = Some(reply),
                    Err(err) => {
                        let _ = reply.send(Err(err).context("sending ping"));
                    }
                },
                None => {
                    let _ = ws.close(None).await;
                    return;
                }
            },
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    if text.as_str().contains("\"pong\"")
                        && let Some(reply) = waiting.take()
                    {
                        let _ = reply.send(Ok(()));
                    }
                }
                Some(Ok(_)) => {}
                other => {
                    closed.fetch_add(1, Ordering::Relaxed);
                    if let Some(reply) = waiting.take() {
                        let _ = reply.send(Err(anyhow::anyhow!("closed by the server: {other:?}")));
                    }
                    // Keep answering ping requests with an error until dropped.
                    while let Some(reply) = pings.recv().await {
                        let _ = reply.send(Err(anyhow::anyhow!("closed by the server")));
                    }
                    return;
                }
            },
        }
    }
}

pub async fn scenario(
    api: &Api,
    seeder: &Seeder,
    tag: &str,
    n: usize,
    per_user: usize,
    concurrency: usize,
    server_pid: Option<u32>,
) -> Result<(Value, Vec<(String, String)>)> {
    let per_user = per_user.max(1);
    let users = n.div_ceil(per_user);
    // Each connection costs one descriptor here and one in the server: check both
    // limits first rather than failing half way.
    let own_limit = open_files_limit(None);
    let server_limit = server_pid.and_then(|pid| open_files_limit(Some(pid)));
    for (who, limit) in [("generator", own_limit), ("server", server_limit)] {
        if let Some(limit) = limit {
            let needed = n as u64 + 200;
            if limit < needed {
                bail!(
                    "{n} connections need about {needed} open files in the {who}, its limit is {limit} \
                     (raise it with `ulimit -n`, or lower --n)"
                );
            }
        }
    }
    let (_, tokens) = seeder.accounts(api, &format!("c{tag}_"), users).await?;

    let rss_before = server_pid.map(vm_rss_kib).transpose()?;
    let started = Instant::now();
    let opened = std::sync::atomic::AtomicUsize::new(0);
    let last_report = std::sync::Mutex::new(Instant::now());
    let closed = Arc::new(AtomicUsize::new(0));
    let sockets: Vec<Held> = stream::iter(0..n)
        .map(|i| {
            let (opened, last_report, tokens, closed) = (&opened, &last_report, &tokens, &closed);
            async move {
                let ws = api
                    .ws_connect(&tokens[i / per_user])
                    .await
                    .with_context(|| format!("opening connection {}", i + 1))?;
                let k = opened.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if let Ok(mut last) = last_report.lock()
                    && last.elapsed() >= Duration::from_secs(2)
                {
                    *last = Instant::now();
                    eprintln!("connections: {k}/{n} open");
                }
                anyhow::Ok(Held::new(ws, closed.clone()))
            }
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await?;
    let connect_secs = started.elapsed().as_secs_f64();

    let ping_started = Instant::now();
    let pings: Vec<Result<()>> = stream::iter(sockets.iter())
        .map(Held::ping)
        .buffer_unordered(256)
        .collect()
        .await;
    let ping_secs = ping_started.elapsed().as_secs_f64();
    let pongs = pings.iter().filter(|r| r.is_ok()).count();
    if let Some(Err(err)) = pings.iter().find(|r| r.is_err()) {
        eprintln!(
            "connections: {} of {n} pings failed; first: {err:#}",
            n - pongs
        );
    }
    // Give the server a moment to settle its allocations.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = server_pid.map(vm_rss_kib).transpose()?;
    let per_conn_kib = match (rss_before, rss_after) {
        (Some(b), Some(a)) => Some(r1(a.saturating_sub(b) as f64 / n as f64)),
        _ => None,
    };
    let closed_by_server = closed.load(Ordering::Relaxed);
    // Dropping the handles closes every connection.
    drop(sockets);

    let line = json!({
        "scenario": "connections",
        "connections": n,
        "users": users,
        "open_files_limit_generator": own_limit,
        "open_files_limit_server": server_limit,
        "connect_concurrency": concurrency,
        "connect_secs": r1(connect_secs * 10.0) / 10.0,
        "connects_per_s": r1(n as f64 / connect_secs),
        "ping_round_secs": r1(ping_secs * 10.0) / 10.0,
        "pongs": pongs,
        "closed_by_server": closed_by_server,
        "server_rss_before_kib": rss_before,
        "server_rss_after_kib": rss_after,
        "server_rss_per_conn_kib": per_conn_kib,
    });
    let rows = vec![
        ("connections (users)".to_string(), format!("{n} ({users})")),
        (
            "time to connect all".to_string(),
            format!(
                "{connect_secs:.2} s ({:.0} connects/s, {concurrency} in flight)",
                n as f64 / connect_secs
            ),
        ),
        (
            "ping round over all".to_string(),
            format!("{ping_secs:.2} s ({pongs} pongs, {closed_by_server} closed by the server)"),
        ),
        (
            "server VmRSS before / after".to_string(),
            match (rss_before, rss_after) {
                (Some(b), Some(a)) => format!("{b} KiB / {a} KiB"),
                _ => "n/a (no --server-pid)".to_string(),
            },
        ),
        (
            "server RSS per connection".to_string(),
            per_conn_kib.map_or("n/a".into(), |k| format!("{k} KiB")),
        ),
    ];
    Ok((line, rows))
}
