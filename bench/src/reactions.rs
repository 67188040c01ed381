//! Reactions (issue 23): one room of M members, each with a WebSocket joined to
//! it, toggling reactions open-loop on N messages at a fixed total rate.
//!
//! Toggle k is scheduled at `start + k / rate`: member `k % M` toggles emoji
//! `(k / (M * N)) % E` on message `(k / M) % N`, flipping that member's state of
//! it, so every toggle changes something and is announced. (With the default
//! shape a (member, message, emoji) repeats only after M * N * E toggles, so a
//! `reaction` frame names its toggle.) Every member's reader records, for each
//! `reaction` frame, arrival minus the toggle's scheduled time; at the end every
//! member must have heard every toggle (0 lost) and the counts the server shows
//! must equal the generator's own (exact).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt, TryStreamExt, stream};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{Api, Ws, frame, ws_join};
use crate::seed::Seeder;
use crate::stats::{latency_json, latency_rows, new_hist, own_cpu_secs, r1};

const EMOJI: [&str; 4] = ["👍", "🎉", "❤️", "😂"];

pub struct ReactionArgs {
    pub members: usize,
    pub messages: usize,
    pub rate: f64,
    pub duration: Duration,
    pub drain: Duration,
}

/// (message seq, emoji index, member index, on) -> scheduled µs since start.
type Schedule = Arc<Mutex<HashMap<(u64, usize, usize, bool), u64>>>;

/// The fields of a server frame the readers look at, borrowed from the text
/// where it holds no escapes. 200,000 frames/s arrive on the generator's one
/// core: parsed into a `serde_json::Value` each, the generator used 8.0-9.3 s
/// of CPU per 10 s run, and its own queueing showed up as delivery latency.
#[derive(serde::Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(default, borrow)]
    message: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    emoji: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    user: Option<FrameUser<'a>>,
    #[serde(default)]
    on: Option<bool>,
}

#[derive(serde::Deserialize)]
struct FrameUser<'a> {
    #[serde(borrow)]
    username: std::borrow::Cow<'a, str>,
}

struct Reader {
    hist: Mutex<Histogram<u64>>,
    heard: AtomicU64,
    errors: AtomicU64,
}

pub async fn scenario(
    api: &Api,
    seeder: &Seeder,
    tag: &str,
    args: ReactionArgs,
) -> Result<(Value, Vec<(String, String)>)> {
    let members = args.members.max(1);
    let messages = args.messages.max(1);
    let (names, tokens) = seeder
        .accounts(api, &format!("re{tag}_"), members)
        .await
        .context("users")?;
    let group = api
        .create_group(&tokens[0], &format!("reactions {tag}"))
        .await?;
    stream::iter(tokens.iter().skip(1))
        .map(|t| api.join_group(t, &group))
        .buffer_unordered(8)
        .try_collect::<Vec<()>>()
        .await?;
    for i in 0..messages {
        api.send_message(&tokens[0], &group, &format!("react to message {i}"))
            .await?;
    }
    let index: HashMap<String, usize> = names.iter().cloned().zip(0..).collect();
    let index = Arc::new(index);
    let schedule: Schedule = Arc::default();
    let t0 = Instant::now();
    let mut sinks: Vec<SplitSink<Ws, Message>> = Vec::with_capacity(members);
    let mut readers = Vec::with_capacity(members);
    for token in &tokens {
        let mut ws = api.ws_connect(token).await?;
        ws_join(&mut ws, &group).await?;
        let (sink, mut source) = ws.split();
        sinks.push(sink);
        let reader = Arc::new(Reader {
            hist: Mutex::new(new_hist()),
            heard: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        });
        readers.push(Arc::clone(&reader));
        let (schedule, index) = (Arc::clone(&schedule), Arc::clone(&index));
        tokio::spawn(async move {
            while let Some(Ok(msg)) = source.next().await {
                let Message::Text(text) = msg else { continue };
                let Ok(f) = serde_json::from_str::<Frame>(text.as_str()) else {
                    continue;
                };
                match &*f.kind {
                    "reaction" => {
                        let now = t0.elapsed().as_micros() as u64;
                        let seq = f
                            .message
                            .as_deref()
                            .and_then(|id| id.rsplit('-').next())
                            .and_then(|s| s.parse::<u64>().ok())
                            .unwrap_or(0);
                        let emoji = f
                            .emoji
                            .as_deref()
                            .and_then(|got| EMOJI.iter().position(|e| got == *e));
                        let user = f.user.as_ref().and_then(|u| index.get(&*u.username));
                        let on = f.on.unwrap_or(false);
                        let at = match (emoji, user) {
                            (Some(e), Some(&u)) => schedule
                                .lock()
                                .ok()
                                .and_then(|s| s.get(&(seq, e, u, on)).copied()),
                            _ => None,
                        };
                        if let Some(at) = at {
                            if let Ok(mut h) = reader.hist.lock() {
                                let _ = h.record(now.saturating_sub(at).max(1));
                            }
                            reader.heard.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    "error" if reader.errors.fetch_add(1, Ordering::Relaxed) == 0 => {
                        eprintln!("reactions: error frame {}", text.as_str());
                    }
                    _ => {}
                }
            }
        });
    }

    // The generator's own state: who has which emoji on which message.
    let mut state: HashMap<(u64, usize, usize), bool> = HashMap::new();
    let interval = Duration::from_secs_f64(1.0 / args.rate.max(1.0));
    let total = (args.rate * args.duration.as_secs_f64()).round() as u64;
    let cpu_before = own_cpu_secs();
    let start = Instant::now();
    for k in 0..total {
        let member = (k as usize) % members;
        let seq = ((k as usize / members) % messages) as u64 + 1;
        let emoji = (k as usize / (members * messages)) % EMOJI.len();
        let due = start + interval.mul_f64(k as f64);
        tokio::time::sleep_until(due).await;
        let on = !state.get(&(seq, emoji, member)).copied().unwrap_or(false);
        state.insert((seq, emoji, member), on);
        let scheduled = due.duration_since(t0).as_micros() as u64;
        if let Ok(mut s) = schedule.lock() {
            s.insert((seq, emoji, member, on), scheduled);
        }
        let toggle = json!({
            "type": "react", "conversation": group, "message": format!("{group}-{seq}"),
            "emoji": EMOJI[emoji], "on": on,
        });
        sinks[member]
            .send(frame(&toggle))
            .await
            .context("sending react")?;
    }
    let offered_secs = start.elapsed().as_secs_f64();
    // Wait (up to `drain`) until every member heard every toggle.
    let want = total * members as u64;
    let deadline = Instant::now() + args.drain;
    let heard = || {
        readers
            .iter()
            .map(|r| r.heard.load(Ordering::Relaxed))
            .sum::<u64>()
    };
    while heard() < want && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let all_heard_secs = start.elapsed().as_secs_f64();
    let heard = heard();
    let errors: u64 = readers
        .iter()
        .map(|r| r.errors.load(Ordering::Relaxed))
        .sum();
    let cpu = own_cpu_secs().zip(cpu_before).map(|(a, b)| a - b);

    // The counts the server shows against the generator's.
    let page = api
        .latest_messages(&tokens[0], &group, messages as u32)
        .await?;
    let mut mismatches = 0u64;
    for m in &page {
        let seq = m["seq"].as_u64().unwrap_or(0);
        for (e, emoji) in EMOJI.iter().enumerate() {
            let want = (0..members)
                .filter(|&u| state.get(&(seq, e, u)).copied().unwrap_or(false))
                .count() as u64;
            let got = m["reactions"]
                .as_array()
                .and_then(|rs| rs.iter().find(|r| r["emoji"] == *emoji))
                .and_then(|r| r["count"].as_u64())
                .unwrap_or(0);
            if got != want {
                mismatches += 1;
            }
        }
    }
    if page.len() != messages {
        bail!("the room shows {} messages, not {messages}", page.len());
    }
    let mut hist = new_hist();
    for r in &readers {
        if let Ok(h) = r.hist.lock() {
            hist.add(&*h).ok();
        }
    }
    let line = json!({
        "scenario": "reactions",
        "members": members,
        "messages": messages,
        "offered_rate": args.rate,
        "toggles": total,
        "offered_secs": r1(offered_secs),
        // Toggles applied per second: what every member heard, per member.
        "achieved_toggles_per_sec": r1(heard as f64 / members as f64 / all_heard_secs.max(0.001)),
        "deliveries_expected": want,
        "deliveries": heard,
        "lost": want.saturating_sub(heard),
        "errors": errors,
        "count_mismatches": mismatches,
        "delivery": latency_json(&hist),
        "generator_cpu_secs": cpu,
    });
    let mut rows = vec![
        (
            "shape".into(),
            format!(
                "1 room x {members} members, {messages} messages, {} emoji",
                EMOJI.len()
            ),
        ),
        (
            "offered".into(),
            format!(
                "{total} toggles at {} /s over {:.1} s",
                args.rate, offered_secs
            ),
        ),
        (
            "all heard after".into(),
            format!(
                "{all_heard_secs:.1} s ({:.0} toggles/s)",
                total as f64 / all_heard_secs.max(0.001)
            ),
        ),
        (
            "deliveries heard / expected".into(),
            format!("{heard} / {want} (lost {})", want.saturating_sub(heard)),
        ),
        ("error frames".into(), errors.to_string()),
        (
            "counts that differ at the end".into(),
            mismatches.to_string(),
        ),
    ];
    rows.extend(latency_rows("delivery (scheduled toggle -> frame)", &hist));
    Ok((line, rows))
}
