//! Identity: password hashing, tokens, the bearer guard and brute-force throttles.

pub mod guard;
pub mod moderation;
pub mod password;
pub mod sessions;
pub mod throttle;
pub mod tokens;

pub use guard::BearerAuth;
pub use sessions::CurrentUser;

use std::sync::Arc;

/// What identity needs, and nothing else: built once by the composition root
/// (`state.rs`), which also chooses the revoker (the hub).
#[derive(Clone)]
pub struct Auth {
    pub config: Arc<crate::config::Config>,
    pub store: crate::store::Store,
    pub keys: Arc<tokens::TokenKeys>,
    pub hasher: password::PasswordHasher,
    pub throttles: Arc<throttle::Throttles>,
    /// Where a revocation reaches open connections.
    pub revoker: Arc<dyn Revoker>,
    /// Per-user limits (WebSocket tickets); the same as the chat core's.
    pub rate_limits: Arc<crate::rate_limits::RateLimits>,
}

/// The port through which a revocation (logout-all, a password or role change,
/// a disable) reaches open connections, given by the composition root: the hub
/// closes every connection of the user, on every node.
pub trait Revoker: Send + Sync {
    fn revoked(&self, user: &crate::ids::UserId);
}
