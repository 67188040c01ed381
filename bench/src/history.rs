//! History: reading stored messages, p99 per kind of read.
//!
//! Makes `users` users (all members of `rooms` public groups), stores
//! `messages` messages in each room through the real server (WebSocket sends,
//! see `prefill::fill`), then runs `workers` closed-loop readers for the
//! duration. Each reader cycles through the kinds of read:
//!
//! - `latest`: `GET /conversations/{id}/messages?limit=L` (the newest page);
//! - `deep`: the page `before=` a seq `depth` messages back from the newest;
//! - `after`: a REST `since` replay, `after=` a seq `replay` messages back;
//! - `join`: a WebSocket `join` with `since` `replay` messages back: the time
//!   from sending `join` to its `joined`, with the replayed messages in between
//!   (the server replays at most 100), then `leave`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures_util::{SinkExt, StreamExt, TryStreamExt, stream};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::client::{Api, Window, Ws, frame};
use crate::seed::Seeder;
use crate::stats::{latency_json, latency_rows, new_hist, r1};

/// xorshift64*: enough randomness for picking pages, no extra dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

/// The kinds of read, in the order readers cycle through them.
pub const KINDS: [&str; 4] = ["latest", "deep", "after", "join"];

/// Sizes of the history scenario.
#[derive(Clone, Copy, Debug)]
pub struct HistoryArgs {
    pub users: usize,
    pub rooms: usize,
    pub messages: usize,
    pub workers: usize,
    pub limit: u32,
    pub depth: u64,
    pub replay: u64,
    pub duration: Duration,
}

#[derive(Default)]
struct KindStats {
    hist: Option<Histogram<u64>>,
    errors: u64,
    items: u64,
}

impl KindStats {
    fn hist(&mut self) -> &mut Histogram<u64> {
        self.hist.get_or_insert_with(new_hist)
    }
}

/// Sends `join` with `since` and reads until its `joined`; returns how many
/// messages of that conversation were replayed. Then leaves the room.
async fn join_since(ws: &mut Ws, conversation: &str, since: u64) -> Result<usize> {
    ws.send(frame(
        &json!({ "type": "join", "conversation": conversation, "since": since }),
    ))
    .await
    .context("sending join")?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut replayed = 0;
    loop {
        let next = tokio::time::timeout_at(deadline, ws.next())
            .await
            .context("no `joined` within 30 s")?;
        let text = match next {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(close))) => bail!("closed while joining: {close:?}"),
            Some(Ok(_)) => continue,
            Some(Err(err)) => return Err(err).context("reading a frame"),
            None => bail!("the connection ended while joining"),
        };
        let v: Value = serde_json::from_str(text.as_str()).context("a non-JSON frame")?;
        match v["type"].as_str() {
            Some("message") if v["conversation"] == conversation => replayed += 1,
            Some("joined") if v["conversation"] == conversation => break,
            Some("error") => bail!("join answered with an error: {v}"),
            _ => {}
        }
    }
    ws.send(frame(
        &json!({ "type": "leave", "conversation": conversation }),
    ))
    .await
    .context("sending leave")?;
    Ok(replayed)
}

pub async fn scenario(
    api: &Api,
    seeder: &Seeder,
    tag: &str,
    args: HistoryArgs,
) -> Result<(Value, Vec<(String, String)>)> {
    let (names, tokens) = seeder
        .accounts(api, &format!("h{tag}_"), args.users.max(1))
        .await?;
    let mut convs = Vec::new();
    for r in 0..args.rooms.max(1) {
        convs.push(
            api.create_group(&tokens[0], &format!("bench {tag} history {r}"))
                .await?,
        );
    }
    let joins: Vec<(usize, usize)> = (1..tokens.len())
        .flat_map(|u| (0..convs.len()).map(move |c| (u, c)))
        .collect();
    stream::iter(joins)
        .map(|(u, c)| api.join_group(&tokens[u], &convs[c]))
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await?;

    // Store the measured messages: up to 8 members send into each room.
    let mut targets = Vec::new();
    for conv in &convs {
        for token in tokens.iter().take(8) {
            targets.push((token.clone(), conv.clone()));
        }
    }
    let posted = convs.len() * args.messages;
    let seed_started = Instant::now();
    let fill = crate::prefill::fill(api, &targets, posted, "(history rooms)").await?;
    let seed_secs = seed_started.elapsed().as_secs_f64();
    let mut last_seqs = Vec::with_capacity(convs.len());
    for conv in &convs {
        let page = api
            .history_page(&tokens[0], conv, Window::Latest, 1)
            .await?;
        last_seqs.push(page.max_seq.unwrap_or(0));
    }

    let started = Instant::now();
    let end = started + args.duration;
    let mut tasks = Vec::new();
    for w in 0..args.workers.max(1) {
        let (api, tokens, convs, last_seqs) = (
            api.clone(),
            Arc::new(tokens.clone()),
            convs.clone(),
            last_seqs.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15 ^ (w as u64 + 1));
            let mut stats: Vec<KindStats> = KINDS.iter().map(|_| KindStats::default()).collect();
            // Each reader's WebSocket belongs to one user, for the `join` reads.
            let ws_token = &tokens[w % tokens.len()];
            let mut ws = match api.ws_connect(ws_token).await {
                Ok(ws) => Some(ws),
                Err(err) => {
                    eprintln!("history: reader {w} has no WebSocket: {err:#}");
                    None
                }
            };
            let mut i = w;
            while Instant::now() < end {
                let kind = i % KINDS.len();
                i += 1;
                let token = &tokens[rng.below(tokens.len() as u64) as usize];
                let room = rng.below(convs.len() as u64) as usize;
                let (conv, last) = (&convs[room], last_seqs[room]);
                let back = |n: u64| last.saturating_sub(n).max(1);
                let t = Instant::now();
                let result = match KINDS[kind] {
                    "latest" => api
                        .history_page(token, conv, Window::Latest, args.limit)
                        .await
                        .map(|p| p.items),
                    "deep" => {
                        let jitter = rng.below(u64::from(args.limit));
                        let before = back(args.depth + jitter).max(2);
                        api.history_page(token, conv, Window::Before(before), args.limit)
                            .await
                            .map(|p| p.items)
                    }
                    "after" => {
                        let after = last.saturating_sub(args.replay);
                        api.history_page(token, conv, Window::After(after), args.limit)
                            .await
                            .map(|p| p.items)
                    }
                    _ => match ws.as_mut() {
                        Some(ws) => join_since(ws, conv, last.saturating_sub(args.replay)).await,
                        None => continue,
                    },
                };
                let s = &mut stats[kind];
                match result {
                    Ok(items) => {
                        s.hist()
                            .saturating_record((t.elapsed().as_micros() as u64).max(1));
                        s.items += items as u64;
                    }
                    Err(err) => {
                        if s.errors == 0 {
                            eprintln!("history ({}): {err:#}", KINDS[kind]);
                        }
                        s.errors += 1;
                        if KINDS[kind] == "join" {
                            // A failed join leaves the connection in an unknown state.
                            ws = None;
                        }
                    }
                }
            }
            if let Some(mut ws) = ws {
                let _ = ws.close(None).await;
            }
            stats
        }));
    }
    let mut totals: Vec<KindStats> = KINDS.iter().map(|_| KindStats::default()).collect();
    for t in tasks {
        if let Ok(stats) = t.await {
            for (total, s) in totals.iter_mut().zip(stats) {
                if let Some(h) = &s.hist {
                    let _ = total.hist().add(h);
                }
                total.errors += s.errors;
                total.items += s.items;
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let mut all = new_hist();
    let mut kinds = serde_json::Map::new();
    let mut rows = vec![(
        "stored before reading".to_string(),
        format!(
            "{} rooms x {} messages at {:.0}/s over WebSocket",
            convs.len(),
            args.messages,
            posted as f64 / seed_secs
        ),
    )];
    let (mut pages, mut items, mut errors) = (0, 0, 0);
    for (kind, total) in KINDS.iter().zip(totals.iter_mut()) {
        let h = total.hist().clone();
        let _ = all.add(&h);
        pages += h.len();
        items += total.items;
        errors += total.errors;
        kinds.insert(
            (*kind).into(),
            json!({
                "requests": h.len(),
                "per_s": r1(h.len() as f64 / secs),
                "avg_items": r1(total.items as f64 / h.len().max(1) as f64),
                "errors": total.errors,
                "latency": latency_json(&h),
            }),
        );
        rows.extend(latency_rows(kind, &h));
        rows.push((
            format!("{kind} requests/s, items each, errors"),
            format!(
                "{:.1}, {:.1}, {}",
                h.len() as f64 / secs,
                total.items as f64 / h.len().max(1) as f64,
                total.errors
            ),
        ));
    }
    rows.push((
        "all reads per s".to_string(),
        format!(
            "{:.1}  ({} workers, limit {}, depth {}, replay {}, errors {errors})",
            pages as f64 / secs,
            args.workers,
            args.limit,
            args.depth,
            args.replay
        ),
    ));
    let line = json!({
        "scenario": "history",
        "users": names.len(),
        "conversations": convs.len(),
        "messages_per_conversation": args.messages,
        "last_seqs": last_seqs,
        "seed_posts_per_s": r1(posted as f64 / seed_secs),
        "seed": fill,
        "workers": args.workers,
        "page_limit": args.limit,
        "depth": args.depth,
        "replay": args.replay,
        "duration_s": r1(secs),
        "pages": pages,
        "pages_per_s": r1(pages as f64 / secs),
        "avg_items_per_page": r1(items as f64 / pages.max(1) as f64),
        "errors": errors,
        "latency": latency_json(&all),
        "kinds": kinds,
    });
    Ok((line, rows))
}
