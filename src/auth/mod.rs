//! Identity: password hashing, tokens, the bearer guard and brute-force throttles.

pub mod guard;
pub mod password;
pub mod sessions;
pub mod throttle;
pub mod tokens;

pub use guard::{BearerAuth, CurrentUser};

/// The port through which a revocation (logout-all, a password or role change,
/// a disable) reaches open connections, given by the composition root: the hub
/// closes every connection of the user, on every node.
pub trait Revoker: Send + Sync {
    fn revoked(&self, user: &crate::ids::UserId);
}
