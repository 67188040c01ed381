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

use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::{Binary, DateTime, doc};
use mongodb::options::{Acknowledgment, InsertManyOptions, ReplaceOptions, WriteConcern};
use mongodb::{Collection, Database};
use serde::{Deserialize, Serialize};

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::ensure_index;
use crate::config::MessageDurability;
use crate::ids::{ConversationId, MessageId, UserId};

/// Seqs per history block.
pub const BLOCK_SIZE: i64 = 128;

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

/// A block of consecutive seqs of one conversation (gaps allowed).
///
/// The messages are stored as one binary value (the BSON of `BlockBody`), not as an
/// array of documents: FerretDB converts every nested field of a document it reads
/// or writes, which cost about 0.15 ms per embedded message (a 128-message block:
/// 19 ms to read, 12 ms to write); as one value the same block reads in about 2 ms.
/// MongoDB reads either form fast; the blocks are an internal copy, never queried
/// by their contents.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlockDoc {
    /// `<conversation id>#<block>`
    #[serde(rename = "_id")]
    pub id: String,
    pub conversation_id: ConversationId,
    pub block: i64,
    pub count: i64,
    pub data: Binary,
    /// A fresh id at every write: what a compare-and-set rewrite
    /// (`write_block_if`) expects to find. Absent on blocks written before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// What a compare-and-set rewrite of a block expects to find stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockVersion {
    /// No block stored (it is rebuilt from `messages`).
    Absent,
    /// A block written before blocks carried a version.
    Unversioned,
    Is(String),
}

/// What a block's `data` holds, in ascending `seq`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct BlockBody {
    messages: Vec<MessageDoc>,
}

impl BlockDoc {
    fn new(
        conversation_id: &ConversationId,
        block: i64,
        messages: &[MessageDoc],
    ) -> Result<Self, mongodb::bson::ser::Error> {
        let body = BlockBody {
            messages: messages.to_vec(),
        };
        Ok(Self {
            id: block_id(conversation_id, block),
            conversation_id: conversation_id.clone(),
            block,
            count: messages.len() as i64,
            data: Binary {
                subtype: BinarySubtype::Generic,
                bytes: mongodb::bson::to_vec(&body)?,
            },
            version: Some(crate::ids::new_id()),
        })
    }

    fn messages(self) -> Result<Vec<MessageDoc>, mongodb::bson::de::Error> {
        Ok(mongodb::bson::from_slice::<BlockBody>(&self.data.bytes)?.messages)
    }
}

/// Which slice of history to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryWindow {
    Latest,
    Before(i64),
    After(i64),
}

/// The block holding `seq` (seqs start at 1).
pub fn block_of(seq: i64) -> i64 {
    (seq - 1).div_euclid(BLOCK_SIZE)
}

/// The first seq of `block`.
pub fn block_start(block: i64) -> i64 {
    block * BLOCK_SIZE + 1
}

fn block_id(conversation_id: &ConversationId, block: i64) -> String {
    format!("{conversation_id}#{block}")
}

/// Bytes of history blocks kept in memory (`BlockCache`).
pub const BLOCK_CACHE_BYTES: usize = 64 * 1024 * 1024;

/// Blocks read recently, bounded by their stored size: when a new one would pass
/// `BLOCK_CACHE_BYTES` the cache starts over. Pages deep in a busy room's past
/// are read by many clients; each block is decoded once. Writes replace entries.
///
/// A block rewritten on another node (an edit or a delete there) is forgotten
/// here by its event; if that event is lost, the entry expires `CACHE_TTL` after
/// it was read, and a detected loss clears the whole cache (`clear`).
#[derive(Default)]
struct BlockCache {
    map: HashMap<String, (Arc<Vec<MessageDoc>>, usize, std::time::Instant)>,
    bytes: usize,
    /// Bumped by every forget: a block read from the database before a forget
    /// is not put back after it (`fill`).
    epoch: u64,
}

impl BlockCache {
    fn get(&mut self, id: &str) -> Option<Arc<Vec<MessageDoc>>> {
        match self.map.get(id) {
            Some((m, _, at)) if at.elapsed() < crate::limits::CACHE_TTL => Some(Arc::clone(m)),
            Some(_) => {
                self.remove(id);
                None
            }
            None => None,
        }
    }

    fn remove(&mut self, id: &str) {
        if let Some((_, bytes, _)) = self.map.remove(id) {
            self.bytes -= bytes;
        }
    }

    /// Forgets one block (rewritten here or on another node).
    fn forget(&mut self, id: &str) {
        self.epoch = self.epoch.wrapping_add(1);
        self.remove(id);
    }

    fn clear(&mut self) {
        self.epoch = self.epoch.wrapping_add(1);
        self.map.clear();
        self.bytes = 0;
    }

    /// `put` for a block read from the database, unless a forget happened since
    /// `epoch` (then it may be stale).
    fn fill(&mut self, epoch: u64, id: String, messages: Arc<Vec<MessageDoc>>, bytes: usize) {
        if self.epoch == epoch {
            self.put(id, messages, bytes);
        }
    }

    fn put(&mut self, id: String, messages: Arc<Vec<MessageDoc>>, bytes: usize) {
        if bytes > BLOCK_CACHE_BYTES / 16 {
            return;
        }
        self.remove(&id);
        if self.bytes + bytes > BLOCK_CACHE_BYTES {
            self.map.clear();
            self.bytes = 0;
        }
        self.bytes += bytes;
        self.map
            .insert(id, (messages, bytes, std::time::Instant::now()));
    }
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
            cache: Arc::default(),
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
        let epoch = self.cache().epoch;
        if let Some(found) = self.blocks.find_one(doc! { "_id": &id }).await? {
            let bytes = found.data.bytes.len();
            let messages = Arc::new(found.messages().map_err(|err| {
                mongodb::error::Error::custom(format!("unreadable history block: {err}"))
            })?);
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
            let messages = found.messages().map_err(|err| {
                mongodb::error::Error::custom(format!("unreadable history block: {err}"))
            })?;
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
