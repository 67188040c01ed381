//! Membership writes, and a user's groups, under the user's groups lock
//! (`user-groups:<user>`). Each membership change also writes the user's
//! `user_groups` document (a superset of their memberships, see
//! `store::user_groups`), and FerretDB applies `$addToSet`, `$pull` and a
//! compare-and-set as a read-modify-write of the whole document: two writes of
//! one user's document at once (joins of two groups, on one node or two) could
//! undo each other and leave a membership out. Under this lock they take
//! turns; the group's own lock (`members:<group>`), where a change holds it, is
//! taken first.

use std::sync::Arc;

use super::{Chat, Exclusive, exclusive};
use crate::error::ApiError;
use crate::ids::{GroupId, UserId};
use crate::permissions::GroupRole;

async fn lock_of(chat: &Chat, user_id: &UserId) -> Result<Exclusive, ApiError> {
    exclusive(chat, &format!("user-groups:{user_id}")).await
}

/// The user's lock, taken, with it and `outer` (the group's lock, if the
/// change holds it) still trusted: right before a write.
async fn locked(
    chat: &Chat,
    outer: Option<&Exclusive>,
    user_id: &UserId,
) -> Result<Exclusive, ApiError> {
    let user = lock_of(chat, user_id).await?;
    outer.map_or(Ok(()), Exclusive::still_held)?;
    user.still_held()?;
    Ok(user)
}

/// Adds the membership (`false`: it was there). `outer`: the group's lock, if
/// the change holds it, checked again once this one is taken.
pub(super) async fn add(
    chat: &Chat,
    outer: Option<&Exclusive>,
    group_id: &GroupId,
    user_id: &UserId,
    role: GroupRole,
) -> Result<bool, ApiError> {
    let _user = locked(chat, outer, user_id).await?;
    Ok(chat
        .store
        .groups
        .add_member(group_id, user_id, role)
        .await?)
}

/// Removes the membership if it still has the role `expected` (`false`:
/// nothing was removed). `outer` as for `add`.
pub(super) async fn remove(
    chat: &Chat,
    outer: Option<&Exclusive>,
    group_id: &GroupId,
    user_id: &UserId,
    expected: GroupRole,
) -> Result<bool, ApiError> {
    let _user = locked(chat, outer, user_id).await?;
    Ok(chat
        .store
        .groups
        .remove_member(group_id, user_id, expected)
        .await?)
}

/// The groups the user is a member of now (search's scope). When the stored
/// document listed groups without a membership (a crash between a removal
/// and its update, a deleted group), they are pruned in the background under
/// the user's lock.
pub async fn groups_of(chat: &Chat, user_id: &UserId) -> Result<Arc<Vec<GroupId>>, ApiError> {
    let (groups, stale) = chat.store.groups.groups_of_checked(user_id).await?;
    if let Some(version) = stale {
        let (chat, user_id, kept) = (chat.clone(), user_id.clone(), Arc::clone(&groups));
        tokio::spawn(async move {
            let Ok(lock) = lock_of(&chat, &user_id).await else {
                return; // the next reader tries again
            };
            if lock.still_held().is_err() {
                return;
            }
            if let Err(err) = chat
                .store
                .groups
                .prune_user_groups(&user_id, &version, &kept)
                .await
            {
                tracing::warn!(error = %err, user = %user_id, "user_groups not pruned");
            }
        });
    }
    Ok(groups)
}
