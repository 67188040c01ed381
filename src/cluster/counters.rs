//! Cluster-wide limits: the per-user token buckets (`rate_limits.rs`) and the
//! login and sign-up windows (`auth/throttle.rs`) counted in Redis, so a client
//! gets the same quota whether its requests reach one node or several.
//!
//! Each check is one Lua script run atomically by Redis (EVALSHA, on one
//! multiplexed connection that concurrent checks pipeline on), timed by Redis's
//! own clock (`TIME`) so the nodes' clocks do not matter. Keys are
//! `<REDIS_NAMESPACE>:rl:<limit>:<key>` and expire once they hold nothing.
//!
//! Redis unreachable or slow (over `TIMEOUT`): the caller falls back to its
//! per-node count (`None`), never an error. Each fallback is counted in
//! `confab_cluster_limits_fallback_total`, with a warning at most every
//! `WARN_EVERY`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use redis::aio::MultiplexedConnection;
use secrecy::{ExposeSecret, SecretString};

use crate::rate_limits::{SharedCounter, Verdict};

/// Longest a check waits for Redis before counting per node.
pub const TIMEOUT: Duration = Duration::from_millis(250);
/// After a failure, checks count per node this long before dialling again (so an
/// unreachable Redis costs nothing per check).
const REDIAL_AFTER: Duration = Duration::from_secs(1);
const WARN_EVERY: Duration = Duration::from_secs(5);

/// GCRA, as governor does it (`rate_limits.rs`): a bucket is its theoretical
/// arrival time (`tat`, µs of Redis time). A unit is allowed when
/// `now >= tat - (burst - 1) * interval`; it moves `tat` one interval on.
/// Returns 0 when allowed, else the µs until the next unit.
/// KEYS[1] bucket; ARGV[1] interval (µs per unit), ARGV[2] burst.
/// Numbers go back to Redis through `%.0f`: Lua's default `%.14g` would round
/// a µs timestamp.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local allow_at = tat - (burst - 1) * interval
if now < allow_at then return allow_at - now end
tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000))
return 0
";

/// A sliding window, as `SlidingWindow` keeps it in memory: the instants of
/// recent events (a sorted set scored by µs of Redis time, one member per
/// event). Events at least `window` old leave first. With ARGV[4] = 'charge',
/// refuses when `max` events remain (returning the µs until the oldest leaves)
/// and otherwise adds the event; with 'record', adds it regardless. Either way
/// at most the newest `max` events are kept. Returns 0 when the event was added.
/// KEYS[1] window; ARGV[1] window (µs), ARGV[2] max, ARGV[3] member, ARGV[4] mode.
const WINDOW: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1])
local max = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - window))
if ARGV[4] == 'charge' and redis.call('ZCARD', KEYS[1]) >= max then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return tonumber(oldest[2]) + window - now
end
redis.call('ZADD', KEYS[1], string.format('%.0f', now), ARGV[3])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(max + 1))
redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
return 0
";

/// Redis's answer (µs to wait; 0 or less: allowed) as a verdict.
fn verdict(wait: i64) -> Verdict {
    match u64::try_from(wait) {
        Ok(0) | Err(_) => Verdict::Allowed,
        Ok(us) => Verdict::Refused(Duration::from_micros(us)),
    }
}

/// The shared counters of one deployment (one Redis, one namespace).
pub struct RedisCounters {
    client: redis::Client,
    /// `<namespace>:rl`
    prefix: String,
    link: Mutex<Link>,
    /// Serialises dialling: a check waits for the dial in progress (bounded by
    /// `TIMEOUT`) instead of dialling again.
    dial: tokio::sync::Mutex<()>,
    /// Unique event members: this process's tag and a counter.
    tag: String,
    events: AtomicU64,
    started: Instant,
    /// Milliseconds after `started` of the last fallback warning (`u64::MAX`: none).
    warned_at: AtomicU64,
    gcra: redis::Script,
    window: redis::Script,
}

enum Link {
    Up(MultiplexedConnection),
    Down { redial_at: Instant },
}

/// The core's port for cluster-wide counts (`rate_limits::SharedCounter`).
impl SharedCounter for RedisCounters {
    fn take<'a>(
        &'a self,
        limit: &'a str,
        key: &'a str,
        interval_micros: u64,
        burst: u32,
    ) -> BoxFuture<'a, Option<Verdict>> {
        Box::pin(RedisCounters::take(
            self,
            limit,
            key,
            interval_micros,
            burst,
        ))
    }

    fn charge<'a>(
        &'a self,
        limit: &'a str,
        key: &'a str,
        max: u32,
        window: Duration,
    ) -> BoxFuture<'a, Option<Result<String, Duration>>> {
        Box::pin(RedisCounters::charge(self, limit, key, max, window))
    }

    fn record<'a>(
        &'a self,
        limit: &'a str,
        key: &'a str,
        max: u32,
        window: Duration,
    ) -> BoxFuture<'a, ()> {
        Box::pin(RedisCounters::record(self, limit, key, max, window))
    }

    fn refund<'a>(&'a self, limit: &'a str, key: &'a str, member: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(RedisCounters::refund(self, limit, key, member))
    }

    fn clear<'a>(&'a self, limit: &'a str, key: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(RedisCounters::clear(self, limit, key))
    }
}

impl RedisCounters {
    /// Parses the URL; nothing is dialled until the first check.
    pub fn new(url: &SecretString, namespace: &str) -> redis::RedisResult<Self> {
        Ok(Self::with_client(
            redis::Client::open(url.expose_secret())?,
            namespace,
        ))
    }

    /// Counts through `client` (the cluster's); nothing is dialled until the
    /// first check.
    pub fn with_client(client: redis::Client, namespace: &str) -> Self {
        Self {
            client,
            prefix: format!("{namespace}:rl"),
            link: Mutex::new(Link::Down {
                redial_at: Instant::now(),
            }),
            dial: tokio::sync::Mutex::new(()),
            tag: uuid::Uuid::new_v4().simple().to_string()[..12].to_owned(),
            events: AtomicU64::new(0),
            started: Instant::now(),
            warned_at: AtomicU64::new(u64::MAX),
            gcra: redis::Script::new(GCRA),
            window: redis::Script::new(WINDOW),
        }
    }

    /// The Redis key of `limit` for `key`.
    pub fn key(&self, limit: &str, key: &str) -> String {
        format!("{}:{limit}:{key}", self.prefix)
    }

    /// Takes one unit from the token bucket of `limit` for `key` (`None`: Redis
    /// unreachable, count per node).
    #[tracing::instrument(name = "cluster.limits.take", level = "debug", skip_all, fields(limit = limit))]
    pub async fn take(
        &self,
        limit: &str,
        key: &str,
        interval_micros: u64,
        burst: u32,
    ) -> Option<Verdict> {
        let mut invocation = self.gcra.key(self.key(limit, key));
        invocation.arg(interval_micros).arg(burst.max(1));
        let mut conn = self.connection().await?;
        let wait = self
            .answer(invocation.invoke_async::<i64>(&mut conn))
            .await?;
        Some(verdict(wait))
    }

    /// Charges one event to the window `limit` of `key` unless it holds `max`
    /// already. Allowed: the event's member, to refund it with `refund`.
    pub async fn charge(
        &self,
        limit: &str,
        key: &str,
        max: u32,
        window: Duration,
    ) -> Option<Result<String, Duration>> {
        let member = self.member();
        let wait = self
            .window_event(limit, key, max, window, &member, "charge")
            .await?;
        match verdict(wait) {
            Verdict::Allowed => Some(Ok(member)),
            Verdict::Refused(wait) => Some(Err(wait)),
        }
    }

    /// Records one event in the window `limit` of `key`, over `max` or not.
    pub async fn record(&self, limit: &str, key: &str, max: u32, window: Duration) {
        let member = self.member();
        let _ = self
            .window_event(limit, key, max, window, &member, "record")
            .await;
    }

    /// Takes back a charged event.
    pub async fn refund(&self, limit: &str, key: &str, member: &str) {
        let mut cmd = redis::cmd("ZREM");
        cmd.arg(self.key(limit, key)).arg(member);
        if let Some(mut conn) = self.connection().await {
            let _ = self.answer(cmd.query_async::<i64>(&mut conn)).await;
        }
    }

    /// Forgets every event of `key` in the window `limit`.
    pub async fn clear(&self, limit: &str, key: &str) {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.key(limit, key));
        if let Some(mut conn) = self.connection().await {
            let _ = self.answer(cmd.query_async::<i64>(&mut conn)).await;
        }
    }

    #[tracing::instrument(
        name = "cluster.limits.window",
        level = "debug",
        skip_all,
        fields(limit, mode)
    )]
    async fn window_event(
        &self,
        limit: &str,
        key: &str,
        max: u32,
        window: Duration,
        member: &str,
        mode: &str,
    ) -> Option<i64> {
        let mut invocation = self.window.key(self.key(limit, key));
        invocation
            .arg(u64::try_from(window.as_micros()).unwrap_or(u64::MAX).max(1))
            .arg(max)
            .arg(member)
            .arg(mode);
        let mut conn = self.connection().await?;
        self.answer(invocation.invoke_async::<i64>(&mut conn)).await
    }

    fn member(&self) -> String {
        format!(
            "{}:{}",
            self.tag,
            self.events.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// The connection, dialled when there is none and the last failure is
    /// `REDIAL_AFTER` old. `None` (counted as a fallback): count per node.
    async fn connection(&self) -> Option<MultiplexedConnection> {
        if let Some(conn) = self.current() {
            return Some(conn);
        }
        let _dialling = self.dial.lock().await;
        if let Some(conn) = self.current() {
            return Some(conn);
        }
        if let Ok(Link::Down { redial_at }) = self.link.lock().as_deref()
            && Instant::now() < *redial_at
        {
            self.fell_back("Redis unreachable");
            return None;
        }
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(TIMEOUT)
            .set_response_timeout(TIMEOUT);
        let dialled = tokio::time::timeout(
            TIMEOUT,
            self.client
                .get_multiplexed_async_connection_with_config(&config),
        )
        .await;
        match dialled {
            Ok(Ok(conn)) => {
                if let Ok(mut link) = self.link.lock() {
                    *link = Link::Up(conn.clone());
                }
                Some(conn)
            }
            Ok(Err(err)) => {
                self.lost(&err.to_string());
                None
            }
            Err(_) => {
                self.lost("connecting timed out");
                None
            }
        }
    }

    fn current(&self) -> Option<MultiplexedConnection> {
        match self.link.lock().as_deref() {
            Ok(Link::Up(conn)) => Some(conn.clone()),
            _ => None,
        }
    }

    /// Awaits Redis's answer for at most `TIMEOUT`; a failure drops the
    /// connection (the next check after `REDIAL_AFTER` dials again).
    async fn answer<T>(
        &self,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Option<T> {
        match tokio::time::timeout(TIMEOUT, call).await {
            Ok(Ok(value)) => Some(value),
            Ok(Err(err)) => {
                self.lost(&err.to_string());
                None
            }
            Err(_) => {
                self.lost("no answer within the timeout");
                None
            }
        }
    }

    fn lost(&self, why: &str) {
        if let Ok(mut link) = self.link.lock() {
            *link = Link::Down {
                redial_at: Instant::now() + REDIAL_AFTER,
            };
        }
        self.fell_back(why);
    }

    fn fell_back(&self, why: &str) {
        metrics::counter!("confab_cluster_limits_fallback_total").increment(1);
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        let last = self.warned_at.load(Ordering::Relaxed);
        let due = last == u64::MAX || now.saturating_sub(last) >= WARN_EVERY.as_millis() as u64;
        if due
            && self
                .warned_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                reason = why,
                "cluster limits: Redis unavailable, counting per node"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_of_zero_or_less_is_allowed() {
        assert_eq!(verdict(0), Verdict::Allowed);
        assert_eq!(verdict(-5), Verdict::Allowed);
        assert_eq!(
            verdict(1_500_000),
            Verdict::Refused(Duration::from_millis(1500))
        );
    }

    #[test]
    fn keys_sit_under_the_namespace() {
        let limits = RedisCounters::new(&SecretString::from("redis://127.0.0.1:1"), "ns").unwrap();
        assert_eq!(limits.key("send", "u1"), "ns:rl:send:u1");
        assert_ne!(limits.member(), limits.member());
    }
}
