//! The conversation model: groups with roles, direct messages, and messages.
//!
//! This is the core: it knows nothing of HTTP or WebSocket frames. REST handlers and
//! the gateway both call it, so there is one send path, one set of checks.

pub mod access;
pub mod dms;
pub mod fanout;
pub mod groups;
pub mod memberships;
pub mod messages;
pub mod people;
pub mod reactions;
pub mod replies;
pub mod router;
pub mod search;
pub mod writer;

use std::sync::Arc;

use futures_util::future::BoxFuture;

use crate::config::Config;
use crate::domain::Role;
use crate::error::{ApiError, ErrorCode};
use crate::rate_limits::RateLimits;
use crate::store::Store;

pub use router::Router;

/// What the chat core needs, and nothing else: built once by the composition
/// root (`state.rs`), which chooses the implementation of each port (one node,
/// or cluster mode).
#[derive(Clone)]
pub struct Chat {
    pub config: Arc<Config>,
    pub store: Store,
    /// One writer per conversation in use, and the batcher that stores messages.
    pub writers: Arc<writer::Writers>,
    /// Per-user limits of sends, reads, typing, joins and tickets.
    pub rate_limits: Arc<RateLimits>,
    /// Where changes to existing things are told (the hub).
    pub changes: Arc<dyn fanout::Changes>,
    /// The search index of this node (or an external engine).
    pub search: Arc<dyn search::SearchIndex>,
    /// Where sends are stored: this node's writers, or the owner node of each
    /// conversation.
    pub router: Arc<dyn Router>,
    /// Cluster-wide locks: none on one node (this node's own lock is enough).
    pub locks: Option<Arc<dyn Locks>>,
    /// This node's locks by name, taken before the cluster-wide one.
    pub local_locks: Arc<crate::store::locks::KeyedLocks>,
    /// Reaction toggles waiting for their conversation's edit lock
    /// (`reactions::react`).
    pub toggles: Arc<reactions::Toggles>,
}

/// Why a cluster-wide lock was not taken.
#[derive(Debug, PartialEq, Eq)]
pub enum NotLocked {
    /// The lock service did not answer: nobody can tell whether another node
    /// holds it, so the change is refused (503) until it is back.
    Unreachable,
    /// Another node held it for as long as a caller waits.
    Busy,
}

/// A cluster-wide lock this node holds; released when dropped.
pub trait HeldLock: Send + Sync {
    /// Whether this node may still act on it: past this, another node may hold
    /// it (bounded trust: `ownership::ClusterLock`).
    fn trusted(&self) -> bool;
}

/// The core's port for cluster-wide locks, given by the composition root
/// (cluster mode: Redis, `ownership::Ownership`; one node: none, and the node's
/// own lock is enough).
pub trait Locks: Send + Sync {
    /// Takes the lock `name`, waiting a little while another node holds it.
    fn lock<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Box<dyn HeldLock>, NotLocked>>;
}

/// Held while changing a group's memberships or a conversation's messages
/// (edits, deletes): this node's lock and, in cluster mode, the cluster-wide
/// one, so two nodes cannot interleave (two owners after two transfers, an edit
/// resurrecting a delete).
pub struct Exclusive {
    _local: tokio::sync::OwnedMutexGuard<()>,
    cluster: Option<Box<dyn HeldLock>>,
}

impl Exclusive {
    /// Whether another node may have held this before: then what is read under
    /// it must come from the database, not from caches that may not have heard
    /// of that node's change yet.
    pub fn shared(&self) -> bool {
        self.cluster.is_some()
    }

    /// Called right before each write the lock guards: refuses (503) once the
    /// cluster-wide lock is no longer trusted (`HeldLock::trusted`), so a node
    /// that stalled past the lock's expiry, when another node may hold it, writes
    /// nothing more.
    pub fn still_held(&self) -> Result<(), ApiError> {
        match &self.cluster {
            Some(lock) if !lock.trusted() => {
                metrics::counter!("confab_cluster_locks_expired_total").increment(1);
                tracing::warn!("a cluster lock expired before its write; the change stops here");
                Err(ApiError::new(
                    ErrorCode::ServerBusy,
                    "this change took too long and may race another; try again",
                ))
            }
            _ => Ok(()),
        }
    }
}

/// Takes this node's lock `name`, then (cluster mode) the cluster-wide one.
/// Redis not answering, or another node holding it for seconds, is 503
/// `server_busy`: with Redis away nobody can tell whether another node is inside
/// the same change.
pub async fn exclusive(chat: &Chat, name: &str) -> Result<Exclusive, ApiError> {
    let local = chat.local_locks.lock(name).await;
    let cluster = match &chat.locks {
        None => None,
        Some(locks) => match locks.lock(name).await {
            Ok(held) => Some(held),
            Err(NotLocked::Unreachable) => {
                tracing::warn!(lock = name, "Redis unreachable: the change is refused");
                return Err(ApiError::new(
                    ErrorCode::ServerBusy,
                    "the cluster cannot coordinate this change now (Redis unreachable); try again",
                ));
            }
            Err(NotLocked::Busy) => {
                return Err(ApiError::new(
                    ErrorCode::ServerBusy,
                    "another change to this is under way; try again",
                ));
            }
        },
    };
    Ok(Exclusive {
        _local: local,
        cluster,
    })
}

/// Who is acting: enough to authorize and to stamp a message's sender.
#[derive(Debug, Clone)]
pub struct Caller {
    pub id: crate::ids::UserId,
    pub username: String,
    pub role: Role,
}

impl From<&crate::auth::CurrentUser> for Caller {
    fn from(user: &crate::auth::CurrentUser) -> Self {
        Self {
            id: user.id.clone(),
            username: user.username.clone(),
            role: user.role,
        }
    }
}
