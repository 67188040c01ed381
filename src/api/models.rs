//! Response and request shapes shared by several tags.

use crate::ids::{ConversationId, GroupId, MessageId, UserId};
use poem_openapi::Object;

use crate::domain::Role;
use crate::permissions::GroupRole;
use crate::store::conversations::{ConversationDoc, ConversationKind, LastMessage};
use crate::store::groups::{GroupDoc, Visibility};
use crate::store::messages::MessageDoc;
use crate::store::users::UserDoc;

pub use crate::domain::{Timestamp, timestamp};
pub use crate::realtime::protocol::{ReactionCount, ReplyTo, reaction_counts};

/// A user's public profile.
#[derive(Debug, Clone, Object)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub created_at: Timestamp,
    /// Whether the user has a live connection. Present in `GET /users/{id}` and on
    /// DM peers, and only to the user themself or someone who shares a group with
    /// them, or a DM in which they have written (opening a DM reveals nothing).
    #[oai(skip_serializing_if_is_none)]
    pub online: Option<bool>,
}

impl From<&UserDoc> for User {
    fn from(doc: &UserDoc) -> Self {
        Self {
            id: doc.id.clone(),
            username: doc.username.clone(),
            display_name: doc.display_name.clone(),
            role: doc.role,
            created_at: timestamp(doc.created_at),
            online: None,
        }
    }
}

/// A page of users.
#[derive(Debug, Object)]
pub struct UserPage {
    pub items: Vec<User>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

/// A user as messages and members show them.
#[derive(Debug, Clone, Object)]
pub struct UserSummary {
    pub id: UserId,
    pub username: String,
}

/// A member's user, with display name.
#[derive(Debug, Clone, Object)]
pub struct MemberUser {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
}

/// A group. Its conversation (room) id is the group's id.
#[derive(Debug, Clone, Object)]
pub struct Group {
    pub id: GroupId,
    pub name: String,
    pub description: String,
    pub visibility: Visibility,
    pub owner_id: UserId,
    pub created_at: Timestamp,
    pub member_count: i64,
}

impl From<&GroupDoc> for Group {
    fn from(g: &GroupDoc) -> Self {
        Self {
            id: g.id.clone(),
            name: g.name.clone(),
            description: g.description.clone(),
            visibility: g.visibility,
            owner_id: g.owner_id.clone(),
            created_at: timestamp(g.created_at),
            member_count: g.members.unwrap_or(0).max(0),
        }
    }
}

#[derive(Debug, Object)]
pub struct GroupPage {
    pub items: Vec<Group>,
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

/// A group member with their role.
#[derive(Debug, Clone, Object)]
pub struct Member {
    pub user: MemberUser,
    pub role: GroupRole,
    pub joined_at: Timestamp,
    /// Whether the user has a live connection. Omitted when the caller (a global
    /// admin who is not a member) shares no conversation with this user.
    #[oai(skip_serializing_if_is_none)]
    pub online: Option<bool>,
}

#[derive(Debug, Object)]
pub struct MemberPage {
    pub items: Vec<Member>,
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

/// A message. A deleted message keeps its id and seq and loses its body.
#[derive(Debug, Clone, Object)]
pub struct Message {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    /// Position in the conversation: strictly increasing.
    pub seq: i64,
    pub sender: UserSummary,
    pub body: String,
    #[oai(skip_serializing_if_is_none)]
    pub client_id: Option<String>,
    pub created_at: Timestamp,
    #[oai(skip_serializing_if_is_none)]
    pub edited_at: Option<Timestamp>,
    pub deleted: bool,
    /// The conversation's change counter at this message's last edit or delete
    /// (0: never changed). Of two copies of a message, keep the higher `rev`.
    pub rev: i64,
    /// Reactions, in the order each emoji was first used, with whether you
    /// reacted (`me`). Empty once deleted.
    pub reactions: Vec<ReactionCount>,
    // The message this one replies to, as it is now (no doc comment: it would
    // wrap the `$ref` in an `allOf`).
    #[oai(skip_serializing_if_is_none)]
    pub reply_to: Option<ReplyTo>,
}

impl Message {
    /// The message as `viewer` sees it (`me` in each reaction).
    pub fn seen_by(m: &MessageDoc, viewer: &UserId) -> Self {
        Self {
            id: m.id.clone(),
            conversation_id: m.conversation_id.clone(),
            seq: m.seq,
            sender: UserSummary {
                id: m.sender_id.clone(),
                username: m.sender_username.clone(),
            },
            body: m.visible_body().to_owned(),
            client_id: m.client_id.clone(),
            created_at: timestamp(m.created_at),
            edited_at: m.edited_at.map(timestamp),
            deleted: m.deleted,
            rev: m.rev,
            reactions: reaction_counts(m, Some(viewer)),
            reply_to: m.reply_to.as_deref().map(ReplyTo::from),
        }
    }
}

/// The newest message of a conversation.
#[derive(Debug, Clone, Object)]
pub struct LastMessageView {
    pub id: MessageId,
    pub seq: i64,
    pub sender: UserSummary,
    pub body: String,
    pub created_at: Timestamp,
}

impl From<&LastMessage> for LastMessageView {
    fn from(m: &LastMessage) -> Self {
        Self {
            id: m.id.clone(),
            seq: m.seq,
            sender: UserSummary {
                id: m.sender_id.clone(),
                username: m.sender_username.clone(),
            },
            body: m.body.clone(),
            created_at: timestamp(m.created_at),
        }
    }
}

/// A group's room or a direct conversation; its `id` is what WebSocket frames use.
/// `peer` is the other participant (direct conversations only).
#[derive(Debug, Clone, Object)]
pub struct Conversation {
    pub id: ConversationId,
    pub kind: ConversationKind,
    /// The group's name, or the peer's display name.
    pub name: String,
    #[oai(skip_serializing_if_is_none)]
    pub peer: Option<User>,
    pub last_seq: i64,
    /// Messages after the caller's read marker.
    pub unread: i64,
    #[oai(skip_serializing_if_is_none)]
    pub last_message: Option<LastMessageView>,
}

impl Conversation {
    pub fn direct(c: &ConversationDoc, peer: Option<&UserDoc>, read_seq: i64) -> Self {
        Self {
            id: c.id.clone(),
            kind: c.kind,
            name: peer
                .map(|p| p.display_name.clone())
                .unwrap_or_else(|| "deleted user".to_owned()),
            peer: peer.map(User::from),
            last_seq: c.last_seq,
            unread: (c.last_seq - read_seq).max(0),
            last_message: c.last_message.as_ref().map(LastMessageView::from),
        }
    }
}

#[derive(Debug, Object)]
pub struct ConversationPage {
    pub items: Vec<Conversation>,
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

/// Messages in ascending `seq`.
#[derive(Debug, Object)]
pub struct History {
    pub items: Vec<Message>,
    /// More messages lie beyond this page in the direction read.
    pub has_more: bool,
}

/// Messages changed after a rev, as they are now.
#[derive(Debug, Object)]
pub struct Changes {
    /// Ascending by `rev`; each message once per page.
    pub items: Vec<Message>,
    /// The change counter this page covers up to: pass it as `since_rev` next.
    pub last_rev: i64,
    /// More changes lie beyond `last_rev`.
    pub has_more: bool,
}

/// Who is in a conversation's room right now.
#[derive(Debug, Object)]
pub struct Presence {
    pub conversation_id: ConversationId,
    pub online: Vec<UserSummary>,
}
