//! Typed settings from the environment (and `.env` when present).
//!
//! Every variable is documented in README.md and `.env.example`; keep the three in step.

use std::time::Duration;

use secrecy::{SecretSlice, SecretString};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{var}: {reason}")]
    Invalid { var: &'static str, reason: String },
}

fn invalid(var: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        var,
        reason: reason.into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Dev,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// A per-user rate: sustained actions per second, and a burst on top.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_sec: u32,
    pub burst: u32,
}

#[derive(Clone)]
pub struct Config {
    pub bind: String,
    /// May hold credentials: exposing it takes `expose_secret()`.
    pub mongo_uri: SecretString,
    pub database: String,
    /// The HS256 key. Exposing it takes `expose_secret()`.
    pub jwt_secret: SecretSlice<u8>,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub environment: Environment,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    /// A refresh token presented again this soon after its rotation is a retry
    /// (a client whose answer was lost, or parallel refreshes), answered with a
    /// pair of its own; later, it is a replay that revokes the family.
    pub refresh_reuse_grace: Duration,
    pub allowed_origins: Vec<String>,
    pub login_max_failures_per_user: u32,
    pub login_max_failures_per_ip: u32,
    pub login_failure_window: Duration,
    pub register_max_per_ip: u32,
    pub register_window: Duration,
    /// Messages per second per user, REST and WebSocket together (`WS_MAX_MSGS_PER_SEC`).
    pub ws_max_msgs_per_sec: u32,
    /// Burst of messages per user on top of the rate (`WS_BURST`).
    pub ws_burst: u32,
    /// Read markers per user (REST `markRead` and WS `read`).
    pub read_rate: Rate,
    /// Typing notices per user (over the limit they are dropped silently).
    pub typing_rate: Rate,
    /// WS `join` and `leave` frames per user.
    pub join_rate: Rate,
    /// WebSocket tickets minted per user.
    pub ws_ticket_rate: Rate,
    /// Group creations, joins and leaves and DM opens per user.
    pub membership_rate: Rate,
    /// REST history and presence reads per user.
    pub history_rate: Rate,
    /// Live WebSocket connections one user may hold at once.
    pub ws_max_connections_per_user: u32,
    /// Request bodies larger than this get 413.
    pub max_body_bytes: usize,
    /// A request that takes longer gets 503 `request_timeout`.
    pub request_timeout: Duration,
    pub admin_username: Option<String>,
    pub admin_password: Option<SecretString>,
    pub log_format: LogFormat,
    /// How many argon2 computations may run at once.
    pub hash_concurrency: usize,
    /// Password hashes that may wait for a hashing thread; beyond that, 503
    /// `server_busy` with `Retry-After` at once.
    pub hash_queue: usize,
    /// Give up on a database operation after this long (503 to the client).
    pub db_timeout: Duration,
    /// The write concern of message inserts: what "acked" promises.
    pub message_durability: MessageDurability,
    /// Reverse proxies whose `X-Forwarded-For` is believed (`TRUSTED_PROXIES`);
    /// empty: the header is ignored and the TCP peer is the client.
    pub trusted_proxies: Vec<crate::netaddr::Cidr>,
    /// `GET /metrics` is served only with `Authorization: Bearer <this>`; unset:
    /// `/metrics` answers 404.
    pub metrics_token: Option<SecretString>,
    /// `REDIS_URL`: cluster mode (several nodes sharing one Redis); `None` runs
    /// as a single process. May hold a password, hence secret.
    pub redis_url: Option<SecretString>,
    /// `REDIS_NAMESPACE`: prefix of every Redis key and channel, so that several
    /// deployments (or test runs) can share one Redis. Default `confab`.
    pub redis_namespace: String,
    /// `SEARCH_INDEX_DIR`: where this node keeps its search index (created if
    /// missing; one node per directory). Unset: the index lives in memory and is
    /// rebuilt from the database at every start.
    pub search_index_dir: Option<std::path::PathBuf>,
    /// `SEARCH_ENABLED` (`true`): `false` keeps no search index on this node
    /// (nothing indexed, nothing caught up); message search then answers 503.
    pub search_enabled: bool,
}

/// How durable a message is before it is acked (`MESSAGE_DURABILITY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageDurability {
    /// `j: true`: in the database's journal, so it survives a crash of the database
    /// server itself (the default).
    Journaled,
    /// `w: "majority", j: true`: on a majority of a replica set's members, journaled.
    Majority,
    /// `w: 1`: acknowledged by the primary's memory only (fastest, least durable).
    Acknowledged,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("database", &self.database)
            .field("environment", &self.environment)
            .field("allowed_origins", &self.allowed_origins)
            .finish_non_exhaustive()
    }
}

pub const MIN_SECRET_BYTES: usize = 32;

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok().filter(|v| !v.is_empty()))
    }

    /// Reads settings through `get`, so the rules can be tested without touching the
    /// process environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let environment = match get("CONFAB_ENV").as_deref().unwrap_or("production") {
            "dev" | "development" => Environment::Dev,
            "production" | "prod" => Environment::Production,
            other => {
                return Err(invalid(
                    "CONFAB_ENV",
                    format!("unknown environment {other:?}"),
                ));
            }
        };
        let jwt_secret = match get("JWT_SECRET") {
            Some(secret) => {
                check_secret(secret.as_bytes()).map_err(|r| invalid("JWT_SECRET", r))?;
                SecretSlice::from(secret.into_bytes())
            }
            None if environment == Environment::Dev => {
                tracing::warn!(
                    "JWT_SECRET is not set; using a random one (CONFAB_ENV=dev): tokens die with the process"
                );
                SecretSlice::from(random_secret())
            }
            None => {
                return Err(invalid(
                    "JWT_SECRET",
                    "required (at least 32 random bytes) unless CONFAB_ENV=dev",
                ));
            }
        };
        let mongo_uri =
            get("MONGO_URI").unwrap_or_else(|| "mongodb://127.0.0.1:27017/confab".to_owned());
        let database = database_from_uri(&mongo_uri).unwrap_or_else(|| "confab".to_owned());
        let log_format = match get("LOG_FORMAT").as_deref().unwrap_or("pretty") {
            "pretty" => LogFormat::Pretty,
            "json" => LogFormat::Json,
            other => {
                return Err(invalid(
                    "LOG_FORMAT",
                    format!("{other:?} is not pretty or json"),
                ));
            }
        };
        let admin_username = get("CONFAB_ADMIN_USERNAME");
        let admin_password = get("CONFAB_ADMIN_PASSWORD");
        if admin_username.is_some() != admin_password.is_some() {
            return Err(invalid(
                "CONFAB_ADMIN_PASSWORD",
                "CONFAB_ADMIN_USERNAME and CONFAB_ADMIN_PASSWORD go together",
            ));
        }
        let ws_max = number(&get, "WS_MAX_MSGS_PER_SEC", 20)?;
        let trusted_proxies =
            crate::netaddr::parse_cidr_list(&get("TRUSTED_PROXIES").unwrap_or_default())
                .map_err(|r| invalid("TRUSTED_PROXIES", r))?;
        let metrics_token = get("METRICS_TOKEN");
        if let Some(token) = &metrics_token {
            check_secret(token.as_bytes()).map_err(|r| invalid("METRICS_TOKEN", r))?;
        }
        Ok(Self {
            bind: get("CONFAB_BIND").unwrap_or_else(|| "0.0.0.0:8000".to_owned()),
            mongo_uri: SecretString::from(mongo_uri),
            database,
            jwt_secret,
            jwt_issuer: get("JWT_ISSUER").unwrap_or_else(|| "confab".to_owned()),
            jwt_audience: get("JWT_AUDIENCE").unwrap_or_else(|| "confab-api".to_owned()),
            environment,
            access_token_ttl: secs(number(&get, "ACCESS_TOKEN_TTL_SECS", 900)?),
            refresh_token_ttl: secs(number(&get, "REFRESH_TOKEN_TTL_SECS", 2_592_000)?),
            refresh_reuse_grace: secs(number(&get, "REFRESH_REUSE_GRACE_SECS", 10)?),
            allowed_origins: get("ALLOWED_ORIGINS")
                .map(|v| {
                    v.split(',')
                        .map(|o| o.trim().trim_end_matches('/').to_owned())
                        .filter(|o| !o.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            login_max_failures_per_user: number(&get, "LOGIN_MAX_FAILURES_PER_USER", 10)?,
            login_max_failures_per_ip: number(&get, "LOGIN_MAX_FAILURES_PER_IP", 100)?,
            login_failure_window: secs(number(&get, "LOGIN_FAILURE_WINDOW_SECS", 900)?),
            register_max_per_ip: number(&get, "REGISTER_MAX_PER_IP", 20)?,
            register_window: secs(number(&get, "REGISTER_WINDOW_SECS", 3600)?),
            ws_max_msgs_per_sec: ws_max,
            ws_burst: number(&get, "WS_BURST", ws_max.saturating_mul(2))?,
            read_rate: rate(&get, ("READ_MAX_PER_SEC", "READ_BURST"), 10, 30)?,
            typing_rate: rate(&get, ("TYPING_MAX_PER_SEC", "TYPING_BURST"), 5, 20)?,
            join_rate: rate(&get, ("JOIN_MAX_PER_SEC", "JOIN_BURST"), 20, 100)?,
            ws_ticket_rate: rate(&get, ("WS_TICKET_MAX_PER_SEC", "WS_TICKET_BURST"), 1, 10)?,
            membership_rate: rate(&get, ("MEMBERSHIP_MAX_PER_SEC", "MEMBERSHIP_BURST"), 1, 30)?,
            history_rate: rate(&get, ("HISTORY_MAX_PER_SEC", "HISTORY_BURST"), 20, 100)?,
            ws_max_connections_per_user: number(&get, "WS_MAX_CONNECTIONS_PER_USER", 16)?,
            request_timeout: secs(number(&get, "REQUEST_TIMEOUT_SECS", 30)?),
            max_body_bytes: number(&get, "MAX_BODY_BYTES", crate::limits::MAX_BODY_BYTES as u32)?
                as usize,
            admin_username,
            admin_password: admin_password.map(SecretString::from),
            log_format,
            hash_concurrency: number(&get, "HASH_CONCURRENCY", default_hash_concurrency())?
                as usize,
            hash_queue: number(&get, "HASH_QUEUE", DEFAULT_HASH_QUEUE)? as usize,
            db_timeout: Duration::from_millis(number(&get, "DB_TIMEOUT_MS", 3000)?.into()),
            message_durability: match get("MESSAGE_DURABILITY").as_deref().map(str::trim) {
                None | Some("") | Some("journaled") => MessageDurability::Journaled,
                Some("majority") => MessageDurability::Majority,
                Some("acknowledged") => MessageDurability::Acknowledged,
                Some(_) => {
                    return Err(invalid(
                        "MESSAGE_DURABILITY",
                        "must be journaled, majority or acknowledged",
                    ));
                }
            },
            trusted_proxies,
            metrics_token: metrics_token.map(SecretString::from),
            redis_url: get("REDIS_URL").map(SecretString::from),
            redis_namespace: get("REDIS_NAMESPACE").unwrap_or_else(|| "confab".to_owned()),
            search_index_dir: get("SEARCH_INDEX_DIR").map(std::path::PathBuf::from),
            search_enabled: match get("SEARCH_ENABLED").as_deref() {
                None | Some("true") => true,
                Some("false") => false,
                Some(_) => return Err(invalid("SEARCH_ENABLED", "must be true or false")),
            },
        })
    }
}

/// A rate and its burst from two variables.
fn rate(
    get: &impl Fn(&str) -> Option<String>,
    (per_sec_var, burst_var): (&'static str, &'static str),
    per_sec: u32,
    burst: u32,
) -> Result<Rate, ConfigError> {
    Ok(Rate {
        per_sec: number(get, per_sec_var, per_sec)?,
        burst: number(get, burst_var, burst)?,
    })
}

fn secs(n: u32) -> Duration {
    Duration::from_secs(n.into())
}

fn number(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: u32,
) -> Result<u32, ConfigError> {
    match get(var) {
        None => Ok(default),
        Some(raw) => match raw.trim().parse::<u32>() {
            Ok(0) => Err(invalid(var, "must be greater than zero")),
            Ok(n) => Ok(n),
            Err(_) => Err(invalid(
                var,
                format!("{raw:?} is not a positive whole number"),
            )),
        },
    }
}

/// Default for `HASH_QUEUE`: at ~50 ms a hash, a few seconds of work for two threads.
pub const DEFAULT_HASH_QUEUE: u32 = 64;

fn default_hash_concurrency() -> u32 {
    std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(2)
        .max(2)
}

/// Refuses secrets that are short or visibly not random.
pub fn check_secret(secret: &[u8]) -> Result<(), String> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "must be at least {MIN_SECRET_BYTES} bytes (got {})",
            secret.len()
        ));
    }
    let mut distinct = secret.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 10 {
        return Err("is not random enough (too few distinct characters)".into());
    }
    let lowered = String::from_utf8_lossy(secret).to_lowercase();
    if ["changeme", "change-me", "change_me", "secret", "example"]
        .iter()
        .any(|w| lowered.contains(w))
    {
        return Err("looks like a placeholder; generate one with `openssl rand -base64 48`".into());
    }
    Ok(())
}

pub fn random_secret() -> Vec<u8> {
    use rand::RngCore;
    let mut bytes = vec![0u8; 48];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// The database named by a `mongodb://host/NAME?opts` URI's path.
pub fn database_from_uri(uri: &str) -> Option<String> {
    let rest = uri.split_once("://")?.1;
    let path = rest.split_once('/')?.1;
    let name = path.split('?').next().unwrap_or("");
    (!name.is_empty()).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn secrets_are_redacted_unless_exposed_on_purpose() {
        let secret = "Zq8kP2vX9mL4wR7tY6uJ3hG5fD1sA0qW-nB7cV";
        let c = load(&[
            ("JWT_SECRET", secret),
            ("MONGO_URI", "mongodb://user:hunter2-pass@db.example/confab"),
            ("CONFAB_ADMIN_USERNAME", "root"),
            ("CONFAB_ADMIN_PASSWORD", "correct horse battery staple 42"),
        ])
        .expect("valid");
        for shown in [
            format!("{c:?}"),
            format!("{:?}", c.jwt_secret),
            format!("{:?}", c.mongo_uri),
            format!("{:?}", c.admin_password),
        ] {
            assert!(!shown.contains(secret), "{shown}");
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(!shown.contains("battery"), "{shown}");
        }
        assert_eq!(c.jwt_secret.expose_secret(), secret.as_bytes());
        assert!(c.mongo_uri.expose_secret().contains("hunter2"));
    }

    #[test]
    fn production_requires_a_strong_secret() {
        assert!(load(&[]).is_err());
        assert!(load(&[("JWT_SECRET", "short")]).is_err());
        assert!(load(&[("JWT_SECRET", &"a".repeat(40))]).is_err());
        assert!(load(&[("JWT_SECRET", "change-me-please-0123456789abcdefghijkl")]).is_err());
        assert!(load(&[("JWT_SECRET", "q3Jv9xT1mZ8rW2pL6nB4yH7cK0sD5fGa")]).is_ok());
    }

    #[test]
    fn dev_makes_a_random_secret() {
        let config = load(&[("CONFAB_ENV", "dev")]).unwrap();
        assert!(config.jwt_secret.expose_secret().len() >= MIN_SECRET_BYTES);
    }

    #[test]
    fn defaults_follow_the_contract() {
        let c = load(&[("CONFAB_ENV", "dev")]).unwrap();
        assert_eq!(c.bind, "0.0.0.0:8000");
        assert_eq!(c.database, "confab");
        assert_eq!(c.access_token_ttl, Duration::from_secs(900));
        assert_eq!(c.refresh_token_ttl, Duration::from_secs(2_592_000));
        assert_eq!(c.refresh_reuse_grace, Duration::from_secs(10));
        assert_eq!(
            (c.login_max_failures_per_user, c.login_max_failures_per_ip),
            (10, 100)
        );
        assert_eq!(c.register_max_per_ip, 20);
        assert_eq!((c.ws_max_msgs_per_sec, c.ws_burst), (20, 40));
        assert_eq!(c.ws_max_connections_per_user, 16);
        assert_eq!(
            (c.membership_rate, c.history_rate),
            (
                Rate {
                    per_sec: 1,
                    burst: 30
                },
                Rate {
                    per_sec: 20,
                    burst: 100
                }
            )
        );
        assert_eq!(
            (c.read_rate, c.typing_rate, c.join_rate, c.ws_ticket_rate),
            (
                Rate {
                    per_sec: 10,
                    burst: 30
                },
                Rate {
                    per_sec: 5,
                    burst: 20
                },
                Rate {
                    per_sec: 20,
                    burst: 100
                },
                Rate {
                    per_sec: 1,
                    burst: 10
                },
            )
        );
        assert_eq!(c.request_timeout, Duration::from_secs(30));
        assert_eq!(c.hash_queue, 64);
        assert_eq!(c.message_durability, MessageDurability::Journaled);
        assert!(c.allowed_origins.is_empty());
        assert!(c.trusted_proxies.is_empty());
        assert!(c.metrics_token.is_none());
    }

    #[test]
    fn trusted_proxies_and_the_metrics_token_are_checked() {
        let c = load(&[
            ("CONFAB_ENV", "dev"),
            ("TRUSTED_PROXIES", "10.0.0.0/8, fd00::/8"),
        ])
        .unwrap();
        assert_eq!(c.trusted_proxies.len(), 2);
        assert!(load(&[("CONFAB_ENV", "dev"), ("TRUSTED_PROXIES", "10.0.0.0/40")]).is_err());
        assert!(load(&[("CONFAB_ENV", "dev"), ("METRICS_TOKEN", "short")]).is_err());
        let c = load(&[
            ("CONFAB_ENV", "dev"),
            ("METRICS_TOKEN", "q3Jv9xT1mZ8rW2pL6nB4yH7cK0sD5fGa"),
        ])
        .unwrap();
        assert!(c.metrics_token.is_some());
    }

    #[test]
    fn bad_numbers_and_half_admin_settings_are_refused() {
        assert!(load(&[("MESSAGE_DURABILITY", "sometimes")]).is_err());
        assert_eq!(
            load(&[("CONFAB_ENV", "dev"), ("MESSAGE_DURABILITY", "majority")])
                .map(|c| c.message_durability)
                .ok(),
            Some(MessageDurability::Majority)
        );
        assert!(load(&[("CONFAB_ENV", "dev"), ("ACCESS_TOKEN_TTL_SECS", "soon")]).is_err());
        assert!(load(&[("CONFAB_ENV", "dev"), ("ACCESS_TOKEN_TTL_SECS", "0")]).is_err());
        assert!(load(&[("CONFAB_ENV", "dev"), ("CONFAB_ADMIN_USERNAME", "root")]).is_err());
    }

    #[test]
    fn the_database_name_comes_from_the_uri_path() {
        assert_eq!(
            database_from_uri("mongodb://h:1/chat?x=1").as_deref(),
            Some("chat")
        );
        assert_eq!(database_from_uri("mongodb://h:1/"), None);
        assert_eq!(database_from_uri("mongodb://h:1"), None);
        let c = load(&[
            ("CONFAB_ENV", "dev"),
            ("ALLOWED_ORIGINS", "https://a.example/, https://b"),
        ])
        .unwrap();
        assert_eq!(c.allowed_origins, vec!["https://a.example", "https://b"]);
    }
}
