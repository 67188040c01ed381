//! confab-bench: confab's own load generator.
//!
//! It talks to a running confab over real HTTP and WebSocket (`--url`); large
//! user counts are seeded straight into that server's database (`--mongo-uri`,
//! see `seed`). Each subcommand runs one scenario and prints one JSON line on
//! stdout and a readable table on stderr. With `--prefill N`, N messages are
//! first stored in other conversations through the server (see `prefill`).
//! `scripts/bench` starts a dedicated server and runs them; see
//! docs/benchmarks.md.

mod client;
mod connections;
mod corpus;
mod fanout;
mod history;
mod prefill;
mod reactions;
mod search;
mod seed;
mod stats;
mod storm;
mod users;

use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use serde_json::Value;

#[derive(Parser)]
#[command(
    name = "confab-bench",
    about = "Load generator for confab",
    args_override_self = true
)]
struct Cli {
    /// Base URL of the confab server under test.
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    url: String,
    /// A second node of the same cluster (fanout): members who do not send
    /// connect their WebSocket there, every other one of them.
    #[arg(long)]
    url2: Option<String>,
    /// MongoDB URI of the server's database, with its name (users are seeded there).
    #[arg(long, env = "BENCH_MONGO_URI")]
    mongo_uri: String,
    /// Free-form label copied into every JSON line (e.g. the profile).
    #[arg(long, default_value = "")]
    label: String,
    /// Before the scenario, store this many messages in other conversations
    /// (not the measured ones) through the server.
    #[arg(long, env = "PREFILL", default_value_t = 0)]
    prefill: usize,
    /// Senders (each with its own conversation and WebSocket) for --prefill.
    #[arg(long, default_value_t = 16)]
    prefill_senders: usize,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Args, Clone, Copy)]
struct ShapeArgs {
    /// Rooms (public groups).
    #[arg(long, default_value_t = 10)]
    rooms: usize,
    /// Members per room, each with one WebSocket joined to it.
    #[arg(long, default_value_t = 20)]
    members: usize,
    /// Senders per room (the first members).
    #[arg(long, default_value_t = 2)]
    senders: usize,
    /// With `--url2`: every other sender connects to the second node too, so
    /// its sends are forwarded to the node that owns the room.
    #[arg(long)]
    split_senders: bool,
}

impl ShapeArgs {
    fn shape(self) -> fanout::Shape {
        fanout::Shape {
            rooms: self.rooms.max(1),
            members: self.members.max(1),
            senders: self.senders.clamp(1, self.members.max(1)),
            split_senders: self.split_senders,
        }
    }
}

/// Every subcommand lets a later option override an earlier one, so
/// `scripts/bench --target ... -- --rate 2000` can change a preset.
#[derive(Subcommand)]
enum Scenario {
    /// A sweep of open-loop rates, then one phase at a fixed total rate.
    #[command(args_override_self = true)]
    Fanout {
        #[command(flatten)]
        shape: ShapeArgs,
        /// Total offered messages per second (all senders together).
        #[arg(long, default_value_t = 20.0)]
        rate: f64,
        /// Seconds at `rate`.
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
        /// Comma-separated ascending rates to sweep (`none`: no sweep).
        #[arg(long, default_value = "10,20,40,80,160,320", value_delimiter = ',')]
        sweep: Vec<String>,
        /// Seconds per sweep step.
        #[arg(long, default_value_t = 5.0)]
        sweep_secs: f64,
        /// Seconds to wait after each phase for missing acks and deliveries.
        #[arg(long, default_value_t = 5.0)]
        drain_secs: f64,
    },
    /// N idle authenticated WebSocket connections: connect time and server RSS.
    #[command(args_override_self = true)]
    Connections {
        #[arg(long, default_value_t = 2000)]
        n: usize,
        /// Connections per seeded user.
        #[arg(long, default_value_t = 10)]
        per_user: usize,
        /// Handshakes in flight.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Server pid, for /proc/<pid>/status VmRSS.
        #[arg(long, env = "BENCH_SERVER_PID")]
        server_pid: Option<u32>,
    },
    /// History reads (latest page, a deep `before=` page, REST `after=` and
    /// WebSocket `join` with `since`): p99 per kind.
    #[command(args_override_self = true)]
    History {
        /// Users, all members of every room.
        #[arg(long, default_value_t = 20)]
        users: usize,
        #[arg(long, default_value_t = 1)]
        rooms: usize,
        /// Messages stored in each room first (over WebSocket, through the server).
        #[arg(long, default_value_t = 300)]
        messages: usize,
        /// Concurrent closed-loop readers.
        #[arg(long, default_value_t = 16)]
        workers: usize,
        /// Page size (1-100).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// How far back the `deep` page starts: `before=` last seq minus this.
        #[arg(long, default_value_t = 10_000)]
        depth: u64,
        /// How many messages the `after` and `join` reads replay (the server's
        /// join replays at most 100).
        #[arg(long, default_value_t = 100)]
        replay: u64,
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
    },
    /// Sends and logins after 10,000, then 100,000 (`--steps`) users exist.
    #[command(args_override_self = true)]
    Users {
        #[command(flatten)]
        shape: ShapeArgs,
        /// Comma-separated ascending totals of seeded users.
        #[arg(long, default_value = "10000,100000", value_delimiter = ',')]
        steps: Vec<usize>,
        /// Total offered messages per second during the send measurement.
        #[arg(long, default_value_t = 20.0)]
        rate: f64,
        /// Seconds for each measurement (sends, then logins).
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
        /// Concurrent closed-loop login clients.
        #[arg(long, default_value_t = 8)]
        workers: usize,
    },
    /// Logins/s during a fan-out, and the fan-out p99 with and without it.
    #[command(args_override_self = true)]
    LoginStorm {
        #[command(flatten)]
        shape: ShapeArgs,
        #[arg(long, default_value_t = 20.0)]
        rate: f64,
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
        /// Concurrent closed-loop login clients.
        #[arg(long, default_value_t = 8)]
        workers: usize,
    },
    /// Message search with messages stored (issue 22): latency per kind of
    /// query, the index's lag behind sends, index size and server memory.
    #[command(args_override_self = true)]
    Search {
        /// Rooms (public groups) the messages are stored in.
        #[arg(long, default_value_t = 40)]
        rooms: usize,
        /// Messages stored first, spread evenly over the rooms (over WebSocket,
        /// through the server), bodies from the vocabulary in bench/src/corpus.rs.
        #[arg(long, default_value_t = 4000)]
        messages: usize,
        /// Concurrent closed-loop searchers (users).
        #[arg(long, default_value_t = 16)]
        searchers: usize,
        /// Rooms each searcher joins (the scope of its searches).
        #[arg(long, default_value_t = 10)]
        rooms_each: usize,
        /// Page size (1-50).
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Seconds of searching.
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
        /// Messages per second sent (REST) during the lag measurement.
        #[arg(long, default_value_t = 100.0)]
        lag_rate: f64,
        /// Seconds of the lag measurement.
        #[arg(long, default_value_t = 10.0)]
        lag_secs: f64,
        /// Every this-many-th send carries a token that is searched for.
        #[arg(long, default_value_t = 50)]
        lag_every: usize,
        /// Milliseconds between searches for a token not yet found.
        #[arg(long, default_value_t = 25)]
        poll_ms: u64,
        /// Server pid, for /proc/<pid>/status VmRSS.
        #[arg(long, env = "BENCH_SERVER_PID")]
        server_pid: Option<u32>,
        /// The server's SEARCH_INDEX_DIR, for its size on disk.
        #[arg(long, env = "BENCH_SEARCH_INDEX_DIR")]
        index_dir: Option<std::path::PathBuf>,
    },
    /// Reactions (issue 23): one room, every member toggling open-loop.
    #[command(args_override_self = true)]
    Reactions {
        /// Members of the room, each with a WebSocket joined to it.
        #[arg(long, default_value_t = 200)]
        members: usize,
        /// Messages reacted to.
        #[arg(long, default_value_t = 50)]
        messages: usize,
        /// Toggles per second, all members together.
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
        /// Seconds to wait at the end for every member to hear every toggle.
        #[arg(long, default_value_t = 15.0)]
        drain_secs: f64,
    },
    /// Drops the database named in --mongo-uri (cleanup after a run).
    DropDb,
}

/// The 1-minute load average, if /proc/loadavg is readable.
fn loadavg() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.1))
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let load_before = loadavg();
    if let Scenario::DropDb = cli.scenario {
        return seed::drop_database(&cli.mongo_uri).await;
    }
    let api = client::Api::new(&cli.url)?;
    let api2 = cli.url2.as_deref().map(client::Api::new).transpose()?;
    let seeder = seed::Seeder::connect(&cli.mongo_uri).await?;
    let tag = seed::run_tag();
    let prefill =
        prefill::other_conversations(&api, &seeder, &tag, cli.prefill, cli.prefill_senders)
            .await
            .context("prefill")?;
    let (mut line, rows): (Value, _) = match cli.scenario {
        Scenario::Fanout {
            shape,
            rate,
            secs: s,
            sweep,
            sweep_secs,
            drain_secs,
        } => {
            let mut rates = Vec::new();
            for r in sweep.iter().map(|r| r.trim()) {
                if r.is_empty() || r == "none" {
                    continue;
                }
                let r: f64 = r
                    .parse()
                    .with_context(|| format!("--sweep: {r:?} is not a rate"))?;
                if r > 0.0 {
                    rates.push(r);
                }
            }
            fanout::scenario(
                &api,
                api2.as_ref(),
                &seeder,
                &tag,
                shape.shape(),
                rate,
                secs(s),
                &rates,
                secs(sweep_secs),
                secs(drain_secs),
            )
            .await
            .context("fanout")?
        }
        Scenario::Connections {
            n,
            per_user,
            concurrency,
            server_pid,
        } => connections::scenario(&api, &seeder, &tag, n, per_user, concurrency, server_pid)
            .await
            .context("connections")?,
        Scenario::History {
            users,
            rooms,
            messages,
            workers,
            limit,
            depth,
            replay,
            secs: s,
        } => {
            let args = history::HistoryArgs {
                users,
                rooms,
                messages,
                workers,
                limit,
                depth,
                replay,
                duration: secs(s),
            };
            history::scenario(&api, &seeder, &tag, args)
                .await
                .context("history")?
        }
        Scenario::Users {
            shape,
            steps,
            rate,
            secs: s,
            workers,
        } => users::scenario(
            &api,
            &seeder,
            &tag,
            shape.shape(),
            &steps,
            rate,
            secs(s),
            workers,
        )
        .await
        .context("users")?,
        Scenario::LoginStorm {
            shape,
            rate,
            secs: s,
            workers,
        } => storm::scenario(&api, &seeder, &tag, shape.shape(), rate, secs(s), workers)
            .await
            .context("login storm")?,
        Scenario::Search {
            rooms,
            messages,
            searchers,
            rooms_each,
            limit,
            secs: s,
            lag_rate,
            lag_secs,
            lag_every,
            poll_ms,
            server_pid,
            index_dir,
        } => {
            let args = search::SearchArgs {
                rooms,
                messages,
                searchers,
                rooms_each,
                limit,
                duration: secs(s),
                lag_rate,
                lag_duration: secs(lag_secs),
                lag_every,
                poll: Duration::from_millis(poll_ms.max(1)),
                server_pid,
                index_dir,
            };
            search::scenario(&api, &seeder, &tag, args)
                .await
                .context("search")?
        }
        Scenario::Reactions {
            members,
            messages,
            rate,
            secs: s,
            drain_secs,
        } => {
            let args = reactions::ReactionArgs {
                members,
                messages,
                rate,
                duration: secs(s),
                drain: secs(drain_secs),
            };
            reactions::scenario(&api, &seeder, &tag, args)
                .await
                .context("reactions")?
        }
        Scenario::DropDb => return Ok(()),
    };
    if let Some(obj) = line.as_object_mut() {
        obj.insert("label".into(), cli.label.clone().into());
        obj.insert("prefill".into(), prefill);
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        obj.insert("unix_time".into(), unix.into());
        // Other work on the machine skews every number; record it.
        obj.insert("loadavg_1m_before".into(), load_before.into());
        obj.insert("loadavg_1m_after".into(), loadavg().into());
    }
    let title = line["scenario"].as_str().unwrap_or("scenario").to_string();
    stats::emit(&title, &line, &rows);
    Ok(())
}
