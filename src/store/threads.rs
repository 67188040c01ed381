//! `threads`: the replies to a message (issue 23), one document per replied-to
//! message, `_id` = its message id, holding the seqs of its replies. Listing a
//! message's replies is one `_id` lookup and the replies themselves come from
//! the conversation's window or history blocks; threads with their own unread
//! state can keep their counters here later.

use mongodb::bson::doc;
use mongodb::options::UpdateOptions;
use mongodb::{Collection, Database};
use serde::{Deserialize, Serialize};

use crate::ids::{ConversationId, MessageId};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThreadDoc {
    /// The replied-to message's id.
    #[serde(rename = "_id")]
    pub id: MessageId,
    pub conversation_id: ConversationId,
    /// The replies' seqs, each once, in the order they were recorded. A seq
    /// whose message is not (or no longer) a reply to this one is skipped by
    /// readers (a seq handed out again after a crash).
    #[serde(default)]
    pub replies: Vec<i64>,
}

#[derive(Clone)]
pub struct ThreadStore {
    coll: Collection<ThreadDoc>,
}

impl ThreadStore {
    pub fn new(db: &Database) -> Self {
        Self {
            coll: db.collection("threads"),
        }
    }

    /// Records that message `seq` of the conversation replies to `root`
    /// (idempotent).
    #[tracing::instrument(name = "store.threads.add_reply", level = "info", skip(self), fields(root = %root), err)]
    pub async fn add_reply(
        &self,
        root: &MessageId,
        conversation_id: &ConversationId,
        seq: i64,
    ) -> mongodb::error::Result<()> {
        self.coll
            .update_one(
                doc! { "_id": root },
                doc! {
                    "$setOnInsert": { "conversation_id": conversation_id },
                    "$addToSet": { "replies": seq },
                },
            )
            .with_options(UpdateOptions::builder().upsert(true).build())
            .await
            .map(|_| ())
    }

    /// The seqs of the replies to `root`, ascending.
    pub async fn replies(&self, root: &MessageId) -> mongodb::error::Result<Vec<i64>> {
        let mut seqs = self
            .coll
            .find_one(doc! { "_id": root })
            .await?
            .map(|t| t.replies)
            .unwrap_or_default();
        seqs.sort_unstable();
        seqs.dedup();
        Ok(seqs)
    }

    /// Forgets a deleted conversation's threads.
    pub async fn delete_conversation(
        &self,
        conversation_id: &ConversationId,
    ) -> mongodb::error::Result<()> {
        self.coll
            .delete_many(doc! { "conversation_id": conversation_id })
            .await
            .map(|_| ())
    }
}
