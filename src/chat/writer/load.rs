//! Loading a conversation into memory (`Writers::load`), which is also its
//! recovery after a crash or a failure: every seq up to the durable reservation
//! is looked up, then probed beyond it, and holes in the window are repaired.

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex};

use super::live::{Live, LiveState};
use super::{Writers, last_message};
use crate::error::ApiError;
use crate::ids::ConversationId;
use crate::store::messages::{MessageDoc, block_of, block_start};

/// Consecutive missing seqs after which recovery stops probing beyond the
/// reservation (documents from before `seq_reserved` existed).
const PROBE_MISSES: i64 = 4;
/// The latest changes (edits, deletes, reactions) a load checks against the
/// blocks at least (all of them since the stored `blocks_rev`, up to
/// `RELOAD_CHANGES_MAX`), and how far past the stored `last_rev` (a hint) it
/// looks.
const RELOAD_CHANGES: i64 = 256;
const RELOAD_CHANGES_MAX: i64 = 8192;
const RELOAD_CHANGES_BEYOND: i64 = 4;
/// `_id` lookups a load has in flight at once while it replays changes.
const RELOAD_CONCURRENCY: usize = 64;
/// Compare-and-set rounds of one old block's repair at load.
const REPAIR_ATTEMPTS: usize = 3;

impl Writers {
    pub(super) async fn load(&self, id: &ConversationId) -> Result<Arc<Live>, ApiError> {
        let resyncs = self.resyncs.load(std::sync::atomic::Ordering::Acquire);
        let messages = &self.store.messages;
        let mut doc = self
            .store
            .conversations
            .by_id(id)
            .await?
            .ok_or_else(|| ApiError::not_found("conversation"))?;
        let stored_last = doc.last_seq;
        // The blocks holding the stored last seq and the one before it.
        let mut window: Vec<MessageDoc> = Vec::new();
        let mut covered_from = 1;
        if stored_last > 0 {
            let last_block = block_of(stored_last);
            let first_block = (last_block - 1).max(0);
            covered_from = block_start(first_block);
            for block in first_block..=last_block {
                window.extend(messages.block(id, block).await?.iter().cloned());
            }
        }
        // Every seq up to the reservation may have been acked: look each one up
        // (by `_id`, in parallel), however many before it were burned.
        let mut seq = window
            .last()
            .map_or(stored_last, |m| m.seq.max(stored_last));
        // A seq another writer was found to hold (`refused`) is looked up too, but
        // it raises only the range searched, not the reservation: only a durable
        // `$max` does that.
        let taken = self.taken.remove(id).map_or(0, |(_, s)| s);
        let reserved = doc.seq_reserved.max(taken);
        if reserved > seq {
            let found = futures_util::future::try_join_all(
                (seq + 1..=reserved).map(|s| messages.by_seq(id, s)),
            )
            .await?;
            for message in found.into_iter().flatten() {
                seq = seq.max(message.seq);
                window.push(message);
            }
        }
        // Beyond it, probe: documents from before the reservation existed.
        let mut misses = 0;
        let mut probe = seq.max(reserved) + 1;
        while misses < PROBE_MISSES {
            match messages.by_seq(id, probe).await? {
                Some(found) => {
                    seq = found.seq;
                    window.push(found);
                    misses = 0;
                }
                None => misses += 1,
            }
            probe += 1;
        }
        window.sort_by_key(|m| m.seq);
        window.dedup_by_key(|m| m.seq);
        // Holes in the window: a block written from a partial view (two nodes
        // writing one conversation in cluster mode can leave one behind). Each
        // missing seq is looked up by `_id`; what is found goes back into its block
        // on the next flush. A seq that was handed out but never stored stays a gap.
        let present: HashSet<i64> = window.iter().map(|m| m.seq).collect();
        let holes: Vec<i64> = (covered_from..=seq)
            .filter(|s| !present.contains(s))
            .collect();
        let mut repaired_blocks = BTreeSet::new();
        if !holes.is_empty() {
            let found = futures_util::future::try_join_all(
                holes.iter().map(|hole| messages.by_seq(id, *hole)),
            )
            .await?;
            for message in found.into_iter().flatten() {
                repaired_blocks.insert(block_of(message.seq));
                window.push(message);
            }
            window.sort_by_key(|m| m.seq);
        }
        // Changes are written to `messages` at once (edits, deletes, reactions)
        // and to the blocks behind, from the writer's memory; a crash before the
        // flush, or a block written from a copy that had missed another node's
        // change, leaves a block older than its messages. The messages of every
        // change since `blocks_rev` (and at least of the latest changes) are
        // read again by `_id`; a newer copy wins (`merged`) and its block is
        // written again.
        let (changed, older): (Vec<MessageDoc>, Vec<MessageDoc>) = self
            .changed_messages(id, doc.last_rev, doc.blocks_rev)
            .await?
            .into_iter()
            .partition(|m| m.seq >= covered_from);
        for found in &older {
            doc.last_rev = doc.last_rev.max(found.rev);
        }
        self.repair_old_blocks(id, older).await?;
        for found in changed {
            doc.last_rev = doc.last_rev.max(found.rev);
            if let Ok(i) = window.binary_search_by_key(&found.seq, |m| m.seq)
                && window[i].rev < found.rev
            {
                repaired_blocks.insert(block_of(found.seq));
                window[i] = window[i].merged(found);
            }
        }
        let dirty_doc = seq != stored_last;
        if let Some(newest) = window.last().filter(|m| m.seq == seq) {
            doc.last_message = Some(last_message(newest));
            doc.last_activity = newest.created_at;
        }
        doc.last_seq = seq;
        let mut state = LiveState::new(doc, seq + 1, covered_from);
        state.dirty_doc = dirty_doc;
        // Copies were marked unsure while this load read (`resync_all`): what it
        // read may predate changes this node never heard of, and `resync_all`
        // could not mark a copy that did not exist yet.
        state.broken = self.resyncs.load(std::sync::atomic::Ordering::Acquire) != resyncs;
        state.dirty_blocks.extend(repaired_blocks);
        for message in window {
            if let Some(cid) = &message.client_id {
                state.remember_key((message.sender_id.clone(), cid.clone()), message.seq);
            }
            if dirty_doc && message.seq > stored_last {
                // Found by probing: its block may never have been written.
                state.dirty_blocks.insert(block_of(message.seq));
            }
            state.window.push_back(message);
        }
        Ok(Arc::new(Live {
            id: id.to_owned(),
            state: Mutex::new(state),
            flushing: tokio::sync::Mutex::new(()),
            advanced: tokio::sync::Notify::new(),
        }))
    }

    /// The messages touched by the changes after `blocks_rev` (at least the
    /// latest `RELOAD_CHANGES`, at most `RELOAD_CHANGES_MAX`) up to the stored
    /// `last_rev` and a few beyond it, as `messages` holds them now: `_id`
    /// lookups only.
    async fn changed_messages(
        &self,
        id: &ConversationId,
        last_rev: i64,
        blocks_rev: Option<i64>,
    ) -> Result<Vec<MessageDoc>, ApiError> {
        if last_rev <= 0 {
            return Ok(Vec::new());
        }
        let latest = last_rev - RELOAD_CHANGES;
        let floor = match blocks_rev {
            Some(b) if b < latest => {
                if b < last_rev - RELOAD_CHANGES_MAX {
                    tracing::warn!(conversation = %id, blocks_rev = b, last_rev, "the history blocks are far behind the changes: replaying the latest {RELOAD_CHANGES_MAX} only");
                }
                b.max(last_rev - RELOAD_CHANGES_MAX)
            }
            _ => latest,
        };
        let first = floor.max(0) + 1;
        // Up to `RELOAD_CHANGES_MAX` lookups after a crash in a busy room: a
        // bounded number at a time, so a recovery leaves the connection pool to
        // the other requests.
        use futures_util::{StreamExt, TryStreamExt};
        let records: Vec<_> = futures_util::stream::iter(
            (first..=last_rev + RELOAD_CHANGES_BEYOND)
                .map(|rev| self.store.changes.by_rev(id, rev)),
        )
        .buffered(RELOAD_CONCURRENCY)
        .try_collect()
        .await?;
        let seqs: BTreeSet<i64> = records.into_iter().flatten().map(|c| c.seq).collect();
        let found: Vec<_> = futures_util::stream::iter(
            seqs.into_iter()
                .map(|seq| self.store.messages.by_seq(id, seq)),
        )
        .buffered(RELOAD_CONCURRENCY)
        .try_collect()
        .await?;
        Ok(found.into_iter().flatten().collect())
    }

    /// Writes changed messages older than the window into their history blocks
    /// where the block holds an older copy: an edit, delete or reaction of an
    /// old message is written to `messages` first and to its block right after
    /// (`rewrite_in_block`); a crash in between left the block, which history
    /// pages and the search's final check read, older than the message. A
    /// compare-and-set per block; a block that keeps changing is left to the
    /// next load (logged).
    async fn repair_old_blocks(
        &self,
        id: &ConversationId,
        older: Vec<MessageDoc>,
    ) -> Result<(), ApiError> {
        let mut by_block: std::collections::BTreeMap<i64, Vec<MessageDoc>> = Default::default();
        for found in older {
            by_block.entry(block_of(found.seq)).or_default().push(found);
        }
        for (block, found) in by_block {
            let stale = |copy: &[MessageDoc]| {
                found.iter().any(|f| {
                    copy.iter()
                        .find(|m| m.seq == f.seq)
                        .is_some_and(|m| m.merged(f.clone()).rev != m.rev)
                })
            };
            if !stale(&self.store.messages.block(id, block).await?) {
                continue;
            }
            let mut repaired = false;
            for _ in 0..REPAIR_ATTEMPTS {
                let (mut copy, version) = self.store.messages.block_for_rewrite(id, block).await?;
                for m in copy.iter_mut() {
                    if let Some(f) = found.iter().find(|f| f.seq == m.seq) {
                        *m = m.merged(f.clone());
                    }
                }
                if self
                    .store
                    .messages
                    .write_block_if(id, block, &copy, &version)
                    .await?
                {
                    repaired = true;
                    break;
                }
            }
            if repaired {
                tracing::info!(conversation = %id, block, "an old history block was older than its messages: rewritten");
            } else {
                tracing::warn!(conversation = %id, block, "an old history block older than its messages keeps changing: left to the next load");
            }
        }
        Ok(())
    }
}
