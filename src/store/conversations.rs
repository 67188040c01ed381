//! `conversations` (one per group, one per DM pair) and `read_markers`.

use futures_util::TryStreamExt;
use mongodb::bson::{DateTime, doc};
use mongodb::options::FindOptions;
use mongodb::{Collection, Database};
use serde::{Deserialize, Serialize};

use super::ensure_index;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, poem_openapi::Enum)]
#[serde(rename_all = "lowercase")]
#[oai(rename_all = "lowercase")]
pub enum ConversationKind {
    Group,
    Direct,
}

/// The newest message of a conversation, denormalised for conversation lists.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LastMessage {
    pub id: String,
    pub seq: i64,
    pub sender_id: String,
    pub sender_username: String,
    pub body: String,
    pub created_at: DateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConversationDoc {
    /// For a group: the group's id.
    #[serde(rename = "_id")]
    pub id: String,
    pub kind: ConversationKind,
    /// Unique: `group:<id>` or `dm:<smaller user id>:<larger user id>`. (No partial
    /// indexes on FerretDB, so groups get a key too.)
    pub key: String,
    /// The two participants of a DM; empty for groups (members are in `memberships`).
    pub participants: Vec<String>,
    /// The highest `seq` stored (the messages' unique (conversation_id, seq) index
    /// is the authority; this is its denormalised copy).
    pub last_seq: i64,
    pub last_message: Option<LastMessage>,
    pub last_activity: DateTime,
    pub created_at: DateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReadMarkerDoc {
    /// `<conversation id>:<user id>`
    #[serde(rename = "_id")]
    pub id: String,
    pub conversation_id: String,
    pub user_id: String,
    pub seq: i64,
}

pub fn dm_key(a: &str, b: &str) -> String {
    if a <= b {
        format!("dm:{a}:{b}")
    } else {
        format!("dm:{b}:{a}")
    }
}

fn marker_id(conversation_id: &str, user_id: &str) -> String {
    format!("{conversation_id}:{user_id}")
}

#[derive(Clone)]
pub struct ConversationStore {
    conversations: Collection<ConversationDoc>,
    markers: Collection<ReadMarkerDoc>,
}

impl ConversationStore {
    pub fn new(db: &Database) -> Self {
        Self {
            conversations: db.collection("conversations"),
            markers: db.collection("read_markers"),
        }
    }

    pub async fn ensure_indexes(&self) -> mongodb::error::Result<()> {
        ensure_index(&self.conversations, doc! { "key": 1 }, "key_unique", true).await?;
        ensure_index(
            &self.conversations,
            doc! { "participants": 1 },
            "participants",
            false,
        )
        .await?;
        ensure_index(
            &self.markers,
            doc! { "conversation_id": 1 },
            "conversation_id",
            false,
        )
        .await
    }

    pub fn new_doc(
        id: String,
        kind: ConversationKind,
        key: String,
        participants: Vec<String>,
    ) -> ConversationDoc {
        let now = super::now();
        ConversationDoc {
            id,
            kind,
            key,
            participants,
            last_seq: 0,
            last_message: None,
            last_activity: now,
            created_at: now,
        }
    }

    pub async fn insert(&self, conversation: &ConversationDoc) -> mongodb::error::Result<()> {
        self.conversations
            .insert_one(conversation)
            .await
            .map(|_| ())
    }

    pub async fn by_id(&self, id: &str) -> mongodb::error::Result<Option<ConversationDoc>> {
        self.conversations.find_one(doc! { "_id": id }).await
    }

    pub async fn by_key(&self, key: &str) -> mongodb::error::Result<Option<ConversationDoc>> {
        self.conversations.find_one(doc! { "key": key }).await
    }

    pub async fn by_ids(&self, ids: &[String]) -> mongodb::error::Result<Vec<ConversationDoc>> {
        self.conversations
            .find(doc! { "_id": { "$in": ids } })
            .await?
            .try_collect()
            .await
    }

    /// The user's DMs, most recently active first, after `(activity millis, id)`.
    pub async fn direct_page(
        &self,
        user_id: &str,
        after: Option<(i64, &str)>,
        limit: u32,
    ) -> mongodb::error::Result<Vec<ConversationDoc>> {
        let mut filter = doc! { "kind": "direct", "participants": user_id };
        if let Some((millis, id)) = after {
            let at = DateTime::from_millis(millis);
            filter.insert(
                "$or",
                vec![
                    doc! { "last_activity": { "$lt": at } },
                    doc! { "last_activity": at, "_id": { "$lt": id } },
                ],
            );
        }
        let options = FindOptions::builder()
            .sort(doc! { "last_activity": -1, "_id": -1 })
            .limit(i64::from(limit))
            .build();
        self.conversations
            .find(filter)
            .with_options(options)
            .await?
            .try_collect()
            .await
    }

    /// Writes the newest-message fields behind the writer (`chat::writer`), by
    /// `_id` only. The writer is the one writer of these fields, so no condition is
    /// needed (and any other filter key would make FerretDB scan the collection).
    pub async fn write_last(
        &self,
        id: &str,
        last_seq: i64,
        last_message: Option<&LastMessage>,
        last_activity: DateTime,
    ) -> mongodb::error::Result<()> {
        let last_message = match last_message {
            Some(m) => mongodb::bson::to_bson(m)?,
            None => mongodb::bson::Bson::Null,
        };
        self.conversations
            .update_one(
                doc! { "_id": id },
                doc! { "$set": { "last_seq": last_seq, "last_message": last_message, "last_activity": last_activity } },
            )
            .await
            .map(|_| ())
    }

    pub async fn delete(&self, id: &str) -> mongodb::error::Result<()> {
        self.markers
            .delete_many(doc! { "conversation_id": id })
            .await?;
        self.conversations
            .delete_one(doc! { "_id": id })
            .await
            .map(|_| ())
    }

    /// The user's stored read marker in the conversation (0 when none).
    pub async fn marker(
        &self,
        conversation_id: &str,
        user_id: &str,
    ) -> mongodb::error::Result<i64> {
        let id = marker_id(conversation_id, user_id);
        Ok(self
            .markers
            .find_one(doc! { "_id": id })
            .await?
            .map_or(0, |m| m.seq))
    }

    /// Stores a read marker by `_id` (the writer has already made sure it only
    /// moves forward).
    pub async fn write_marker(
        &self,
        conversation_id: &str,
        user_id: &str,
        seq: i64,
    ) -> mongodb::error::Result<()> {
        let id = marker_id(conversation_id, user_id);
        let marker = ReadMarkerDoc {
            id: id.clone(),
            conversation_id: conversation_id.to_owned(),
            user_id: user_id.to_owned(),
            seq,
        };
        self.markers
            .replace_one(doc! { "_id": id }, marker)
            .with_options(
                mongodb::options::ReplaceOptions::builder()
                    .upsert(true)
                    .build(),
            )
            .await
            .map(|_| ())
    }

    /// The user's read markers for these conversations: conversation id -> seq.
    pub async fn read_seqs(
        &self,
        user_id: &str,
        conversation_ids: &[String],
    ) -> mongodb::error::Result<std::collections::HashMap<String, i64>> {
        let ids: Vec<String> = conversation_ids
            .iter()
            .map(|c| marker_id(c, user_id))
            .collect();
        let markers: Vec<ReadMarkerDoc> = self
            .markers
            .find(doc! { "_id": { "$in": ids } })
            .await?
            .try_collect()
            .await?;
        Ok(markers
            .into_iter()
            .map(|m| (m.conversation_id, m.seq))
            .collect())
    }
}
