//! The search port (`SearchIndex`) and what goes through it: the engine
//! (`crate::search`) implements it; the writers tell it every message version.

use crate::ids::{ConversationId, MessageId, UserId};
use crate::store::messages::MessageDoc;

use super::query::Clause;

/// Where a message sorts: newest first by the moment it was sent, ties broken
/// by a fixed hash of its id (`tie_of`), so that a cursor is exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    /// `created_at` in ms since the epoch.
    pub at: i64,
    pub tie: u64,
}

impl Key {
    pub fn of(message: &MessageDoc) -> Self {
        Self {
            at: message.created_at.timestamp_millis(),
            tie: tie_of(&message.id),
        }
    }

    /// The opaque cursor of a page that ends at this key (`CURSOR_PATTERN`).
    pub fn cursor(self) -> String {
        format!("{:x}.{:x}", self.at as u64, self.tie)
    }

    /// A cursor back into a key; `None` for anything this server did not make.
    pub fn from_cursor(raw: &str) -> Option<Self> {
        let (at, tie) = raw.split_once('.')?;
        let hex = |part: &str| {
            (1..=16).contains(&part.len())
                && part
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        if !hex(at) || !hex(tie) {
            return None;
        }
        Some(Self {
            at: u64::from_str_radix(at, 16).ok()? as i64,
            tie: u64::from_str_radix(tie, 16).ok()?,
        })
    }
}

/// What a search cursor looks like (the spec says so; anything else is 400
/// `invalid_cursor`).
pub const CURSOR_PATTERN: &str = "^[0-9a-f]{1,16}\\.[0-9a-f]{1,16}$";

/// A fixed 64-bit hash of a message id (FNV-1a): the same on every node and
/// after a restart.
pub fn tie_of(id: &MessageId) -> u64 {
    id.as_str()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        })
}

/// Which conversations a search may look in: these, and (`reader`) the DMs
/// this user is a participant of.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub conversations: Vec<ConversationId>,
    pub reader: Option<UserId>,
}

/// What the engine is asked: candidates for every clause, within `scope`,
/// newest first, strictly older than `below`.
#[derive(Debug, Clone)]
pub struct Find {
    pub clauses: Vec<Clause>,
    pub scope: Scope,
    pub sender: Option<UserId>,
    /// `created_at` bounds in ms (inclusive `from`, exclusive `until`).
    pub from: Option<i64>,
    pub until: Option<i64>,
    pub below: Option<Key>,
    pub limit: usize,
}

/// A message the engine found, to be checked.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub id: MessageId,
    pub key: Key,
}

/// The search port: a node's index of message bodies (`crate::search`, tantivy),
/// or, later, an external engine fed from the same events.
pub trait SearchIndex: Send + Sync {
    /// A message as it now is (new, edited or deleted): the index follows, off
    /// the caller's path (never waits, never fails the caller).
    fn learn(&self, message: &MessageDoc);

    /// Events may have been lost (a cluster gap): read everything again.
    fn resync(&self);

    /// Candidates (they may no longer match: `messages` checks each).
    fn find(&self, find: &Find) -> Result<Vec<Candidate>, String>;
}

/// An index that holds nothing (tests of parts that never search).
pub struct NoIndex;

impl SearchIndex for NoIndex {
    fn learn(&self, _: &MessageDoc) {}
    fn resync(&self) {}
    fn find(&self, _: &Find) -> Result<Vec<Candidate>, String> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_goes_back_to_its_key_and_nothing_else_parses() {
        for key in [
            Key { at: 0, tie: 0 },
            Key {
                at: 1_765_000_000_000,
                tie: u64::MAX,
            },
            Key { at: -5, tie: 7 },
        ] {
            let cursor = key.cursor();
            let pattern = regex_lite(&cursor);
            assert!(pattern, "{cursor} fits CURSOR_PATTERN");
            assert_eq!(Key::from_cursor(&cursor), Some(key));
        }
        for bad in [
            "",
            ".",
            "1.",
            ".1",
            "g.1",
            "1.1.1",
            "+1.1",
            "A.1",
            "11111111111111111.1",
        ] {
            assert_eq!(Key::from_cursor(bad), None, "{bad:?}");
        }
    }

    /// `CURSOR_PATTERN`, by hand: 1-16 lowercase hex digits, a dot, 1-16 more.
    fn regex_lite(cursor: &str) -> bool {
        let hex = |p: &str| {
            (1..=16).contains(&p.len()) && p.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        };
        matches!(cursor.split_once('.'), Some((a, b)) if hex(a) && hex(b))
    }
}
