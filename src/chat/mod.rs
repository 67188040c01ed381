//! The conversation model: groups with roles, direct messages, and messages.
//!
//! This is the core: it knows nothing of HTTP or WebSocket frames. REST handlers and
//! the gateway both call it, so there is one send path, one set of checks.

pub mod access;
pub mod dms;
pub mod groups;
pub mod messages;
pub mod writer;

use crate::domain::Role;

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
