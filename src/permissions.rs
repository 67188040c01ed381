//! Who may do what: one pure function per scope, tested as a table.
//!
//! Handlers ask here; no `if role == ...` elsewhere.

use crate::domain::Role;

/// Actions on other users' accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserAction {
    ChangeRole,
    Disable,
}

/// Whether `actor` (global role, own id) may apply `action` to the user `target_id`.
/// Admins moderate everybody but themselves (so the last admin cannot lock the
/// service out by accident); users moderate nobody.
pub fn may_moderate_user(
    actor_role: Role,
    actor_id: &str,
    target_id: &str,
    _action: UserAction,
) -> bool {
    actor_role == Role::Admin && actor_id != target_id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_moderation_table() {
        let table = [
            (Role::Admin, "a", "b", true),
            (Role::Admin, "a", "a", false),
            (Role::User, "u", "b", false),
            (Role::User, "u", "u", false),
        ];
        for action in [UserAction::ChangeRole, UserAction::Disable] {
            for (role, actor, target, expected) in table {
                assert_eq!(
                    may_moderate_user(role, actor, target, action),
                    expected,
                    "{role:?} {actor}->{target} {action:?}"
                );
            }
        }
    }
}
