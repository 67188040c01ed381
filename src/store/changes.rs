//! `message_changes`: which message each change of a conversation touched, by
//! the conversation's change counter (`rev`, issue 23). One document per change,
//! `_id` = `<conversation>^<rev>`, so a replay of the changes after a rev is
//! `_id` lookups, and the unique `_id` refuses a rev handed out twice (two nodes
//! that both think they hold a conversation's edit lock): the second moves on to
//! the next rev.

use mongodb::bson::doc;
use mongodb::{Collection, Database};
use serde::{Deserialize, Serialize};

use crate::ids::ConversationId;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChangeDoc {
    /// `<conversation id>^<rev>`.
    #[serde(rename = "_id")]
    pub id: String,
    pub conversation_id: ConversationId,
    pub rev: i64,
    /// The message's seq.
    pub seq: i64,
}

fn change_id(conversation_id: &ConversationId, rev: i64) -> String {
    format!("{conversation_id}^{rev}")
}

#[derive(Clone)]
pub struct ChangeStore {
    coll: Collection<ChangeDoc>,
}

impl ChangeStore {
    pub fn new(db: &Database) -> Self {
        Self {
            coll: db.collection("message_changes"),
        }
    }

    /// Records changes `first..first + seqs.len()` (consecutive revs), change
    /// `first + i` touching message `seqs[i]`; `false` when any of those revs
    /// was taken already (the others may be recorded: a recorded change that
    /// points at an unchanged message is harmless, see `chat::writer`).
    #[tracing::instrument(name = "store.changes.record_many", level = "info", skip(self, seqs), fields(conversation = %conversation_id, n = seqs.len()), err)]
    pub async fn record_many(
        &self,
        conversation_id: &ConversationId,
        first: i64,
        seqs: &[i64],
    ) -> mongodb::error::Result<bool> {
        let changes = seqs.iter().zip(first..).map(|(&seq, rev)| ChangeDoc {
            id: change_id(conversation_id, rev),
            conversation_id: conversation_id.clone(),
            rev,
            seq,
        });
        match self.coll.insert_many(changes).ordered(false).await {
            Ok(_) => Ok(true),
            Err(err) if super::is_duplicate_key(&err) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// The change `rev` of a conversation, if it was recorded.
    pub async fn by_rev(
        &self,
        conversation_id: &ConversationId,
        rev: i64,
    ) -> mongodb::error::Result<Option<ChangeDoc>> {
        self.coll
            .find_one(doc! { "_id": change_id(conversation_id, rev) })
            .await
    }

    /// Forgets a deleted conversation's changes.
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
