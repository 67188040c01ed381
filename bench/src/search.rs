//! Search (issue 22): search latency with messages stored, the index's lag
//! behind sends, and what the index costs on disk and in memory.
//!
//! Makes `rooms` public groups (owned by writers, ten rooms each) and
//! `searchers` users, each of whom joins `rooms_each` of them
//! (`POST /groups/{id}/join`); stores `messages` messages spread evenly over
//! the rooms through the real server (WebSocket sends, see
//! `prefill::fill_with`), their bodies generated from a vocabulary
//! (`corpus`), so the scenario knows how many messages in each searcher's
//! rooms every query matches. Then, once a sentinel message is found (the
//! index has caught up):
//!
//! 1. **Latency**: one closed-loop client per searcher for the duration, each
//!    cycling through the kinds of query (`corpus::KINDS`: a common word, a
//!    rare word, two words (AND), `migrat*`, the phrase "blue green"):
//!    `GET /search/messages?q=&limit=`, p50/p95/p99 per kind, requests/s, the
//!    hits each query has in the caller's rooms and the items each page held.
//!    A page with fewer items than min(hits, limit) is counted as short.
//! 2. **Lag**: a writer sends `lag_rate` messages/s over REST into the first
//!    room of searcher 0 for `lag_duration`; every `lag_every`th carries a
//!    unique token, and from its 201 on, searcher 0 searches for the token
//!    every `poll` until found: the time from the 201 to the answer that found
//!    it (an upper bound: it includes up to one poll interval and one search).
//! 3. **Cost**: the size on disk of the index directory (`--index-dir`, the
//!    server's `SEARCH_INDEX_DIR`; allocated blocks, as `du`) and the server's
//!    VmRSS (`--server-pid`), at the start, after storing, after the searches
//!    and after the lag phase, also per 100,000 messages stored.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures_util::{StreamExt, TryStreamExt, stream};
use hdrhistogram::Histogram;
use serde_json::{Value, json};

use crate::client::Api;
use crate::corpus::{self, KINDS, Query, Text};
use crate::history::Rng;
use crate::seed::Seeder;
use crate::stats::{latency_json, latency_rows, new_hist, own_cpu_secs, r1};

/// Rooms each writer owns and fills (one WebSocket each during the fill, under
/// the server's default of 16 connections per user).
const ROOMS_PER_WRITER: usize = 10;
/// How long a search may take to find a message before it counts as missed.
const FIND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the index may take to catch up with the fill.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(600);

/// Sizes of the search scenario.
#[derive(Clone, Debug)]
pub struct SearchArgs {
    pub rooms: usize,
    pub messages: usize,
    pub searchers: usize,
    pub rooms_each: usize,
    pub limit: u32,
    pub duration: Duration,
    pub lag_rate: f64,
    pub lag_duration: Duration,
    pub lag_every: usize,
    pub poll: Duration,
    pub server_pid: Option<u32>,
    pub index_dir: Option<PathBuf>,
}

/// VmRSS, RssAnon and RssFile of a process, in KiB.
fn memory(pid: Option<u32>) -> Option<(u64, u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    Some((
        field("VmRSS:")?,
        field("RssAnon:").unwrap_or(0),
        field("RssFile:").unwrap_or(0),
    ))
}

fn memory_json(m: Option<(u64, u64, u64)>) -> Value {
    match m {
        Some((rss, anon, file)) => json!({ "rss_kib": rss, "anon_kib": anon, "file_kib": file }),
        None => Value::Null,
    }
}

fn memory_text(m: Option<(u64, u64, u64)>) -> String {
    match m {
        Some((rss, anon, file)) => format!(
            "{:.1} MiB  (anon {:.1}, file {:.1})",
            rss as f64 / 1024.0,
            anon as f64 / 1024.0,
            file as f64 / 1024.0
        ),
        None => "n/a (no --server-pid)".to_string(),
    }
}

/// Bytes allocated under `dir` (as `du`: blocks of 512 bytes).
fn du_bytes(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut total = 0;
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        total += meta.blocks() * 512;
        if meta.is_dir() {
            total += du_bytes(&entry.path());
        }
    }
    total
}

fn mib(bytes: u64) -> f64 {
    r1(bytes as f64 / (1024.0 * 1024.0))
}

/// Searches for `q` as `token` every `poll` until a page holds a message;
/// the time from `since` to that answer, or `None` after `timeout`.
async fn time_to_find(
    api: &Api,
    token: &str,
    q: &str,
    since: Instant,
    (poll, timeout): (Duration, Duration),
    errors: &Mutex<u64>,
) -> Option<Duration> {
    while since.elapsed() < timeout {
        match api.search(token, q, 1).await {
            Ok(page) if page.items > 0 => return Some(since.elapsed()),
            Ok(_) => {}
            Err(err) => {
                let mut e = errors.lock().unwrap_or_else(PoisonError::into_inner);
                if *e == 0 {
                    eprintln!("search: a search for {q} failed: {err:#}");
                }
                *e += 1;
            }
        }
        tokio::time::sleep(poll).await;
    }
    None
}

#[derive(Default)]
struct KindStats {
    hist: Option<Histogram<u64>>,
    errors: u64,
    items: u64,
    /// Pages with fewer items than min(hits in the caller's rooms, limit).
    short: u64,
    /// Pages with a `next_cursor`.
    more: u64,
}

impl KindStats {
    fn hist(&mut self) -> &mut Histogram<u64> {
        self.hist.get_or_insert_with(new_hist)
    }
}

pub async fn scenario(
    api: &Api,
    seeder: &Seeder,
    tag: &str,
    args: SearchArgs,
) -> Result<(Value, Vec<(String, String)>)> {
    let rooms = args.rooms.max(1);
    let rooms_each = args.rooms_each.clamp(1, rooms);
    let searchers_n = args.searchers.max(1);
    let mem_start = memory(args.server_pid);
    let disk_start = args.index_dir.as_deref().map(du_bytes);

    // Users, rooms and memberships, all through the API.
    let (_, writers) = seeder
        .accounts(api, &format!("sw{tag}_"), rooms.div_ceil(ROOMS_PER_WRITER))
        .await
        .context("writers")?;
    let (_, searchers) = seeder
        .accounts(api, &format!("sq{tag}_"), searchers_n)
        .await
        .context("searchers")?;
    let writer_of = |room: usize| &writers[room / ROOMS_PER_WRITER];
    let convs: Vec<String> = stream::iter(0..rooms)
        .map(|r| async move {
            api.create_group(writer_of(r), &format!("bench {tag} search {r}"))
                .await
        })
        .buffered(16)
        .try_collect()
        .await?;
    // Searcher s is a member of rooms s*rooms_each .. (s+1)*rooms_each (mod rooms).
    let scope_of = |s: usize| -> Vec<usize> {
        (0..rooms_each)
            .map(|j| (s * rooms_each + j) % rooms)
            .collect()
    };
    let joins: Vec<(usize, usize)> = (0..searchers_n)
        .flat_map(|s| scope_of(s).into_iter().map(move |r| (s, r)))
        .collect();
    let memberships = joins.len();
    stream::iter(joins)
        .map(|(s, r)| api.join_group(&searchers[s], &convs[r]))
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await?;
    eprintln!(
        "search: {rooms} rooms, {} writers, {searchers_n} searchers with {rooms_each} rooms each ({memberships} joins)",
        writers.len()
    );

    // What every query matches in every room, counted here while the server
    // stores the same bodies.
    let queries = Arc::new(corpus::queries());
    let share = |k: usize| args.messages / rooms + usize::from(k < args.messages % rooms);
    let counting = {
        let queries = queries.clone();
        let shares: Vec<usize> = (0..rooms).map(share).collect();
        tokio::task::spawn_blocking(move || {
            shares
                .iter()
                .enumerate()
                .map(|(room, &n)| {
                    let mut counts = vec![0u64; queries.len()];
                    for i in 0..n {
                        let text = Text::of(&corpus::body(room, i));
                        for (c, q) in counts.iter_mut().zip(queries.iter()) {
                            *c += u64::from(q.matches(&text));
                        }
                    }
                    counts
                })
                .collect::<Vec<Vec<u64>>>()
        })
    };
    let targets: Vec<(String, String)> = (0..rooms)
        .map(|r| (writer_of(r).clone(), convs[r].clone()))
        .collect();
    let store_started = Instant::now();
    let fill = crate::prefill::fill_with(
        api,
        &targets,
        args.messages,
        "(search rooms)",
        Arc::new(corpus::body),
    )
    .await?;
    let store_secs = store_started.elapsed().as_secs_f64();
    let counts = counting.await.context("the counting task failed")?;

    // The index has caught up when a message sent after all the others is found.
    let first_room = scope_of(0)[0];
    let sentinel = format!("sentinel{tag}");
    api.send_message(writer_of(first_room), &convs[first_room], &sentinel)
        .await?;
    let acked = Instant::now();
    let sentinel_errors = Mutex::new(0);
    let caught_up = time_to_find(
        api,
        &searchers[0],
        &sentinel,
        acked,
        (Duration::from_millis(50), CATCH_UP_TIMEOUT),
        &sentinel_errors,
    )
    .await;
    let Some(caught_up) = caught_up else {
        bail!("the index did not find a message sent after the fill within {CATCH_UP_TIMEOUT:?}");
    };
    eprintln!(
        "search: the index caught up {:.2} s after the last stored message",
        caught_up.as_secs_f64()
    );
    let mem_stored = memory(args.server_pid);
    let disk_stored = args.index_dir.as_deref().map(du_bytes);

    // Hits of every query in every searcher's rooms.
    let hits: Arc<Vec<Vec<u64>>> = Arc::new(
        (0..searchers_n)
            .map(|s| {
                (0..queries.len())
                    .map(|q| scope_of(s).iter().map(|&r| counts[r][q]).sum())
                    .collect()
            })
            .collect(),
    );
    let by_kind: Arc<Vec<Vec<usize>>> = Arc::new(
        KINDS
            .iter()
            .map(|kind| {
                (0..queries.len())
                    .filter(|&q| queries[q].kind == *kind)
                    .collect()
            })
            .collect(),
    );

    // 1. Latency: one closed-loop client per searcher.
    let cpu_before = own_cpu_secs();
    let started = Instant::now();
    let end = started + args.duration;
    let mut tasks = Vec::new();
    for (w, token) in searchers.iter().enumerate() {
        let (api, token, queries, hits, by_kind) = (
            api.clone(),
            token.clone(),
            queries.clone(),
            hits.clone(),
            by_kind.clone(),
        );
        let limit = args.limit;
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::new(0x5eed_5eed ^ (w as u64 + 1));
            let mut stats: Vec<KindStats> = KINDS.iter().map(|_| KindStats::default()).collect();
            let mut i = w;
            while Instant::now() < end {
                let kind = i % KINDS.len();
                i += 1;
                let choices = &by_kind[kind];
                let q = choices[rng.below(choices.len() as u64) as usize];
                let query: &Query = &queries[q];
                let t = Instant::now();
                let result = api.search(&token, &query.q, limit).await;
                let s = &mut stats[kind];
                match result {
                    Ok(page) => {
                        s.hist()
                            .saturating_record((t.elapsed().as_micros() as u64).max(1));
                        s.items += page.items as u64;
                        s.more += u64::from(page.more);
                        if (page.items as u64) < hits[w][q].min(u64::from(limit)) {
                            s.short += 1;
                        }
                    }
                    Err(err) => {
                        if s.errors == 0 {
                            eprintln!("search ({}): {err:#}", KINDS[kind]);
                        }
                        s.errors += 1;
                    }
                }
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
                total.short += s.short;
                total.more += s.more;
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu_pct = match (cpu_before, own_cpu_secs()) {
        (Some(a), Some(b)) => Some(r1((b - a) / secs * 100.0)),
        _ => None,
    };
    let mem_searched = memory(args.server_pid);

    // 2. Lag: steady REST sends into searcher 0's first room; every
    // `lag_every`th carries a token searcher 0 looks for from its 201 on.
    let lag_total = (args.lag_rate * args.lag_duration.as_secs_f64()).round() as usize;
    let every = args.lag_every.max(1);
    let send_hist = Arc::new(Mutex::new(new_hist()));
    let lag_hist = Arc::new(Mutex::new(new_hist()));
    let send_errors = Arc::new(Mutex::new(0u64));
    let lag_search_errors = Arc::new(Mutex::new(0u64));
    let missed = Arc::new(Mutex::new(0u64));
    let lag_started = Instant::now();
    let mut sends = Vec::with_capacity(lag_total);
    for i in 0..lag_total {
        let at = lag_started + Duration::from_secs_f64(i as f64 / args.lag_rate.max(0.1));
        tokio::time::sleep_until(at.into()).await;
        let token = (i % every == 0).then(|| format!("lag{tag}n{i:07}"));
        let mut body = corpus::body(first_room, 1_000_000 + i);
        if let Some(token) = &token {
            body = format!("{body} {token}");
        }
        let (api, writer, searcher, conv) = (
            api.clone(),
            writer_of(first_room).clone(),
            searchers[0].clone(),
            convs[first_room].clone(),
        );
        let (send_hist, lag_hist, send_errors, lag_search_errors, missed) = (
            send_hist.clone(),
            lag_hist.clone(),
            send_errors.clone(),
            lag_search_errors.clone(),
            missed.clone(),
        );
        let poll = args.poll;
        sends.push(tokio::spawn(async move {
            let t = Instant::now();
            if let Err(err) = api.send_message(&writer, &conv, &body).await {
                let mut e = send_errors.lock().unwrap_or_else(PoisonError::into_inner);
                if *e == 0 {
                    eprintln!("search (lag): a send failed: {err:#}");
                }
                *e += 1;
                return;
            }
            let acked = Instant::now();
            send_hist
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .saturating_record((t.elapsed().as_micros() as u64).max(1));
            let Some(token) = token else {
                return;
            };
            match time_to_find(
                &api,
                &searcher,
                &token,
                acked,
                (poll, FIND_TIMEOUT),
                &lag_search_errors,
            )
            .await
            {
                Some(lag) => lag_hist
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .saturating_record((lag.as_micros() as u64).max(1)),
                None => *missed.lock().unwrap_or_else(PoisonError::into_inner) += 1,
            }
        }));
    }
    let sends_done = lag_started.elapsed().as_secs_f64();
    for t in sends {
        let _ = t.await;
    }
    let lock = |m: &Arc<Mutex<u64>>| *m.lock().unwrap_or_else(PoisonError::into_inner);
    let send_h = send_hist
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let lag_h = lag_hist
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let (send_errors, lag_search_errors, missed) =
        (lock(&send_errors), lock(&lag_search_errors), lock(&missed));
    let sampled = lag_total.div_ceil(every);
    let mem_end = memory(args.server_pid);
    let disk_end = args.index_dir.as_deref().map(du_bytes);

    // The report.
    let per_100k = |x: f64| r1(x / args.messages.max(1) as f64 * 100_000.0);
    let disk_per_100k = disk_stored.map(|d| per_100k(d as f64 / (1024.0 * 1024.0)));
    let rss_per_100k = match (mem_start, mem_stored) {
        (Some(a), Some(b)) => Some(per_100k((b.0 as f64 - a.0 as f64) / 1024.0)),
        _ => None,
    };
    let mut rows = vec![
        (
            "stored before searching".to_string(),
            format!(
                "{} messages in {rooms} rooms at {:.0}/s over WebSocket; index caught up {:.2} s after",
                args.messages,
                args.messages as f64 / store_secs,
                caught_up.as_secs_f64()
            ),
        ),
        ("bodies".to_string(), corpus::describe()),
        (
            "searchers".to_string(),
            format!(
                "{searchers_n} concurrent, each a member of {rooms_each} rooms (~{} messages), limit {}",
                rooms_each * args.messages / rooms,
                args.limit
            ),
        ),
    ];
    let mut all = new_hist();
    let mut kinds = serde_json::Map::new();
    let (mut requests, mut errors, mut short) = (0, 0, 0);
    for (k, (kind, total)) in KINDS.iter().zip(totals.iter_mut()).enumerate() {
        let h = total.hist().clone();
        let _ = all.add(&h);
        requests += h.len();
        errors += total.errors;
        short += total.short;
        let in_scope: Vec<u64> = (0..searchers_n)
            .flat_map(|s| by_kind[k].iter().map(move |&q| (s, q)))
            .map(|(s, q)| hits[s][q])
            .collect();
        let mean = in_scope.iter().sum::<u64>() as f64 / in_scope.len().max(1) as f64;
        let (lo, hi) = (
            in_scope.iter().min().copied().unwrap_or(0),
            in_scope.iter().max().copied().unwrap_or(0),
        );
        let examples: Vec<&str> = by_kind[k]
            .iter()
            .take(3)
            .map(|&q| queries[q].q.as_str())
            .collect();
        let avg_items = total.items as f64 / h.len().max(1) as f64;
        kinds.insert(
            (*kind).into(),
            json!({
                "queries": by_kind[k].iter().map(|&q| queries[q].q.clone()).collect::<Vec<_>>(),
                "hits_in_scope": { "mean": r1(mean), "min": lo, "max": hi },
                "requests": h.len(),
                "per_s": r1(h.len() as f64 / secs),
                "avg_items": r1(avg_items),
                "pages_with_more": total.more,
                "short_pages": total.short,
                "errors": total.errors,
                "latency": latency_json(&h),
            }),
        );
        rows.extend(latency_rows(kind, &h));
        rows.push((
            format!("{kind} hits in the caller's rooms"),
            format!(
                "mean {mean:.1} (min {lo}, max {hi}); {avg_items:.1} items/page; {}",
                examples.join(", ")
            ),
        ));
        rows.push((
            format!("{kind} requests/s, short pages, errors"),
            format!(
                "{:.1}, {}, {}",
                h.len() as f64 / secs,
                total.short,
                total.errors
            ),
        ));
    }
    rows.extend(latency_rows("all searches", &all));
    rows.push((
        "all searches per s".to_string(),
        format!(
            "{:.1}  ({searchers_n} searchers, {secs:.1} s, errors {errors}, short pages {short}; generator CPU {}%)",
            requests as f64 / secs,
            cpu_pct.map_or("?".to_string(), |c| c.to_string())
        ),
    ));
    rows.push((
        "lag: sends".to_string(),
        format!(
            "{lag_total} over REST at {:.0}/s offered ({:.0}/s achieved), {send_errors} errors; ack p50/p99 {:.2} / {:.2} ms",
            args.lag_rate,
            lag_total as f64 / sends_done.max(0.001),
            send_h.value_at_quantile(0.5) as f64 / 1000.0,
            send_h.value_at_quantile(0.99) as f64 / 1000.0
        ),
    ));
    rows.extend(latency_rows("lag: 201 -> found", &lag_h));
    rows.push((
        "lag: sampled, found, missed".to_string(),
        format!(
            "{sampled}, {}, {missed} (every {every}th send; polled every {} ms; {lag_search_errors} search errors)",
            lag_h.len(),
            args.poll.as_millis()
        ),
    ));
    let disk_text = |d: Option<u64>| d.map_or("n/a".to_string(), |d| format!("{} MiB", mib(d)));
    rows.push((
        "index on disk start / stored / end".to_string(),
        format!(
            "{} / {} / {}  ({} MiB per 100,000 messages)",
            disk_text(disk_start),
            disk_text(disk_stored),
            disk_text(disk_end),
            disk_per_100k.map_or("?".to_string(), |d| d.to_string())
        ),
    ));
    for (label, m) in [
        ("server VmRSS at start", mem_start),
        ("server VmRSS after storing", mem_stored),
        ("server VmRSS after searching", mem_searched),
        ("server VmRSS after the lag phase", mem_end),
    ] {
        rows.push((label.to_string(), memory_text(m)));
    }
    rows.push((
        "server VmRSS growth per 100,000 stored".to_string(),
        rss_per_100k.map_or("n/a".to_string(), |r| format!("{r} MiB")),
    ));
    let line = json!({
        "scenario": "search",
        "conversations": rooms,
        "messages": args.messages,
        "writers": writers.len(),
        "searchers": searchers_n,
        "rooms_per_searcher": rooms_each,
        "memberships": memberships,
        "bodies": corpus::describe(),
        "seed_posts_per_s": r1(args.messages as f64 / store_secs),
        "seed": fill,
        "index_caught_up_s": r1(caught_up.as_secs_f64() * 100.0) / 100.0,
        "limit": args.limit,
        "duration_s": r1(secs),
        "requests": requests,
        "requests_per_s": r1(requests as f64 / secs),
        "errors": errors,
        "short_pages": short,
        "generator_cpu_pct": cpu_pct,
        "latency": latency_json(&all),
        "kinds": kinds,
        "lag": {
            "rate": args.lag_rate,
            "sends": lag_total,
            "sends_per_s": r1(lag_total as f64 / sends_done.max(0.001)),
            "send_errors": send_errors,
            "ack_latency": latency_json(&send_h),
            "sampled": sampled,
            "found": lag_h.len(),
            "missed": missed,
            "search_errors": lag_search_errors,
            "poll_ms": args.poll.as_millis() as u64,
            "latency": latency_json(&lag_h),
        },
        "index_dir_bytes": { "start": disk_start, "stored": disk_stored, "end": disk_end },
        "index_mib_per_100k_messages": disk_per_100k,
        "server_memory": {
            "start": memory_json(mem_start),
            "stored": memory_json(mem_stored),
            "searched": memory_json(mem_searched),
            "end": memory_json(mem_end),
        },
        "server_rss_mib_per_100k_messages": rss_per_100k,
    });
    Ok((line, rows))
}
