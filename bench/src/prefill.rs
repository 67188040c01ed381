//! Prefill: stores messages through the real server before a measurement, so
//! the effect of stored volume on sends, fan-out and history can be measured.
//!
//! Messages go over WebSockets (`send` frames), one connection per
//! (sender, conversation) target, each with a window of unacked sends in
//! flight: as fast as the server takes them, never faster (an ack or error
//! frame frees a slot). Progress is printed to stderr every two seconds.
//! [`other_conversations`] fills conversations of its own users, never the
//! measured ones; [`fill`] fills given conversations (e.g. the history room).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{Api, frame};
use crate::seed::Seeder;
use crate::stats::r1;

/// Unacked sends in flight per connection.
const WINDOW: usize = 16;

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    acked: AtomicU64,
    errors: AtomicU64,
    error_shown: AtomicBool,
}

#[derive(Deserialize)]
struct Reply {
    #[serde(rename = "type")]
    ty: String,
    code: Option<String>,
    message: Option<String>,
}

/// The body of a target's `i`th message (target index, i).
pub type Body = Arc<dyn Fn(usize, usize) -> String + Send + Sync>;

/// Sends `total` messages spread evenly over `targets` (access token,
/// conversation id), one WebSocket per target. Returns a JSON summary.
pub async fn fill(
    api: &Api,
    targets: &[(String, String)],
    total: usize,
    what: &str,
) -> Result<Value> {
    let body: Body = Arc::new(|k, i| {
        format!("prefill message {i} from sender {k}: stored volume for the benchmark")
    });
    fill_with(api, targets, total, what, body).await
}

/// [`fill`] with the bodies `body` gives: target `k` sends `body(k, i)` for
/// `i` in `0..` its share.
pub async fn fill_with(
    api: &Api,
    targets: &[(String, String)],
    total: usize,
    what: &str,
    body: Body,
) -> Result<Value> {
    if total == 0 || targets.is_empty() {
        return Ok(json!({ "messages": 0 }));
    }
    let counters = Arc::new(Counters::default());
    let started = Instant::now();
    let done = Arc::new(AtomicBool::new(false));
    let progress = {
        let (counters, done, what) = (counters.clone(), done.clone(), what.to_string());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_secs(2)).await;
                if done.load(Ordering::Relaxed) {
                    break;
                }
                let acked = counters.acked.load(Ordering::Relaxed);
                eprintln!(
                    "prefill {what}: {acked}/{total} stored ({:.0}/s, {} errors)",
                    acked as f64 / started.elapsed().as_secs_f64(),
                    counters.errors.load(Ordering::Relaxed)
                );
            }
        })
    };
    let n = targets.len();
    let mut tasks = Vec::with_capacity(n);
    for (k, (token, conversation)) in targets.iter().enumerate() {
        let share = total / n + usize::from(k < total % n);
        let ws = api.ws_connect(token).await?;
        let (counters, conversation) = (counters.clone(), conversation.clone());
        tasks.push(tokio::spawn(send_share(
            ws,
            conversation,
            share,
            k,
            counters,
            body.clone(),
        )));
    }
    let mut failures = 0;
    for t in tasks {
        match t.await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                failures += 1;
                eprintln!("prefill {what}: a sender failed: {err:#}");
            }
            Err(err) => {
                failures += 1;
                eprintln!("prefill {what}: a sender task failed: {err}");
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    progress.abort();
    let acked = counters.acked.load(Ordering::Relaxed);
    let errors = counters.errors.load(Ordering::Relaxed);
    eprintln!(
        "prefill {what}: {acked}/{total} stored in {secs:.1} s ({:.0}/s, {n} connections, {errors} errors)",
        acked as f64 / secs
    );
    if acked < total as u64 {
        anyhow::bail!(
            "prefill {what}: only {acked} of {total} messages were acked ({errors} errors, {failures} failed senders)"
        );
    }
    Ok(json!({
        "messages": total,
        "acked": acked,
        "errors": errors,
        "connections": n,
        "secs": r1(secs),
        "msgs_per_s": r1(acked as f64 / secs),
    }))
}

/// One connection's part of a fill: `share` sends, at most [`WINDOW`] unacked.
async fn send_share(
    ws: crate::client::Ws,
    conversation: String,
    share: usize,
    k: usize,
    counters: Arc<Counters>,
    body: Body,
) -> Result<()> {
    let (mut sink, mut rx) = ws.split();
    let slots = Arc::new(Semaphore::new(WINDOW));
    let answered = Arc::new(AtomicU64::new(0));
    let reader = {
        let (slots, answered, counters) = (slots.clone(), answered.clone(), counters.clone());
        tokio::spawn(async move {
            while let Some(msg) = rx.next().await {
                let text = match msg {
                    Ok(Message::Text(text)) => text,
                    Ok(Message::Close(close)) => {
                        eprintln!("prefill: a connection was closed by the server: {close:?}");
                        break;
                    }
                    Ok(_) => continue,
                    Err(err) => {
                        eprintln!("prefill: a connection failed: {err}");
                        break;
                    }
                };
                let Ok(reply) = serde_json::from_str::<Reply>(text.as_str()) else {
                    continue;
                };
                match reply.ty.as_str() {
                    "ack" => {
                        counters.acked.fetch_add(1, Ordering::Relaxed);
                    }
                    "error" => {
                        counters.errors.fetch_add(1, Ordering::Relaxed);
                        if !counters.error_shown.swap(true, Ordering::Relaxed) {
                            eprintln!(
                                "prefill: first error frame: {} {}",
                                reply.code.unwrap_or_default(),
                                reply.message.unwrap_or_default()
                            );
                        }
                    }
                    _ => continue,
                }
                answered.fetch_add(1, Ordering::Relaxed);
                slots.add_permits(1);
            }
            slots.close();
        })
    };
    for i in 0..share {
        let permit = slots
            .acquire()
            .await
            .context("the connection closed during the prefill")?;
        permit.forget();
        let msg = frame(&json!({
            "type": "send",
            "conversation": conversation,
            "body": body(k, i),
        }));
        sink.send(msg).await.context("sending a prefill message")?;
        counters.sent.fetch_add(1, Ordering::Relaxed);
    }
    // Wait for the last answers (an idle minute means they are not coming).
    let mut last = answered.load(Ordering::Relaxed);
    let mut idle_since = Instant::now();
    while last < share as u64 && !reader.is_finished() {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = answered.load(Ordering::Relaxed);
        if now != last {
            last = now;
            idle_since = Instant::now();
        } else if idle_since.elapsed() > Duration::from_secs(60) {
            break;
        }
    }
    let _ = sink.close().await;
    reader.abort();
    Ok(())
}

/// Stores `total` messages in conversations made for the purpose (never the
/// measured ones): `senders` users registered through the API, each owning one
/// public group and sending into it over its own WebSocket.
pub async fn other_conversations(
    api: &Api,
    seeder: &Seeder,
    tag: &str,
    total: usize,
    senders: usize,
) -> Result<Value> {
    if total == 0 {
        return Ok(json!({ "messages": 0 }));
    }
    let senders = senders.clamp(1, total);
    let (_, tokens) = seeder
        .accounts(api, &format!("p{tag}_"), senders)
        .await
        .context("prefill users")?;
    let mut targets = Vec::with_capacity(senders);
    for (k, token) in tokens.into_iter().enumerate() {
        let group = api
            .create_group(&token, &format!("bench {tag} prefill {k}"))
            .await?;
        targets.push((token, group));
    }
    let mut summary = fill(api, &targets, total, "(other conversations)").await?;
    summary["conversations"] = senders.into();
    Ok(summary)
}
