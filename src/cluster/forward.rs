//! Sends to a conversation another node owns (`crate::cluster::ownership`), on the node
//! the client reached: routed here or forwarded to the owner as a call, whose
//! answer acks it (`ClusterRouter`, the core's send router in cluster mode).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::oneshot;

use super::ownership::Owner;
use crate::chat::writer::{Draft, Forwarded, Live, OnStored, Ticket, Writers};
use crate::error::{ApiError, ErrorCode};
use crate::ids::ConversationId;
use crate::store::messages::MessageDoc;

use super::Cluster;
use super::wire::{Event, Outcome};

/// How long a forwarded send waits for the owner's answer (then 503: the client
/// sends again with the same `client_id`, and the owner's lease expires if it
/// died).
pub const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);

/// Times a forwarded send follows "not the owner" to another node.
const FORWARD_ATTEMPTS: u32 = 3;

/// Where a write goes.
enum Route {
    Here(Arc<Live>),
    There(String),
}

/// A forwarded send waiting for its answer, on the forwarding node.
pub(super) struct Call {
    /// The node it was forwarded to.
    node: String,
    conversation: ConversationId,
    draft: Draft,
    /// The gateway's ack, run when the answer arrives (before the echo, which
    /// the owner publishes after the answer).
    on_stored: Option<OnStored>,
    reply: oneshot::Sender<Result<(MessageDoc, bool), ApiError>>,
    attempts: u32,
}

/// The core's send router in cluster mode: the conversation's owner node stores
/// each send (forwarded when that is another node).
pub struct ClusterRouter {
    cluster: Arc<Cluster>,
    /// This node's writers, where the sends of the conversations it owns go.
    writers: Arc<Writers>,
}

impl ClusterRouter {
    pub fn new(cluster: Arc<Cluster>, writers: Arc<Writers>) -> Self {
        Self { cluster, writers }
    }
}

impl crate::chat::Router for ClusterRouter {
    fn dispatch<'a>(
        &'a self,
        live: &'a Arc<Live>,
        draft: Draft,
        on_stored: Option<OnStored>,
    ) -> futures_util::future::BoxFuture<'a, Result<Ticket, ApiError>> {
        Box::pin(self.cluster.dispatch(&self.writers, live, draft, on_stored))
    }

    fn copies_trail(&self) -> bool {
        true
    }
}

impl Cluster {
    /// Another node left: sends forwarded to it go again (to the new owner).
    pub(super) fn node_left(self: &Arc<Self>, writers: &Arc<Writers>, node: &str) {
        self.ownership.forget_node(node);
        let stranded: Vec<(u64, Call)> = {
            let mut calls = self.calls();
            let ids: Vec<u64> = calls
                .iter()
                .filter(|(_, call)| call.node == node)
                .map(|(id, _)| *id)
                .collect();
            ids.into_iter()
                .filter_map(|id| calls.remove(&id).map(|call| (id, call)))
                .collect()
        };
        for (id, call) in stranded {
            tokio::spawn(Arc::clone(self).redispatch(Arc::clone(writers), id, call));
        }
    }

    fn calls(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Call>> {
        self.calls
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A send, on the node the client reached: stored here if this node owns the
    /// conversation (or Redis does not answer), else forwarded to the owner.
    /// Returns at once, like `Writers::enqueue`: a connection's sends reach the
    /// owner in the order they were submitted (one publisher, one subscriber).
    pub async fn dispatch(
        self: &Arc<Self>,
        writers: &Writers,
        live: &Arc<Live>,
        draft: Draft,
        on_stored: Option<OnStored>,
    ) -> Result<Ticket, ApiError> {
        match self.route(writers, live).await? {
            Route::Here(live) => writers.enqueue(&live, draft, on_stored),
            Route::There(node) => {
                let (reply, answer) = oneshot::channel();
                let id = self.next_call.fetch_add(1, Ordering::Relaxed);
                self.forward(
                    &node,
                    id,
                    Call {
                        node: node.clone(),
                        conversation: live.id.clone(),
                        draft,
                        on_stored,
                        reply,
                        attempts: 1,
                    },
                );
                let cluster = Arc::clone(self);
                let conversation = live.id.clone();
                Ok(Ticket::Forwarded(Forwarded {
                    reply: answer,
                    timeout: FORWARD_TIMEOUT,
                    done: Some(Box::new(move |timed_out| {
                        cluster.calls().remove(&id);
                        if timed_out {
                            // Maybe dead: ask Redis again next time.
                            cluster.ownership.forget_other(&conversation);
                            metrics::counter!("confab_cluster_forward_timeouts_total").increment(1);
                        }
                    })),
                }))
            }
        }
    }

    /// Where a write of the conversation goes: this node's copy (brought up to
    /// date first when this node just took the lease, or after a lost lease or a
    /// store failure), or the owner node.
    async fn route(&self, writers: &Writers, live: &Arc<Live>) -> Result<Route, ApiError> {
        let id = &live.id;
        if self.ownership.holds(id) {
            if live.needs_reload() {
                // Replaced by a take-over (or unsure after a store failure).
                return writers.get(id).await.map(Route::Here);
            }
            return Ok(Route::Here(Arc::clone(live)));
        }
        // One taker per conversation at a time: a second send waits for the first
        // one's take-over instead of writing from the stale copy.
        let gate = Arc::clone(self.taking.entry(id.clone()).or_default().value());
        let route = {
            let _taking = gate.lock().await;
            match self.ownership.owner(id).await {
                Owner::Unknown => {
                    // Redis cannot say who writes this conversation (unreachable,
                    // or it just lost its leases and waits for the old ones to
                    // end), and this node's own lease is not trusted any more:
                    // writing here could make two writers. The client sends again
                    // (with its `client_id`).
                    Err(ApiError::new(
                        ErrorCode::ServerBusy,
                        "the cluster cannot tell which node writes this conversation right now (Redis is unreachable or restarting); send it again shortly",
                    ))
                }
                Owner::Here => {
                    if live.needs_reload() {
                        writers.get(id).await.map(Route::Here)
                    } else {
                        Ok(Route::Here(Arc::clone(live)))
                    }
                }
                Owner::Taken(asked) => {
                    let current = writers.take_over(live).await;
                    if current.is_ok() {
                        self.ownership.confirm(id, asked);
                    }
                    current.map(Route::Here)
                }
                Owner::There(node) => Ok(Route::There(node)),
            }
        };
        drop(gate);
        self.taking
            .remove_if(id, |_, gate| Arc::strong_count(gate) == 1);
        route
    }

    fn forward(&self, node: &str, id: u64, mut call: Call) {
        node.clone_into(&mut call.node);
        let event = Event::Submit {
            to: node.to_owned(),
            call: id,
            conversation: call.conversation.clone(),
            draft: call.draft.clone(),
        };
        self.calls().insert(id, call);
        metrics::counter!("confab_cluster_forwarded_sends_total").increment(1);
        self.send(event, "");
    }

    /// On the forwarding node: the owner's answer. The gateway's ack is queued
    /// here, in the subscriber, before the message's event (published after the
    /// answer) is delivered.
    pub(super) fn take_answer(
        self: &Arc<Self>,
        writers: &Arc<Writers>,
        from: &str,
        call: u64,
        outcome: Outcome,
    ) {
        let pending = {
            let mut calls = self.calls();
            // Only the node the call went to answers it (a node that left may
            // answer late, after the call went elsewhere).
            match calls.get(&call) {
                Some(pending) if pending.node == from => calls.remove(&call),
                _ => None,
            }
        };
        let Some(mut pending) = pending else {
            return; // timed out, or moved to another node meanwhile
        };
        match outcome {
            Outcome::Stored { message, created } => {
                if created && let Some(ack) = pending.on_stored.take() {
                    ack(&message);
                }
                let _ = pending.reply.send(Ok((*message, created)));
            }
            Outcome::Refused { code, message } => {
                let _ = pending.reply.send(Err(ApiError::new(code, message)));
            }
            Outcome::NotOwner => {
                self.ownership.forget_other(&pending.conversation);
                if pending.attempts >= FORWARD_ATTEMPTS {
                    let _ = pending.reply.send(Err(ApiError::new(
                        ErrorCode::ServerBusy,
                        "the conversation is moving between nodes; send it again with the same client_id",
                    )));
                    return;
                }
                pending.attempts += 1;
                tokio::spawn(Arc::clone(self).redispatch(Arc::clone(writers), call, pending));
            }
        }
    }

    /// A forwarded send whose node no longer owns the conversation: asks Redis
    /// again and stores it here or forwards it to the new owner.
    async fn redispatch(self: Arc<Self>, writers: Arc<Writers>, id: u64, call: Call) {
        // Give a node that is handing over (or taking over) a moment.
        tokio::time::sleep(Duration::from_millis(50) * call.attempts).await;
        if call.reply.is_closed() {
            return; // the sender gave up (timed out, or its connection closed)
        }
        let live = match writers.get(&call.conversation).await {
            Ok(live) => live,
            Err(err) => {
                let _ = call.reply.send(Err(err));
                return;
            }
        };
        let outcome = match self.route(&writers, &live).await {
            Ok(Route::There(node)) => return self.forward(&node, id, call),
            Ok(Route::Here(live)) => Ok(live),
            Err(err) => Err(err),
        };
        let outcome = match outcome {
            Ok(live) => match writers.enqueue(&live, call.draft, call.on_stored) {
                Ok(ticket) => ticket.wait().await,
                Err(err) => Err(err),
            },
            Err(err) => Err(err),
        };
        let _ = call.reply.send(outcome);
    }
}
