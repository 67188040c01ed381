//! Connections: N idle, authenticated WebSocket connections.
//!
//! Seeds N / per_user users, logs them in, opens `per_user` connections each
//! (bearer header; a 101 means the token was accepted), and measures the time
//! to open them all. Then one `ping`/`pong` round over every connection proves
//! they are live. With `--server-pid`, the server's VmRSS is read from
//! /proc/<pid>/status before and after, giving RSS per connection.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures_util::{SinkExt, StreamExt, TryStreamExt, stream};
use serde_json::{Value, json};

use crate::client::{Api, Ws, frame, login_all, wait_for_type};
use crate::seed::{PASSWORD, Seeder};
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
    let names = seeder.users(&format!("c{tag}_"), users).await?;
    let tokens = login_all(api, &names, PASSWORD, 4).await?;

    let rss_before = server_pid.map(vm_rss_kib).transpose()?;
    let started = Instant::now();
    let mut sockets: Vec<Ws> = stream::iter(0..n)
        .map(|i| api.ws_connect(&tokens[i / per_user]))
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
