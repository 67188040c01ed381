//! `message_blocks`: the messages of `BLOCK_SIZE` consecutive seqs of one
//! conversation as one document (`_id` = `<conversation>#<block>`), and the
//! blocks this node keeps in memory (`BlockCache`). See `super::messages`.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;

use mongodb::bson::Binary;
use mongodb::bson::spec::BinarySubtype;
use serde::{Deserialize, Serialize};

use super::message_doc::MessageDoc;
use crate::ids::ConversationId;

/// Seqs per history block.
pub const BLOCK_SIZE: i64 = 128;

/// `data` holds the zstd-compressed BSON of `BlockBody`. Blocks written before it
/// hold the plain BSON (`BinarySubtype::Generic`) and are still read.
const ZSTD_BSON: BinarySubtype = BinarySubtype::UserDefined(0x80);
/// zstd's fastest level: blocks are written behind on the hot path's core.
const ZSTD_LEVEL: i32 = 1;
/// Most bytes a block's data may expand to (a corrupt or hostile value costs
/// at most this much memory; a real block is far below it).
const MAX_BLOCK_BSON: u64 = 64 * 1024 * 1024;

/// A block's data could not be read.
#[derive(Debug)]
pub struct BlockError(String);

impl std::fmt::Display for BlockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unreadable history block: {}", self.0)
    }
}

impl std::error::Error for BlockError {}

impl From<BlockError> for mongodb::error::Error {
    fn from(err: BlockError) -> Self {
        mongodb::error::Error::custom(err.to_string())
    }
}

fn compress(bson: &[u8]) -> Result<Vec<u8>, mongodb::bson::ser::Error> {
    zstd::bulk::compress(bson, ZSTD_LEVEL)
        .map_err(|err| mongodb::bson::ser::Error::Io(Arc::new(err)))
}

fn decompress(data: &[u8]) -> Result<Vec<u8>, BlockError> {
    let mut plain = Vec::with_capacity(data.len().saturating_mul(4));
    zstd::stream::read::Decoder::new(data)
        .and_then(|decoder| decoder.take(MAX_BLOCK_BSON + 1).read_to_end(&mut plain))
        .map_err(|err| BlockError(err.to_string()))?;
    if plain.len() as u64 > MAX_BLOCK_BSON {
        return Err(BlockError(format!("expands past {MAX_BLOCK_BSON} bytes")));
    }
    Ok(plain)
}

/// A block of consecutive seqs of one conversation (gaps allowed).
///
/// The messages are stored as one binary value (the BSON of `BlockBody`,
/// compressed: `ZSTD_BSON`), not as an array of documents: FerretDB converts every nested field of a document it reads
/// or writes, which cost about 0.15 ms per embedded message (a 128-message block:
/// 19 ms to read, 12 ms to write); as one value the same block reads in about 2 ms.
/// MongoDB reads either form fast; the blocks are an internal copy, never queried
/// by their contents. FerretDB's cost of a read grows with the value's size (it
/// decodes the value's base64 from its JSON), so the value is compressed: chat
/// text and the repeated field names of 128 messages shrink several times.
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
    pub fn new(
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
                subtype: ZSTD_BSON,
                bytes: compress(&mongodb::bson::to_vec(&body)?)?,
            },
            version: Some(crate::ids::new_id()),
        })
    }

    /// The block's messages, with the size of their BSON (what the cache counts).
    pub fn messages(self) -> Result<(Vec<MessageDoc>, usize), BlockError> {
        let plain;
        let bson: &[u8] = match self.data.subtype {
            BinarySubtype::Generic => &self.data.bytes,
            ZSTD_BSON => {
                plain = decompress(&self.data.bytes)?;
                &plain
            }
            other => return Err(BlockError(format!("unknown block encoding {other:?}"))),
        };
        let messages = mongodb::bson::from_slice::<BlockBody>(bson)
            .map_err(|err| BlockError(err.to_string()))?
            .messages;
        Ok((messages, bson.len()))
    }
}

/// The block holding `seq` (seqs start at 1).
pub fn block_of(seq: i64) -> i64 {
    (seq - 1).div_euclid(BLOCK_SIZE)
}

/// The first seq of `block`.
pub fn block_start(block: i64) -> i64 {
    block * BLOCK_SIZE + 1
}

pub fn block_id(conversation_id: &ConversationId, block: i64) -> String {
    format!("{conversation_id}#{block}")
}

/// Bytes of history blocks kept in memory (`BlockCache`).
pub const BLOCK_CACHE_BYTES: usize = 64 * 1024 * 1024;

/// Blocks read recently, bounded by their stored size: when a new one would pass
/// `BLOCK_CACHE_BYTES` the cache starts over. Pages deep in a busy room's past
/// are read by many clients; each block is decoded once. Writes replace entries.
///
/// How an entry becomes true again:
/// - on one node, every rewrite of a block is this node's own (`write_block`,
///   `write_block_if` forget the entry before and after the write), so an entry
///   is kept until it is rewritten or pushed out; a crash starts empty;
/// - in cluster mode a block rewritten on another node (an edit or a delete
///   there) is forgotten here by its event; if that event is lost, the entry
///   expires `CACHE_TTL` after it was read (`ttl`), and a detected loss clears
///   the whole cache (`clear`).
#[derive(Default)]
pub struct BlockCache {
    map: HashMap<String, (Arc<Vec<MessageDoc>>, usize, std::time::Instant)>,
    bytes: usize,
    /// How long an entry is served after it was read: `CACHE_TTL` where other
    /// nodes write blocks too, none on one node.
    ttl: Option<std::time::Duration>,
    /// Bumped by every forget: a block read from the database before a forget
    /// is not put back after it (`fill`).
    epoch: u64,
}

impl BlockCache {
    /// An empty cache whose entries are served `ttl` after they were read
    /// (`None`: until rewritten or pushed out).
    pub fn new(ttl: Option<std::time::Duration>) -> Self {
        Self {
            ttl,
            ..Self::default()
        }
    }

    /// Bumped by every forget (see `fill`).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub fn get(&mut self, id: &str) -> Option<Arc<Vec<MessageDoc>>> {
        match self.map.get(id) {
            Some((m, _, at)) if self.ttl.is_none_or(|ttl| at.elapsed() < ttl) => {
                Some(Arc::clone(m))
            }
            Some(_) => {
                self.remove(id);
                None
            }
            None => None,
        }
    }

    pub fn remove(&mut self, id: &str) {
        if let Some((_, bytes, _)) = self.map.remove(id) {
            self.bytes -= bytes;
        }
    }

    /// Forgets one block (rewritten here or on another node).
    pub fn forget(&mut self, id: &str) {
        self.epoch = self.epoch.wrapping_add(1);
        self.remove(id);
    }

    pub fn clear(&mut self) {
        self.epoch = self.epoch.wrapping_add(1);
        self.map.clear();
        self.bytes = 0;
    }

    /// `put` for a block read from the database, unless a forget happened since
    /// `epoch` (then it may be stale).
    pub fn fill(&mut self, epoch: u64, id: String, messages: Arc<Vec<MessageDoc>>, bytes: usize) {
        if self.epoch == epoch {
            self.put(id, messages, bytes);
        }
    }

    pub fn put(&mut self, id: String, messages: Arc<Vec<MessageDoc>>, bytes: usize) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(n: i64) -> Vec<MessageDoc> {
        (1..=n)
            .map(|seq| MessageDoc::sample("room", seq, 1_700_000_000_000 + seq, "deploy at noon"))
            .collect()
    }

    #[test]
    fn a_block_reads_back_the_messages_it_was_written_with() {
        let written = messages(BLOCK_SIZE);
        let doc = BlockDoc::new(&"room".into(), 0, &written).expect("encode");
        assert_eq!(doc.data.subtype, ZSTD_BSON);
        let (read, bytes) = doc.messages().expect("decode");
        assert_eq!(read.len(), written.len());
        assert!(
            read.iter()
                .zip(&written)
                .all(|(a, b)| a.id == b.id && a.body == b.body)
        );
        assert!(bytes > 0);
    }

    #[test]
    fn a_block_is_stored_smaller_than_its_bson() {
        let written = messages(BLOCK_SIZE);
        let plain = mongodb::bson::to_vec(&BlockBody {
            messages: written.clone(),
        })
        .expect("bson");
        let doc = BlockDoc::new(&"room".into(), 0, &written).expect("encode");
        assert!(
            doc.data.bytes.len() * 3 < plain.len(),
            "{} vs {}",
            doc.data.bytes.len(),
            plain.len()
        );
    }

    #[test]
    fn a_block_written_before_compression_is_still_read() {
        let written = messages(3);
        let mut doc = BlockDoc::new(&"room".into(), 0, &written).expect("encode");
        doc.data = Binary {
            subtype: BinarySubtype::Generic,
            bytes: mongodb::bson::to_vec(&BlockBody { messages: written }).expect("bson"),
        };
        let (read, _) = doc.messages().expect("decode");
        assert_eq!(
            read.iter().map(|m| m.seq).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
    }

    #[test]
    fn an_unknown_or_corrupt_or_oversized_block_is_an_error_not_a_panic() {
        let mut doc = BlockDoc::new(&"room".into(), 0, &messages(2)).expect("encode");
        let mut unknown = doc.clone();
        unknown.data.subtype = BinarySubtype::UserDefined(0x81);
        assert!(unknown.messages().is_err());
        let mut corrupt = doc.clone();
        corrupt.data.bytes.truncate(corrupt.data.bytes.len() / 2);
        assert!(corrupt.messages().is_err());
        // Zeros compress to almost nothing: a value that expands past the cap.
        let zeros = vec![0u8; (MAX_BLOCK_BSON + 1) as usize];
        doc.data.bytes = zstd::bulk::compress(&zeros, ZSTD_LEVEL).expect("compress");
        let err = doc.messages().expect_err("too large");
        assert!(err.to_string().contains("expands past"), "{err}");
    }
}
