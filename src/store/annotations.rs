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

/// How a message document stores its reactions: as one JSON text, not as an
/// array of documents. FerretDB converts every nested document of a document it
/// reads or writes; a message with 4 emoji from 200 users each (800 reactors)
/// took tens of milliseconds per toggle to rewrite as documents, as one string
/// it is a plain value (docs/benchmarks.md, issue 23). The reactions are never
/// queried by their contents. The cluster's JSON events carry the same text.
pub mod as_text {
    use serde::{Deserialize, Deserializer, Serializer, de, ser};

    use super::ReactionDoc;

    pub fn serialize<S: Serializer>(reactions: &[ReactionDoc], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode(reactions).map_err(ser::Error::custom)?)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ReactionDoc>, D::Error> {
        let text = String::deserialize(d)?;
        if text.is_empty() {
            return Ok(Vec::new());
        }
        serde_json::from_str(&text).map_err(de::Error::custom)
    }

    /// The stored text of `reactions`.
    pub fn encode(reactions: &[ReactionDoc]) -> serde_json::Result<String> {
        serde_json::to_string(reactions)
    }
}
