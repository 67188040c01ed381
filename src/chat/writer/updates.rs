//! Changes to what is stored after a send: edits and deletes
//! (`update_message`, with the compare-and-set rewrite of an old history block)
//! and read markers (`mark_read`).

use super::live::Live;
use super::{Writers, last_message};
use crate::error::ApiError;
use crate::ids::UserId;
use crate::store::conversations::ConversationDoc;
use crate::store::messages::{MessageDoc, block_of};

/// Compare-and-set rounds of an old block's rewrite before the edit gives up
/// (503): each failed round means another rewrite of that block just landed.
const BLOCK_REWRITE_ATTEMPTS: usize = 5;
/// Revs tried for one change before it gives up (503): each one found taken
/// means a change this copy had not heard of.
const REV_ATTEMPTS: usize = 16;

impl Writers {
    /// Stores an edited or deleted message with a fresh change counter (`rev`)
    /// and then, under the conversation's lock, updates memory and calls `notify`
    /// (the fan-out) with the message as it now is, which it returns. Hold the
    /// conversation's edit lock.
    ///
    /// A deletion is final wherever a copy is kept (`MessageDoc::merged`): an edit
    /// of a message this node knows deleted is refused (409) before anything is
    /// written, and one that lands after a delete anyway (this node stalled past
    /// its lock, or had not heard of the delete yet) changes the text in the
    /// message's document only, which is never shown once deleted.
    pub async fn update_message(
        &self,
        live: &Live,
        updated: &MessageDoc,
        notify: impl FnOnce(&ConversationDoc, &MessageDoc),
    ) -> Result<MessageDoc, ApiError> {
        let deleted_already = || ApiError::conflict("a deleted message cannot be edited");
        if !updated.deleted
            && live
                .lock()
                .committed(updated.seq)
                .is_some_and(|m| m.deleted)
        {
            return Err(deleted_already());
        }
        let mut updated = updated.clone();
        updated.rev = self.allocate_revs(live, &[updated.seq]).await?;
        let updated = &updated;
        let messages = &self.store.messages;
        let write = async {
            if updated.deleted {
                messages.replace(updated).await
            } else {
                messages.write_edit(updated).await
            }
        };
        let (written, raised) = tokio::join!(
            write,
            self.store.conversations.raise_rev(&live.id, updated.rev)
        );
        written?;
        raised?;
        if live.lock().committed(updated.seq).is_none() {
            self.rewrite_in_block(live, updated).await?;
        }
        let mut st = live.lock();
        st.note_change(updated.rev, updated.seq);
        let now = match st.window.binary_search_by_key(&updated.seq, |m| m.seq) {
            Ok(i) => {
                let merged = st.window[i].merged(updated.clone());
                if merged.deleted != updated.deleted {
                    return Err(deleted_already());
                }
                st.window[i] = merged.clone();
                st.dirty_blocks.insert(block_of(updated.seq));
                merged
            }
            Err(_) => updated.clone(),
        };
        if st.doc.last_message.as_ref().is_some_and(|m| m.id == now.id) {
            st.doc.last_message = Some(last_message(&now));
            st.dirty_doc = true;
        }
        self.index.learn(&now);
        notify(&st.doc, &now);
        drop(st);
        self.follow_current(live, std::slice::from_ref(&now));
        Ok(now)
    }

    /// Writes `updated` into its (old, not in the window) history block: the
    /// flusher writes only the window's. A compare-and-set on the version read,
    /// so that a rewrite that landed in between (another node's change of a
    /// message in the same block, while this one stalled) is read again, never
    /// undone.
    async fn rewrite_in_block(&self, live: &Live, updated: &MessageDoc) -> Result<(), ApiError> {
        let block = block_of(updated.seq);
        for _ in 0..BLOCK_REWRITE_ATTEMPTS {
            let (mut messages, version) = self
                .store
                .messages
                .block_for_rewrite(&live.id, block)
                .await?;
            // A message missing from its block (a hole) is left to the block's
            // next rebuild, as before; one found deleted there stays deleted.
            if let Some(m) = messages.iter_mut().find(|m| m.seq == updated.seq) {
                if m.deleted && !updated.deleted {
                    return Err(ApiError::conflict("a deleted message cannot be edited"));
                }
                *m = updated.clone();
            }
            if self
                .store
                .messages
                .write_block_if(&live.id, block, &messages, &version)
                .await?
            {
                return Ok(());
            }
        }
        Err(ApiError::new(
            crate::error::ErrorCode::ServerBusy,
            "the message's history block keeps changing; try again",
        ))
    }

    /// Stores a run of reaction changes of one conversation at once (a busy
    /// room's toggles, combined by `chat::reactions`): `seqs` are the changes in
    /// order (the message each one changes), `finals` the messages in the state
    /// the last of their changes leaves them (each once; any that no change
    /// touched is left out). The changes take
    /// consecutive revs (`record_many`: one insert), each final is written once
    /// with the rev of its message's last change, and then, under the
    /// conversation's lock, memory is updated and `notify` called for each change
    /// in order (its index in `seqs` and its rev, with its message's final
    /// state: a change is announced as a delta, never the whole message). Hold
    /// the conversation's edit lock.
    pub async fn update_reactions(
        &self,
        live: &Live,
        mut finals: Vec<MessageDoc>,
        seqs: &[i64],
        mut notify: impl FnMut(&ConversationDoc, &MessageDoc, usize, i64),
    ) -> Result<(), ApiError> {
        if seqs.is_empty() {
            return Ok(());
        }
        let first = self.allocate_revs(live, seqs).await?;
        let last = first + seqs.len() as i64 - 1;
        finals.retain(|m| seqs.contains(&m.seq));
        for m in &mut finals {
            if let Some(i) = seqs.iter().rposition(|&seq| seq == m.seq) {
                m.rev = first + i as i64;
            }
        }
        let writes = futures_util::future::try_join_all(
            finals
                .iter()
                .map(|m| self.store.messages.write_reactions(m)),
        );
        let (written, raised) =
            tokio::join!(writes, self.store.conversations.raise_rev(&live.id, last));
        written?;
        raised?;
        for m in &finals {
            if live.lock().committed(m.seq).is_none() {
                self.rewrite_in_block(live, m).await?;
            }
        }
        let mut st = live.lock();
        for (rev, &seq) in (first..).zip(seqs) {
            st.note_change(rev, seq);
        }
        for m in &finals {
            if let Ok(i) = st.window.binary_search_by_key(&m.seq, |w| w.seq) {
                let merged = st.window[i].merged(m.clone());
                st.window[i] = merged;
                st.dirty_blocks.insert(block_of(m.seq));
            }
        }
        for (i, (rev, seq)) in (first..).zip(seqs).enumerate() {
            if let Some(m) = finals.iter().find(|m| m.seq == *seq) {
                notify(&st.doc, m, i, rev);
            }
        }
        drop(st);
        self.follow_current(live, &finals);
        Ok(())
    }

    /// Consecutive revs for `seqs.len()` changes (message `seqs[i]` by rev
    /// `first + i`), recorded before anything is written; returns `first`. If
    /// any of them was taken (a change this copy had not heard of), the whole
    /// run moves past the stored `last_rev` and tries again; the changes it did
    /// record point at messages this run then does not change under those revs,
    /// which a replay sends as they are (harmless, as after a crash). The
    /// conversation's `last_rev` is raised by the caller, with its writes: it
    /// is only a hint (a load looks a few revs past it, `load`).
    async fn allocate_revs(&self, live: &Live, seqs: &[i64]) -> Result<i64, ApiError> {
        let n = seqs.len() as i64;
        let mut first = live.lock().last_rev.saturating_add(1);
        for _ in 0..REV_ATTEMPTS {
            if self
                .store
                .changes
                .record_many(&live.id, first, seqs)
                .await?
            {
                return Ok(first);
            }
            let stored = self
                .store
                .conversations
                .by_id(&live.id)
                .await?
                .map_or(0, |doc| doc.last_rev);
            first = first.saturating_add(n).max(stored.saturating_add(1));
        }
        Err(ApiError::new(
            crate::error::ErrorCode::ServerBusy,
            "the conversation's changes keep moving; try again",
        ))
    }

    /// Moves the user's read marker forward to `seq` (clamped to the last seq).
    /// Returns the marker as it stands after the call (a marker never moves
    /// back: a lower `seq` leaves it, and returns it); `moved` is called under
    /// the lock when it moved (the `read` event).
    pub async fn mark_read(
        &self,
        live: &Live,
        user_id: &UserId,
        seq: i64,
        moved: impl FnOnce(&ConversationDoc, i64),
    ) -> Result<i64, ApiError> {
        let known = live.mark(user_id);
        let stored = match known {
            Some(_) => None,
            None => Some(self.store.conversations.marker(&live.id, user_id).await?),
        };
        let mut st = live.lock();
        let seq = seq.min(st.doc.last_seq);
        let current = st.marks.get(user_id).copied().max(stored).unwrap_or(0);
        if seq > current {
            st.marks.insert(user_id.clone(), seq);
            st.dirty_marks.insert(user_id.clone());
            moved(&st.doc, seq);
            Ok(seq)
        } else {
            st.marks.insert(user_id.clone(), current);
            Ok(current)
        }
    }
}
