//! Cluster mode: which node writes a conversation.
//!
//! One node at a time hands out a conversation's seqs: the node holding its lease,
//! `<namespace>:owner:<conversation>` in Redis (value: the node id, expiring after
//! `LEASE`). A node takes the lease when it is free, the first time it needs to
//! write the conversation, and renews every lease it holds every `RENEW_EVERY`. The
//! other nodes forward their sends to the owner (`cluster::Cluster::dispatch`), so
//! every message of a conversation is stored, and its event published, by one node
//! in seq order: every node hears a conversation's messages in seq order.
//!
//! **One writer** (docs/architecture.md §11). A node trusts its own lease only
//! until `LEASE - MARGIN` after the last renewal Redis confirmed (`holds`); past
//! that it asks Redis again, and when Redis does not answer, nobody writes the
//! conversation (503 `server_busy`): a node cannot tell a Redis outage from a
//! partition in which the other nodes still reach Redis and take the lease once
//! it expires. The lease is taken only when free, and a free lease means every
//! earlier holder's trust has ended, with one exception: a Redis that restarts
//! empty (or is flushed) loses leases that are still trusted. So leases belong
//! to a *generation* of Redis (`<namespace>:generation`): the first node to find
//! Redis without one starts it, and when the database says the namespace had
//! one before (`store::cluster`), it starts with a quiet period (`QUIET`) in
//! which no free lease is taken; a node that finds a generation other than the
//! one it knew drops every lease it held (they were confirmed by a Redis that is
//! gone). The unique message `_id` (`<conversation>-<seq>`) still refuses a seq
//! stored twice, should a node paused between its check and its insert write
//! after all.
//!
//! A lease is released when the conversation leaves memory, and lost leases make
//! the conversation reload before this node writes it again.
//!
//! This file holds the lease timings, the `Ownership` struct, its construction and
//! its one Redis connection. The rest is in further `impl Ownership` blocks, one
//! concern each: `lease` (who owns a conversation, trusting and taking leases),
//! `renewal` (the task that renews them), `generation` (Redis generations),
//! `lock` (cluster-wide locks); `scripts` holds the Lua they run in Redis.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use redis::aio::MultiplexedConnection;

// The ownership's imports from the rest of the crate, made once here for this
// file and its children (`use super::{…}`): what it depends on reads in one
// place, and scripts/layers, which reads this file as `ownership`, sees it.
use super::connection::{REDIS_PAUSE, REDIS_TIMEOUT};
use crate::chat::writer::Writers;
use crate::chat::{HeldLock, NotLocked};
use crate::ids::ConversationId;
use crate::store;

mod generation;
mod lease;
mod lock;
mod renewal;
mod scripts;

pub use lease::Owner;
pub use lock::ClusterLock;
use scripts::{ACQUIRE, ESTABLISH, LOCK, RELEASE, RENEW};

/// How long a lease lives without renewal: a dead owner's conversations move to
/// another node within this time.
pub const LEASE: Duration = Duration::from_secs(5);
/// How often the owner renews its leases.
const RENEW_EVERY: Duration = Duration::from_millis(1500);
/// A lease is trusted locally until this long before it would expire.
const MARGIN: Duration = Duration::from_millis(1500);
/// How long another node's ownership is believed without asking Redis again.
const OTHER_TTL: Duration = Duration::from_secs(2);

/// How long, after Redis was found empty in a namespace that had leases before, no
/// free lease is taken: longer than any lease confirmed by the lost Redis is
/// trusted (`LEASE - MARGIN` after its confirmation, which came before the loss).
pub const QUIET: Duration = LEASE;

pub struct Ownership {
    node: String,
    prefix: String,
    /// `<namespace>:lock:`, for `lock`.
    locks: String,
    client: redis::Client,
    /// The connection for leases and locks, dialled on first use and dropped on
    /// any failure, so the next call dials afresh. (A `ConnectionManager` kept
    /// across a Redis restart was seen, by `scripts/chaos`, to time out every call
    /// for minutes while its reconnect backed off: leases went unrenewed and two
    /// nodes wrote one conversation.)
    conn: std::sync::Mutex<Option<MultiplexedConnection>>,
    /// Leases this node holds, with when they were last confirmed.
    held: DashMap<ConversationId, Instant>,
    /// Other nodes' leases, with when this node learned of them.
    others: DashMap<ConversationId, (String, Instant)>,
    acquire: redis::Script,
    renew: redis::Script,
    release: redis::Script,
    lock: redis::Script,
    establish: redis::Script,
    /// `<namespace>:generation`.
    generation_key: String,
    namespace: String,
    /// The Redis generation this node's leases belong to (`""` until known). Lost
    /// with a crash: a restarted node holds no lease and adopts the current one.
    generation: std::sync::Mutex<String>,
    /// The database, for whether the namespace had a generation before
    /// (`store::cluster`).
    db: mongodb::Database,
    /// When a Redis call last failed: for `REDIS_PAUSE` after it, owners are
    /// `Unknown` without asking (a send never waits on a Redis that is away).
    failed_at: std::sync::Mutex<Option<Instant>>,
}

impl Ownership {
    pub fn new(
        client: redis::Client,
        node: &str,
        namespace: &str,
        db: mongodb::Database,
    ) -> Arc<Self> {
        Arc::new(Self {
            node: node.to_owned(),
            prefix: format!("{namespace}:owner:"),
            locks: format!("{namespace}:lock:"),
            client,
            conn: std::sync::Mutex::new(None),
            held: DashMap::new(),
            others: DashMap::new(),
            acquire: redis::Script::new(ACQUIRE),
            renew: redis::Script::new(RENEW),
            release: redis::Script::new(RELEASE),
            lock: redis::Script::new(LOCK),
            establish: redis::Script::new(ESTABLISH),
            generation_key: format!("{namespace}:generation"),
            namespace: namespace.to_owned(),
            generation: std::sync::Mutex::new(String::new()),
            db,
            failed_at: std::sync::Mutex::new(None),
        })
    }

    fn key(&self, conversation: &ConversationId) -> String {
        format!("{}{}", self.prefix, conversation)
    }

    fn failed(&self) {
        *self
            .failed_at
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Instant::now());
        // Whatever state the connection is in, the next call starts a new one.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
    }

    fn paused(&self) -> bool {
        self.failed_at
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .is_some_and(|at| at.elapsed() < REDIS_PAUSE)
    }

    async fn conn(&self) -> Option<MultiplexedConnection> {
        let cached = self
            .conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        if let Some(conn) = cached {
            return Some(conn);
        }
        let dialled = tokio::time::timeout(
            REDIS_TIMEOUT,
            self.client.get_multiplexed_async_connection(),
        )
        .await;
        match dialled {
            Ok(Ok(conn)) => {
                *self
                    .conn
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(conn.clone());
                Some(conn)
            }
            _ => {
                self.failed();
                None
            }
        }
    }
}
