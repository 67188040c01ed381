//! Login storm: logins/s while a fan-out runs, and the fan-out p99 with and
//! without the storm.
//!
//! One fan-out fleet runs the same open-loop rate twice: first alone, then while
//! `workers` closed-loop clients log in (correct password, so no lockouts) as
//! the fleet's users for the whole phase. Logins run the server's argon2id
//! verify, which competes with message persistence and delivery for the CPU.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Result;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::client::Api;
use crate::fanout::{Fleet, Shape, phase_rows};
use crate::seed::{PASSWORD, Seeder};
use crate::stats::{latency_json, latency_rows, new_hist, r1};

pub async fn scenario(
    api: &Api,
    seeder: &Seeder,
    tag: &str,
    shape: Shape,
    rate: f64,
    duration: Duration,
    workers: usize,
) -> Result<(Value, Vec<(String, String)>)> {
    let mut fleet = Fleet::setup(api, None, seeder, tag, shape).await?;
    let drain = Duration::from_secs(5);
    fleet
        .run_phase(rate.min(20.0), Duration::from_millis(500), drain)
        .await;
    let calm = fleet.run_phase(rate, duration, drain).await;

    let logins = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + duration;
    let mut tasks = Vec::new();
    for w in 0..workers.max(1) {
        let api = api.clone();
        let names = fleet.usernames.clone();
        let (logins, failures) = (logins.clone(), failures.clone());
        tasks.push(tokio::spawn(async move {
            let mut hist = new_hist();
            let mut i = w;
            while Instant::now() < end {
                let t = Instant::now();
                match api.login(&names[i % names.len()], PASSWORD).await {
                    Ok(_) => {
                        hist.saturating_record((t.elapsed().as_micros() as u64).max(1));
                        logins.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(err) => {
                        if failures.fetch_add(1, Ordering::Relaxed) == 0 {
                            eprintln!("login storm: {err:#}");
                        }
                    }
                }
                i += workers;
            }
            hist
        }));
    }
    let storm_started = Instant::now();
    let stormy = fleet.run_phase(rate, duration, drain).await;
    let mut login_hist = new_hist();
    for t in tasks {
        if let Ok(h) = t.await {
            let _ = login_hist.add(&h);
        }
    }
    let storm_secs = storm_started
        .elapsed()
        .as_secs_f64()
        .max(duration.as_secs_f64());
    let logins = logins.load(Ordering::Relaxed);
    let failures = failures.load(Ordering::Relaxed);

    let line = json!({
        "scenario": "login_storm",
        "shape": {"rooms": shape.rooms, "members": shape.members, "senders_per_room": shape.senders},
        "offered_rate": rate,
        "login_workers": workers,
        "logins": logins,
        "login_failures": failures,
        "logins_per_s": r1(logins as f64 / storm_secs),
        "login_latency": latency_json(&login_hist),
        "fanout_without_storm": calm.json,
        "fanout_with_storm": stormy.json,
    });
    let mut rows = vec![(
        "logins/s during the fan-out".to_string(),
        format!(
            "{:.1}  ({workers} workers, {logins} ok, {failures} failed)",
            logins as f64 / storm_secs
        ),
    )];
    rows.extend(latency_rows("login", &login_hist));
    rows.extend(phase_rows("calm", &calm));
    rows.extend(phase_rows("storm", &stormy));
    Ok((line, rows))
}
