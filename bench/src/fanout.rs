//! Fan-out: R rooms x M members, S senders per room, driven open-loop.
//!
//! Every member holds one WebSocket joined to its room. Senders send on a fixed
//! schedule computed from the clock (`start + k * interval`), never from the
//! previous ack, so a slow server shows up as latency instead of as a lower
//! offered rate (no coordinated omission). Each body carries its phase number
//! and its *scheduled* send time (`p<phase> t<µs since start>`); every receiver,
//! the sender's own echo included, records arrival minus scheduled time in an
//! HDR histogram. Acks count as persisted messages.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt, TryStreamExt, stream};
use hdrhistogram::Histogram;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{Api, Ws, frame, ws_join};
use crate::seed::Seeder;
use crate::stats::{latency_json, new_hist, own_cpu_secs, p99_ms, r1};

/// Shape of a fan-out: how many rooms, members per room, senders per room.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub rooms: usize,
    pub members: usize,
    pub senders: usize,
    /// With a second node: every other sender connects there.
    pub split_senders: bool,
}

/// What one connection's reader has seen in the current phase.
struct ConnStats {
    hist: Mutex<Histogram<u64>>,
    deliveries: AtomicU64,
    acks: AtomicU64,
    errors: AtomicU64,
    late: AtomicU64,
    last_us: AtomicU64,
    /// Every text frame ever read (never reset): used to wait for quiet.
    frames: AtomicU64,
    closed: AtomicBool,
}

struct Sender {
    room: usize,
    sink: SplitSink<Ws, Message>,
}

/// All connections of a fan-out, joined and ready to run phases.
pub struct Fleet {
    pub usernames: Vec<String>,
    pub shape: Shape,
    rooms: Vec<String>,
    senders: Vec<Sender>,
    /// Sinks of non-sending members, kept so their connections stay whole.
    _idle_sinks: Vec<SplitSink<Ws, Message>>,
    conns: Vec<Arc<ConnStats>>,
    phase: Arc<AtomicU32>,
    t0: Instant,
}

/// Result of one phase at one offered rate.
pub struct PhaseResult {
    pub hist: Histogram<u64>,
    pub json: Value,
    pub ok_under_50ms: bool,
}

static ERROR_SHOWN: AtomicBool = AtomicBool::new(false);

#[derive(Deserialize)]
struct Frame {
    #[serde(rename = "type")]
    ty: String,
    body: Option<String>,
    client_id: Option<String>,
    code: Option<String>,
    message: Option<String>,
}

/// `p<phase> t<µs>` -> (phase, µs).
fn parse_body(body: &str) -> Option<(u32, u64)> {
    let (p, t) = body.strip_prefix('p')?.split_once(" t")?;
    Some((p.parse().ok()?, t.parse().ok()?))
}

/// `p<phase>-...` -> phase.
fn parse_client_id(id: &str) -> Option<u32> {
    id.strip_prefix('p')?.split_once('-')?.0.parse().ok()
}

async fn reader(
    mut rx: SplitStream<Ws>,
    stats: Arc<ConnStats>,
    phase: Arc<AtomicU32>,
    t0: Instant,
) {
    while let Some(msg) = rx.next().await {
        let text = match msg {
            Ok(Message::Text(text)) => text,
            Ok(Message::Close(close)) => {
                eprintln!("fanout: a connection was closed by the server: {close:?}");
                break;
            }
            Ok(_) => continue,
            Err(err) => {
                eprintln!("fanout: a connection failed: {err}");
                break;
            }
        };
        let Ok(f) = serde_json::from_str::<Frame>(text.as_str()) else {
            stats.errors.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        stats.frames.fetch_add(1, Ordering::Relaxed);
        let now_us = t0.elapsed().as_micros() as u64;
        let current = phase.load(Ordering::Relaxed);
        match f.ty.as_str() {
            "message" => match f.body.as_deref().and_then(parse_body) {
                Some((p, sched)) if p == current => {
                    if let Ok(mut h) = stats.hist.lock() {
                        h.saturating_record(now_us.saturating_sub(sched).max(1));
                    }
                    stats.deliveries.fetch_add(1, Ordering::Relaxed);
                    stats.last_us.fetch_max(now_us, Ordering::Relaxed);
                }
                _ => {
                    stats.late.fetch_add(1, Ordering::Relaxed);
                }
            },
            "ack" if f.client_id.as_deref().and_then(parse_client_id) == Some(current) => {
                stats.acks.fetch_add(1, Ordering::Relaxed);
                stats.last_us.fetch_max(now_us, Ordering::Relaxed);
            }
            "error" => {
                stats.errors.fetch_add(1, Ordering::Relaxed);
                if !ERROR_SHOWN.swap(true, Ordering::Relaxed) {
                    eprintln!(
                        "fanout: first error frame: {} {}",
                        f.code.unwrap_or_default(),
                        f.message.unwrap_or_default()
                    );
                }
            }
            _ => {}
        }
    }
    stats.closed.store(true, Ordering::Relaxed);
}

impl Fleet {
    /// Seeds R*M users, logs them in, makes R public groups, joins everyone to
    /// their room over REST and then over the WebSocket. With `api2` (a second
    /// node of a cluster), every other member who does not send connects there,
    /// so each message crosses nodes to reach half its audience.
    pub async fn setup(
        api: &Api,
        api2: Option<&Api>,
        seeder: &Seeder,
        tag: &str,
        shape: Shape,
    ) -> Result<Self> {
        let started = std::time::Instant::now();
        let n = shape.rooms * shape.members;
        let (usernames, tokens) = seeder.accounts(api, &format!("f{tag}_"), n).await?;
        let mut rooms = Vec::with_capacity(shape.rooms);
        for r in 0..shape.rooms {
            let owner = &tokens[r * shape.members];
            rooms.push(
                api.create_group(owner, &format!("bench {tag} room {r}"))
                    .await?,
            );
        }
        let joins = (0..n).filter(|i| i % shape.members != 0);
        stream::iter(joins)
            .map(|i| api.join_group(&tokens[i], &rooms[i / shape.members]))
            .buffer_unordered(16)
            .try_collect::<Vec<()>>()
            .await?;
        let sockets: Vec<(usize, Ws)> = stream::iter(0..n)
            .map(|i| {
                let (token, room) = (&tokens[i], &rooms[i / shape.members]);
                let sends = i % shape.members < shape.senders;
                let node = match api2 {
                    Some(second) if (!sends || shape.split_senders) && i % 2 == 1 => second,
                    _ => api,
                };
                async move {
                    let mut ws = node.ws_connect(token).await?;
                    ws_join(&mut ws, room).await?;
                    anyhow::Ok((i, ws))
                }
            })
            .buffered(32)
            .try_collect()
            .await?;

        let t0 = Instant::now();
        let phase = Arc::new(AtomicU32::new(0));
        let mut senders = Vec::new();
        let mut idle = Vec::new();
        let mut conns = Vec::new();
        for (i, ws) in sockets {
            let (sink, rx) = ws.split();
            if i % shape.members < shape.senders {
                senders.push(Sender {
                    room: i / shape.members,
                    sink,
                });
            } else {
                idle.push(sink);
            }
            let stats = Arc::new(ConnStats {
                hist: Mutex::new(new_hist()),
                deliveries: AtomicU64::new(0),
                acks: AtomicU64::new(0),
                errors: AtomicU64::new(0),
                late: AtomicU64::new(0),
                last_us: AtomicU64::new(0),
                frames: AtomicU64::new(0),
                closed: AtomicBool::new(false),
            });
            tokio::spawn(reader(rx, stats.clone(), phase.clone(), t0));
            conns.push(stats);
        }
        eprintln!(
            "fanout: {} rooms x {} members ({} senders/room) ready in {:.1} s",
            shape.rooms,
            shape.members,
            shape.senders,
            started.elapsed().as_secs_f64()
        );
        Ok(Self {
            usernames,
            shape,
            rooms,
            senders,
            _idle_sinks: idle,
            conns,
            phase,
            t0,
        })
    }

    fn sum(&self, f: impl Fn(&ConnStats) -> u64) -> u64 {
        self.conns.iter().map(|c| f(c)).sum()
    }

    /// Waits until no frame has arrived for a second (at most `max`), so a
    /// backlog from an overloaded phase does not spill into the next one.
    pub async fn quiesce(&self, max: Duration) {
        let until = Instant::now() + max;
        let mut last = self.sum(|c| c.frames.load(Ordering::Relaxed));
        while Instant::now() < until {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let now = self.sum(|c| c.frames.load(Ordering::Relaxed));
            if now == last {
                return;
            }
            last = now;
        }
        eprintln!("fanout: the server was still delivering after {max:?}");
    }

    /// Offers `rate` messages/s in total for `duration`, then waits up to
    /// `drain` for every ack and delivery.
    pub async fn run_phase(
        &mut self,
        rate: f64,
        duration: Duration,
        drain: Duration,
    ) -> PhaseResult {
        let p = self.phase.fetch_add(1, Ordering::SeqCst) + 1;
        for c in &self.conns {
            if let Ok(mut h) = c.hist.lock() {
                h.reset();
            }
            for a in [&c.deliveries, &c.acks, &c.errors, &c.late, &c.last_us] {
                a.store(0, Ordering::Relaxed);
            }
        }
        let cpu_before = own_cpu_secs();
        let n = self.senders.len();
        let interval = Duration::from_secs_f64(n as f64 / rate);
        let start = Instant::now() + Duration::from_millis(50);
        let end = start + duration;
        let start_us = (start - self.t0).as_micros() as u64;

        let mut tasks = Vec::with_capacity(n);
        for (k, mut s) in std::mem::take(&mut self.senders).into_iter().enumerate() {
            let room = self.rooms[s.room].clone();
            let t0 = self.t0;
            let offset = interval.mul_f64(k as f64 / n as f64);
            tasks.push(tokio::spawn(async move {
                let (mut sent, mut failed) = (0u64, false);
                for i in 0u32.. {
                    let sched = start + offset + interval * i;
                    if sched >= end {
                        break;
                    }
                    tokio::time::sleep_until(sched).await;
                    let us = (sched - t0).as_micros() as u64;
                    let msg = frame(&json!({
                        "type": "send",
                        "conversation": room,
                        "body": format!("p{p} t{us}"),
                        "client_id": format!("p{p}-{k}-{i}"),
                    }));
                    if s.sink.send(msg).await.is_err() {
                        failed = true;
                        break;
                    }
                    sent += 1;
                }
                (s, sent, failed)
            }));
        }
        let (mut sent, mut send_failures) = (0u64, 0u64);
        for t in tasks {
            match t.await {
                Ok((s, n_sent, failed)) => {
                    sent += n_sent;
                    send_failures += u64::from(failed);
                    self.senders.push(s);
                }
                Err(err) => {
                    eprintln!("fanout: a sender task failed: {err}");
                    send_failures += 1;
                }
            }
        }
        let expected = sent * self.shape.members as u64;
        let drain_until = Instant::now() + drain;
        while Instant::now() < drain_until {
            let delivered = self.sum(|c| c.deliveries.load(Ordering::Relaxed));
            let acked = self.sum(|c| c.acks.load(Ordering::Relaxed));
            if delivered >= expected && acked >= sent {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        let mut hist = new_hist();
        for c in &self.conns {
            if let Ok(h) = c.hist.lock() {
                // Same bounds everywhere, so adding cannot fail.
                let _ = hist.add(&*h);
            }
        }
        let deliveries = self.sum(|c| c.deliveries.load(Ordering::Relaxed));
        let acks = self.sum(|c| c.acks.load(Ordering::Relaxed));
        let errors = self.sum(|c| c.errors.load(Ordering::Relaxed));
        let late = self.sum(|c| c.late.load(Ordering::Relaxed));
        let closed = self
            .conns
            .iter()
            .filter(|c| c.closed.load(Ordering::Relaxed))
            .count();
        let last_us = self
            .conns
            .iter()
            .map(|c| c.last_us.load(Ordering::Relaxed))
            .max()
            .unwrap_or(0);
        let elapsed = (last_us.saturating_sub(start_us) as f64 / 1e6).max(duration.as_secs_f64());
        let complete = deliveries >= expected && acks >= sent;
        let p99 = p99_ms(&hist);
        let ok_under_50ms = complete && closed == 0 && errors == 0 && p99 < 50.0;
        let wall = start.elapsed().as_secs_f64();
        // Near 100 % of its one CPU, the generator (not the server) may be the limit.
        let generator_cpu_pct = match (cpu_before, own_cpu_secs()) {
            (Some(b), Some(a)) if wall > 0.0 => Some(r1((a - b) / wall * 100.0)),
            _ => None,
        };
        let json = json!({
            "offered_rate": rate,
            "duration_s": duration.as_secs_f64(),
            "sent": sent,
            "acks": acks,
            "deliveries": deliveries,
            "expected_deliveries": expected,
            // Accounting: sent = acked + unacked; expected = delivered + lost
            // (+ excess, which would mean duplicates). `late` are deliveries of an
            // earlier phase's messages that arrived during this one.
            "unacked": sent.saturating_sub(acks),
            "lost": expected.saturating_sub(deliveries),
            "excess_deliveries": deliveries.saturating_sub(expected),
            "late_from_earlier_phase": late,
            "p99_under_50ms": ok_under_50ms,
            "generator_cpu_pct": generator_cpu_pct,
            "persisted_msgs_per_s": r1(acks as f64 / elapsed),
            "deliveries_per_s": r1(deliveries as f64 / elapsed),
            "latency": latency_json(&hist),
            "error_frames": errors,
            "send_failures": send_failures,
            "closed_connections": closed,
            "complete": complete,
        });
        if !complete {
            self.quiesce(Duration::from_secs(60)).await;
        }
        PhaseResult {
            hist,
            json,
            ok_under_50ms,
        }
    }
}

/// Table rows for one phase.
pub fn phase_rows(label: &str, r: &PhaseResult) -> Vec<(String, String)> {
    let j = &r.json;
    let mut rows = vec![(
        format!("{label} offered / persisted / deliveries per s"),
        format!(
            "{} / {} / {}",
            j["offered_rate"], j["persisted_msgs_per_s"], j["deliveries_per_s"]
        ),
    )];
    rows.extend(crate::stats::latency_rows(label, &r.hist));
    rows.push((
        format!("{label} sent / acked / delivered (expected)"),
        format!(
            "{} / {} / {} ({})",
            j["sent"], j["acks"], j["deliveries"], j["expected_deliveries"],
        ),
    ));
    rows.push((
        format!("{label} unacked / lost / excess / late"),
        format!(
            "{} / {} / {} / {}  errors={} closed={} generator CPU {}%",
            j["unacked"],
            j["lost"],
            j["excess_deliveries"],
            j["late_from_earlier_phase"],
            j["error_frames"],
            j["closed_connections"],
            j["generator_cpu_pct"]
        ),
    ));
    rows
}

/// The fan-out scenario: a sweep of `sweep` rates (ascending; stops at the
/// first rate that misses p99 < 50 ms or loses messages), then one longer
/// phase at `rate`.
#[allow(clippy::too_many_arguments)]
pub async fn scenario(
    api: &Api,
    api2: Option<&Api>,
    seeder: &Seeder,
    tag: &str,
    shape: Shape,
    rate: f64,
    duration: Duration,
    sweep: &[f64],
    sweep_duration: Duration,
    drain: Duration,
) -> Result<(Value, Vec<(String, String)>)> {
    let mut fleet = Fleet::setup(api, api2, seeder, tag, shape).await?;
    // A short warm-up so connection buffers and caches are settled.
    fleet
        .run_phase(rate.min(20.0), Duration::from_millis(500), drain)
        .await;
    let mut rows = Vec::new();
    let mut steps = Vec::new();
    let mut best: Option<f64> = None;
    for &r in sweep {
        let step = fleet.run_phase(r, sweep_duration, drain).await;
        rows.push((
            format!("sweep @{r}/s"),
            format!(
                "persisted {}/s, deliveries {}/s, p99 {} ms, complete {}",
                step.json["persisted_msgs_per_s"],
                step.json["deliveries_per_s"],
                step.json["latency"]["p99_ms"],
                step.json["complete"]
            ),
        ));
        let ok = step.ok_under_50ms;
        steps.push(step.json);
        if !ok {
            break;
        }
        best = Some(r);
    }
    if !sweep.is_empty() {
        rows.push((
            "highest swept rate with p99 < 50 ms".into(),
            best.map_or("none".into(), |b| format!("{b} msgs/s")),
        ));
    }
    let main = fleet.run_phase(rate, duration, drain).await;
    rows.extend(phase_rows(&format!("@{rate}/s"), &main));
    let line = json!({
        "scenario": "fanout",
        "shape": {"rooms": shape.rooms, "members": shape.members, "senders_per_room": shape.senders},
        "offered_deliveries_per_s": rate * shape.members as f64,
        "main": main.json,
        "sweep": steps,
        "best_rate_p99_under_50ms": best,
    });
    Ok((line, rows))
}
