//! Cluster mode: following the other nodes. Another node's stored, edited or
//! deleted messages reach this node's copy (`observe_remote`), as do its read
//! markers (`observe_read`); a lost lease or lost events make copies reload
//! (`resync`, `resync_all`), and a lease taken over reloads and announces
//! (`take_over`).

use std::sync::Arc;

use super::live::{Live, LiveState};
use super::{Writers, last_message};
use crate::error::ApiError;
use crate::ids::{ConversationId, UserId};
use crate::store::messages::{MessageDoc, block_of};

impl Writers {
    /// Cluster mode, after events from the other nodes may have been missed (the
    /// Redis subscription was lost): every conversation in memory reloads from
    /// the database before its next use, as after a store failure.
    pub fn resync_all(&self) {
        self.resyncs
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        self.index.resync();
        for entry in self.live.iter() {
            if let Some(live) = entry.value().get() {
                live.lock().broken = true;
            }
        }
    }

    /// Cluster mode: another node moved a read marker; this node's copy keeps
    /// the higher of the two (so it never announces an older one).
    pub fn observe_read(&self, id: &ConversationId, user_id: &UserId, seq: i64) {
        if let Some(live) = self.loaded(id) {
            let mut st = live.lock();
            let mark = st.marks.entry(user_id.clone()).or_insert(seq);
            *mark = (*mark).max(seq);
        }
    }

    /// Cluster mode: this node lost the conversation's lease; its copy reloads
    /// before this node writes it again.
    pub fn resync(&self, id: &ConversationId) {
        // A load under way may have read before the lease was lost.
        self.resyncs
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        if let Some(live) = self.loaded(id) {
            live.lock().broken = true;
        }
    }

    /// Cluster mode: this node just took the conversation's lease. Its copy may be
    /// behind what the previous owner stored (a node that died between storing and
    /// publishing), so it reloads from the database, and what the reload found
    /// beyond the copy is announced to every node now (nodes that heard it
    /// already skip it: `observe_remote`).
    pub async fn take_over(&self, live: &Arc<Live>) -> Result<Arc<Live>, ApiError> {
        live.lock().broken = true;
        // `get` reloads it and announces what the reload found.
        self.get(&live.id).await
    }

    /// Cluster mode: another node stored, edited or deleted `message`. If this
    /// node holds the conversation, its copy catches up (window, last seq, the
    /// next seq it hands out, `client_id` dedupe), and `deliver` (the event's
    /// fan-out to this node's connections) runs under the same lock, exactly as
    /// a local commit fans out: a `join` here replays up to some seq and hears
    /// everything after it, with no gap and no overlap. The other node writes its
    /// own messages behind, so nothing is marked dirty here.
    ///
    /// `replayed`: announced by a node taking the conversation over (its
    /// predecessor stored it, and may or may not have published it): not
    /// delivered again if this copy already holds it.
    pub fn observe_remote(&self, message: MessageDoc, replayed: bool, deliver: impl FnOnce()) {
        self.index.learn(&message);
        let cell = self
            .live
            .get(&message.conversation_id)
            .map(|entry| Arc::clone(entry.value()));
        let Some(cell) = cell else {
            deliver();
            return;
        };
        let Some(live) = cell.get() else {
            // Loading here: what the load read may predate this message. Keep it
            // for the loaded copy (whichever side sees the load finished applies).
            self.arrived_while_loading
                .entry(message.conversation_id.clone())
                .or_default()
                .push(message);
            deliver();
            if let Some(live) = cell.get() {
                self.apply_arrived(live);
            }
            return;
        };
        // Applied and fanned out under one lock hold, as a local commit is.
        let mut st = live.lock();
        let heard =
            replayed && (st.committed(message.seq).is_some() || message.seq < st.covered_from);
        let sender = message.sender_id.clone();
        if Self::apply_remote(&mut st, message) {
            self.fanout.revealed(&live.id, &sender);
        }
        if !heard {
            deliver();
        }
        drop(st);
        live.advanced.notify_waiters();
    }

    /// After this node changed messages through `live` (an edit, a delete,
    /// reactions), the copy now current for the conversation gets them too: a
    /// reload may have replaced `live` while the change was stored (the copy
    /// was marked unsure meanwhile: a restored subscription, a lost lease), and
    /// that reload may have read the database before the change landed. A node
    /// never hears its own events, so the current copy would otherwise keep
    /// the old state until its next reload (`scripts/chaos --seed 24
    /// --reactions`: toggles answered 204 by a follower that went on showing
    /// the old counts). Merged by `rev`: a copy that has a change keeps it.
    pub(super) fn follow_current(&self, live: &Live, changed: &[MessageDoc]) {
        let Some(cell) = self.live.get(&live.id).map(|e| Arc::clone(e.value())) else {
            return; // not held: the next load reads the database
        };
        match cell.get() {
            Some(current) if std::ptr::eq(Arc::as_ptr(current), live) => {}
            Some(current) => {
                tracing::info!(conversation = %live.id, changes = changed.len(), "a change made through a replaced copy reaches the current one");
                let mut st = current.lock();
                for m in changed {
                    st.note_change(m.rev, m.seq);
                    if let Ok(i) = st.window.binary_search_by_key(&m.seq, |w| w.seq) {
                        let merged = st.window[i].merged(m.clone());
                        if merged.rev == m.rev {
                            st.dirty_blocks.insert(block_of(m.seq));
                        }
                        if st
                            .doc
                            .last_message
                            .as_ref()
                            .is_some_and(|l| l.id == merged.id)
                        {
                            st.doc.last_message = Some(last_message(&merged));
                        }
                        st.window[i] = merged;
                    }
                }
            }
            None => {
                // Loading: kept for the loaded copy, as another node's change is.
                self.arrived_while_loading
                    .entry(live.id.clone())
                    .or_default()
                    .extend(changed.iter().cloned());
                if let Some(current) = cell.get() {
                    self.apply_arrived(current);
                }
            }
        }
    }

    /// Applies the messages that arrived while `live` was loading.
    pub(super) fn apply_arrived(&self, live: &Live) {
        if let Some((_, arrived)) = self.arrived_while_loading.remove(&live.id) {
            let mut st = live.lock();
            for message in arrived {
                let sender = message.sender_id.clone();
                if Self::apply_remote(&mut st, message) {
                    self.fanout.revealed(&live.id, &sender);
                }
            }
            drop(st);
            live.advanced.notify_waiters();
        }
    }

    /// Another node's message into this copy; `true` when it is the sender's
    /// first in this DM (the owner records that; this copy follows in memory).
    fn apply_remote(st: &mut LiveState, message: MessageDoc) -> bool {
        if st.deleted {
            return false;
        }
        st.note_change(message.rev, message.seq);
        if message.seq >= st.next_seq {
            st.next_seq = message.seq + 1;
        }
        if message.seq > st.doc.last_seq {
            st.doc.last_seq = message.seq;
            st.doc.last_message = Some(last_message(&message));
            st.doc.last_activity = message.created_at;
        }
        let first = st.first_post_in_dm(&message.sender_id);
        if let Some(client_id) = &message.client_id {
            st.remember_key((message.sender_id.clone(), client_id.clone()), message.seq);
        }
        if message.seq >= st.covered_from {
            st.insert_ordered(message);
        }
        st.trim();
        first
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::sync::OnceCell;

    use super::super::tests::{live_of, message, state, writers_with};
    use crate::store::messages::block_of;

    #[tokio::test]
    async fn a_change_made_through_a_replaced_copy_reaches_the_current_one() {
        let (writers, old) = writers_with(state(3)).await;
        // A reload replaced `old` (marked unsure meanwhile) with a copy that read
        // the database before the change landed.
        let current = live_of(state(3));
        writers.live.insert(
            "c".into(),
            Arc::new(OnceCell::new_with(Some(Arc::clone(&current)))),
        );
        let mut edited = message(2);
        edited.body = "edited".into();
        edited.rev = 7;
        writers.follow_current(&old, std::slice::from_ref(&edited));
        {
            let st = current.lock();
            assert_eq!(st.committed(2).map(|m| m.body.as_str()), Some("edited"));
            assert_eq!(st.last_rev, 7);
            assert!(
                st.dirty_blocks.contains(&block_of(2)),
                "its block is written again"
            );
        }
        // An older change than the copy holds does not undo it.
        let mut older = message(2);
        older.rev = 3;
        writers.follow_current(&old, &[older]);
        assert_eq!(
            current.lock().committed(2).map(|m| m.body.as_str()),
            Some("edited")
        );

        // A copy still loading gets it once loaded.
        let loading = Arc::new(OnceCell::new());
        writers.live.insert("c".into(), Arc::clone(&loading));
        let mut again = message(3);
        again.body = "edited while loading".into();
        again.rev = 8;
        writers.follow_current(&old, &[again]);
        let loaded = live_of(state(3));
        let _ = loading.get_or_init(|| async { Arc::clone(&loaded) }).await;
        writers.apply_arrived(&loaded);
        let st = loaded.lock();
        assert_eq!(
            st.committed(3).map(|m| m.body.as_str()),
            Some("edited while loading")
        );
        assert_eq!(st.last_rev, 8);
    }
}
