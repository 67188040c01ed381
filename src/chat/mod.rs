//! The conversation model: groups with roles, direct messages, and messages.
//!
//! This is the core: it knows nothing of HTTP or WebSocket frames. REST handlers and
//! the gateway both call it, so there is one send path, one set of checks.

pub mod access;
pub mod dms;
pub mod groups;
pub mod messages;

use crate::domain::Role;

/// Who is acting: enough to authorize and to stamp a message's sender.
#[derive(Debug, Clone)]
pub struct Caller {
    pub id: String,
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

/// Per-conversation locks around `seq` allocation on this node.
///
/// FerretDB applies `$inc` as read-modify-write, so two concurrent allocations can
/// hand out the same `seq`. The unique (conversation_id, seq) index still refuses
/// the second insert (and `send` retries), but serialising allocation per
/// conversation on the node keeps that retry for the multi-node case.
#[derive(Default)]
pub struct SeqLocks(dashmap::DashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>);

impl SeqLocks {
    pub async fn lock(&self, conversation_id: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = self
            .0
            .entry(conversation_id.to_owned())
            .or_default()
            .clone();
        lock.lock_owned().await
    }
}
