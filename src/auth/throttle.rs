//! Sliding-window counters for brute-force limits (login failures, sign-ups).
//!
//! Not `governor`: a failure limit must be *checked* before an attempt and *charged*
//! only when the attempt fails, and governor's buckets can only be charged. The
//! window keeps the instants of recent events per key; memory is bounded by pruning.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Prune empty keys once the map grows past this.
const PRUNE_AT: usize = 10_000;

pub struct SlidingWindow {
    max: usize,
    window: Duration,
    events: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl SlidingWindow {
    pub fn new(max: u32, window: Duration) -> Self {
        Self {
            max: max as usize,
            window,
            events: Mutex::default(),
        }
    }

    /// `Err(retry_after)` when `key` already has `max` events within the window.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        self.check_at(key, Instant::now())
    }

    /// Records an event for `key`.
    pub fn record(&self, key: &str) {
        self.record_at(key, Instant::now())
    }

    /// Checks and, if allowed, records in one step (for attempts that always count).
    pub fn hit(&self, key: &str) -> Result<(), Duration> {
        let now = Instant::now();
        self.check_at(key, now)?;
        self.record_at(key, now);
        Ok(())
    }

    /// Forgets `key` (a successful login clears its failures).
    pub fn clear(&self, key: &str) {
        if let Ok(mut map) = self.events.lock() {
            map.remove(key);
        }
    }

    fn check_at(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let Ok(mut map) = self.events.lock() else {
            return Ok(());
        };
        let Some(times) = map.get_mut(key) else {
            return Ok(());
        };
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            times.pop_front();
        }
        match times.front() {
            Some(oldest) if times.len() >= self.max => {
                Err(self.window.saturating_sub(now.duration_since(*oldest)))
            }
            _ => Ok(()),
        }
    }

    fn record_at(&self, key: &str, now: Instant) {
        let Ok(mut map) = self.events.lock() else {
            return;
        };
        if map.len() >= PRUNE_AT {
            let window = self.window;
            map.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.duration_since(*t) < window)
            });
        }
        let times = map.entry(key.to_owned()).or_default();
        times.push_back(now);
        while times.len() > self.max {
            times.pop_front();
        }
    }
}

/// Seconds for a `Retry-After` header, rounded up.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_max_events_then_refuses_until_the_oldest_leaves_the_window() {
        let w = SlidingWindow::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(w.check_at("k", t0).is_ok());
            w.record_at("k", t0 + Duration::from_secs(i));
        }
        let wait = w.check_at("k", t0 + Duration::from_secs(10)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(50));
        assert!(w.check_at("other", t0).is_ok());
        assert!(w.check_at("k", t0 + Duration::from_secs(60)).is_ok());
    }

    #[test]
    fn clear_forgets_a_key() {
        let w = SlidingWindow::new(1, Duration::from_secs(60));
        w.record("k");
        assert!(w.check("k").is_err());
        w.clear("k");
        assert!(w.check("k").is_ok());
    }

    #[test]
    fn hit_counts_every_attempt() {
        let w = SlidingWindow::new(2, Duration::from_secs(60));
        assert!(w.hit("ip").is_ok());
        assert!(w.hit("ip").is_ok());
        assert!(w.hit("ip").is_err());
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(3)), 3);
    }
}
