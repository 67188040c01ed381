//! Resolving a conversation id to what the caller may do there.
//!
//! Whatever the caller may not see answers 404, exactly like what does not exist.

use super::Chat;
use std::sync::Arc;

use super::Caller;
use super::writer::Live;
use crate::error::ApiError;
use crate::ids::ConversationId;
use crate::permissions::{Actor, GroupAction, GroupRole, effective_role, may};
use crate::store::conversations::{ConversationDoc, ConversationKind};
use crate::store::groups::{GroupDoc, Visibility};

/// A conversation the caller may act in, with their standing there.
pub struct Room {
    /// The conversation's document as of now (from memory).
    pub conversation: ConversationDoc,
    /// Its writer: sends, history, read markers.
    pub live: Arc<Live>,
    /// The group, for group rooms.
    pub group: Option<GroupDoc>,
    pub actor: Actor,
}

impl Room {
    pub fn is_direct(&self) -> bool {
        self.conversation.kind == ConversationKind::Direct
    }
}

pub fn conversation_not_found() -> ApiError {
    ApiError::not_found("conversation")
}

/// The one shape check of client-supplied conversation ids (REST paths and WS
/// frames): anything but 24 lowercase hex digits is `not_found` at once, before
/// it costs a database call or a map entry.
pub fn conversation_id(raw: &str) -> Result<ConversationId, ApiError> {
    ConversationId::parse(raw).ok_or_else(conversation_not_found)
}

/// Checks that `caller` may do `action` in `conversation_id`, then gives its
/// writer. Authorization comes first: a conversation not in memory is judged
/// from its stored document (one `_id` lookup) and loaded only for a caller who
/// may act there, so a stranger's request loads nothing and answers a DM that
/// exists and one that does not alike (one lookup, 404).
#[tracing::instrument(name = "chat.access.room", level = "debug", skip(chat, caller), fields(user = %caller.id, conversation = %conversation_id), err(level = "debug"))]
pub async fn room(
    chat: &Chat,
    caller: &Caller,
    conversation_id: &ConversationId,
    action: GroupAction,
) -> Result<Room, ApiError> {
    // The hot path: in memory and sure of itself. One copy of the document, as
    // before authorization came first.
    if let Some(live) = chat.writers.loaded(conversation_id)
        && !live.needs_reload()
    {
        let conversation = live.doc();
        let (group, actor) = authorize(chat, caller, &conversation, action).await?;
        return Ok(Room {
            conversation,
            live,
            group,
            actor,
        });
    }
    let seen = chat
        .store
        .conversations
        .by_id(conversation_id)
        .await?
        .ok_or_else(conversation_not_found)?;
    let (group, actor) = authorize(chat, caller, &seen, action).await?;
    // Loads it (or reloads a copy a store failure left unsure).
    let live = chat.writers.get(conversation_id).await?;
    Ok(Room {
        conversation: live.doc(),
        live,
        group,
        actor,
    })
}

/// Whether `caller` may do `action` in the conversation `conversation`: the
/// group (for group rooms) and the caller's standing.
async fn authorize(
    chat: &Chat,
    caller: &Caller,
    conversation: &ConversationDoc,
    action: GroupAction,
) -> Result<(Option<GroupDoc>, Actor), ApiError> {
    if conversation.kind == ConversationKind::Direct {
        // A DM is visible to its two participants and nobody else, admins included.
        if !conversation.participants.contains(&caller.id) {
            return Err(conversation_not_found());
        }
        let actor = Actor {
            global: crate::domain::Role::User,
            group: Some(GroupRole::Member),
        };
        if !may(actor, action) {
            return Err(ApiError::forbidden("not allowed in a direct conversation"));
        }
        return Ok((None, actor));
    }
    let group = chat
        .store
        .groups
        .by_id_uncounted(&conversation.id.as_group())
        .await?
        .ok_or_else(conversation_not_found)?;
    let (_, actor) = group_actor(chat, caller, &group).await?;
    if !may(
        actor,
        GroupAction::View {
            public: group.visibility == Visibility::Public,
        },
    ) {
        return Err(conversation_not_found());
    }
    if !may(actor, action) {
        tracing::warn!(event = "forbidden", user_id = %caller.id, conversation = %conversation.id, ?action, "refused in group");
        return Err(ApiError::forbidden(if actor.group.is_none() {
            JOIN_FIRST
        } else {
            "your role in this group does not allow this"
        }));
    }
    Ok((Some(group), actor))
}

/// The refusal of a group action to someone who is not a member.
pub const JOIN_FIRST: &str = "join the group first";

/// The caller's role in `group` (if any) as an `Actor`: their membership's, as
/// the group's `owner_id` makes it (`effective_role`: exactly one owner).
pub async fn group_actor(
    chat: &Chat,
    caller: &Caller,
    group: &GroupDoc,
) -> Result<(Option<GroupRole>, Actor), ApiError> {
    let role = chat
        .store
        .groups
        .membership(&group.id, &caller.id)
        .await?
        .map(|m| m.role);
    let role = effective_role(role, &caller.id, &group.owner_id);
    Ok((
        role,
        Actor {
            global: caller.role,
            group: role,
        },
    ))
}

/// A seq a client names (`since`, `before`, `after`, a read marker): 0 to
/// `SEQ_MAX`, so no arithmetic on it can overflow.
pub fn check_seq(field: &'static str, seq: i64) -> Result<i64, ApiError> {
    if (0..=crate::limits::SEQ_MAX).contains(&seq) {
        Ok(seq)
    } else {
        Err(ApiError::invalid_field(
            field,
            format!("must be between 0 and {}", crate::limits::SEQ_MAX),
        ))
    }
}
