//! Per-user rate limits, shared by REST and WebSocket: one check keyed by
//! (user, action), with every quota set in one place (`RateLimits::new`, from
//! `Config`).
//!
//! A user's sends over REST and over any number of sockets draw on the same
//! bucket, so no transport bypasses another's limit.
//!
//! Cluster mode: the same buckets are kept in a `SharedCounter` too (Redis:
//! `cluster::counters`, given by the composition root), so
//! the quota holds across nodes. The node's own bucket is checked first: the
//! cluster-wide count is at least this node's, so a local refusal needs no round
//! trip. If Redis is unreachable, the node's bucket alone decides.

use crate::ids::UserId;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use futures_util::future::BoxFuture;

use crate::config::{Config, Rate};
use crate::error::ApiError;

/// A shared counter's answer to one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Over the limit: the wait until the next unit, by the counter's clock.
    Refused(Duration),
}

/// The emission interval of a rate of `per_sec` units a second, in µs (at least 1).
pub fn interval_micros(per_sec: u32) -> u64 {
    (1_000_000 / u64::from(per_sec.max(1))).max(1)
}

/// Counts kept for the whole deployment, so that a limit holds across nodes: the
/// port the rate limits and the login and sign-up throttles are given (cluster
/// mode: Redis, `cluster::counters::RedisCounters`; one node: none). Every answer
/// is `None` when the counter cannot be reached: the node's own count decides.
pub trait SharedCounter: Send + Sync {
    /// Takes one unit from the token bucket `limit` of `key` (GCRA: one unit
    /// every `interval_micros`, `burst` at once).
    fn take<'a>(
        &'a self,
        limit: &'a str,
        key: &'a str,
        interval_micros: u64,
        burst: u32,
    ) -> BoxFuture<'a, Option<Verdict>>;

    /// Charges one event to the window `limit` of `key` unless it holds `max`
    /// already. Allowed: the event's member, to refund it with `refund`;
    /// refused: the wait until the oldest event leaves the window.
    fn charge<'a>(
        &'a self,
        limit: &'a str,
        key: &'a str,
        max: u32,
        window: Duration,
    ) -> BoxFuture<'a, Option<Result<String, Duration>>>;

    /// Records one event in the window `limit` of `key`, over `max` or not.
    fn record<'a>(
        &'a self,
        limit: &'a str,
        key: &'a str,
        max: u32,
        window: Duration,
    ) -> BoxFuture<'a, ()>;

    /// Takes back a charged event.
    fn refund<'a>(&'a self, limit: &'a str, key: &'a str, member: &'a str) -> BoxFuture<'a, ()>;

    /// Forgets every event of `key` in the window `limit`.
    fn clear<'a>(&'a self, limit: &'a str, key: &'a str) -> BoxFuture<'a, ()>;
}

/// What a user is doing, for rate limiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Sending a message (REST `sendMessage`, WS `send`).
    Send,
    /// Moving a read marker (REST `markRead`, WS `read`).
    Read,
    /// WS `typing`.
    Typing,
    /// WS `join` and `leave`.
    Join,
    /// Minting a WebSocket ticket (`POST /auth/ws-ticket`).
    Ticket,
    /// Joining the set of conversations: creating, joining or leaving a group,
    /// opening a DM.
    Membership,
    /// Reading history or presence over REST (`listMessages`, `getPresence`).
    History,
}

impl Action {
    fn index(self) -> usize {
        self as usize
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Send => "send",
            Action::Read => "read",
            Action::Typing => "typing",
            Action::Join => "join",
            Action::Ticket => "ws_ticket",
            Action::Membership => "membership",
            Action::History => "history",
        }
    }
}

/// The rate and burst a `Rate` stands for (a zero rate is 1/s, a zero burst
/// the rate), for the node's buckets and the cluster's alike.
fn effective(rate: Rate) -> (NonZeroU32, NonZeroU32) {
    let per_sec = NonZeroU32::new(rate.per_sec).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(rate.burst).unwrap_or(per_sec);
    (per_sec, burst)
}

fn quota(rate: Rate) -> Quota {
    let (per_sec, burst) = effective(rate);
    Quota::per_second(per_sec).allow_burst(burst)
}

fn refused(user_id: &UserId, action: Action, wait: Duration) -> ApiError {
    tracing::warn!(
        event = "rate_limited",
        limit = action.as_str(),
        %user_id,
        "per-user rate limit exceeded"
    );
    ApiError::rate_limited(wait.as_secs_f64().ceil() as u64)
}

/// Checks between two sweeps of idle keys (a user's bucket that has refilled
/// holds nothing worth keeping).
const SWEEP_EVERY: u64 = 4096;

/// The per-user limiter of every action.
pub struct RateLimits {
    /// One keyed limiter per action (governor gives every key of one limiter
    /// the same quota), indexed by `Action::index`.
    limiters: Vec<DefaultKeyedRateLimiter<UserId>>,
    checks: AtomicU64,
    clock: DefaultClock,
    /// Cluster mode: the cluster-wide buckets.
    shared: Option<Shared>,
}

/// The cluster-wide buckets, with each action's (interval in µs, burst) for
/// them, in `Action` order, from the same quotas as the node's limiters.
struct Shared {
    limits: Arc<dyn SharedCounter>,
    rates: Vec<(u64, u32)>,
}

impl RateLimits {
    /// The quota of each action, from the configuration, in `Action` order.
    pub fn rates(config: &Config) -> [(Action, Rate); 7] {
        [
            (
                Action::Send,
                Rate {
                    per_sec: config.ws_max_msgs_per_sec,
                    burst: config.ws_burst,
                },
            ),
            (Action::Read, config.read_rate),
            (Action::Typing, config.typing_rate),
            (Action::Join, config.join_rate),
            (Action::Ticket, config.ws_ticket_rate),
            (Action::Membership, config.membership_rate),
            (Action::History, config.history_rate),
        ]
    }

    pub fn new(config: &Config) -> Self {
        let limiters = Self::rates(config)
            .iter()
            .enumerate()
            .map(|(i, (action, rate))| {
                debug_assert_eq!(action.index(), i);
                RateLimiter::keyed(quota(*rate))
            })
            .collect();
        Self {
            limiters,
            checks: AtomicU64::new(0),
            clock: DefaultClock::default(),
            shared: None,
        }
    }

    /// The same limits, counted across the cluster in `shared` as well.
    pub fn shared(mut self, config: &Config, shared: Arc<dyn SharedCounter>) -> Self {
        let rates = Self::rates(config)
            .iter()
            .map(|(_, rate)| {
                let (per_sec, burst) = effective(*rate);
                (interval_micros(per_sec.get()), burst.get())
            })
            .collect();
        self.shared = Some(Shared {
            limits: shared,
            rates,
        });
        self
    }

    /// Takes one unit of `action` for `user_id`; over the limit, `rate_limited`
    /// with the seconds until the next unit (REST: 429 with `Retry-After`).
    /// Cluster mode: this node's bucket, then the cluster's.
    pub async fn check(&self, user_id: &UserId, action: Action) -> Result<(), ApiError> {
        self.check_local(user_id, action)?;
        let Some(shared) = &self.shared else {
            return Ok(());
        };
        let Some(&(interval, burst)) = shared.rates.get(action.index()) else {
            return Ok(());
        };
        match shared
            .limits
            .take(action.as_str(), user_id.as_str(), interval, burst)
            .await
        {
            // Unreachable Redis: this node's bucket (checked above) decides.
            Some(Verdict::Allowed) | None => Ok(()),
            Some(Verdict::Refused(wait)) => Err(refused(user_id, action, wait)),
        }
    }

    /// This node's bucket only.
    fn check_local(&self, user_id: &UserId, action: Action) -> Result<(), ApiError> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            for limiter in &self.limiters {
                limiter.retain_recent();
                limiter.shrink_to_fit();
            }
        }
        let Some(limiter) = self.limiters.get(action.index()) else {
            return Ok(());
        };
        match limiter.check_key(user_id) {
            Ok(()) => Ok(()),
            Err(not_until) => Err(refused(
                user_id,
                action,
                not_until.wait_time_from(self.clock.now()),
            )),
        }
    }

    /// Users with a bucket in memory for `action`.
    pub fn tracked(&self, action: Action) -> usize {
        self.limiters.get(action.index()).map_or(0, |l| l.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::counters::RedisCounters;
    use crate::error::ErrorCode;

    fn limits_config(vars: &[(&str, &str)]) -> Config {
        let mut all = vec![("CONFAB_ENV", "dev")];
        all.extend_from_slice(vars);
        Config::from_lookup(|k| {
            all.iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| (*v).to_owned())
        })
        .expect("config")
    }

    fn limits(vars: &[(&str, &str)]) -> RateLimits {
        RateLimits::new(&limits_config(vars))
    }

    #[tokio::test]
    async fn each_user_and_action_has_its_own_bucket() {
        let limits = limits(&[("WS_MAX_MSGS_PER_SEC", "1"), ("WS_BURST", "3")]);
        for _ in 0..3 {
            assert!(limits.check(&"a".into(), Action::Send).await.is_ok());
        }
        let err = limits
            .check(&"a".into(), Action::Send)
            .await
            .expect_err("over the burst");
        assert_eq!(err.code, ErrorCode::RateLimited);
        assert_eq!(err.retry_after, Some(1));
        assert!(
            limits.check(&"b".into(), Action::Send).await.is_ok(),
            "another user"
        );
        assert!(
            limits.check(&"a".into(), Action::Read).await.is_ok(),
            "another action"
        );
        assert_eq!(limits.tracked(Action::Send), 2);
    }

    #[tokio::test]
    async fn with_redis_unreachable_the_node_bucket_decides_without_waiting() {
        let vars = [("WS_MAX_MSGS_PER_SEC", "1"), ("WS_BURST", "2")];
        let shared =
            RedisCounters::new(&"redis://127.0.0.1:1".to_owned().into(), "t").expect("a valid URL");
        let limits = limits(&vars).shared(&limits_config(&vars), Arc::new(shared));
        let started = std::time::Instant::now();
        for _ in 0..2 {
            assert!(limits.check(&"a".into(), Action::Send).await.is_ok());
        }
        let err = limits
            .check(&"a".into(), Action::Send)
            .await
            .expect_err("the node's bucket still refuses");
        assert_eq!(err.retry_after, Some(1));
        assert!(
            started.elapsed() < crate::cluster::counters::TIMEOUT * 2,
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn intervals_are_whole_microseconds_and_never_zero() {
        assert_eq!(interval_micros(20), 50_000);
        assert_eq!(interval_micros(3), 333_333);
        assert_eq!(interval_micros(0), 1_000_000, "as governor: at least 1/s");
        assert_eq!(interval_micros(u32::MAX), 1);
    }
}
