//! `messages` and `message_blocks`: ordered per conversation by `seq`.
//!
//! FerretDB finds a document through an index only for a filter that is exactly
//! `{_id: value}`, so both collections are addressed by composed `_id`s:
//! - a message's `_id` (its public id) is `<conversation>-<seq>`: the writer finds
//!   a conversation's newest messages after a restart, and edits find a message,
//!   without a query on any other field;
//! - a block holds the messages of `BLOCK_SIZE` consecutive seqs of one conversation
//!   (`_id` = `<conversation>#<block>`, the bucket pattern), so a history page deep
//!   in the past is one or two `_id` lookups whatever the volume stored.
//!
//! Every message is inserted once into `messages` (one `insert_many` carries the
//! messages of many conversations); blocks are copies written behind from the
//! writer's memory (see `chat::writer`), and rebuilt from `messages` if one is ever
//! missing.

use mongodb::bson::doc;
use mongodb::options::{Acknowledgment, InsertManyOptions, ReplaceOptions, WriteConcern};
use mongodb::{Collection, Database};

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

pub use super::blocks::{
    BLOCK_CACHE_BYTES, BLOCK_SIZE, BlockDoc, BlockVersion, block_of, block_start,
};
use super::blocks::{BlockCache, block_id};
use super::ensure_index;
use crate::config::MessageDurability;
use crate::ids::{ConversationId, MessageId, UserId};

pub use super::message_doc::{MessageDoc, ReactionDoc, Reactor, ReplyRef};

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
    blocks: Collection<BlockDoc>,
    cache: Arc<Mutex<BlockCache>>,
    /// The write concern of message inserts (`MESSAGE_DURABILITY`).
    durability: WriteConcern,
    /// The other nodes' block caches (cluster mode): told of every rewrite.
    peers: super::cache::Peers,
}

/// The write concern for a durability setting.
pub fn write_concern(durability: MessageDurability) -> WriteConcern {
    match durability {
        MessageDurability::Journaled => WriteConcern::builder().journal(true).build(),
        MessageDurability::Majority => WriteConcern::builder()
            .w(Acknowledgment::Majority)
            .journal(true)
            .build(),
        MessageDurability::Acknowledged => {
            WriteConcern::builder().w(Acknowledgment::Nodes(1)).build()
        }
    }
}

impl MessageStore {
    pub fn new(db: &Database, peers: super::cache::Peers) -> Self {
        Self {
            coll: db.collection("messages"),
            blocks: db.collection("message_blocks"),
            cache: Arc::new(Mutex::new(BlockCache::new(
                peers.others().then_some(crate::limits::CACHE_TTL),
            ))),
            durability: write_concern(MessageDurability::Journaled),
            peers,
        }
    }

    /// Another node rewrote a block: read it from the database next time.
    pub fn forget_block(&self, id: &str) {
        self.cache().forget(id);
    }

    /// Forgets every cached block (events may have been lost).
    pub fn forget_blocks(&self) {
        self.cache().clear();
    }

    /// Sets the write concern of message inserts.
    pub fn with_durability(mut self, durability: MessageDurability) -> Self {
        self.durability = write_concern(durability);
        self
    }

    pub async fn ensure_indexes(&self) -> mongodb::error::Result<()> {
        ensure_index(
            &self.coll,
            doc! { "conversation_id": 1, "sender_id": 1, "dedupe_key": 1 },
            "dedupe_unique",
            true,
        )
        .await
    }

    /// Inserts messages of any conversations in one round trip, unordered. Returns
    /// the indexes that failed: `Ok` lists write errors (duplicate keys), `Err` is a
    /// failure of the whole call, after which any of them may or may not be stored.
    #[tracing::instrument(name = "store.messages.insert_many", level = "info", skip_all, fields(count = messages.len()), err)]
    pub async fn insert_many(
        &self,
        messages: &[MessageDoc],
    ) -> mongodb::error::Result<Vec<(usize, bool)>> {
        let options = InsertManyOptions::builder()
            .ordered(false)
            .write_concern(self.durability.clone())
            .build();
        match self.coll.insert_many(messages).with_options(options).await {
            Ok(_) => Ok(Vec::new()),
            Err(err) => match &*err.kind {
                mongodb::error::ErrorKind::InsertMany(e) if e.write_concern_error.is_none() => {
                    Ok(e.write_errors.as_ref().map_or_else(Vec::new, |errors| {
                        errors
                            .iter()
                            .map(|w| (w.index, w.code == super::DUPLICATE_KEY))
                            .collect()
                    }))
                }
                _ => Err(err),
            },
        }
    }

    #[tracing::instrument(name = "store.messages.by_id", level = "info", skip(self), fields(message = %id), err)]
    pub async fn by_id(&self, id: &MessageId) -> mongodb::error::Result<Option<MessageDoc>> {
        self.coll.find_one(doc! { "_id": id }).await
    }

    pub async fn by_seq(
        &self,
        conversation_id: &ConversationId,
        seq: i64,
    ) -> mongodb::error::Result<Option<MessageDoc>> {
        self.by_id(&MessageId::new(conversation_id, seq)).await
    }

    /// The first message of this sender with this `client_id`. Not on the hot path
    /// (the writer dedupes recent ids in memory): only after the unique index
    /// refused a repeat the writer no longer remembered. It scans on FerretDB.
    #[tracing::instrument(name = "store.messages.by_client_id", level = "info", skip(self, client_id), fields(conversation = %conversation_id, sender = %sender_id), err)]
    pub async fn by_client_id(
        &self,
        conversation_id: &ConversationId,
        sender_id: &UserId,
        client_id: &str,
    ) -> mongodb::error::Result<Option<MessageDoc>> {
        self.coll
            .find_one(doc! { "conversation_id": conversation_id, "sender_id": sender_id, "dedupe_key": client_id })
            .await
    }

    /// Writes a message's new body/state (edit or delete) by `_id`.
    #[tracing::instrument(name = "store.messages.replace", level = "info", skip_all, fields(message = %message.id), err)]
    pub async fn replace(&self, message: &MessageDoc) -> mongodb::error::Result<()> {
        self.coll
            .replace_one(doc! { "_id": &message.id }, message)
            .await
            .map(|_| ())
    }

    /// Writes a change of reactions: the reactions and `rev` only, never
    /// `deleted` (as `write_edit`).
    pub async fn write_reactions(&self, message: &MessageDoc) -> mongodb::error::Result<()> {
        let reactions = super::annotations::as_text::encode(&message.reactions)
            .map_err(|err| mongodb::error::Error::custom(err.to_string()))?;
        self.coll
            .update_one(
                doc! { "_id": &message.id },
                doc! { "$set": { "reactions": reactions, "rev": message.rev } },
            )
            .await
            .map(|_| ())
    }

    /// Writes an edit: the text and `edited_at` only, never `deleted`, so an edit
    /// that lands after a delete (a node stalled past its lock) cannot bring the
    /// message back (`MessageDoc::visible_body`).
    pub async fn write_edit(&self, message: &MessageDoc) -> mongodb::error::Result<()> {
        self.coll
            .update_one(
                doc! { "_id": &message.id },
                doc! { "$set": {
                    "body": &message.body,
                    "edited_at": message.edited_at,
                    "rev": message.rev,
                } },
            )
            .await
            .map(|_| ())
    }

    fn cache(&self) -> MutexGuard<'_, BlockCache> {
        // A panic while holding this lock cannot leave the map inconsistent.
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One block's messages: from the cache, the stored block, or (if it was never
    /// written, e.g. after a crash) rebuilt from `messages` and written for next time.
    pub async fn block(
        &self,
        conversation_id: &ConversationId,
        block: i64,
    ) -> mongodb::error::Result<Arc<Vec<MessageDoc>>> {
        let id = block_id(conversation_id, block);
        if let Some(cached) = self.cache().get(&id) {
            return Ok(cached);
        }
        self.load_block(conversation_id, block, id).await
    }

    /// The database side of `block` (cache hits create no span).
    #[tracing::instrument(name = "store.messages.block", level = "info", skip(self, id), fields(conversation = %conversation_id), err)]
    async fn load_block(
        &self,
        conversation_id: &ConversationId,
        block: i64,
        id: String,
    ) -> mongodb::error::Result<Arc<Vec<MessageDoc>>> {
        let epoch = self.cache().epoch();
        if let Some(found) = self.blocks.find_one(doc! { "_id": &id }).await? {
            let (messages, bytes) = found.messages()?;
            let messages = Arc::new(messages);
            self.cache().fill(epoch, id, Arc::clone(&messages), bytes);
            return Ok(messages);
        }
        let seqs = block_start(block)..block_start(block + 1);
        let found =
            futures_util::future::try_join_all(seqs.map(|seq| self.by_seq(conversation_id, seq)))
                .await?;
        let messages: Vec<MessageDoc> = found.into_iter().flatten().collect();
        if !messages.is_empty() {
            self.write_block(conversation_id, block, &messages).await?;
        }
        Ok(Arc::new(messages))
    }

    /// Writes (creates or replaces) one block.
    #[tracing::instrument(name = "store.messages.write_block", level = "info", skip(self, messages), fields(conversation = %conversation_id), err)]
    pub async fn write_block(
        &self,
        conversation_id: &ConversationId,
        block: i64,
        messages: &[MessageDoc],
    ) -> mongodb::error::Result<()> {
        let doc = BlockDoc::new(conversation_id, block, messages)?;
        let id = doc.id.clone();
        // Whatever was cached is older than this, and so is whatever a reader
        // fetched before the write landed: forget before and after it.
        self.cache().forget(&id);
        let written = self
            .blocks
            .replace_one(doc! { "_id": &id }, doc)
            .with_options(ReplaceOptions::builder().upsert(true).build())
            .await
            .map(|_| ());
        self.cache().forget(&id);
        self.peers.tell(super::cache::Changed::Block(id));
        written
    }

    /// One block's messages read from the database (never the cache) with the
    /// version a compare-and-set rewrite (`write_block_if`) expects: the read half
    /// of an old block's read-modify-write.
    #[tracing::instrument(name = "store.messages.block_for_rewrite", level = "info", skip(self), fields(conversation = %conversation_id), err)]
    pub async fn block_for_rewrite(
        &self,
        conversation_id: &ConversationId,
        block: i64,
    ) -> mongodb::error::Result<(Vec<MessageDoc>, BlockVersion)> {
        let id = block_id(conversation_id, block);
        if let Some(found) = self.blocks.find_one(doc! { "_id": &id }).await? {
            let version = found
                .version
                .clone()
                .map_or(BlockVersion::Unversioned, BlockVersion::Is);
            let (messages, _) = found.messages()?;
            return Ok((messages, version));
        }
        let seqs = block_start(block)..block_start(block + 1);
        let found =
            futures_util::future::try_join_all(seqs.map(|seq| self.by_seq(conversation_id, seq)))
                .await?;
        Ok((found.into_iter().flatten().collect(), BlockVersion::Absent))
    }

    /// Rewrites one block only if it is still the version `expected` (a
    /// compare-and-set): `false`, nothing written, when another write landed since
    /// it was read. This fences an old block's rewrite by a node that stalled
    /// between its read and its write (it would undo a deletion or an edit that
    /// landed meanwhile); the caller reads again and retries.
    #[tracing::instrument(name = "store.messages.write_block_if", level = "info", skip(self, messages, expected), fields(conversation = %conversation_id), err)]
    pub async fn write_block_if(
        &self,
        conversation_id: &ConversationId,
        block: i64,
        messages: &[MessageDoc],
        expected: &BlockVersion,
    ) -> mongodb::error::Result<bool> {
        let doc = BlockDoc::new(conversation_id, block, messages)?;
        let id = doc.id.clone();
        self.cache().forget(&id);
        let written = match expected {
            BlockVersion::Absent => match self.blocks.insert_one(doc).await {
                Ok(_) => Ok(true),
                Err(err) if super::is_duplicate_key(&err) => Ok(false),
                Err(err) => Err(err),
            },
            BlockVersion::Unversioned => self
                .blocks
                .replace_one(doc! { "_id": &id, "version": { "$exists": false } }, doc)
                .await
                .map(|done| done.matched_count > 0),
            BlockVersion::Is(version) => self
                .blocks
                .replace_one(doc! { "_id": &id, "version": version }, doc)
                .await
                .map(|done| done.matched_count > 0),
        };
        self.cache().forget(&id);
        self.peers.tell(super::cache::Changed::Block(id));
        written
    }

    /// Deletes a conversation's messages and blocks (group deletion; a rare scan).
    #[tracing::instrument(name = "store.messages.delete_conversation", level = "info", skip(self), fields(conversation = %conversation_id), err)]
    pub async fn delete_conversation(
        &self,
        conversation_id: &ConversationId,
    ) -> mongodb::error::Result<u64> {
        self.blocks
            .delete_many(doc! { "conversation_id": conversation_id })
            .await?;
        Ok(self
            .coll
            .delete_many(doc! { "conversation_id": conversation_id })
            .await?
            .deleted_count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_inserts_are_journaled_unless_configured_otherwise() {
        let journaled = write_concern(MessageDurability::Journaled);
        assert_eq!(journaled.journal, Some(true));
        let majority = write_concern(MessageDurability::Majority);
        assert_eq!(majority.w, Some(Acknowledgment::Majority));
        assert_eq!(majority.journal, Some(true));
        let fast = write_concern(MessageDurability::Acknowledged);
        assert_eq!(fast.w, Some(Acknowledgment::Nodes(1)));
        assert_ne!(fast.journal, Some(true));
    }

    #[test]
    fn blocks_cover_consecutive_seqs() {
        assert_eq!(block_of(1), 0);
        assert_eq!(block_of(BLOCK_SIZE), 0);
        assert_eq!(block_of(BLOCK_SIZE + 1), 1);
        assert_eq!(block_start(0), 1);
        assert_eq!(block_start(1), BLOCK_SIZE + 1);
    }
}
