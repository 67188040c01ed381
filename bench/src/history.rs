//! History: `GET /conversations/{id}/messages` pages per second.
//!
//! Seeds `users` users, makes `rooms` public groups that everyone joins, posts
//! `messages` messages into each over REST, then runs `workers` closed-loop
//! readers for the duration. Each request picks a random member and room and
//! reads either the latest page or the page before a random seq.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use futures_util::{StreamExt, TryStreamExt, stream};
use serde_json::{Value, json};

use crate::client::{Api, login_all};
use crate::seed::{PASSWORD, Seeder};
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

#[allow(clippy::too_many_arguments)]
pub async fn scenario(
    api: &Api,
    seeder: &Seeder,
    tag: &str,
    users: usize,
    rooms: usize,
    messages: usize,
    workers: usize,
    limit: u32,
    duration: Duration,
) -> Result<(Value, Vec<(String, String)>)> {
    let names = seeder.users(&format!("h{tag}_"), users.max(1)).await?;
    let tokens = login_all(api, &names, PASSWORD, 4).await?;
    let mut convs = Vec::new();
    for r in 0..rooms.max(1) {
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
    let seed_started = Instant::now();
    let posts: Vec<(usize, usize)> = (0..convs.len())
        .flat_map(|c| (0..messages).map(move |m| (c, m)))
        .collect();
    stream::iter(posts)
        .map(|(c, m)| {
            let token = &tokens[m % tokens.len()];
            let body = format!("history seed message {m}");
            let conv = &convs[c];
            async move { api.post_message(token, conv, &body).await }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await?;
    let seed_secs = seed_started.elapsed().as_secs_f64();
    let posted = convs.len() * messages;

    let pages = Arc::new(AtomicU64::new(0));
    let items = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let end = started + duration;
    let mut tasks = Vec::new();
    for w in 0..workers.max(1) {
        let (api, tokens, convs) = (api.clone(), tokens.clone(), convs.clone());
        let (pages, items) = (pages.clone(), items.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15 ^ (w as u64 + 1));
            let mut hist = new_hist();
            let mut errors = 0u64;
            while Instant::now() < end {
                let token = &tokens[rng.below(tokens.len() as u64) as usize];
                let conv = &convs[rng.below(convs.len() as u64) as usize];
                let before = match rng.below(2) {
                    0 => None,
                    _ => Some(2 + rng.below(messages.max(1) as u64)),
                };
                let t = Instant::now();
                match api.history_page(token, conv, before, limit).await {
                    Ok(n) => {
                        hist.saturating_record((t.elapsed().as_micros() as u64).max(1));
                        pages.fetch_add(1, Ordering::Relaxed);
                        items.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    Err(err) => {
                        if errors == 0 {
                            eprintln!("history: {err:#}");
                        }
                        errors += 1;
                    }
                }
            }
            (hist, errors)
        }));
    }
    let mut hist = new_hist();
    let mut errors = 0;
    for t in tasks {
        if let Ok((h, e)) = t.await {
            let _ = hist.add(&h);
            errors += e;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let pages = pages.load(Ordering::Relaxed);
    let items = items.load(Ordering::Relaxed);
    let line = json!({
        "scenario": "history",
        "users": names.len(),
        "conversations": convs.len(),
        "messages_per_conversation": messages,
        "seed_posts_per_s": r1(posted as f64 / seed_secs),
        "workers": workers,
        "page_limit": limit,
        "duration_s": r1(secs),
        "pages": pages,
        "pages_per_s": r1(pages as f64 / secs),
        "avg_items_per_page": r1(items as f64 / pages.max(1) as f64),
        "errors": errors,
        "latency": latency_json(&hist),
    });
    let mut rows = vec![
        (
            "seed (REST sendMessage)".to_string(),
            format!("{posted} posts at {:.0}/s", posted as f64 / seed_secs),
        ),
        (
            "pages/s".to_string(),
            format!(
                "{:.0}  ({workers} workers, limit {limit}, {:.1} items/page, errors {errors})",
                pages as f64 / secs,
                items as f64 / pages.max(1) as f64
            ),
        ),
    ];
    rows.extend(latency_rows("page", &hist));
    Ok((line, rows))
}
