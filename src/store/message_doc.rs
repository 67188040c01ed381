//! A stored message (`messages`, and each entry of a history block): its
//! fields and how two copies of it merge. See `super::messages`.

use mongodb::bson::DateTime;
use serde::{Deserialize, Serialize};

use crate::ids::{ConversationId, MessageId, UserId};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessageDoc {
    /// `<conversation id>-<seq>` (see `MessageId`).
    #[serde(rename = "_id")]
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub seq: i64,
    pub sender_id: UserId,
    pub sender_username: String,
    pub body: String,
    pub client_id: Option<String>,
    /// `client_id`, or `auto:<id>` when the client sent none: unique per sender and
    /// conversation. (A unique index over a nullable `client_id` would allow only one
    /// message without it, and partial indexes are not available on FerretDB.) The
    /// writer dedupes recent `client_id`s in memory; this index is the backstop.
    pub dedupe_key: String,
    pub created_at: DateTime,
    pub edited_at: Option<DateTime>,
    pub deleted: bool,
    /// The conversation's change counter at this message's last edit or delete
    /// (0: never changed). Clients merge copies of a message by (`seq`, `rev`).
    #[serde(default)]
    pub rev: i64,
    /// Reactions, in the order each emoji was first used; each with its
    /// reactors, in the order they reacted (`chat::reactions`). Empty once
    /// deleted.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        with = "super::annotations::as_text"
    )]
    pub reactions: Vec<ReactionDoc>,
    /// The message this one replies to, as it was when this one was sent;
    /// readers refresh `excerpt` and `deleted` from the message itself
    /// (`chat::replies::refresh`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<Box<ReplyRef>>,
}

pub use super::annotations::{ReactionDoc, Reactor, ReplyRef};

impl MessageDoc {
    /// A plain message for unit tests: seq `seq` of `conversation`, saying
    /// `body`, sent at `at` (ms since the epoch) by user `s`.
    #[cfg(test)]
    pub fn sample(conversation: &str, seq: i64, at: i64, body: &str) -> Self {
        let conversation = ConversationId::from(conversation);
        Self {
            id: MessageId::new(&conversation, seq),
            conversation_id: conversation,
            seq,
            sender_id: "s".into(),
            sender_username: "s".into(),
            body: body.to_owned(),
            client_id: None,
            dedupe_key: format!("auto:{seq}"),
            created_at: DateTime::from_millis(at),
            edited_at: None,
            deleted: false,
            rev: 0,
            reactions: Vec::new(),
            reply_to: None,
        }
    }

    /// The text readers see: none once deleted. (A late edit, written by a node
    /// that stalled past its lock after the delete, leaves `deleted` set and its
    /// text in the document; it is never shown.)
    pub fn visible_body(&self) -> &str {
        if self.deleted { "" } else { &self.body }
    }

    /// This copy with `incoming` applied, where a deletion is final: a version
    /// that is not deleted does not replace one that is, nor an older change
    /// (a lower `rev`) a newer one, whatever order the two arrive in (a late
    /// edit, an event from another node). Every place that
    /// keeps a copy of a message applies changes through this.
    pub fn merged(&self, incoming: MessageDoc) -> MessageDoc {
        if (self.deleted && !incoming.deleted) || incoming.rev < self.rev {
            self.clone()
        } else {
            incoming
        }
    }
}
