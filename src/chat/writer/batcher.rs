//! The one store batcher: it takes whatever sends have queued (`Pending`), from
//! every conversation, stores them with one `insert_many` while raising the seq
//! reservations, and then commits, announces and acks each message in seq order,
//! or fails or refuses it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use super::live::Live;
use super::ticket::OnStored;
use super::{MAX_BATCH, SEQ_RESERVE, Writers, last_message, reloading};
use crate::error::ApiError;
use crate::ids::ConversationId;
use crate::store::messages::{MessageDoc, block_of};

/// A send queued for the batcher, with its seq taken.
pub(super) struct Pending {
    pub(super) live: Arc<Live>,
    pub(super) message: MessageDoc,
    pub(super) on_stored: Option<OnStored>,
    /// Cluster mode, a send forwarded by another node: its answer, published
    /// before the message's event (so that node acks before it echoes).
    pub(super) answer: Option<OnStored>,
    /// Cluster mode: the message's frame, once announced to the other nodes
    /// (encoded once, delivered here after the barrier).
    pub(super) announced: Option<Arc<str>>,
}

fn db_error(err: mongodb::error::Error) -> ApiError {
    ApiError::from(err)
}

impl Writers {
    pub(super) async fn run_batcher(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<Pending>) {
        let mut batch: Vec<Pending> = Vec::new();
        while let Some(first) = rx.recv().await {
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(more) => batch.push(more),
                    Err(_) => break,
                }
            }
            self.store_batch(&mut batch).await;
        }
    }

    async fn store_batch(&self, batch: &mut Vec<Pending>) {
        // A conversation whose copy became unsure after these were queued (an
        // earlier batch failed: it may still be stored late, when the database
        // runs a request it was holding; `LiveState::unsure`) stores nothing more
        // until it has reloaded: a later seq stored now would be delivered before the earlier
        // one turned up, and readers' cursors would pass it (`scripts/chaos`
        // seed 25). These fail unsent (503): the clients send them again.
        batch.retain(|pending| {
            let mut st = pending.live.lock();
            if !st.unsure {
                return true;
            }
            st.fail(pending.message.seq, &reloading());
            self.settled_one();
            false
        });
        if batch.is_empty() {
            return;
        }
        let docs: Vec<MessageDoc> = batch.iter().map(|p| p.message.clone()).collect();
        // Seqs beyond a conversation's durable reservation: raise it, at the same
        // time as the insert. A message is acked only if both were written.
        // Each conversation's highest seq here, then one look at its reservation.
        let mut raise: HashMap<ConversationId, (Arc<Live>, i64)> = HashMap::new();
        for pending in batch.iter() {
            let seq = pending.message.seq;
            let entry = raise
                .entry(pending.live.id.clone())
                .or_insert_with(|| (Arc::clone(&pending.live), seq));
            entry.1 = entry.1.max(seq);
        }
        raise.retain(|_, (live, seq)| *seq > live.lock().reserved);
        let reservations = futures_util::future::join_all(raise.values().map(|(live, seq)| {
            let upto = seq.saturating_add(SEQ_RESERVE);
            async move {
                let written = self.store.conversations.reserve_seqs(&live.id, upto).await;
                (Arc::clone(live), upto, written)
            }
        }));
        // Replies are listed under the message they answer (`store::threads`)
        // at the same time, so an acked reply is listed: a failed listing fails
        // its conversation's messages like a failed reservation. (A listing
        // whose message ends up not stored names a seq readers skip.)
        let threads = futures_util::future::join_all(docs.iter().filter_map(|m| {
            let root = m.reply_to.as_ref()?;
            Some(async move {
                let listed = self
                    .store
                    .threads
                    .add_reply(&root.id, &m.conversation_id, m.seq)
                    .await;
                (m.conversation_id.clone(), listed)
            })
        }));
        let started = Instant::now();
        let (outcome, reservations, threads) = tokio::join!(
            self.store.messages.insert_many(&docs),
            reservations,
            threads
        );
        let mut unreserved: HashMap<ConversationId, ApiError> = HashMap::new();
        for (conversation, listed) in threads {
            if let Err(err) = listed {
                tracing::warn!(error = %err, %conversation, "listing a reply failed; its messages are not acked");
                unreserved.insert(conversation, db_error(err));
            }
        }
        for (live, upto, written) in reservations {
            match written {
                Ok(()) => {
                    let mut st = live.lock();
                    st.reserved = st.reserved.max(upto);
                }
                Err(err) => {
                    tracing::warn!(error = %err, conversation = %live.id, "raising the seq reservation failed; its messages are not acked");
                    unreserved.insert(live.id.clone(), db_error(err));
                }
            }
        }
        metrics::histogram!("confab_store_batch_seconds").record(started.elapsed().as_secs_f64());
        metrics::histogram!("confab_store_batch_messages").record(docs.len() as f64);
        let (failed, whole): (HashMap<usize, bool>, Option<ApiError>) = match outcome {
            Ok(failed) => (failed.into_iter().collect(), None),
            Err(err) => {
                tracing::warn!(error = %err, messages = docs.len(), "storing a batch of messages failed");
                (HashMap::new(), Some(db_error(err)))
            }
        };
        // A seq refused because another message holds it (not a repeated
        // `client_id`): that message was stored late (a batch reported failed) or
        // by another writer, and nobody heard of it. This conversation's later
        // messages in the batch are stored (the insert is unordered) but held
        // back: not announced, not acked (`fail`: their senders resend and are
        // answered by `client_id`), and the reload announces everything it finds
        // in seq order (`announce_found`). Announcing them now would deliver them
        // before the one below them (`scripts/chaos` seed 38).
        let mut firsts: HashMap<usize, Option<MessageDoc>> = HashMap::new();
        let mut held_from: HashMap<ConversationId, i64> = HashMap::new();
        if whole.is_none() {
            // (What is needed, taken out first: a `Pending` is not `Sync`.)
            let refusals: Vec<(usize, bool, MessageDoc)> = failed
                .iter()
                .filter_map(|(&i, &duplicate)| {
                    batch.get(i).map(|p| (i, duplicate, p.message.clone()))
                })
                .collect();
            for (i, duplicate, message) in refusals {
                let first = match (&message.client_id, duplicate) {
                    (Some(cid), true) => self
                        .store
                        .messages
                        .by_client_id(&message.conversation_id, &message.sender_id, cid)
                        .await
                        .ok()
                        .flatten(),
                    _ => None,
                };
                if first.is_none() {
                    let from = held_from
                        .entry(message.conversation_id.clone())
                        .or_insert(message.seq);
                    *from = (*from).min(message.seq);
                }
                firsts.insert(i, first);
            }
        }
        let held = |live: &Live, seq: i64| held_from.get(&live.id).is_some_and(|&from| seq > from);
        // Cluster mode: the other nodes hear of every stored message (and a node
        // that forwarded a send gets its answer first) before anything is reported
        // or delivered here, and only once Redis has taken the events. So an ack
        // means every node hears the message, and the owner's own connections hear
        // it in the same order as everyone else's.
        if whole.is_none() {
            for (i, pending) in batch.iter_mut().enumerate() {
                if failed.contains_key(&i)
                    || unreserved.contains_key(&pending.live.id)
                    || held(&pending.live, pending.message.seq)
                {
                    continue;
                }
                if let Some(answer) = pending.answer.take() {
                    answer(&pending.message);
                }
                let st = pending.live.lock();
                if !st.deleted {
                    pending.announced = self.fanout.announce(&st.doc, &pending.message);
                }
            }
            self.fanout.announced().await;
        }
        for (i, pending) in batch.drain(..).enumerate() {
            self.settled_one();
            let Pending {
                live,
                message,
                on_stored,
                answer: _,
                announced,
            } = pending;
            if let Some(err) = whole.as_ref().or_else(|| unreserved.get(&live.id)) {
                // Not acked: stored or not, its seq may not be covered. The client
                // resends with its `client_id`; the reload finds what was stored.
                live.lock().fail(message.seq, err);
                continue;
            }
            if held(&live, message.seq) {
                live.lock().fail(message.seq, &reloading());
                continue;
            }
            match failed.get(&i) {
                None => self.commit(&live, message, on_stored, announced.as_ref()),
                Some(&duplicate) => {
                    let first = firsts.remove(&i).flatten();
                    self.refused(&live, message, duplicate, first);
                }
            }
        }
        if whole.is_none() {
            metrics::counter!("confab_messages_stored_total")
                .increment((docs.len() - failed.len()) as u64);
        }
    }

    /// A stored message: into the window, reported, fanned out, senders woken.
    /// `announced`: the frame the other nodes were told already (cluster mode).
    fn commit(
        &self,
        live: &Live,
        message: MessageDoc,
        on_stored: Option<OnStored>,
        announced: Option<&Arc<str>>,
    ) {
        let mut st = live.lock();
        st.in_flight = st.in_flight.saturating_sub(1);
        if message.seq > st.doc.last_seq {
            st.doc.last_seq = message.seq;
            st.doc.last_message = Some(last_message(&message));
            st.doc.last_activity = message.created_at;
        }
        st.dirty_doc = true;
        st.last_commit = Instant::now();
        st.dirty_blocks.insert(block_of(message.seq));
        if st.first_post_in_dm(&message.sender_id) {
            // Once per participant: from now on they show `online` to the other.
            // If this write is lost, the status stays hidden (the safe side) until
            // their next message after a reload.
            self.fanout.revealed(&live.id, &message.sender_id);
            let store = self.store.conversations.clone();
            let (id, sender) = (live.id.clone(), message.sender_id.clone());
            tokio::spawn(async move {
                if let Err(err) = store.mark_posted(&id, &sender).await {
                    tracing::warn!(error = %err, conversation = %id, "recording a DM's first message of a participant failed");
                }
            });
        }
        // Your own messages never count as unread.
        st.marks.insert(message.sender_id.clone(), message.seq);
        st.dirty_marks.insert(message.sender_id.clone());
        if let Some(report) = on_stored {
            report(&message);
        }
        if !st.deleted {
            self.fanout.deliver(&st.doc, &message, announced);
            self.index.learn(&message);
        }
        for reply in st.waiters.remove(&message.seq).unwrap_or_default() {
            let _ = reply.send(Ok(message.clone()));
        }
        st.insert_ordered(message);
        st.trim();
    }

    /// An insert the database refused: a repeated `client_id` the writer no longer
    /// remembered (answer the first message), or a seq taken elsewhere.
    /// `first`: the message that holds the `client_id` already, if that was why.
    fn refused(
        &self,
        live: &Live,
        message: MessageDoc,
        duplicate: bool,
        first: Option<MessageDoc>,
    ) {
        let mut st = live.lock();
        match first {
            Some(first) => {
                st.in_flight = st.in_flight.saturating_sub(1);
                st.broken = true; // this seq was not used: reload to close the gap
                if first.seq >= st.covered_from && st.committed(first.seq).is_none() && !st.deleted
                {
                    // Never heard of here: stored late, after its batch was
                    // reported failed (`LiveState::unsure`) and after the reload
                    // looked for it. Nothing after it was stored meanwhile (the
                    // reload handed its seq out again), so it is announced now, in
                    // seq order, as a commit is.
                    tracing::info!(conversation = %live.id, seq = first.seq, "announcing a message stored late");
                    self.fanout.replayed(&st.doc, &first);
                    self.index.learn(&first);
                    st.insert_ordered(first.clone());
                }
                for reply in st.waiters.remove(&message.seq).unwrap_or_default() {
                    let _ = reply.send(Ok(first.clone()));
                }
            }
            None => {
                tracing::warn!(conversation = %live.id, seq = message.seq, "message insert refused; reloading the conversation");
                if duplicate {
                    // A duplicate key that is not a repeated `client_id` is this
                    // seq's `_id`: another writer stored there (a write error of
                    // another kind stored nothing). The reload looks up to it.
                    self.taken
                        .entry(live.id.clone())
                        .and_modify(|s| *s = (*s).max(message.seq))
                        .or_insert(message.seq);
                }
                st.fail(
                    message.seq,
                    &ApiError::conflict("the message could not be stored; send it again"),
                );
            }
        }
    }
}
