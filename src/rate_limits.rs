//! Per-user rate limits, shared by REST and WebSocket: one check keyed by
//! (user, action), with every quota set in one place (`RateLimits::new`, from
//! `Config`).
//!
//! A user's sends over REST and over any number of sockets draw on the same
//! bucket, so no transport bypasses another's limit.

use crate::ids::UserId;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::{Config, Rate};
use crate::error::ApiError;

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
        }
    }
}

fn quota(rate: Rate) -> Quota {
    let per_sec = NonZeroU32::new(rate.per_sec).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(rate.burst).unwrap_or(per_sec);
    Quota::per_second(per_sec).allow_burst(burst)
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
}

impl RateLimits {
    /// The quota of each action, from the configuration, in `Action` order.
    pub fn rates(config: &Config) -> [(Action, Rate); 5] {
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
        }
    }

    /// Takes one unit of `action` for `user_id`; over the limit, `rate_limited`
    /// with the seconds until the next unit (REST: 429 with `Retry-After`).
    pub fn check(&self, user_id: &UserId, action: Action) -> Result<(), ApiError> {
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
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                tracing::warn!(
                    event = "rate_limited",
                    limit = action.as_str(),
                    %user_id,
                    "per-user rate limit exceeded"
                );
                Err(ApiError::rate_limited(wait.as_secs_f64().ceil() as u64))
            }
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
    use crate::error::ErrorCode;

    fn limits(vars: &[(&str, &str)]) -> RateLimits {
        let mut all = vec![("CONFAB_ENV", "dev")];
        all.extend_from_slice(vars);
        let config = Config::from_lookup(|k| {
            all.iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| (*v).to_owned())
        })
        .expect("config");
        RateLimits::new(&config)
    }

    #[test]
    fn each_user_and_action_has_its_own_bucket() {
        let limits = limits(&[("WS_MAX_MSGS_PER_SEC", "1"), ("WS_BURST", "3")]);
        for _ in 0..3 {
            assert!(limits.check(&"a".into(), Action::Send).is_ok());
        }
        let err = limits
            .check(&"a".into(), Action::Send)
            .expect_err("over the burst");
        assert_eq!(err.code, ErrorCode::RateLimited);
        assert_eq!(err.retry_after, Some(1));
        assert!(
            limits.check(&"b".into(), Action::Send).is_ok(),
            "another user"
        );
        assert!(
            limits.check(&"a".into(), Action::Read).is_ok(),
            "another action"
        );
        assert_eq!(limits.tracked(Action::Send), 2);
    }
}
