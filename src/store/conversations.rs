//! `conversations` (one per group, one per DM pair) and `read_markers`.

use futures_util::TryStreamExt;
use mongodb::bson::{DateTime, doc};
use mongodb::options::FindOptions;
use mongodb::{Collection, Database};
use serde::{Deserialize, Serialize};

use super::ensure_index;
use crate::ids::{ConversationId, MessageId, UserId};

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
    pub id: MessageId,
    pub seq: i64,
    pub sender_id: UserId,
    pub sender_username: String,
    pub body: String,
    pub created_at: DateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConversationDoc {
    /// For a group: the group's id.
    #[serde(rename = "_id")]
    pub id: ConversationId,
    pub kind: ConversationKind,
    /// Unique: `group:<id>` or `dm:<smaller user id>:<larger user id>`. (No partial
    /// indexes on FerretDB, so groups get a key too.)
    pub key: String,
    /// The two participants of a DM; empty for groups (members are in `memberships`).
    pub participants: Vec<UserId>,
    /// The highest `seq` stored (the messages' unique (conversation_id, seq) index
    /// is the authority; this is its denormalised copy).
    pub last_seq: i64,
    pub last_message: Option<LastMessage>,
    pub last_activity: DateTime,
    pub created_at: DateTime,
    /// Every seq up to this one may have been handed out: the writer raises it
    /// (`$max`, ahead by `chat::writer::SEQ_RESERVE`) before it acks a message
    /// beyond it, so an acked seq is never above it. Recovery after a crash looks
    /// up every seq up to it by `_id` instead of probing for holes, so it finds
    /// every acked message and never hands an acked seq out again. (0 in
    /// documents written before it existed.)
    #[serde(default)]
    pub seq_reserved: i64,
    /// A DM's participants who have sent a message in it: only they show their
    /// `online` status to the other through the DM (`api::users::may_see_online`).
    /// Added once per participant, by the writer, with `$addToSet`.
    #[serde(default)]
    pub posted: Vec<UserId>,
    /// The conversation's change counter (`rev`, issue 23) as last raised
    /// (`$max`) after a change was recorded: a hint where the next rev starts.
    /// The changes themselves (`store::changes`) are the authority: a rev that
    /// was recorded but not raised here (a crash in between) is found taken and
    /// skipped. (0 in documents written before it existed.)
    #[serde(default)]
    pub last_rev: i64,
    /// Every change up to this rev is in the history blocks (and in `messages`):
    /// raised (`$max`) by the write-behind once it has written every block a
    /// copy had changed up to then. A load replays the changes after it
    /// (`chat::writer::load`), so a crash before the blocks were written
    /// loses none of them however many came after. Absent on documents written
    /// before it (a load then replays the latest changes only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks_rev: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReadMarkerDoc {
    /// `<conversation id>:<user id>`
    #[serde(rename = "_id")]
    pub id: String,
    pub conversation_id: ConversationId,
    pub user_id: UserId,
    pub seq: i64,
}

pub fn dm_key(a: &UserId, b: &UserId) -> String {
    if a <= b {
        format!("dm:{a}:{b}")
    } else {
        format!("dm:{b}:{a}")
    }
}

fn marker_id(conversation_id: &ConversationId, user_id: &UserId) -> String {
    format!("{conversation_id}:{user_id}")
}

#[derive(Clone)]
pub struct ConversationStore {
    conversations: Collection<ConversationDoc>,
    markers: Collection<ReadMarkerDoc>,
    pairs: Collection<DmPairDoc>,
}

/// `dm_pairs`: which conversation is the DM of a pair of users, keyed by the pair
/// (`dm_key`), so finding it is an `_id` lookup while the DM's own id is random
/// (not derivable from the two user ids). The unique `_id` decides a race between
/// two first openings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DmPairDoc {
    /// `dm_key(a, b)`.
    #[serde(rename = "_id")]
    pub key: String,
    pub conversation_id: ConversationId,
}

impl DmPairDoc {
    fn new(key: &str, conversation_id: &ConversationId) -> Self {
        Self {
            key: key.to_owned(),
            conversation_id: conversation_id.clone(),
        }
    }
}

impl ConversationStore {
    pub fn new(db: &Database) -> Self {
        Self {
            conversations: db.collection("conversations"),
            markers: db.collection("read_markers"),
            pairs: db.collection("dm_pairs"),
        }
    }

    /// The DM conversation of the pair `key`, if one was recorded.
    #[tracing::instrument(name = "store.conversations.dm_pair", level = "info", skip(self), err)]
    pub async fn dm_pair(&self, key: &str) -> mongodb::error::Result<Option<ConversationId>> {
        Ok(self
            .pairs
            .find_one(doc! { "_id": key })
            .await?
            .map(|p| p.conversation_id))
    }

    /// Points the pair's record at `conversation_id` (a DM from before the records
    /// existed, found by its key).
    #[tracing::instrument(
        name = "store.conversations.set_dm_pair",
        level = "info",
        skip(self),
        err
    )]
    pub async fn set_dm_pair(
        &self,
        key: &str,
        conversation_id: &ConversationId,
    ) -> mongodb::error::Result<()> {
        self.pairs
            .replace_one(doc! { "_id": key }, DmPairDoc::new(key, conversation_id))
            .with_options(
                mongodb::options::ReplaceOptions::builder()
                    .upsert(true)
                    .build(),
            )
            .await
            .map(|_| ())
    }

    /// Records the pair's DM; `false` when another one was recorded first.
    #[tracing::instrument(
        name = "store.conversations.claim_dm_pair",
        level = "info",
        skip(self),
        err
    )]
    pub async fn claim_dm_pair(
        &self,
        key: &str,
        conversation_id: &ConversationId,
    ) -> mongodb::error::Result<bool> {
        match self
            .pairs
            .insert_one(DmPairDoc::new(key, conversation_id))
            .await
        {
            Ok(_) => Ok(true),
            Err(err) if super::is_duplicate_key(&err) => Ok(false),
            Err(err) => Err(err),
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
        id: ConversationId,
        kind: ConversationKind,
        key: String,
        participants: Vec<UserId>,
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
            seq_reserved: 0,
            posted: Vec::new(),
            last_rev: 0,
            blocks_rev: None,
        }
    }

    /// Records that `user` has sent a message in the DM `id` (idempotent).
    #[tracing::instrument(name = "store.conversations.mark_posted", level = "debug", skip(self), fields(conversation = %id), err)]
    pub async fn mark_posted(
        &self,
        id: &ConversationId,
        user: &UserId,
    ) -> mongodb::error::Result<()> {
        self.conversations
            .update_one(doc! { "_id": id }, doc! { "$addToSet": { "posted": user } })
            .await
            .map(|_| ())
    }

    /// Raises the durable seq reservation to `upto` (never lowers it: `$max`, so
    /// two writers in a race leave the higher one).
    #[tracing::instrument(name = "store.conversations.reserve_seqs", level = "debug", skip(self), fields(conversation = %id), err)]
    pub async fn reserve_seqs(&self, id: &ConversationId, upto: i64) -> mongodb::error::Result<()> {
        self.conversations
            .update_one(
                doc! { "_id": id },
                doc! { "$max": { "seq_reserved": upto } },
            )
            .await
            .map(|_| ())
    }

    /// Raises `last_rev` to at least `rev`.
    #[tracing::instrument(name = "store.conversations.raise_rev", level = "info", skip(self), fields(conversation = %id), err)]
    pub async fn raise_rev(&self, id: &ConversationId, rev: i64) -> mongodb::error::Result<()> {
        self.conversations
            .update_one(doc! { "_id": id }, doc! { "$max": { "last_rev": rev } })
            .await
            .map(|_| ())
    }

    #[tracing::instrument(name = "store.conversations.insert", level = "info", skip_all, fields(conversation = %conversation.id), err)]
    pub async fn insert(&self, conversation: &ConversationDoc) -> mongodb::error::Result<()> {
        self.conversations
            .insert_one(conversation)
            .await
            .map(|_| ())
    }

    #[tracing::instrument(name = "store.conversations.by_id", level = "info", skip(self), fields(conversation = %id), err)]
    pub async fn by_id(
        &self,
        id: &ConversationId,
    ) -> mongodb::error::Result<Option<ConversationDoc>> {
        self.conversations.find_one(doc! { "_id": id }).await
    }

    #[tracing::instrument(name = "store.conversations.by_key", level = "info", skip(self), err)]
    pub async fn by_key(&self, key: &str) -> mongodb::error::Result<Option<ConversationDoc>> {
        self.conversations.find_one(doc! { "key": key }).await
    }

    #[tracing::instrument(name = "store.conversations.by_ids", level = "info", skip_all, fields(count = ids.len()), err)]
    pub async fn by_ids(
        &self,
        ids: &[ConversationId],
    ) -> mongodb::error::Result<Vec<ConversationDoc>> {
        self.conversations
            .find(doc! { "_id": { "$in": ids } })
            .await?
            .try_collect()
            .await
    }

    /// Every conversation's id (the search index's catch-up at start; a scan,
    /// never on a request's path).
    #[tracing::instrument(name = "store.conversations.all_ids", level = "info", skip(self), err)]
    pub async fn all_ids(&self) -> mongodb::error::Result<Vec<ConversationId>> {
        let ids: Vec<mongodb::bson::Document> = self
            .conversations
            .clone_with_type::<mongodb::bson::Document>()
            .find(doc! {})
            .projection(doc! { "_id": 1 })
            .await?
            .try_collect()
            .await?;
        Ok(ids
            .iter()
            .filter_map(|d| d.get_str("_id").ok())
            .map(ConversationId::from_trusted)
            .collect())
    }

    /// The user's DMs, most recently active first, after `(activity millis, id)`.
    #[tracing::instrument(name = "store.conversations.direct_page", level = "info", skip(self), fields(user = %user_id), err)]
    pub async fn direct_page(
        &self,
        user_id: &UserId,
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
    #[tracing::instrument(name = "store.conversations.write_last", level = "info", skip(self, last_message, last_activity), fields(conversation = %id, last_seq), err)]
    pub async fn write_last(
        &self,
        id: &ConversationId,
        last_seq: i64,
        last_message: Option<&LastMessage>,
        last_activity: DateTime,
        blocks_rev: Option<i64>,
    ) -> mongodb::error::Result<()> {
        let last_message = match last_message {
            Some(m) => mongodb::bson::to_bson(m)?,
            None => mongodb::bson::Bson::Null,
        };
        let mut update = doc! { "$set": { "last_seq": last_seq, "last_message": last_message, "last_activity": last_activity } };
        if let Some(rev) = blocks_rev {
            update.insert("$max", doc! { "blocks_rev": rev });
        }
        self.conversations
            .update_one(doc! { "_id": id }, update)
            .await
            .map(|_| ())
    }

    #[tracing::instrument(name = "store.conversations.delete", level = "info", skip(self), fields(conversation = %id), err)]
    pub async fn delete(&self, id: &ConversationId) -> mongodb::error::Result<()> {
        self.markers
            .delete_many(doc! { "conversation_id": id })
            .await?;
        self.conversations
            .delete_one(doc! { "_id": id })
            .await
            .map(|_| ())
    }

    /// The user's stored read marker in the conversation (0 when none).
    #[tracing::instrument(name = "store.conversations.marker", level = "info", skip(self), fields(conversation = %conversation_id, user = %user_id), err)]
    pub async fn marker(
        &self,
        conversation_id: &ConversationId,
        user_id: &UserId,
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
    #[tracing::instrument(name = "store.conversations.write_marker", level = "info", skip(self), fields(conversation = %conversation_id, user = %user_id), err)]
    pub async fn write_marker(
        &self,
        conversation_id: &ConversationId,
        user_id: &UserId,
        seq: i64,
    ) -> mongodb::error::Result<()> {
        // `$max`: a marker never moves back, even when two nodes write one
        // behind from different views (cluster mode). The filter is `_id` alone.
        let id = marker_id(conversation_id, user_id);
        self.markers
            .update_one(
                doc! { "_id": &id },
                doc! {
                    "$max": { "seq": seq },
                    "$setOnInsert": {
                        "conversation_id": conversation_id,
                        "user_id": user_id,
                    },
                },
            )
            .upsert(true)
            .await
            .map(|_| ())
    }

    /// The user's read markers for these conversations: conversation id -> seq.
    #[tracing::instrument(name = "store.conversations.read_seqs", level = "info", skip(self, conversation_ids), fields(user = %user_id, count = conversation_ids.len()), err)]
    pub async fn read_seqs(
        &self,
        user_id: &UserId,
        conversation_ids: &[ConversationId],
    ) -> mongodb::error::Result<std::collections::HashMap<ConversationId, i64>> {
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
