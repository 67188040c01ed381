//! Who may do what: pure functions of (actor, target, action), tested as tables.
//!
//! Handlers ask here; there is no `if role == ...` anywhere else.

use crate::ids::UserId;
use poem_openapi::Enum;
use serde::{Deserialize, Serialize};

use crate::domain::Role;

/// A member's role in a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Enum)]
#[serde(rename_all = "lowercase")]
#[oai(rename_all = "lowercase")]
pub enum GroupRole {
    Owner,
    Admin,
    Member,
}

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
    actor_id: &UserId,
    target_id: &UserId,
    _action: UserAction,
) -> bool {
    actor_role == Role::Admin && actor_id != target_id
}

/// Who is asking, as far as one group is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    pub global: Role,
    /// `None`: not a member.
    pub group: Option<GroupRole>,
}

/// Things one can do in or to a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupAction {
    /// See that the group exists (its name, description, member count).
    View {
        public: bool,
    },
    /// Read the room's history and presence, list its members.
    Read,
    /// Post in the room.
    Send,
    Join {
        public: bool,
    },
    Leave,
    Update,
    Delete,
    /// Add a non-member with `role`.
    AddMember {
        role: GroupRole,
    },
    ChangeRole {
        from: GroupRole,
        to: GroupRole,
    },
    /// Remove a member whose role is `target`; `is_self` when they remove themselves.
    RemoveMember {
        target: GroupRole,
        is_self: bool,
    },
    TransferOwnership,
    EditMessage {
        own: bool,
    },
    DeleteMessage {
        own: bool,
    },
}

/// The one rule book for groups.
///
/// - Only the owner grants or takes `admin`; nobody but the owner (or a global
///   admin, who can moderate any group) changes the owner, and only by transfer.
/// - Group admins add and remove plain members, and update the group.
/// - Members read, send, leave, and edit or delete their own messages.
/// - The owner cannot leave or be removed: ownership must be transferred first.
pub fn may(actor: Actor, action: GroupAction) -> bool {
    use GroupAction::*;
    use GroupRole::{Admin, Member, Owner};
    let global_admin = actor.global == Role::Admin;
    let role = actor.group;
    let member = role.is_some();
    // Owner-level power: the owner, or a global admin moderating.
    let owner_power = role == Some(Owner) || global_admin;
    let admin_power = owner_power || role == Some(Admin);
    match action {
        View { public } => public || member || global_admin,
        Read => member || global_admin,
        Send => member,
        Join { public } => public && !member,
        Leave => member && role != Some(Owner),
        Update => admin_power,
        Delete => owner_power,
        AddMember { role: new } => match new {
            Owner => false,
            Admin => owner_power,
            Member => admin_power,
        },
        ChangeRole { from, to } => from != Owner && to != Owner && owner_power,
        RemoveMember { target, is_self } => match target {
            Owner => false,
            _ if is_self => true,
            Admin => owner_power,
            Member => admin_power,
        },
        TransferOwnership => owner_power,
        EditMessage { own } => own && member,
        DeleteMessage { own } => (own && member) || admin_power,
    }
}

/// The role a stored membership (`stored`, or none) gives `user` in a group
/// whose owner is `owner_id`. The group's `owner_id` is the one truth of
/// ownership: the owner is the owner whatever their membership says, and a
/// membership that says `owner` for anyone else counts as `admin` (a transfer
/// that stopped half-way, or a late write from a node that stalled past its
/// cluster lock). So a group has exactly one owner by construction, whatever
/// order its documents were written in.
pub fn effective_role(
    stored: Option<GroupRole>,
    user: &UserId,
    owner_id: &UserId,
) -> Option<GroupRole> {
    if user == owner_id {
        return Some(GroupRole::Owner);
    }
    stored.map(|role| match role {
        GroupRole::Owner => GroupRole::Admin,
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use GroupAction::*;
    use GroupRole::{Admin, Member, Owner};

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
                let (actor, target) = (UserId::from_trusted(actor), UserId::from_trusted(target));
                assert_eq!(
                    may_moderate_user(role, &actor, &target, action),
                    expected,
                    "{role:?} {actor}->{target} {action:?}"
                );
            }
        }
    }

    /// The eight kinds of actor, in the column order of the table below:
    /// users who are non-member, member, group admin, owner; then the same as
    /// global admins.
    fn actors() -> [Actor; 8] {
        let mut out = [Actor {
            global: Role::User,
            group: None,
        }; 8];
        for (i, global) in [Role::User, Role::Admin].into_iter().enumerate() {
            for (j, group) in [None, Some(Member), Some(Admin), Some(Owner)]
                .into_iter()
                .enumerate()
            {
                out[i * 4 + j] = Actor { global, group };
            }
        }
        out
    }

    #[test]
    #[rustfmt::skip]
    fn group_permission_table() {
        //                                              user: none mem adm own | admin: none mem adm own
        let table: &[(GroupAction, &str)] = &[
            (View { public: true },                            "YYYY YYYY"),
            (View { public: false },                           "-YYY YYYY"),
            (Read,                                             "-YYY YYYY"),
            (Send,                                             "-YYY -YYY"),
            (Join { public: true },                            "Y--- Y---"),
            (Join { public: false },                           "---- ----"),
            (Leave,                                            "-YY- -YY-"),
            (Update,                                           "--YY YYYY"),
            (Delete,                                           "---Y YYYY"),
            (AddMember { role: Member },                       "--YY YYYY"),
            (AddMember { role: Admin },                        "---Y YYYY"),
            (AddMember { role: Owner },                        "---- ----"),
            (ChangeRole { from: Member, to: Admin },           "---Y YYYY"),
            (ChangeRole { from: Admin, to: Member },           "---Y YYYY"),
            (ChangeRole { from: Member, to: Member },          "---Y YYYY"),
            (ChangeRole { from: Owner, to: Admin },            "---- ----"),
            (ChangeRole { from: Member, to: Owner },           "---- ----"),
            (RemoveMember { target: Member, is_self: false },  "--YY YYYY"),
            (RemoveMember { target: Admin, is_self: false },   "---Y YYYY"),
            (RemoveMember { target: Owner, is_self: false },   "---- ----"),
            (RemoveMember { target: Member, is_self: true },   "YYYY YYYY"),
            (RemoveMember { target: Admin, is_self: true },    "YYYY YYYY"),
            (RemoveMember { target: Owner, is_self: true },    "---- ----"),
            (TransferOwnership,                                "---Y YYYY"),
            (EditMessage { own: true },                        "-YYY -YYY"),
            (EditMessage { own: false },                       "---- ----"),
            (DeleteMessage { own: true },                      "-YYY YYYY"),
            (DeleteMessage { own: false },                     "--YY YYYY"),
        ];
        for (action, row) in table {
            let expected: Vec<bool> = row.chars().filter(|c| *c != ' ').map(|c| c == 'Y').collect();
            assert_eq!(expected.len(), 8, "{action:?}");
            for (actor, want) in actors().into_iter().zip(expected) {
                assert_eq!(may(actor, *action), want, "{actor:?} {action:?}");
            }
        }
    }

    #[test]
    fn the_group_owner_id_alone_makes_an_owner() {
        let owner = UserId::from("owner");
        let other = UserId::from("other");
        // The owner, whatever their membership says (even none).
        for stored in [None, Some(GroupRole::Admin), Some(GroupRole::Member)] {
            assert_eq!(
                effective_role(stored, &owner, &owner),
                Some(GroupRole::Owner)
            );
        }
        // Anyone else's `owner` membership is an admin's; the rest stand.
        assert_eq!(
            effective_role(Some(GroupRole::Owner), &other, &owner),
            Some(GroupRole::Admin)
        );
        assert_eq!(
            effective_role(Some(GroupRole::Member), &other, &owner),
            Some(GroupRole::Member)
        );
        assert_eq!(effective_role(None, &other, &owner), None);
    }
}
