//! The way to the other nodes (`Backplane`: what the hub hands them), and the
//! single-node one that hands nothing (`LocalOnly`).

use std::sync::Arc;

use super::{Audience, Change, ConversationId, MessageDoc, UserId};

/// Carries events to the other nodes. Local delivery needs none.
pub trait Backplane: Send + Sync {
    fn forward(&self, audience: &Audience, frame: &Arc<str>);
    /// A message event (created, edited, deleted), with the message itself, so
    /// the other nodes can bring their copy of the conversation up to date.
    fn forward_message(&self, audience: &Audience, frame: &Arc<str>, _message: &MessageDoc) {
        self.forward(audience, frame);
    }
    /// A read marker moved: the other nodes' copies of the conversation learn
    /// it too (so they never announce an older one).
    fn forward_read(
        &self,
        audience: &Audience,
        frame: &Arc<str>,
        _conversation: &ConversationId,
        _user: &UserId,
        _seq: i64,
    ) {
        self.forward(audience, frame);
    }
    /// A message a node taking a conversation over announces because its
    /// predecessor stored it and may never have published it (receivers that
    /// already have it skip it).
    fn forward_replayed(&self, audience: &Audience, frame: &Arc<str>, message: &MessageDoc) {
        self.forward_message(audience, frame, message);
    }
    /// Close these users' connections on the other nodes (revocation).
    fn close_users(&self, _users: &[UserId], _code: u16) {}
    /// Take the user's connections out of the room on the other nodes (removal).
    fn unsubscribe(&self, _conversation: &ConversationId, _user: &UserId) {}
    /// Whether there are other nodes (cluster mode).
    fn has_other_nodes(&self) -> bool {
        false
    }
    /// Resolves once everything forwarded so far has left this node (`true`) or
    /// was given up (`false`); `None` when there is nothing to wait for.
    fn barrier(&self) -> Option<tokio::sync::oneshot::Receiver<bool>> {
        None
    }
    /// Cluster mode: a presence transition of this node, for the others. Called
    /// under the merged view's lock, so the transitions leave in the order they
    /// were applied.
    fn presence(&self, _change: &Change) {}
}

/// The single-node backplane: nothing to forward to.
pub struct LocalOnly;

impl Backplane for LocalOnly {
    fn forward(&self, _audience: &Audience, _frame: &Arc<str>) {}
}
