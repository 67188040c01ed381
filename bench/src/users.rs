//! Many users: sends and logins measured after the user base has grown.
//!
//! A small fan-out fleet is set up first. Then, for each step of `steps`
//! (ascending totals, e.g. 10,000 and 100,000), users are seeded straight into
//! the database (`Seeder::seed_users`) until that many exist besides the
//! fleet, and two measurements run one after the other: an open-loop fan-out
//! phase at `rate` (sends), and `workers` closed-loop clients logging in as
//! random seeded users (logins: lookup by username plus argon2id verify).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::client::Api;
use crate::fanout::{Fleet, Shape, phase_rows};
use crate::history::Rng;
use crate::seed::{PASSWORD, Seeder};
use crate::stats::{latency_json, latency_rows, new_hist, r1};

/// Closed-loop logins as random users of `names` for `duration`:
/// (latency histogram of successes, failures, seconds).
pub async fn login_loop(
    api: &Api,
    names: Arc<Vec<String>>,
    workers: usize,
    duration: Duration,
) -> (Histogram<u64>, u64, f64) {
    let started = Instant::now();
    let end = started + duration;
    let mut tasks = Vec::new();
    for w in 0..workers.max(1) {
        let (api, names) = (api.clone(), names.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng::new(0x2545_f491 ^ (w as u64 + 7));
            let (mut hist, mut failures) = (new_hist(), 0u64);
            while Instant::now() < end {
                let name = &names[rng.below(names.len() as u64) as usize];
                let t = Instant::now();
                match api.login(name, PASSWORD).await {
                    Ok(_) => hist.saturating_record((t.elapsed().as_micros() as u64).max(1)),
                    Err(err) => {
                        if failures == 0 {
                            eprintln!("users: login failed: {err:#}");
                        }
                        failures += 1;
                    }
                }
            }
            (hist, failures)
        }));
    }
    let (mut hist, mut failures) = (new_hist(), 0);
    for t in tasks {
        if let Ok((h, f)) = t.await {
            let _ = hist.add(&h);
            failures += f;
        }
    }
    (hist, failures, started.elapsed().as_secs_f64())
}

#[allow(clippy::too_many_arguments)]
pub async fn scenario(
    api: &Api,
    seeder: &Seeder,
    tag: &str,
    shape: Shape,
    steps: &[usize],
    rate: f64,
    duration: Duration,
    workers: usize,
) -> Result<(Value, Vec<(String, String)>)> {
    let mut fleet = Fleet::setup(api, None, seeder, tag, shape).await?;
    let drain = Duration::from_secs(5);
    fleet
        .run_phase(rate.min(20.0), Duration::from_millis(500), drain)
        .await;
    let mut seeded: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    let mut results = Vec::new();
    for (k, &target) in steps.iter().enumerate() {
        let more = target.saturating_sub(seeded.len());
        let seed_started = std::time::Instant::now();
        if more > 0 {
            let names = seeder.seed_users(&format!("u{tag}s{k}_"), more).await?;
            seeded.extend(names);
        }
        let seed_secs = seed_started.elapsed().as_secs_f64();
        eprintln!(
            "users: {} seeded users (+{more} in {seed_secs:.1} s); measuring",
            seeded.len()
        );
        let sends = fleet.run_phase(rate, duration, drain).await;
        let names = Arc::new(seeded.clone());
        let (hist, failures, secs) = login_loop(api, names, workers, duration).await;
        let label = format!("{} users:", seeded.len());
        rows.push((
            format!("{label} seeding"),
            format!("+{more} users in {seed_secs:.1} s"),
        ));
        rows.extend(phase_rows(&format!("{label} sends @{rate}/s"), &sends));
        rows.push((
            format!("{label} logins/s"),
            format!(
                "{:.1}  ({workers} workers, {} ok, {failures} failed)",
                hist.len() as f64 / secs,
                hist.len()
            ),
        ));
        rows.extend(latency_rows(&format!("{label} login"), &hist));
        results.push(json!({
            "seeded_users": seeded.len(),
            "seeded_now": more,
            "seed_secs": r1(seed_secs),
            "sends": sends.json,
            "logins": {
                "workers": workers,
                "ok": hist.len(),
                "failures": failures,
                "per_s": r1(hist.len() as f64 / secs),
                "latency": latency_json(&hist),
            },
        }));
    }
    let line = json!({
        "scenario": "users",
        "shape": {"rooms": shape.rooms, "members": shape.members, "senders_per_room": shape.senders},
        "offered_rate": rate,
        "steps": results,
    });
    Ok((line, rows))
}
