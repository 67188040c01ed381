//! Connections: N idle, authenticated WebSocket connections.
//!
//! Seeds N / per_user users, logs them in, opens `per_user` connections each
//! (bearer header; a 101 means the token was accepted), and measures the time
//! to open them all. Then one `ping`/`pong` round over every connection proves
//! they are live. With `--server-pid`, the server's VmRSS is read from
//! /proc/<pid>/status before and after, giving RSS per connection.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures_util::{SinkExt, StreamExt, TryStreamExt, stream};
use serde_json::{Value, json};

use crate::client::{Api, Ws, frame, wait_for_type};
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
    let mut sockets: Vec<Ws> = stream::iter(0..n)
        .map(|i| {
            let (opened, last_report, tokens) = (&opened, &last_report, &tokens);
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
                anyhow::Ok(ws)
            }
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await?;
    let connect_secs = started.elapsed().as_secs_f64();

    let ping_started = Instant::now();
    stream::iter(sockets.iter_mut())
        .map(|ws| async move {
            ws.send(frame(&json!({"type": "ping"})))
                .await
                .context("sending ping")?;
            wait_for_type(ws, "pong").await
        })
        .buffer_unordered(256)
        .try_collect::<Vec<()>>()
        .await?;
    let ping_secs = ping_started.elapsed().as_secs_f64();
    // Give the server a moment to settle its allocations.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = server_pid.map(vm_rss_kib).transpose()?;
    let per_conn_kib = match (rss_before, rss_after) {
        (Some(b), Some(a)) => Some(r1(a.saturating_sub(b) as f64 / n as f64)),
        _ => None,
    };
    for ws in &mut sockets {
        let _ = ws.close(None).await;
    }

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
            format!("{ping_secs:.2} s"),
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
