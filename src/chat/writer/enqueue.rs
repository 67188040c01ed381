//! Taking a send: under the conversation's lock, dedupe by `client_id`, take the
//! next seq and queue the message for the batcher (`enqueue`); in cluster mode
//! also the owner's side of a forwarded send (`enqueue_forwarded`, and its own
//! view of whether the sender may still send).

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::oneshot;

use super::batcher::Pending;
use super::live::Live;
use super::ticket::{Draft, OnStored, Ticket};
use super::{MAX_IN_FLIGHT, Writers, reloading};
use crate::error::ApiError;
use crate::ids::{ConversationId, MessageId, UserId};
use crate::store::messages::MessageDoc;

impl Writers {
    /// Gives the message the next `seq` and queues it for storing, or finds the
    /// first message of a repeated `client_id`. Returns at once (no database wait):
    /// a connection can submit its next send while this one is being stored, and
    /// the seqs follow the order of submission. `Ticket::wait` gives the outcome.
    pub fn enqueue(
        &self,
        live: &Arc<Live>,
        draft: Draft,
        on_stored: Option<OnStored>,
    ) -> Result<Ticket, ApiError> {
        self.enqueue_with(live, draft, on_stored, None)
    }

    /// Cluster mode, on the owner: a send another node forwarded. `answer` is
    /// called once the message is stored, before its event is published, so the
    /// forwarding node acks before it echoes. (A repeated `client_id` is answered
    /// from the returned `Ticket` instead.)
    pub fn enqueue_forwarded(
        &self,
        live: &Arc<Live>,
        draft: Draft,
        answer: OnStored,
    ) -> Result<Ticket, ApiError> {
        self.enqueue_with(live, draft, None, Some(answer))
    }

    fn enqueue_with(
        &self,
        live: &Arc<Live>,
        draft: Draft,
        on_stored: Option<OnStored>,
        answer: Option<OnStored>,
    ) -> Result<Ticket, ApiError> {
        use std::sync::atomic::Ordering;
        enum Next {
            Wait(oneshot::Receiver<Result<MessageDoc, ApiError>>, Option<i64>),
            Stored(i64),
        }
        let next = {
            let mut st = live.lock();
            if st.deleted {
                return Err(ApiError::not_found("conversation"));
            }
            st.last_used = Instant::now();
            let key = draft
                .client_id
                .as_ref()
                .map(|cid| (draft.sender_id.clone(), cid.clone()));
            let earlier = key.as_ref().and_then(|k| st.keys.get(k).copied());
            if let Some(seq) = earlier {
                if let Some(message) = st.committed(seq) {
                    return Ok(Ticket::Ready(message.clone()));
                }
                if st.waiters.contains_key(&seq) {
                    let (tx, rx) = oneshot::channel();
                    st.waiters.entry(seq).or_default().push(tx);
                    Next::Wait(rx, None)
                } else {
                    Next::Stored(seq)
                }
            } else {
                if self.in_flight.load(Ordering::Relaxed) >= MAX_IN_FLIGHT {
                    return Err(ApiError::database_unavailable());
                }
                if st.broken {
                    // Behind storage, its own sends still in flight (or it would
                    // have been reloaded): no new seq until it has reloaded. A
                    // batch that failed may yet be stored late, and a message
                    // stored after it would pass readers' cursors; a copy that
                    // missed events would hand out seqs another node used.
                    return Err(reloading());
                }
                let seq = st.next_seq;
                st.next_seq += 1;
                let id = MessageId::new(&live.id, seq);
                let message = MessageDoc {
                    dedupe_key: draft
                        .client_id
                        .clone()
                        .unwrap_or_else(|| format!("auto:{id}")),
                    id,
                    conversation_id: live.id.clone(),
                    seq,
                    sender_id: draft.sender_id,
                    sender_username: draft.sender_username,
                    body: draft.body,
                    client_id: draft.client_id,
                    created_at: crate::store::now(),
                    edited_at: None,
                    deleted: false,
                    rev: 0,
                    reactions: Vec::new(),
                    reply_to: draft.reply_to,
                };
                if let Some(key) = key {
                    st.remember_key(key, seq);
                }
                let (tx, rx) = oneshot::channel();
                st.waiters.insert(seq, vec![tx]);
                st.in_flight += 1;
                self.in_flight.fetch_add(1, Ordering::Relaxed);
                // Under the lock, so the batcher sees each conversation's messages
                // in seq order.
                let pending = Pending {
                    live: Arc::clone(live),
                    message,
                    on_stored,
                    answer,
                    announced: None,
                };
                if self.tx.send(pending).is_err() {
                    st.fail(seq, &ApiError::database_unavailable());
                    self.settled_one();
                    return Err(ApiError::database_unavailable());
                }
                Next::Wait(rx, Some(seq))
            }
        };
        Ok(match next {
            Next::Wait(reply, own_seq) => Ticket::Wait(reply, own_seq),
            // Remembered, but no longer in the window.
            Next::Stored(seq) => Ticket::Fetch(self.store.messages.clone(), live.id.clone(), seq),
        })
    }

    /// Cluster mode, on the owner: whether `sender` may still send in `live`, by
    /// this node's own caches: a second view next to the forwarding node's check,
    /// so a send is stored only when both nodes believe the sender is a member.
    /// `None`: not in memory (`learn_sender` fetches it). A DM's participants
    /// never change; the forwarding node checked them.
    pub fn sender_may_send(&self, live: &Live, sender: &UserId) -> Option<bool> {
        if live.lock().doc.kind != crate::store::conversations::ConversationKind::Group {
            return Some(true);
        }
        self.store
            .groups
            .cached_membership(&live.id.as_group(), sender)
            .map(|membership| membership.is_some())
    }

    /// Brings `sender`'s membership of the conversation's group into memory (for
    /// `sender_may_send`). A database error leaves it unknown.
    pub async fn learn_sender(&self, conversation: &ConversationId, sender: &UserId) {
        if let Err(err) = self
            .store
            .groups
            .membership(&conversation.as_group(), sender)
            .await
        {
            tracing::debug!(error = %err, "forwarded send: the sender's membership was not read");
        }
    }
}
