//! Reading a conversation's messages: history pages (`history`), a `join`'s
//! replay registered under the lock, one message (`message`), all served from
//! the window and, for older seqs, from the history blocks (`range`).

use std::time::Instant;

use super::Writers;
use super::live::Live;
use crate::error::ApiError;
use crate::store::messages::{HistoryWindow, MessageDoc, block_of};

/// Where a `join` resumes: after this seq (new messages) and after this rev
/// (changes to older ones).
#[derive(Debug, Clone, Copy, Default)]
pub struct Since {
    pub seq: Option<i64>,
    pub rev: Option<i64>,
}

/// What a `join` registered and what it replays.
pub struct Joined<R> {
    /// What `register` returned.
    pub registered: R,
    /// Messages after `since`, ascending `seq`.
    pub replay: Vec<MessageDoc>,
    pub last_seq: i64,
    /// More messages were missed than a join replays.
    pub truncated: bool,
    /// Older messages changed after `since_rev`, each once as it is now,
    /// ascending `rev`.
    pub changes: Vec<MessageDoc>,
    pub last_rev: i64,
    /// More changes were missed than a join replays.
    pub changes_truncated: bool,
}

impl Writers {
    /// Messages with `lo <= seq <= hi`, ascending: from the window, or from blocks
    /// for older seqs.
    async fn range(&self, live: &Live, lo: i64, hi: i64) -> Result<Vec<MessageDoc>, ApiError> {
        if lo > hi {
            return Ok(Vec::new());
        }
        let covered_from = live.lock().covered_from;
        let mut out = Vec::new();
        if lo < covered_from {
            let last_block = block_of(hi.min(covered_from - 1));
            for block in block_of(lo)..=last_block {
                out.extend(
                    self.store
                        .messages
                        .block(&live.id, block)
                        .await?
                        .iter()
                        .filter(|m| m.seq >= lo && m.seq <= hi)
                        .cloned(),
                );
            }
        }
        let st = live.lock();
        let from = out.last().map_or(lo, |m| m.seq + 1).max(lo);
        out.extend(
            st.window
                .iter()
                .filter(|m| m.seq >= from && m.seq <= hi)
                .cloned(),
        );
        Ok(out)
    }

    /// A page of history in ascending `seq`, and whether more lies beyond it.
    pub async fn history(
        &self,
        live: &Live,
        window: HistoryWindow,
        limit: u32,
    ) -> Result<(Vec<MessageDoc>, bool), ApiError> {
        let limit = i64::from(limit.max(1));
        let last = live.last_seq();
        let (lo, hi, more) = match window {
            HistoryWindow::Latest => {
                let lo = last.saturating_sub(limit - 1).max(1);
                (lo, last, lo > 1)
            }
            HistoryWindow::Before(seq) => {
                let hi = seq.saturating_sub(1).min(last);
                let lo = hi.saturating_sub(limit - 1).max(1);
                (lo, hi, hi >= 1 && lo > 1)
            }
            HistoryWindow::After(seq) => {
                let lo = seq.max(0).saturating_add(1);
                let hi = lo.saturating_add(limit - 1).min(last);
                (lo, hi, hi < last)
            }
        };
        Ok((self.range(live, lo, hi).await?, more))
    }

    /// Subscribes through `register` and returns the replay after `since` (at most
    /// `max`, oldest first; `true` when there was more) and the last seq.
    /// `register` gets the replay and runs under the conversation's lock, so it
    /// queues the replay to the connection before any later commit can queue a
    /// live message there: the replay and the live stream neither overlap, nor
    /// leave a gap, nor interleave (`scripts/chaos` seed 32 saw seq 199 arrive
    /// live between replayed 188 and 189 when the replay was queued after the
    /// lock was released).
    ///
    /// `epoch` is the `Live`'s membership epoch read before the caller's access was
    /// checked: if a member left or was removed since, nothing is registered and
    /// `None` asks the caller to check access again. `None` too when this copy
    /// is to be reloaded (`Live::needs_reload`): the caller joins again from the
    /// reloaded copy.
    ///
    /// `since_rev`: also the messages changed after that rev (edited, deleted),
    /// each once as it is now, ascending by `rev` (`changed_since`), except those
    /// the replay carries already. They are read before the lock; if a change
    /// lands meanwhile, `None` asks the caller to join again, so the changes
    /// and the live stream leave no gap either.
    pub async fn join<R>(
        &self,
        live: &Live,
        epoch: u64,
        since: Since,
        max: u32,
        register: impl FnOnce(&[MessageDoc], &[MessageDoc]) -> R,
    ) -> Result<Option<Joined<R>>, ApiError> {
        let Since {
            seq: since,
            rev: since_rev,
        } = since;
        let upto = live.lock().last_rev;
        let changed = match since_rev {
            Some(since_rev) => {
                self.changed_since(live, since_rev, upto, max as usize)
                    .await?
            }
            None => Some(Vec::new()),
        };
        let max = i64::from(max);
        // Older messages are read first, outside the lock; whatever was committed
        // meanwhile is in the window.
        let mut replay = match since {
            Some(since) => {
                let lo = since.max(0).saturating_add(1);
                self.range(live, lo, lo.saturating_add(max).min(live.last_seq()))
                    .await?
            }
            None => Vec::new(),
        };
        let mut st = live.lock();
        if st.deleted {
            return Err(ApiError::not_found("conversation"));
        }
        if st.membership_epoch != epoch || st.broken {
            return Ok(None);
        }
        let last = st.doc.last_seq;
        let mut truncated = false;
        if let Some(since) = since {
            let from = replay
                .last()
                .map_or(since.max(0), |m| m.seq)
                .saturating_add(1);
            replay.extend(
                st.window
                    .iter()
                    .filter(|m| m.seq >= from && m.seq <= last)
                    .cloned(),
            );
            if replay.len() as i64 > max {
                replay.truncate(max as usize);
                truncated = true;
            }
        }
        if since_rev.is_some() && st.last_rev != upto {
            return Ok(None);
        }
        let changes_truncated = changed.is_none();
        let mut changes = changed.unwrap_or_default();
        if let Some(since) = since {
            // Those are in the replay, as they are now.
            changes.retain(|m| m.seq <= since);
        }
        let registered = register(&replay, &changes);
        st.last_used = Instant::now();
        Ok(Some(Joined {
            registered,
            replay,
            last_seq: last,
            truncated,
            changes,
            last_rev: st.last_rev,
            changes_truncated,
        }))
    }

    /// The messages changed after `since_rev` up to `upto` (each once, as it is
    /// now, ascending by `rev`), at most `max` of them: the latest changes from
    /// memory (`recent_changes`), older ones by `_id` from `message_changes` (at
    /// most `max` lookups), the messages from the window or by `_id`. `None`
    /// when more than that changed (the client reloads its history instead).
    pub async fn changed_since(
        &self,
        live: &Live,
        since_rev: i64,
        upto: i64,
        max: usize,
    ) -> Result<Option<Vec<MessageDoc>>, ApiError> {
        let since_rev = since_rev.max(0);
        if upto <= since_rev {
            return Ok(Some(Vec::new()));
        }
        let (recent, covered_from) = live.lock().recent_changes_after(since_rev, upto);
        let stored_upto = upto.min(covered_from.saturating_sub(1));
        if usize::try_from(stored_upto - since_rev).is_ok_and(|n| n > max) {
            return Ok(None);
        }
        let stored = futures_util::future::try_join_all(
            (since_rev + 1..=stored_upto).map(|rev| self.store.changes.by_rev(&live.id, rev)),
        )
        .await?;
        let seqs: std::collections::BTreeSet<i64> = stored
            .into_iter()
            .flatten()
            .map(|c| c.seq)
            .chain(recent)
            .collect();
        if seqs.len() > max {
            return Ok(None);
        }
        let found =
            futures_util::future::try_join_all(seqs.into_iter().map(|seq| self.message(live, seq)))
                .await?;
        let mut messages: Vec<MessageDoc> = found.into_iter().flatten().collect();
        messages.sort_by_key(|m| (m.rev, m.seq));
        Ok(Some(messages))
    }

    /// One message by seq as this node's history pages show it: the window,
    /// then the history block (kept in memory, `MessageStore::block`), then
    /// `messages` by `_id` (a seq missing from its block). Only where this
    /// node is the conversation's only writer: there every change of an old
    /// message is written to its block before it is answered, and the block's
    /// kept copy is forgotten; a block a crash left behind its messages is
    /// rewritten when the conversation loads (`load`).
    pub async fn message_as_shown(
        &self,
        live: &Live,
        seq: i64,
    ) -> Result<Option<MessageDoc>, ApiError> {
        let covered_from = {
            let st = live.lock();
            if let Some(found) = st.committed(seq) {
                return Ok(Some(found.clone()));
            }
            st.covered_from
        };
        if seq >= 1 && seq < covered_from {
            let block = self.store.messages.block(&live.id, block_of(seq)).await?;
            if let Ok(i) = block.binary_search_by_key(&seq, |m| m.seq) {
                return Ok(block.get(i).cloned());
            }
        }
        Ok(self.store.messages.by_seq(&live.id, seq).await?)
    }

    /// One message by seq (window first, then storage).
    pub async fn message(&self, live: &Live, seq: i64) -> Result<Option<MessageDoc>, ApiError> {
        if let Some(found) = live.lock().committed(seq).cloned() {
            return Ok(Some(found));
        }
        // Beyond or before this copy's window: the database (an `_id` lookup)
        // decides (in cluster mode this copy may be a Redis hop behind the owner).
        Ok(self.store.messages.by_seq(&live.id, seq).await?)
    }
}
