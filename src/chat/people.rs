//! Who may see what of another person: their `online` status.

use super::Chat;
use crate::error::ApiError;
use crate::ids::UserId;

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
