//! Identity: password hashing, tokens, the bearer guard and brute-force throttles.

pub mod guard;
pub mod password;
pub mod sessions;
pub mod throttle;
pub mod tokens;

pub use guard::{BearerAuth, CurrentUser};
