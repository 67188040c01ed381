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

/// Per-conversation locks on this node: `seq` allocation and every write to a
/// conversation document happen under the room's lock.
///
/// FerretDB v1 applies updates (`$inc`, `$set`) as read-modify-write of the whole
/// document, so concurrent writers lose each other's changes. The next `seq` is
/// therefore allocated under this lock, and the unique (conversation_id, seq)
/// index arbitrates between nodes (`send` retries).
pub type SeqLocks = crate::store::locks::KeyedLocks;
