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

    /// Records a newly stored message as the newest: `last_seq`, `last_message`.
    ///
    /// FerretDB writes whole documents (read-modify-write), so every write to a
    /// conversation document happens under the room's lock (`chat::SeqLocks`).
    pub async fn record_message(
        &self,
        id: &str,
        message: &LastMessage,
    ) -> mongodb::error::Result<()> {
        let value = mongodb::bson::to_bson(message).unwrap_or_default();
        self.conversations
            .update_one(
                doc! { "_id": id, "last_seq": { "$lt": message.seq } },
                doc! { "$set": { "last_seq": message.seq, "last_message": value, "last_activity": message.created_at } },
            )
            .await
            .map(|_| ())
    }

    /// Reflects an edit or deletion in the denormalised last message.
    pub async fn update_last_message_body(
        &self,
        id: &str,
        message_id: &str,
        body: &str,
    ) -> mongodb::error::Result<()> {
        self.conversations
            .update_one(
                doc! { "_id": id, "last_message.id": message_id },
                doc! { "$set": { "last_message.body": body } },
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

    /// Moves the user's read marker forward (never back).
    pub async fn mark_read(
        &self,
        conversation_id: &str,
        user_id: &str,
        seq: i64,
    ) -> mongodb::error::Result<()> {
        let id = marker_id(conversation_id, user_id);
        if let Some(marker) = self.markers.find_one(doc! { "_id": &id }).await? {
            return self.advance_marker(&id, marker.seq, seq).await;
        }
        let marker = ReadMarkerDoc {
            id: id.clone(),
            conversation_id: conversation_id.to_owned(),
            user_id: user_id.to_owned(),
            seq,
        };
        match self.markers.insert_one(&marker).await {
            Ok(_) => Ok(()),
            // Lost a race with another first marker write: move that one instead.
            Err(err) if super::is_duplicate_key(&err) => self.advance_marker(&id, 0, seq).await,
            Err(err) => Err(err),
        }
    }

    async fn advance_marker(&self, id: &str, current: i64, seq: i64) -> mongodb::error::Result<()> {
        if current >= seq {
            return Ok(());
        }
        self.markers
            .update_one(
                doc! { "_id": id, "seq": { "$lt": seq } },
                doc! { "$set": { "seq": seq } },
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
