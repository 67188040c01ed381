//! A conversation in memory: `Live`, and the `LiveState` behind its lock (the
//! next seq, the window of newest messages, dedupe keys, waiters, read markers,
//! what is still to be written behind, and whether the copy must reload).

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use super::DEDUPE_KEYS;

/// Changes `recent_changes` keeps per conversation in memory (16 bytes each).
pub const CHANGE_LOG: usize = 1024;
use super::ticket::Reply;
use crate::error::ApiError;
use crate::ids::{ConversationId, UserId};
use crate::store::conversations::ConversationDoc;
use crate::store::messages::{MessageDoc, block_of, block_start};

/// A conversation in memory.
pub struct Live {
    pub id: ConversationId,
    pub(super) state: Mutex<LiveState>,
    /// Held while writing behind, so that "flush now" waits for a flush in progress.
    pub(super) flushing: tokio::sync::Mutex<()>,
    /// Notified whenever another node's message reaches this copy (cluster
    /// mode), for `caught_up`. Memory only: a waiter that misses a notification
    /// looks at `last_seq` again when its deadline passes.
    pub(super) advanced: tokio::sync::Notify,
}

pub(super) struct LiveState {
    pub(super) doc: ConversationDoc,
    pub(super) next_seq: i64,
    /// The durable seq reservation as this copy knows it (`seq_reserved`): a
    /// message with a higher seq is acked only once a raise of it has been
    /// written. After a crash it is read from the document again (`load`).
    pub(super) reserved: i64,
    /// Committed messages with `seq >= covered_from`, ascending.
    pub(super) window: VecDeque<MessageDoc>,
    pub(super) covered_from: i64,
    /// (sender, client_id) -> seq, pending or stored.
    pub(super) keys: HashMap<(UserId, String), i64>,
    pub(super) key_order: VecDeque<(UserId, String)>,
    pub(super) waiters: HashMap<i64, Vec<Reply>>,
    pub(super) in_flight: usize,
    /// Read markers known in memory (never behind the stored ones).
    pub(super) marks: HashMap<UserId, i64>,
    pub(super) dirty_marks: HashSet<UserId>,
    pub(super) dirty_doc: bool,
    pub(super) dirty_blocks: BTreeSet<i64>,
    /// This copy may be behind storage (a store failure, a refused insert, missed
    /// events, a lost lease): reload before the next send. Never cleared:
    /// `Writers::get` replaces this copy with one loaded from the database (once
    /// nothing of its own is in flight, `reloads`).
    pub(super) broken: bool,
    /// A batch failed without a definite answer (a timeout, the database paused
    /// with the insert in hand, a reservation not written): its messages may yet
    /// be stored, late. Until the reload, the batcher stores nothing more of this
    /// conversation (`store_batch`; and, being `broken`, it is handed no new send),
    /// so nothing later is stored before them and readers' cursors cannot pass
    /// them; the reload finds them (and
    /// `announce_found` tells everyone), or hands their seqs out again, and then
    /// the unique `_id` refuses whichever insert comes second.
    pub(super) unsure: bool,
    pub(super) deleted: bool,
    /// Bumped (under this lock) whenever a member leaves or is removed, so that a
    /// `join` authorized before the removal does not subscribe after it.
    pub(super) membership_epoch: u64,
    /// The highest change counter (`rev`) this copy knows of: raised by every
    /// edit or delete made here and every one heard from another node. After a
    /// crash it starts from the document's `last_rev`; a change recorded but not
    /// raised there is found taken when the next one is recorded (`allocate_rev`).
    pub(super) last_rev: i64,
    /// The latest changes as (rev, seq), consecutive revs, at most `CHANGE_LOG`:
    /// what `changed_since` takes from memory instead of `message_changes`.
    /// Memory only, and it never claims a rev it has not seen: a fresh copy
    /// (after a crash or a reload) starts it empty, a change heard out of order
    /// (a rev not heard of in between) starts it again from that change, and
    /// whatever lies below it is read from `message_changes` by `_id`.
    pub(super) recent_changes: VecDeque<(i64, i64)>,
    pub(super) last_used: Instant,
    /// When a message was last committed, when a change (edit, delete,
    /// reaction) was last noted, and when the lazy parts were last written.
    pub(super) last_commit: Instant,
    pub(super) last_change: Instant,
    pub(super) last_lazy: Instant,
}

impl LiveState {
    pub(super) fn new(doc: ConversationDoc, next_seq: i64, covered_from: i64) -> Self {
        let now = Instant::now();
        Self {
            reserved: doc.seq_reserved,
            last_rev: doc.last_rev,
            recent_changes: VecDeque::new(),
            doc,
            next_seq,
            window: VecDeque::new(),
            covered_from,
            keys: HashMap::new(),
            key_order: VecDeque::new(),
            waiters: HashMap::new(),
            in_flight: 0,
            marks: HashMap::new(),
            dirty_marks: HashSet::new(),
            dirty_doc: false,
            dirty_blocks: BTreeSet::new(),
            broken: false,
            unsure: false,
            deleted: false,
            membership_epoch: 0,
            last_used: now,
            last_commit: now,
            last_change: now,
            last_lazy: now,
        }
    }

    /// Notes that change `rev` touched message `seq` (`recent_changes`) and
    /// raises `last_rev`.
    pub(super) fn note_change(&mut self, rev: i64, seq: i64) {
        if rev <= 0 {
            return;
        }
        self.last_rev = self.last_rev.max(rev);
        self.last_change = Instant::now();
        match self.recent_changes.back() {
            Some(&(back, _)) if rev <= back => {} // heard already, or older than the log
            Some(&(back, _)) if rev == back + 1 => self.recent_changes.push_back((rev, seq)),
            _ => {
                self.recent_changes.clear();
                self.recent_changes.push_back((rev, seq));
            }
        }
        while self.recent_changes.len() > CHANGE_LOG {
            self.recent_changes.pop_front();
        }
    }

    /// The seqs `recent_changes` names for revs in `(since_rev, upto]`, and the
    /// lowest rev it covers (revs from there up are all in it).
    pub(super) fn recent_changes_after(&self, since_rev: i64, upto: i64) -> (Vec<i64>, i64) {
        let covered_from = self
            .recent_changes
            .front()
            .map_or(i64::MAX, |&(rev, _)| rev);
        let seqs = self
            .recent_changes
            .iter()
            .filter(|&&(rev, _)| rev > since_rev && rev <= upto)
            .map(|&(_, seq)| seq)
            .collect();
        (seqs, covered_from)
    }

    pub(super) fn committed(&self, seq: i64) -> Option<&MessageDoc> {
        let i = self.window.binary_search_by_key(&seq, |m| m.seq).ok()?;
        self.window.get(i)
    }

    pub(super) fn remember_key(&mut self, key: (UserId, String), seq: i64) {
        if self.keys.insert(key.clone(), seq).is_none() {
            self.key_order.push_back(key);
        }
        while self.key_order.len() > DEDUPE_KEYS {
            if let Some(old) = self.key_order.pop_front() {
                self.keys.remove(&old);
            }
        }
    }

    /// Drops whole blocks from the front of the window once they are written and
    /// older than the previous block.
    pub(super) fn trim(&mut self) {
        let keep_from = block_of(self.doc.last_seq.max(1)) - 1;
        while let Some(front) = self.window.front() {
            let block = block_of(front.seq);
            if block >= keep_from || self.dirty_blocks.contains(&block) {
                break;
            }
            while self
                .window
                .front()
                .is_some_and(|m| block_of(m.seq) == block)
            {
                self.window.pop_front();
            }
            self.covered_from = block_start(block + 1);
        }
    }

    /// Puts a committed message into the window in seq order (at the back, unless
    /// another writer's higher seq reached this copy first: two writers for a
    /// moment after a Redis restart lost the lease keys; a window out of order
    /// would replay out of order, found by `scripts/chaos`).
    pub(super) fn insert_ordered(&mut self, message: MessageDoc) {
        if self.window.back().is_none_or(|last| last.seq < message.seq) {
            self.window.push_back(message);
            return;
        }
        match self.window.binary_search_by_key(&message.seq, |m| m.seq) {
            Ok(i) => self.window[i] = self.window[i].merged(message),
            Err(i) => self.window.insert(i, message),
        }
    }

    /// Records that `sender` has written in this DM; `true` the first time (from
    /// then on they show `online` and presence to the other participant).
    pub(super) fn first_post_in_dm(&mut self, sender: &UserId) -> bool {
        let first = self.doc.kind == crate::store::conversations::ConversationKind::Direct
            && !self.doc.posted.contains(sender);
        if first {
            self.doc.posted.push(sender.clone());
        }
        first
    }

    /// Broken, and nothing of its own in flight: `Writers::get` reloads it now.
    pub(super) fn reloads(&self) -> bool {
        self.broken && self.in_flight == 0
    }

    pub(super) fn fail(&mut self, seq: i64, err: &ApiError) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.keys.retain(|_, s| *s != seq);
        for reply in self.waiters.remove(&seq).unwrap_or_default() {
            let _ = reply.send(Err(err.clone()));
        }
        self.broken = true;
        self.unsure = true;
    }
}

impl Live {
    pub(super) fn lock(&self) -> MutexGuard<'_, LiveState> {
        // A panic while holding this lock is a bug; the state is still usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The conversation document as of now (with `last_seq` and `last_message`
    /// from memory).
    pub fn doc(&self) -> ConversationDoc {
        let mut st = self.lock();
        st.last_used = Instant::now();
        st.doc.clone()
    }

    pub fn last_seq(&self) -> i64 {
        self.lock().doc.last_seq
    }

    /// The highest change counter this copy knows of.
    pub fn lock_last_rev(&self) -> i64 {
        self.lock().last_rev
    }

    /// Waits until this copy holds `since` (it follows another node's writes one
    /// Redis hop behind), at most until `deadline`; woken by each message that
    /// reaches it, not by polling.
    pub async fn caught_up(&self, since: i64, deadline: tokio::time::Instant) {
        loop {
            let advanced = self.advanced.notified();
            tokio::pin!(advanced);
            // Registered before the check: a message that lands in between wakes it.
            advanced.as_mut().enable();
            if self.last_seq() >= since {
                return;
            }
            if tokio::time::timeout_at(deadline, advanced).await.is_err() {
                return;
            }
        }
    }

    /// Whether this copy is to be replaced by one reloaded from the database
    /// (`LiveState::broken`: a store failure, missed events, a lost lease;
    /// `Writers::get` replaces it once no send of its own is in flight). It takes
    /// no new send meanwhile, and reads do not serve from it: after events from
    /// other nodes were missed, its window may hold a later seq without the ones
    /// before it, and a replay or page from it would move the client's cursor
    /// past messages it never got (`scripts/chaos` seeds 24 and 7).
    pub fn needs_reload(&self) -> bool {
        self.lock().broken
    }

    /// See `LiveState::membership_epoch`.
    pub fn membership_epoch(&self) -> u64 {
        self.lock().membership_epoch
    }

    /// The user's read marker, if memory knows it.
    pub fn mark(&self, user_id: &UserId) -> Option<i64> {
        self.lock().marks.get(user_id).copied()
    }
}
