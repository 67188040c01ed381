//! Sliding-window counters for brute-force limits (login failures, sign-ups).
//!
//! Not `governor`: a failure limit is *charged* before an attempt (atomically with
//! the check, so parallel attempts cannot all pass it) and *refunded* when the
//! attempt succeeds, and governor's buckets cannot refund. The window keeps the
//! instants of recent events per key; memory is bounded by pruning.
//!
//! A `Throttle` is what the handlers use: a named window on this node and, in
//! cluster mode, the same window in a `SharedCounter` (Redis: `cluster::counters`),
//! so the limit holds across nodes. The node's window is charged first (a refusal
//! there needs no round trip); if the counter is unreachable, it alone decides.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::rate_limits::SharedCounter;

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

    /// Checks and records in one step under the lock, and returns the charge: it
    /// is refunded when dropped unless `keep` is called. Charging before the work
    /// means N parallel attempts against a limit of `max` get at most `max` through.
    pub fn charge<'a>(&'a self, key: &str) -> Result<Charge<'a>, Duration> {
        let now = Instant::now();
        let Ok(mut map) = self.events.lock() else {
            return Ok(Charge {
                window: self,
                key: key.to_owned(),
                at: now,
                kept: true,
            });
        };
        if let Some(times) = map.get_mut(key) {
            self.prune(times, now);
            if let Some(oldest) = times.front()
                && times.len() >= self.max
            {
                return Err(self.window.saturating_sub(now.duration_since(*oldest)));
            }
        }
        self.push(&mut map, key, now);
        Ok(Charge {
            window: self,
            key: key.to_owned(),
            at: now,
            kept: false,
        })
    }

    /// Takes back one event recorded at `at` for `key` (a refunded charge).
    fn refund(&self, key: &str, at: Instant) {
        let Ok(mut map) = self.events.lock() else {
            return;
        };
        if let Some(times) = map.get_mut(key) {
            if let Some(pos) = times.iter().rposition(|t| *t == at) {
                times.remove(pos);
            }
            if times.is_empty() {
                map.remove(key);
            }
        }
    }

    fn prune(&self, times: &mut VecDeque<Instant>, now: Instant) {
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            times.pop_front();
        }
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
        self.push(&mut map, key, now);
    }

    fn push(&self, map: &mut HashMap<String, VecDeque<Instant>>, key: &str, now: Instant) {
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

/// One event charged to a `SlidingWindow`: refunded on drop (success, an error
/// that is not a failed attempt, a cancelled request) unless `keep` is called.
#[must_use]
pub struct Charge<'a> {
    window: &'a SlidingWindow,
    key: String,
    at: Instant,
    kept: bool,
}

impl Charge<'_> {
    /// The attempt failed: the event stays in the window.
    pub fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Charge<'_> {
    fn drop(&mut self) {
        if !self.kept {
            self.window.refund(&self.key, self.at);
        }
    }
}

/// A named sliding window, per node and, in cluster mode, across the cluster.
pub struct Throttle {
    /// The limit's name: in logs and in its Redis keys.
    name: &'static str,
    max: u32,
    window: Duration,
    local: SlidingWindow,
    shared: Option<Arc<dyn SharedCounter>>,
}

impl Throttle {
    /// At most `max` events per key within `window`; counted in `shared` too
    /// when given (cluster mode).
    pub fn new(
        name: &'static str,
        max: u32,
        window: Duration,
        shared: Option<Arc<dyn SharedCounter>>,
    ) -> Self {
        Self {
            name,
            max,
            window,
            local: SlidingWindow::new(max, window),
            shared,
        }
    }

    /// `SlidingWindow::charge`, on this node and then across the cluster. The
    /// attempt is refunded from both when dropped unless `keep` is called.
    pub async fn charge(&self, key: &str) -> Result<Attempt<'_>, Duration> {
        let local = self.local.charge(key)?;
        let remote = match &self.shared {
            // max 0 never refuses (as on one node): nothing to share.
            Some(shared) if self.max > 0 => {
                match shared.charge(self.name, key, self.max, self.window).await {
                    // `local` is dropped, so refunded: this attempt never happened.
                    Some(Err(wait)) => return Err(wait),
                    Some(Ok(member)) => Some(RemoteCharge {
                        shared: Arc::clone(shared),
                        limit: self.name,
                        key: key.to_owned(),
                        member,
                        kept: false,
                    }),
                    None => None,
                }
            }
            _ => None,
        };
        Ok(Attempt { local, remote })
    }

    /// Checks and records in one step (attempts that always count).
    pub async fn hit(&self, key: &str) -> Result<(), Duration> {
        if self.shared.is_none() {
            return self.local.hit(key);
        }
        self.charge(key).await.map(Attempt::keep)
    }

    /// Records an event for `key`, over the limit or not.
    pub async fn record(&self, key: &str) {
        self.local.record(key);
        if let Some(shared) = &self.shared {
            shared.record(self.name, key, self.max, self.window).await;
        }
    }

    /// Forgets `key` (a successful login clears its failures).
    pub async fn clear(&self, key: &str) {
        self.local.clear(key);
        if let Some(shared) = &self.shared {
            shared.clear(self.name, key).await;
        }
    }
}

/// One event charged to a `Throttle`: refunded on drop (success, an error that
/// is not a failed attempt, a cancelled request) unless `keep` is called.
#[must_use]
pub struct Attempt<'a> {
    local: Charge<'a>,
    remote: Option<RemoteCharge>,
}

impl Attempt<'_> {
    /// The attempt failed: the event stays in the window, here and in Redis.
    pub fn keep(self) {
        self.local.keep();
        if let Some(mut remote) = self.remote {
            remote.kept = true;
        }
    }
}

/// The Redis half of an `Attempt`; its refund runs in the background (`Drop`
/// cannot wait), bounded by the Redis timeout.
struct RemoteCharge {
    shared: Arc<dyn SharedCounter>,
    limit: &'static str,
    key: String,
    member: String,
    kept: bool,
}

impl Drop for RemoteCharge {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let shared = Arc::clone(&self.shared);
        let (limit, key, member) = (
            self.limit,
            std::mem::take(&mut self.key),
            std::mem::take(&mut self.member),
        );
        runtime.spawn(async move { shared.refund(limit, &key, &member).await });
    }
}

/// Seconds for a `Retry-After` header, rounded up.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

/// Brute-force limits, keyed by username or client address (cluster mode:
/// counted across nodes).
pub struct Throttles {
    pub login_per_user: Throttle,
    pub login_per_ip: Throttle,
    /// Wrong current passwords at `PUT /auth/password`, by user id: its own
    /// counter, so a login lockout someone else caused never stops the owner of
    /// a session from changing their password.
    pub password_change_per_user: Throttle,
    pub register_per_ip: Throttle,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::counters::RedisCounters;

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
    fn charges_count_at_once_and_are_refunded_unless_kept() {
        let w = SlidingWindow::new(2, Duration::from_secs(60));
        let a = w.charge("u").unwrap();
        let b = w.charge("u").unwrap();
        assert!(
            w.charge("u").is_err(),
            "two outstanding charges fill the window"
        );
        drop(a);
        let c = w.charge("u").unwrap();
        b.keep();
        c.keep();
        assert!(w.charge("u").is_err());
        assert!(w.charge("other").is_ok());
    }

    #[test]
    fn parallel_charges_never_exceed_the_limit() {
        let w = std::sync::Arc::new(SlidingWindow::new(10, Duration::from_secs(60)));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let w = w.clone();
                std::thread::spawn(move || {
                    (0..50)
                        .filter(|_| w.charge("victim").map(Charge::keep).is_ok())
                        .count()
                })
            })
            .collect();
        let passed: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(passed, 10);
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(3)), 3);
    }

    #[tokio::test]
    async fn with_redis_unreachable_a_throttle_counts_on_this_node() {
        let shared =
            RedisCounters::new(&"redis://127.0.0.1:1".to_owned().into(), "t").expect("a valid URL");
        let t = Throttle::new(
            "login_per_user",
            2,
            Duration::from_secs(60),
            Some(Arc::new(shared) as Arc<dyn SharedCounter>),
        );
        t.charge("u").await.unwrap().keep();
        drop(t.charge("u").await.unwrap());
        t.charge("u").await.unwrap().keep();
        let wait = t
            .charge("u")
            .await
            .err()
            .expect("two kept failures fill it");
        assert!(wait <= Duration::from_secs(60));
        t.clear("u").await;
        assert!(t.hit("u").await.is_ok());
        t.record("u").await;
        assert!(t.hit("u").await.is_err());
    }
}
