//! The chat core's send router port: where a send is stored.

use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::writer::{Draft, Live, OnStored, Ticket, Writers};
use crate::error::ApiError;

/// The core's port for where a send is stored, given by the composition root:
/// this node's writer (one node: `writer::Writers`), or the conversation's owner
/// node, forwarded when that is another (cluster mode: `cluster::ClusterRouter`).
pub trait Router: Send + Sync {
    /// Queues a send with its seq (the `Ticket` resolves once it is stored).
    fn dispatch<'a>(
        &'a self,
        live: &'a Arc<Live>,
        draft: Draft,
        on_stored: Option<OnStored>,
    ) -> BoxFuture<'a, Result<Ticket, ApiError>>;

    /// Whether this node's copy of a conversation may trail another node's
    /// writes (by one Redis hop): then a `join` with `since` first waits,
    /// briefly, for the copy to reach `since`.
    fn copies_trail(&self) -> bool;
}

/// The core's send router on one node: every send is stored here.
impl Router for Writers {
    fn dispatch<'a>(
        &'a self,
        live: &'a Arc<Live>,
        draft: Draft,
        on_stored: Option<OnStored>,
    ) -> BoxFuture<'a, Result<Ticket, ApiError>> {
        Box::pin(std::future::ready(Writers::enqueue(
            self, live, draft, on_stored,
        )))
    }

    fn copies_trail(&self) -> bool {
        false
    }
}
