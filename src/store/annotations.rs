//! What a message carries besides its text (issue 23): its reactions and, for a
//! reply, what it answers. Plain data, kept in the message's document and
//! history block (`store::messages`).

use serde::{Deserialize, Serialize};

use crate::ids::{MessageId, UserId};

/// What a reply shows of the message it replies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyRef {
    pub id: MessageId,
    pub seq: i64,
    pub sender_id: UserId,
    pub sender_username: String,
    /// The start of its text (`REPLY_EXCERPT_CHARS`); empty once deleted.
    pub excerpt: String,
    #[serde(default)]
    pub deleted: bool,
}

/// One emoji's reactions to a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReactionDoc {
    /// The emoji, in its canonical form (`chat::reactions::parse_emoji`).
    pub emoji: String,
    /// Who reacted with it, each once.
    pub users: Vec<Reactor>,
}

/// A user who reacted (usernames never change, so the name is kept with the id
/// and listing reactors reads nothing else).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reactor {
    pub id: UserId,
    pub username: String,
}
