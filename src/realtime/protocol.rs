//! WebSocket frames and their parsing; no I/O here.
//!
//! Every frame is a JSON text frame with a `type`. The same error codes as REST.

use crate::ids::{ConversationId, MessageId, UserId};
use poem_openapi::{Object, Union};
use serde::{Deserialize, Serialize};

use crate::limits::MAX_FRAME_BYTES;
use crate::store::messages::{MessageDoc, ReplyRef};

/// A user as frames show them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Object)]
pub struct UserRef {
    pub id: UserId,
    pub username: String,
}

/// client -> server
#[derive(Debug, Clone, PartialEq, Deserialize, Union)]
#[serde(tag = "type", rename_all = "snake_case")]
#[oai(discriminator_name = "type", rename_all = "snake_case", one_of)]
pub enum ClientFrame {
    Join(JoinFrame),
    Leave(LeaveFrame),
    Send(SendFrame),
    Typing(TypingClientFrame),
    Read(ReadFrame),
    Reauth(ReauthFrame),
    Ping(PingFrame),
    React(ReactFrame),
}

/// Join a conversation's room; messages with `seq > since` are replayed first,
/// then (with `since_rev`) every older message changed after that rev, as it is
/// now (`message_updated`, or `message_deleted`), ascending by `rev`.
#[derive(Debug, Clone, PartialEq, Deserialize, Object)]
pub struct JoinFrame {
    pub conversation: String,
    pub since: Option<i64>,
    /// The `last_rev` of your previous `joined` (or the highest `rev` you hold).
    pub since_rev: Option<i64>,
}

/// Leave a conversation's room.
#[derive(Debug, Clone, PartialEq, Deserialize, Object)]
pub struct LeaveFrame {
    pub conversation: String,
}

/// I am typing in a conversation.
#[derive(Debug, Clone, PartialEq, Deserialize, Object)]
pub struct TypingClientFrame {
    pub conversation: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Object)]
pub struct SendFrame {
    pub conversation: String,
    pub body: String,
    /// Makes the send idempotent: a repeat gets the first `ack` again.
    pub client_id: Option<String>,
    /// The id of the message (of this conversation) this one replies to.
    pub reply_to: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Object)]
pub struct ReadFrame {
    pub conversation: String,
    pub seq: i64,
}

/// Add (`on: true`) or remove your reaction to a message. Idempotent: the
/// room hears a `reaction` only when something changed.
#[derive(Debug, Clone, PartialEq, Deserialize, Object)]
pub struct ReactFrame {
    pub conversation: String,
    pub message: String,
    /// One emoji (`👍`) or its shortcode (`:+1:`).
    pub emoji: String,
    pub on: bool,
}

/// Replace the connection's access token before it expires.
#[derive(Debug, Clone, PartialEq, Deserialize, Object)]
pub struct ReauthFrame {
    pub token: String,
}

/// Application-level ping, answered with `pong`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Object)]
pub struct PingFrame {}

/// The answer to `ping`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Object)]
pub struct PongFrame {}

/// Why a client frame could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    TooLarge,
    Malformed(String),
}

/// Parses one client text frame.
pub fn parse_client_frame(text: &str) -> Result<ClientFrame, FrameError> {
    if text.len() > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge);
    }
    serde_json::from_str(text).map_err(|err| {
        let reason = err.to_string();
        // serde names the missing/unknown variant; keep the message short and safe.
        FrameError::Malformed(reason.chars().take(200).collect())
    })
}

/// server -> client
#[derive(Debug, Clone, Serialize, Union)]
#[serde(tag = "type", rename_all = "snake_case")]
#[oai(discriminator_name = "type", rename_all = "snake_case", one_of)]
pub enum ServerFrame {
    Joined(JoinedFrame),
    Ack(AckFrame),
    Message(MessageFrame),
    MessageUpdated(MessageUpdatedFrame),
    MessageDeleted(MessageDeletedFrame),
    Presence(PresenceFrame),
    Typing(TypingFrame),
    Read(ReadEventFrame),
    Membership(MembershipFrame),
    Error(ErrorFrame),
    Pong(PongFrame),
    Reaction(ReactionFrame),
}

#[derive(Debug, Clone, Serialize, Object)]
pub struct JoinedFrame {
    pub conversation: ConversationId,
    pub last_seq: i64,
    /// Users with at least one connection in the room now.
    pub online: Vec<UserRef>,
    /// More was missed than a join replays: page the rest with REST history.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    #[oai(default)]
    pub truncated: bool,
    /// The conversation's change counter now: pass it as `since_rev` next time.
    pub last_rev: i64,
    /// More changed than a join replays (`since_rev` too old): reload the
    /// history you hold (or page `GET /conversations/{id}/changes`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    #[oai(default)]
    pub changes_truncated: bool,
}

#[derive(Debug, Clone, Serialize, Object)]
pub struct AckFrame {
    pub client_id: Option<String>,
    pub id: MessageId,
    pub seq: i64,
}

#[derive(Debug, Clone, Serialize, Object)]
pub struct MessageFrame {
    pub conversation: ConversationId,
    pub id: MessageId,
    pub seq: i64,
    pub sender: UserRef,
    pub body: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    #[oai(default)]
    pub deleted: bool,
    /// The conversation's change counter at this message's last edit or delete
    /// (0: never changed): keep the copy with the higher `rev`.
    pub rev: i64,
    /// Reactions, in the order each emoji was first used.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[oai(default)]
    pub reactions: Vec<ReactionCount>,
    // The message this one replies to (no doc comment: see `Message`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub reply_to: Option<ReplyTo>,
}

/// What a reply shows of the message it replies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Object)]
pub struct ReplyTo {
    pub id: MessageId,
    pub seq: i64,
    pub sender: UserRef,
    /// The first 100 characters of its text as it is now (REST, a join's
    /// replay) or was when the reply was sent (a live `message` frame: follow
    /// the original's `message_updated`); empty once deleted.
    pub excerpt: String,
    /// The replied-to message was deleted.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    #[oai(default)]
    pub deleted: bool,
}

impl From<&ReplyRef> for ReplyTo {
    fn from(r: &ReplyRef) -> Self {
        Self {
            id: r.id.clone(),
            seq: r.seq,
            sender: UserRef {
                id: r.sender_id.clone(),
                username: r.sender_username.clone(),
            },
            excerpt: r.excerpt.clone(),
            deleted: r.deleted,
        }
    }
}

/// One emoji's reactions to a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Object)]
pub struct ReactionCount {
    /// The emoji, in its canonical form (a shortcode is stored as its emoji).
    pub emoji: String,
    /// How many users reacted with it.
    pub count: i64,
    /// Whether you did. Over REST and in the frames sent to you alone (a join's
    /// replay); absent in frames every member gets (keep your own: the
    /// `reaction` events name the user).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub me: Option<bool>,
}

/// A message's reactions with counts, and (given `viewer`) whether they reacted.
pub fn reaction_counts(m: &MessageDoc, viewer: Option<&UserId>) -> Vec<ReactionCount> {
    m.reactions
        .iter()
        .map(|r| ReactionCount {
            emoji: r.emoji.clone(),
            count: i64::try_from(r.users.len()).unwrap_or(i64::MAX),
            me: viewer.map(|v| r.users.iter().any(|u| &u.id == v)),
        })
        .collect()
}

impl MessageFrame {
    /// The frame `viewer` alone gets (with `me` in each reaction).
    pub fn seen_by(m: &MessageDoc, viewer: &UserId) -> Self {
        Self {
            reactions: reaction_counts(m, Some(viewer)),
            ..Self::from(m)
        }
    }
}

/// A reaction added or removed: the change alone, never the whole message.
#[derive(Debug, Clone, Serialize, Object)]
pub struct ReactionFrame {
    pub conversation: ConversationId,
    pub message: MessageId,
    pub emoji: String,
    pub user: UserRef,
    /// Added (`true`) or removed.
    pub on: bool,
    /// The emoji's count after the change.
    pub count: i64,
    /// The change's `rev`: the message's `rev` is now this.
    pub rev: i64,
}

impl From<&MessageDoc> for MessageFrame {
    fn from(m: &MessageDoc) -> Self {
        Self {
            conversation: m.conversation_id.clone(),
            id: m.id.clone(),
            seq: m.seq,
            sender: UserRef {
                id: m.sender_id.clone(),
                username: m.sender_username.clone(),
            },
            body: m.visible_body().to_owned(),
            created_at: crate::domain::timestamp(m.created_at),
            edited_at: m.edited_at.map(crate::domain::timestamp),
            deleted: m.deleted,
            rev: m.rev,
            reactions: reaction_counts(m, None),
            reply_to: m.reply_to.as_deref().map(ReplyTo::from),
        }
    }
}

/// The edited message, in the same shape as `message`.
#[derive(Debug, Clone, Serialize, Object)]
pub struct MessageUpdatedFrame {
    #[serde(flatten)]
    #[oai(flatten)]
    pub message: MessageFrame,
}

#[derive(Debug, Clone, Serialize, Object)]
pub struct MessageDeletedFrame {
    pub conversation: ConversationId,
    pub id: MessageId,
    pub seq: i64,
    /// The change counter of the deletion.
    pub rev: i64,
}

impl From<&MessageDoc> for MessageDeletedFrame {
    fn from(m: &MessageDoc) -> Self {
        Self {
            conversation: m.conversation_id.clone(),
            id: m.id.clone(),
            seq: m.seq,
            rev: m.rev,
        }
    }
}

/// A message as a change replay sends it to `viewer`: `message_deleted` once
/// deleted, `message_updated` otherwise.
pub fn change_frame(m: &MessageDoc, viewer: &UserId) -> ServerFrame {
    if m.deleted {
        ServerFrame::MessageDeleted(MessageDeletedFrame::from(m))
    } else {
        ServerFrame::MessageUpdated(MessageUpdatedFrame {
            message: MessageFrame::seen_by(m, viewer),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, poem_openapi::Enum)]
#[serde(rename_all = "lowercase")]
#[oai(rename_all = "lowercase")]
pub enum PresenceStatus {
    Online,
    Offline,
}

#[derive(Debug, Clone, Serialize, Object)]
pub struct PresenceFrame {
    pub conversation: ConversationId,
    pub user: UserRef,
    pub status: PresenceStatus,
}

#[derive(Debug, Clone, Serialize, Object)]
pub struct TypingFrame {
    pub conversation: ConversationId,
    pub user: UserRef,
}

#[derive(Debug, Clone, Serialize, Object)]
pub struct ReadEventFrame {
    pub conversation: ConversationId,
    pub user: UserRef,
    pub seq: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, poem_openapi::Enum)]
#[serde(rename_all = "lowercase")]
#[oai(rename_all = "lowercase")]
pub enum MembershipStatus {
    Added,
    Removed,
}

/// You were added to or removed from a group (its conversation id is the group id).
#[derive(Debug, Clone, Serialize, Object)]
pub struct MembershipFrame {
    pub conversation: ConversationId,
    pub status: MembershipStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<crate::permissions::GroupRole>,
}

#[derive(Debug, Clone, Serialize, Object)]
pub struct ErrorFrame {
    pub code: String,
    pub message: String,
    /// The `client_id` or conversation the error is about, when there is one.
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    #[oai(rename = "ref")]
    pub reference: Option<String>,
}

impl ErrorFrame {
    pub fn from_api(err: &crate::error::ApiError, reference: Option<String>) -> Self {
        Self {
            code: err.code.as_str().to_owned(),
            message: err.message.clone(),
            reference,
        }
    }
}

/// Serialises a frame once; the bytes are shared by every recipient.
pub fn encode(frame: &ServerFrame) -> std::sync::Arc<str> {
    serde_json::to_string(frame).unwrap_or_default().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_frames_parse_by_type() {
        assert_eq!(
            parse_client_frame(r#"{"type":"join","conversation":"c1","since":4}"#),
            Ok(ClientFrame::Join(JoinFrame {
                conversation: "c1".into(),
                since: Some(4),
                since_rev: None,
            }))
        );
        assert_eq!(
            parse_client_frame(r#"{"type":"join","conversation":"c1","since_rev":7}"#),
            Ok(ClientFrame::Join(JoinFrame {
                conversation: "c1".into(),
                since: None,
                since_rev: Some(7),
            }))
        );
        assert_eq!(
            parse_client_frame(r#"{"type":"ping"}"#),
            Ok(ClientFrame::Ping(PingFrame {}))
        );
        let send = parse_client_frame(
            r#"{"type":"send","conversation":"c","body":"hi","client_id":"k1","extra":1}"#,
        );
        assert!(matches!(
            send,
            Ok(ClientFrame::Send(SendFrame {
                client_id: Some(_),
                ..
            }))
        ));
    }

    #[test]
    fn junk_frames_are_errors_not_panics() {
        for junk in [
            "",
            "{",
            "[]",
            "null",
            r#"{"type":"explode"}"#,
            r#"{"type":"join"}"#,
            r#"{"type":"read","conversation":"c","seq":"x"}"#,
            r#"{"conversation":"c"}"#,
        ] {
            assert!(
                matches!(parse_client_frame(junk), Err(FrameError::Malformed(_))),
                "{junk}"
            );
        }
        let big = format!(
            r#"{{"type":"send","conversation":"c","body":"{}"}}"#,
            "a".repeat(MAX_FRAME_BYTES)
        );
        assert_eq!(parse_client_frame(&big), Err(FrameError::TooLarge));
    }

    #[test]
    fn server_frames_carry_their_type_and_omit_empty_fields() {
        let frame = ServerFrame::Joined(JoinedFrame {
            conversation: "c".into(),
            last_seq: 3,
            online: vec![],
            truncated: false,
            last_rev: 2,
            changes_truncated: false,
        });
        assert_eq!(
            &*encode(&frame),
            r#"{"type":"joined","conversation":"c","last_seq":3,"online":[],"last_rev":2}"#
        );
        let err = ServerFrame::Error(ErrorFrame {
            code: "forbidden".into(),
            message: "no".into(),
            reference: Some("k".into()),
        });
        assert_eq!(
            &*encode(&err),
            r#"{"type":"error","code":"forbidden","message":"no","ref":"k"}"#
        );
        assert_eq!(
            &*encode(&ServerFrame::Pong(PongFrame {})),
            r#"{"type":"pong"}"#
        );
    }
}
