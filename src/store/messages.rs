//! `messages`: ordered per conversation by `seq`.

use futures_util::TryStreamExt;
use mongodb::bson::{DateTime, doc};
use mongodb::options::{FindOptions, ReturnDocument};
use mongodb::{Collection, Database};
use serde::{Deserialize, Serialize};

use super::ensure_index;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessageDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub conversation_id: String,
    pub seq: i64,
    pub sender_id: String,
    pub sender_username: String,
    pub body: String,
    pub client_id: Option<String>,
    /// `client_id`, or `auto:<id>` when the client sent none: unique per sender and
    /// conversation. (A unique index over a nullable `client_id` would allow only one
    /// message without it, and partial indexes are not available on FerretDB.)
    pub dedupe_key: String,
    pub created_at: DateTime,
    pub edited_at: Option<DateTime>,
    pub deleted: bool,
}

/// Which slice of history to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryWindow {
    Latest,
    Before(i64),
    After(i64),
}

#[derive(Clone)]
pub struct MessageStore {
    coll: Collection<MessageDoc>,
}

impl MessageStore {
    pub fn new(db: &Database) -> Self {
        Self {
            coll: db.collection("messages"),
        }
    }

    pub async fn ensure_indexes(&self) -> mongodb::error::Result<()> {
        ensure_index(
            &self.coll,
            doc! { "conversation_id": 1, "seq": 1 },
            "conversation_seq_unique",
            true,
        )
        .await?;
        ensure_index(
            &self.coll,
            doc! { "conversation_id": 1, "sender_id": 1, "dedupe_key": 1 },
            "dedupe_unique",
            true,
        )
        .await
    }

    pub async fn insert(&self, message: &MessageDoc) -> mongodb::error::Result<()> {
        self.coll.insert_one(message).await.map(|_| ())
    }

    /// The highest `seq` stored in the conversation (0 when empty).
    pub async fn max_seq(&self, conversation_id: &str) -> mongodb::error::Result<i64> {
        let newest = self
            .coll
            .find_one(doc! { "conversation_id": conversation_id })
            .sort(doc! { "seq": -1 })
            .await?;
        Ok(newest.map_or(0, |m| m.seq))
    }

    pub async fn by_id(&self, id: &str) -> mongodb::error::Result<Option<MessageDoc>> {
        self.coll.find_one(doc! { "_id": id }).await
    }

    pub async fn by_client_id(
        &self,
        conversation_id: &str,
        sender_id: &str,
        client_id: &str,
    ) -> mongodb::error::Result<Option<MessageDoc>> {
        self.coll.find_one(doc! { "conversation_id": conversation_id, "sender_id": sender_id, "dedupe_key": client_id }).await
    }

    /// Up to `limit + 1` messages of the window, in ascending `seq` (the extra one
    /// tells the caller there is more).
    pub async fn history(
        &self,
        conversation_id: &str,
        window: HistoryWindow,
        limit: u32,
    ) -> mongodb::error::Result<Vec<MessageDoc>> {
        let (filter, ascending) = match window {
            HistoryWindow::Latest => (doc! { "conversation_id": conversation_id }, false),
            HistoryWindow::Before(seq) => (
                doc! { "conversation_id": conversation_id, "seq": { "$lt": seq } },
                false,
            ),
            HistoryWindow::After(seq) => (
                doc! { "conversation_id": conversation_id, "seq": { "$gt": seq } },
                true,
            ),
        };
        let options = FindOptions::builder()
            .sort(doc! { "seq": if ascending { 1 } else { -1 } })
            .limit(i64::from(limit) + 1)
            .build();
        let mut docs: Vec<MessageDoc> = self
            .coll
            .find(filter)
            .with_options(options)
            .await?
            .try_collect()
            .await?;
        if !ascending {
            docs.reverse();
        }
        Ok(docs)
    }

    pub async fn edit(&self, id: &str, body: &str) -> mongodb::error::Result<Option<MessageDoc>> {
        self.coll
            .find_one_and_update(
                doc! { "_id": id, "deleted": false },
                doc! { "$set": { "body": body, "edited_at": DateTime::now() } },
            )
            .return_document(ReturnDocument::After)
            .await
    }

    /// Tombstones a message: it keeps its id and seq and loses its body.
    pub async fn tombstone(&self, id: &str) -> mongodb::error::Result<Option<MessageDoc>> {
        self.coll
            .find_one_and_update(
                doc! { "_id": id },
                doc! { "$set": { "body": "", "deleted": true } },
            )
            .return_document(ReturnDocument::After)
            .await
    }

    pub async fn delete_conversation(&self, conversation_id: &str) -> mongodb::error::Result<u64> {
        Ok(self
            .coll
            .delete_many(doc! { "conversation_id": conversation_id })
            .await?
            .deleted_count)
    }
}
