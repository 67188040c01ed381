//! Groups: create, find, update, delete; membership and roles.

use super::Caller;
use super::Chat;
use super::access::group_actor;
use super::fanout::MembershipChange;
use crate::domain::{FieldErrors, clean_text};
use crate::error::ApiError;
use crate::ids::{GroupId, UserId};
use crate::limits::{GROUP_DESCRIPTION_MAX_CHARS, GROUP_NAME_MAX_CHARS};
use crate::permissions::{Actor, GroupAction, GroupRole, effective_role, may};
use crate::rate_limits::Action;
use crate::store::conversations::{ConversationKind, ConversationStore};
use crate::store::groups::{GroupDoc, MembershipDoc, Visibility};
use crate::store::now;

/// Why a transfer to `user_id` is refused.
pub const NOT_A_MEMBER: &str = "must be a member of the group";

fn group_not_found() -> ApiError {
    ApiError::not_found("group")
}

/// A membership write whose compare-and-set found the stored chat changed since
/// it was checked (the node lost its lock while stalled, and another change landed).
fn changed_meanwhile() -> ApiError {
    ApiError::conflict("the membership changed meanwhile; try again")
}

fn parse_name(raw: &str) -> Result<String, String> {
    clean_text(raw, GROUP_NAME_MAX_CHARS, &[])
}

fn parse_description(raw: &str) -> Result<String, String> {
    if raw.trim().is_empty() {
        return Ok(String::new());
    }
    clean_text(raw, GROUP_DESCRIPTION_MAX_CHARS, &['\n', '\t'])
}

/// Loads a group the caller may see (404 otherwise) and their standing in it,
/// with its member count (`GroupStore::with_member_count`).
pub async fn visible(
    chat: &Chat,
    caller: &Caller,
    id: &GroupId,
) -> Result<(GroupDoc, Actor), ApiError> {
    let (group, actor) = seen(chat, caller, id).await?;
    Ok((chat.store.groups.with_member_count(group).await?, actor))
}

/// Like `visible`, without counting the members of a group stored before counts
/// were: the group and the caller's membership come from `_id` lookups or
/// memory.
async fn seen(chat: &Chat, caller: &Caller, id: &GroupId) -> Result<(GroupDoc, Actor), ApiError> {
    let group = chat
        .store
        .groups
        .by_id_uncounted(id)
        .await?
        .ok_or_else(group_not_found)?;
    let (_, actor) = group_actor(chat, caller, &group).await?;
    if !may(
        actor,
        GroupAction::View {
            public: group.visibility == Visibility::Public,
        },
    ) {
        return Err(group_not_found());
    }
    Ok((group, actor))
}

/// A group the caller may see and read (members, global admins).
async fn readable(
    chat: &Chat,
    caller: &Caller,
    id: &GroupId,
) -> Result<(GroupDoc, Actor), ApiError> {
    let (group, actor) = seen(chat, caller, id).await?;
    require(
        actor,
        GroupAction::Read,
        caller,
        &group,
        super::access::JOIN_FIRST,
    )?;
    Ok((group, actor))
}

/// A stored membership with the role it gives (`effective_role`): the one
/// owner is the group's `owner_id`.
fn as_owned_by(group: &GroupDoc, mut membership: MembershipDoc) -> MembershipDoc {
    membership.role = effective_role(Some(membership.role), &membership.user_id, &group.owner_id)
        .unwrap_or(membership.role);
    membership
}

fn require(
    actor: Actor,
    action: GroupAction,
    caller: &Caller,
    group: &GroupDoc,
    message: &str,
) -> Result<(), ApiError> {
    if may(actor, action) {
        return Ok(());
    }
    tracing::warn!(event = "forbidden", user_id = %caller.id, group_id = %group.id, ?action, "group action refused");
    Err(ApiError::forbidden(message))
}

pub async fn create(
    chat: &Chat,
    caller: &Caller,
    name: &str,
    description: Option<&str>,
    visibility: Option<Visibility>,
) -> Result<GroupDoc, ApiError> {
    chat.rate_limits
        .check(&caller.id, Action::Membership)
        .await?;
    let mut errors = FieldErrors::default();
    let name = errors.take("name", parse_name(name));
    let description = errors.take("description", parse_description(description.unwrap_or("")));
    let (Some(name), Some(description)) = (name, description) else {
        return Err(errors.into());
    };
    let mut group = GroupDoc {
        id: GroupId::generate(),
        name,
        description,
        visibility: visibility.unwrap_or(Visibility::Public),
        owner_id: caller.id.clone(),
        created_at: now(),
        members: Some(0),
    };
    let store = &chat.store;
    store.groups.insert(&group).await?;
    let conversation = ConversationStore::new_doc(
        group.id.conversation(),
        ConversationKind::Group,
        format!("group:{}", group.id),
        Vec::new(),
    );
    store.conversations.insert(&conversation).await?;
    super::memberships::add(chat, None, &group.id, &caller.id, GroupRole::Owner).await?;
    group.members = Some(1);
    tracing::info!(event = "group_created", group_id = %group.id, owner = %caller.id);
    Ok(group)
}

/// The caller's groups, by id, after `cursor`.
pub async fn mine(
    chat: &Chat,
    caller: &Caller,
    cursor: Option<&str>,
    limit: u32,
) -> Result<(Vec<GroupDoc>, Option<String>), ApiError> {
    // Through the chat's reader first: it prunes what the user left.
    super::memberships::groups_of(chat, &caller.id).await?;
    let memberships = chat
        .store
        .groups
        .memberships_of(&caller.id, cursor, limit)
        .await?;
    let next = (memberships.len() == limit as usize)
        .then(|| memberships.last().map(|m| m.group_id.to_string()))
        .flatten();
    let ids: Vec<GroupId> = memberships.into_iter().map(|m| m.group_id).collect();
    Ok((chat.store.groups.by_ids(&ids).await?, next))
}

/// Public groups, by id, after `cursor`.
pub async fn discover(
    chat: &Chat,
    cursor: Option<&str>,
    limit: u32,
) -> Result<(Vec<GroupDoc>, Option<String>), ApiError> {
    let groups = chat.store.groups.public_page(cursor, limit).await?;
    let next = (groups.len() == limit as usize)
        .then(|| groups.last().map(|g| g.id.to_string()))
        .flatten();
    Ok((groups, next))
}

pub async fn update(
    chat: &Chat,
    caller: &Caller,
    id: &GroupId,
    name: Option<&str>,
    description: Option<&str>,
    visibility: Option<Visibility>,
) -> Result<GroupDoc, ApiError> {
    let (group, actor) = seen(chat, caller, id).await?;
    require(
        actor,
        GroupAction::Update,
        caller,
        &group,
        "only the group's owner and admins may update it",
    )?;
    let mut errors = FieldErrors::default();
    let name = name.and_then(|n| errors.take("name", parse_name(n)));
    let description = description.and_then(|d| errors.take("description", parse_description(d)));
    if !errors.is_empty() {
        return Err(errors.into());
    }
    chat.store
        .groups
        .update(id, name.as_deref(), description.as_deref(), visibility)
        .await?
        .ok_or_else(group_not_found)
}

/// Tells a member's connections they left the room, under the room writer's lock
/// (see `Writers::member_removed`). Call after the membership is gone from storage.
fn unsubscribe(chat: &Chat, group_id: &GroupId, user_id: &UserId) {
    chat.writers.member_removed(&group_id.conversation(), || {
        chat.changes
            .membership_changed(group_id, user_id, MembershipChange::Removed);
    });
}

/// Deletes the group with its room, messages, read markers and memberships.
pub async fn delete(chat: &Chat, caller: &Caller, id: &GroupId) -> Result<(), ApiError> {
    let (group, actor) = seen(chat, caller, id).await?;
    require(
        actor,
        GroupAction::Delete,
        caller,
        &group,
        "only the group's owner may delete it",
    )?;
    let members = chat.store.groups.member_ids(id).await?;
    let store = &chat.store;
    chat.writers.forget(&id.conversation());
    store
        .messages
        .delete_conversation(&id.conversation())
        .await?;
    store
        .changes
        .delete_conversation(&id.conversation())
        .await?;
    store
        .threads
        .delete_conversation(&id.conversation())
        .await?;
    store.conversations.delete(&id.conversation()).await?;
    store.groups.delete(id).await?;
    for user_id in members {
        chat.changes
            .membership_changed(id, &user_id, MembershipChange::Removed);
    }
    tracing::info!(event = "group_deleted", group_id = %id, actor = %caller.id);
    Ok(())
}

pub async fn join(chat: &Chat, caller: &Caller, id: &GroupId) -> Result<GroupDoc, ApiError> {
    chat.rate_limits
        .check(&caller.id, Action::Membership)
        .await?;
    let (group, actor) = seen(chat, caller, id).await?;
    if actor.group.is_some() {
        return Ok(chat.store.groups.with_member_count(group).await?);
    }
    require(
        actor,
        GroupAction::Join {
            public: group.visibility == Visibility::Public,
        },
        caller,
        &group,
        "only public groups can be joined",
    )?;
    if super::memberships::add(chat, None, id, &caller.id, GroupRole::Member).await? {
        chat.changes
            .membership_changed(id, &caller.id, MembershipChange::Added(GroupRole::Member));
    }
    chat.store
        .groups
        .by_id(id)
        .await?
        .ok_or_else(group_not_found)
}

pub async fn leave(chat: &Chat, caller: &Caller, id: &GroupId) -> Result<(), ApiError> {
    chat.rate_limits
        .check(&caller.id, Action::Membership)
        .await?;
    let (_, actor) = seen(chat, caller, id).await?;
    if actor.group.is_none() {
        return Err(ApiError::not_found("membership"));
    }
    // Under the group's membership lock, like every other membership change: a
    // transfer to the caller cannot pass between the check and the removal
    // (which would leave an owner who is not a member).
    // The room stays loaded through the removal, so that a `join` racing with it
    // sees the membership epoch move (`Writers::member_removed`).
    let _room = chat.writers.get(&id.conversation()).await?;
    let members = super::exclusive(chat, &format!("members:{id}")).await?;
    if members.shared() {
        chat.store.groups.reread(id);
    }
    let (group, actor) = seen(chat, caller, id).await?;
    if actor.group.is_none() {
        return Err(ApiError::not_found("membership"));
    }
    if actor.group == Some(GroupRole::Owner) {
        return Err(ApiError::conflict(
            "the owner cannot leave; transfer ownership first",
        ));
    }
    require(
        actor,
        GroupAction::Leave,
        caller,
        &group,
        "you cannot leave this group",
    )?;
    let stored = chat
        .store
        .groups
        .membership(id, &caller.id)
        .await?
        .ok_or_else(|| ApiError::not_found("membership"))?;
    if !super::memberships::remove(chat, Some(&members), id, &caller.id, stored.role).await? {
        return Err(changed_meanwhile());
    }
    unsubscribe(chat, id, &caller.id);
    Ok(())
}

/// A page of memberships.
pub async fn members(
    chat: &Chat,
    caller: &Caller,
    id: &GroupId,
    cursor: Option<&str>,
    limit: u32,
) -> Result<(Vec<MembershipDoc>, Option<String>), ApiError> {
    let (group, _) = readable(chat, caller, id).await?;
    let page = chat.store.groups.members_page(id, cursor, limit).await?;
    let next = (page.len() == limit as usize)
        .then(|| page.last().map(|m| m.joined_key.clone()))
        .flatten();
    Ok((
        page.into_iter().map(|m| as_owned_by(&group, m)).collect(),
        next,
    ))
}

/// Adds `user_id` with `role`, or changes their role.
pub async fn put_member(
    chat: &Chat,
    caller: &Caller,
    id: &GroupId,
    user_id: &UserId,
    role: GroupRole,
) -> Result<MembershipDoc, ApiError> {
    readable(chat, caller, id).await?;
    let members = super::exclusive(chat, &format!("members:{id}")).await?;
    if members.shared() {
        chat.store.groups.reread(id);
    }
    let (group, actor) = readable(chat, caller, id).await?;
    let target = chat
        .store
        .users
        .by_id(user_id)
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(|| ApiError::not_found("user"))?;
    if role == GroupRole::Owner {
        return Err(ApiError::invalid_field(
            "role",
            "ownership changes only by transfer (POST /groups/{id}/transfer)",
        ));
    }
    let stored = chat.store.groups.membership(id, &target.id).await?;
    match stored.map(|m| (m.role, as_owned_by(&group, m))) {
        Some((stored_role, existing)) => {
            if existing.role == GroupRole::Owner {
                return Err(ApiError::conflict(
                    "the owner's role changes only by transferring ownership",
                ));
            }
            require(
                actor,
                GroupAction::ChangeRole {
                    from: existing.role,
                    to: role,
                },
                caller,
                &group,
                "only the owner grants or takes the admin role",
            )?;
            members.still_held()?;
            let updated = chat
                .store
                .groups
                .set_member_role(id, &target.id, stored_role, role)
                .await?
                .ok_or_else(changed_meanwhile)?;
            tracing::info!(event = "member_role_changed", group_id = %id, target = %target.id, ?role, actor = %caller.id);
            Ok(as_owned_by(&group, updated))
        }
        None => {
            require(
                actor,
                GroupAction::AddMember { role },
                caller,
                &group,
                "your role does not allow adding members with that role",
            )?;
            if super::memberships::add(chat, Some(&members), id, &target.id, role).await? {
                chat.changes
                    .membership_changed(id, &target.id, MembershipChange::Added(role));
            }
            chat.store
                .groups
                .membership(id, &target.id)
                .await?
                .map(|m| as_owned_by(&group, m))
                .ok_or_else(|| ApiError::not_found("membership"))
        }
    }
}

pub async fn remove_member(
    chat: &Chat,
    caller: &Caller,
    id: &GroupId,
    user_id: &UserId,
) -> Result<(), ApiError> {
    readable(chat, caller, id).await?;
    // The room stays loaded through the removal, so that a `join` racing with it
    // sees the membership epoch move (`Writers::member_removed`).
    let _room = chat.writers.get(&id.conversation()).await?;
    let members = super::exclusive(chat, &format!("members:{id}")).await?;
    if members.shared() {
        chat.store.groups.reread(id);
    }
    let (group, actor) = readable(chat, caller, id).await?;
    let stored = chat
        .store
        .groups
        .membership(id, user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("membership"))?;
    let stored_role = stored.role;
    let target = as_owned_by(&group, stored);
    if target.role == GroupRole::Owner {
        return Err(ApiError::conflict(
            "the owner cannot be removed; transfer ownership first",
        ));
    }
    let action = GroupAction::RemoveMember {
        target: target.role,
        is_self: *user_id == caller.id,
    };
    require(
        actor,
        action,
        caller,
        &group,
        "your role does not allow removing this member",
    )?;
    if !super::memberships::remove(chat, Some(&members), id, user_id, stored_role).await? {
        return Err(changed_meanwhile());
    }
    unsubscribe(chat, id, user_id);
    tracing::info!(event = "member_removed", group_id = %id, target = %user_id, actor = %caller.id);
    Ok(())
}

/// Makes `new_owner` (a member) the owner; the old owner becomes an admin.
pub async fn transfer(
    chat: &Chat,
    caller: &Caller,
    id: &GroupId,
    new_owner: &UserId,
) -> Result<GroupDoc, ApiError> {
    // Checked again under the group's membership lock: a concurrent transfer may
    // have moved the ownership meanwhile.
    seen(chat, caller, id).await?;
    let members = super::exclusive(chat, &format!("members:{id}")).await?;
    if members.shared() {
        chat.store.groups.reread(id);
    }
    let (group, actor) = seen(chat, caller, id).await?;
    require(
        actor,
        GroupAction::TransferOwnership,
        caller,
        &group,
        "only the owner may transfer ownership",
    )?;
    if *new_owner == group.owner_id {
        return Ok(chat.store.groups.with_member_count(group).await?);
    }
    let groups = &chat.store.groups;
    let heir = groups
        .membership(id, new_owner)
        .await?
        .ok_or_else(|| ApiError::invalid_field("user_id", NOT_A_MEMBER))?;
    let former = groups
        .membership(id, &group.owner_id)
        .await?
        .ok_or_else(changed_meanwhile)?;
    let changed = |updated: Option<MembershipDoc>| updated.ok_or_else(changed_meanwhile);
    // The group's `owner_id` is the one truth of ownership (`effective_role`), so
    // it is written first: should the transfer stop after it, the memberships
    // still give exactly one owner, and the next transfer or role change
    // tidies them.
    // Each write is a compare-and-set on what was checked above, so a node that
    // stalled past its lock cannot undo a transfer that landed meanwhile.
    members.still_held()?;
    if !groups.set_owner(id, &group.owner_id, new_owner).await? {
        return Err(ApiError::conflict(
            "the ownership changed meanwhile; try again",
        ));
    }
    members.still_held()?;
    changed(
        groups
            .set_member_role(id, new_owner, heir.role, GroupRole::Owner)
            .await?,
    )?;
    members.still_held()?;
    changed(
        groups
            .set_member_role(id, &group.owner_id, former.role, GroupRole::Admin)
            .await?,
    )?;
    tracing::info!(event = "ownership_transferred", group_id = %id, from = %group.owner_id, to = %new_owner, actor = %caller.id);
    groups.by_id(id).await?.ok_or_else(group_not_found)
}
