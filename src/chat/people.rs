//! Who may see what of another person: their `online` status.

use super::{Caller, Chat};
use crate::error::ApiError;
use crate::ids::{ConversationId, UserId};
use crate::permissions::GroupAction;
use crate::rate_limits::Action;

/// Who of those present in a room (`present`, this node's view, asked only
/// once the caller may read the room) the caller may see: everyone for a
/// member, who shares the room with them; for a global admin outside it, those
/// they may see online anyway (`may_see_online`). Charged like a history read.
pub async fn room_presence<T>(
    chat: &Chat,
    caller: &Caller,
    conversation: &ConversationId,
    present: impl FnOnce() -> Vec<T>,
    user_of: impl Fn(&T) -> &UserId,
) -> Result<Vec<T>, ApiError> {
    chat.rate_limits.check(&caller.id, Action::History).await?;
    let room = super::access::room(chat, caller, conversation, GroupAction::Read).await?;
    let mut visible = Vec::new();
    for person in present() {
        if room.actor.group.is_some() || may_see_online(chat, &caller.id, user_of(&person)).await? {
            visible.push(person);
        }
    }
    Ok(visible)
}

/// Whether `viewer` may see `target`'s `online` status: they are the same user,
/// share a group, or have a DM in which `target` has written.
/// The DM and each membership of `target` are `_id` lookups (or the membership
/// cache), but listing the viewer's own groups is a query on `user_id`, which
/// FerretDB answers by scanning `memberships`. Member lists and presence skip this
/// for members of the room (they share it with everyone in it); it remains for
/// `GET /users/{id}` and for global admins outside the group.
pub async fn may_see_online(
    chat: &Chat,
    viewer: &UserId,
    target: &UserId,
) -> Result<bool, ApiError> {
    if viewer == target {
        return Ok(true);
    }
    // A DM shows `online` only once the viewed user has written in it: opening a
    // DM alone reveals nothing (issue 20). The stored document or this node's copy.
    if let Some(stored) = super::dms::find(chat, viewer, target).await? {
        let written = super::dms::has_written(&stored, target)
            || chat
                .writers
                .loaded(&stored.id)
                .is_some_and(|live| super::dms::has_written(&live.doc(), target));
        if written {
            return Ok(true);
        }
    }
    let groups = &chat.store.groups;
    let mut after: Option<String> = None;
    loop {
        let page = groups
            .memberships_of(viewer, after.as_deref(), crate::limits::PAGE_MAX)
            .await?;
        for mine in &page {
            if groups.membership(&mine.group_id, target).await?.is_some() {
                return Ok(true);
            }
        }
        match page.last() {
            Some(last) if page.len() == crate::limits::PAGE_MAX as usize => {
                after = Some(last.group_id.to_string());
            }
            _ => return Ok(false),
        }
    }
}
