//! The write-behind: the flusher that writes each conversation's document, its
//! history blocks and read markers after the messages were stored (every
//! `FLUSH_INTERVAL`, the lazy parts at most every `LAZY_INTERVAL`, everything on
//! demand and at shutdown), and drops idle conversations from memory.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::live::Live;
use super::{FLUSH_INTERVAL, IDLE_AFTER, LAZY_INTERVAL, Writers};
use crate::error::ApiError;
use crate::ids::{ConversationId, UserId};
use crate::store::conversations::LastMessage;
use crate::store::messages::{MessageDoc, block_of};

/// A conversation with no message stored and no change made for this long
/// counts as quiet.
const QUIET_AFTER: Duration = Duration::from_millis(500);

/// The conversation document's lazy fields, as a flush writes them.
struct LazyDoc {
    last_seq: i64,
    last_message: Option<LastMessage>,
    last_activity: mongodb::bson::DateTime,
    /// Raised (`$max`) once the blocks this flush writes are written.
    blocks_rev: Option<i64>,
}

/// What a flush writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flush {
    /// Full blocks always; the lazy parts when due (see `LAZY_INTERVAL`).
    Due,
    /// Everything pending.
    All,
}

impl Writers {
    /// Writes behind what one conversation has pending.
    pub(super) async fn flush(&self, live: &Live, what: Flush) -> Result<(), ApiError> {
        let _flushing = live.flushing.lock().await;
        let (doc, blocks, marks) = {
            let mut st = live.lock();
            if st.deleted {
                return Ok(());
            }
            // Quiet: neither a message nor a change for a while. A busy room's
            // changes (a storm of reactions) rewrite its partly filled block at
            // the lazy pace, not at every tick: a load replays what a crash
            // left out of the blocks (`blocks_rev`).
            let lazy = what == Flush::All
                || st.last_lazy.elapsed() >= LAZY_INTERVAL
                || (st.last_commit.elapsed() >= QUIET_AFTER
                    && st.last_change.elapsed() >= QUIET_AFTER);
            if lazy {
                st.last_lazy = Instant::now();
            }
            // A lazy flush writes every block this copy changed: once written,
            // every change it knows of is in the blocks. Not claimed by a copy
            // that may be behind storage (missed events).
            let blocks_rev = (lazy && !st.broken && st.last_rev > st.doc.blocks_rev.unwrap_or(0))
                .then_some(st.last_rev);
            let doc =
                (lazy && (std::mem::take(&mut st.dirty_doc) || blocks_rev.is_some())).then(|| {
                    LazyDoc {
                        last_seq: st.doc.last_seq,
                        last_message: st.doc.last_message.clone(),
                        last_activity: st.doc.last_activity,
                        blocks_rev,
                    }
                });
            // A block is full once a later seq is stored: it will not change again
            // (but for an edit), so it is written now; a partly filled one waits.
            let current = block_of(st.doc.last_seq.max(1));
            let (now, later): (BTreeSet<i64>, BTreeSet<i64>) = std::mem::take(&mut st.dirty_blocks)
                .into_iter()
                .partition(|b| lazy || *b < current);
            st.dirty_blocks = later;
            let blocks: Vec<(i64, Vec<MessageDoc>)> = now
                .into_iter()
                .map(|b| {
                    let messages = st
                        .window
                        .iter()
                        .filter(|m| block_of(m.seq) == b)
                        .cloned()
                        .collect();
                    (b, messages)
                })
                .collect();
            let marks: Vec<(UserId, i64)> = if lazy {
                std::mem::take(&mut st.dirty_marks)
                    .into_iter()
                    .filter_map(|u| st.marks.get(&u).map(|s| (u, *s)))
                    .collect()
            } else {
                Vec::new()
            };
            (doc, blocks, marks)
        };
        let result = self.write_behind(&live.id, &doc, &blocks, &marks).await;
        if result.is_err() {
            let mut st = live.lock();
            st.dirty_doc |= doc.is_some();
            st.dirty_blocks.extend(blocks.iter().map(|(b, _)| *b));
            st.dirty_marks.extend(marks.into_iter().map(|(u, _)| u));
        } else {
            let mut st = live.lock();
            if let Some(rev) = doc.as_ref().and_then(|d| d.blocks_rev) {
                st.doc.blocks_rev = st.doc.blocks_rev.max(Some(rev));
            }
            st.trim();
        }
        result
    }

    async fn write_behind(
        &self,
        id: &ConversationId,
        doc: &Option<LazyDoc>,
        blocks: &[(i64, Vec<MessageDoc>)],
        marks: &[(UserId, i64)],
    ) -> Result<(), ApiError> {
        let store = &self.store;
        for (block, messages) in blocks {
            if !messages.is_empty() {
                store.messages.write_block(id, *block, messages).await?;
            }
        }
        if let Some(doc) = doc {
            store
                .conversations
                .write_last(
                    id,
                    doc.last_seq,
                    doc.last_message.as_ref(),
                    doc.last_activity,
                    doc.blocks_rev,
                )
                .await?;
        }
        for (user, seq) in marks {
            store.conversations.write_marker(id, user, *seq).await?;
        }
        Ok(())
    }

    /// Writes behind every conversation's pending state (at shutdown).
    pub async fn flush_all(&self) -> Result<(), ApiError> {
        self.flush_every(Flush::All).await
    }

    async fn flush_every(&self, what: Flush) -> Result<(), ApiError> {
        let lives: Vec<Arc<Live>> = self
            .live
            .iter()
            .filter_map(|c| c.value().get().cloned())
            .collect();
        let mut result = Ok(());
        for live in lives {
            if let Err(err) = self.flush(&live, what).await {
                result = Err(err);
            }
        }
        result
    }

    /// Writes behind the pending conversation documents of one user's DMs, waiting
    /// for a flush already under way, so that a listing ordered by activity in the
    /// database sees the newest (a listing scans anyway; this walks only what is in
    /// memory).
    pub async fn flush_direct_of(&self, user_id: &UserId) -> Result<(), ApiError> {
        let lives: Vec<Arc<Live>> = self
            .live
            .iter()
            .filter_map(|c| c.value().get().cloned())
            .filter(|live| live.lock().doc.participants.iter().any(|p| p == user_id))
            .collect();
        for live in lives {
            self.flush(&live, Flush::All).await?;
        }
        Ok(())
    }

    pub(super) async fn run_flusher(self: Arc<Self>) {
        let mut tick = tokio::time::interval(FLUSH_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(err) = self.flush_every(Flush::Due).await {
                tracing::warn!(error = %err.message, "write-behind failed; will retry");
            }
            self.evict_idle();
        }
    }

    /// Drops conversations unused for `IDLE_AFTER` with nothing left to write.
    fn evict_idle(&self) {
        self.live.retain(|_, cell| {
            cell.get().is_none_or(|live| {
                let st = live.lock();
                st.last_used.elapsed() < IDLE_AFTER
                    || st.in_flight > 0
                    || st.dirty_doc
                    || !st.dirty_blocks.is_empty()
                    || !st.dirty_marks.is_empty()
            })
        });
        metrics::gauge!("confab_live_conversations").set(self.live.len() as f64);
    }
}
