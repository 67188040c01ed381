//! Sends other nodes forwarded to this one, on the owner: stored in order (after
//! a take-over in progress, or a load), and answered before their event.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::chat::writer::{Draft, Ticket, Writers};
use crate::error::ApiError;
use crate::ids::ConversationId;
use crate::store::messages::MessageDoc;

use super::Cluster;
use super::wire::{Event, Outcome};

impl Cluster {
    fn answer(&self, to: &str, call: u64, outcome: Outcome) {
        self.send(
            Event::Answer {
                to: to.to_owned(),
                call,
                outcome,
            },
            "",
        );
    }

    /// On the owner: a send another node forwarded. Submitted at once when the
    /// conversation is in memory and sound, so forwarded sends keep their order.
    /// While this node is taking the conversation over (the other node may have
    /// seen its lease before it finished), sends queue, in order, until it has.
    pub(super) fn serve_forwarded(
        self: &Arc<Self>,
        writers: &Arc<Writers>,
        from: String,
        call: u64,
        conversation: ConversationId,
        draft: Draft,
    ) {
        let gate = self
            .taking
            .get(&conversation)
            .map(|gate| Arc::clone(gate.value()));
        // Ready: in memory, sound, and the sender's membership known here (else
        // fetched first, in the queue below, which keeps the order).
        let ready = writers.loaded(&conversation).is_some_and(|live| {
            !live.needs_reload() && writers.sender_may_send(&live, &draft.sender_id).is_some()
        });
        if gate.is_none() && ready && !self.deferred.contains_key(&conversation) {
            return self.serve_forwarded_now(writers, from, call, conversation, draft);
        }
        let mut first = false;
        self.deferred
            .entry(conversation.clone())
            .or_insert_with(|| {
                first = true;
                Vec::new()
            })
            .push((from, call, draft));
        if first {
            let cluster = Arc::clone(self);
            let writers = Arc::clone(writers);
            tokio::spawn(async move {
                if let Some(gate) = gate {
                    // The take-over holds it until the copy is current.
                    drop(gate.lock().await);
                    drop(gate);
                    cluster
                        .taking
                        .remove_if(&conversation, |_, g| Arc::strong_count(g) == 1);
                }
                loop {
                    let queued = match cluster.deferred.get_mut(&conversation) {
                        Some(mut queue) => std::mem::take(&mut *queue),
                        None => break,
                    };
                    if queued.is_empty() {
                        if cluster
                            .deferred
                            .remove_if(&conversation, |_, q| q.is_empty())
                            .is_some()
                        {
                            break;
                        }
                        continue;
                    }
                    // Loaded (or reloaded) first, so the queue keeps its order.
                    if let Err(err) = writers.get(&conversation).await {
                        tracing::debug!(error = %err.message, "forwarded sends: the conversation did not load");
                    }
                    for (_, _, draft) in &queued {
                        writers.learn_sender(&conversation, &draft.sender_id).await;
                    }
                    for (from, call, draft) in queued {
                        cluster.serve_forwarded_now(
                            &writers,
                            from,
                            call,
                            conversation.clone(),
                            draft,
                        );
                    }
                }
            });
        }
    }

    fn serve_forwarded_now(
        self: &Arc<Self>,
        writers: &Arc<Writers>,
        from: String,
        call: u64,
        conversation: ConversationId,
        draft: Draft,
    ) {
        if self.leaving.load(Ordering::Acquire) || !self.ownership.holds(&conversation) {
            self.answer(&from, call, Outcome::NotOwner);
            return;
        }
        let answered = {
            let cluster = Arc::clone(self);
            let to = from.clone();
            move |message: &MessageDoc| {
                let outcome = Outcome::Stored {
                    message: Box::new(message.clone()),
                    created: true,
                };
                cluster.answer(&to, call, outcome);
            }
        };
        let ready = writers
            .loaded(&conversation)
            .filter(|live| !live.needs_reload());
        let cluster = Arc::clone(self);
        match ready {
            // The owner's own view of the sender: a member removed on another
            // node is refused here too, even if the forwarding node had not heard.
            Some(live) if writers.sender_may_send(&live, &draft.sender_id) == Some(false) => {
                metrics::counter!("confab_cluster_forwarded_refused_total").increment(1);
                let err = ApiError::forbidden(crate::chat::access::JOIN_FIRST);
                self.answer(&from, call, Outcome::refused(&err));
            }
            Some(live) => match writers.enqueue_forwarded(&live, draft, Box::new(answered)) {
                Ok(Ticket::Ready(message)) => {
                    let outcome = Outcome::Stored {
                        message: Box::new(message),
                        created: false,
                    };
                    self.answer(&from, call, outcome);
                }
                Ok(ticket) => {
                    tokio::spawn(
                        async move { cluster.answer_when_done(&from, call, ticket).await },
                    );
                }
                Err(err) => self.answer(&from, call, Outcome::refused(&err)),
            },
            // Not in memory (or reloading): load first. Rare: this node took the
            // lease for a write of its own, so the conversation is loaded.
            None => {
                let writers = Arc::clone(writers);
                tokio::spawn(async move {
                    writers.learn_sender(&conversation, &draft.sender_id).await;
                    let submitted = match writers.get(&conversation).await {
                        Ok(live)
                            if writers.sender_may_send(&live, &draft.sender_id) == Some(false) =>
                        {
                            Err(ApiError::forbidden(crate::chat::access::JOIN_FIRST))
                        }
                        Ok(live) => writers.enqueue_forwarded(&live, draft, Box::new(answered)),
                        Err(err) => Err(err),
                    };
                    match submitted {
                        Ok(ticket) => cluster.answer_when_done(&from, call, ticket).await,
                        Err(err) => cluster.answer(&from, call, Outcome::refused(&err)),
                    }
                });
            }
        }
    }

    /// Answers a forwarded send once its ticket resolves, unless it stored the
    /// message (then `enqueue_forwarded`'s hook answered before the event).
    async fn answer_when_done(&self, to: &str, call: u64, ticket: Ticket) {
        match ticket.wait().await {
            Ok((_, true)) => {}
            Ok((message, false)) => self.answer(
                to,
                call,
                Outcome::Stored {
                    message: Box::new(message),
                    created: false,
                },
            ),
            Err(err) => self.answer(to, call, Outcome::refused(&err)),
        }
    }
}
