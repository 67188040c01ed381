//! The chat core's fan-out port: how the writer tells the world about stored
//! messages, without knowing who listens. The hub (`realtime::hub::Hub`)
//! implements it; in cluster mode the hub's backplane also tells the other nodes.
//!
//! A stored message is announced in two steps so that an ack means every node
//! hears it: `announce` (to the other nodes, if any; the frame is encoded once
//! and kept), then, after `announced` (everything announced so far has left this
//! node), `deliver` to this node's connections in seq order under the
//! conversation's lock. With no other nodes, `announce` returns `None` and
//! `announced` is ready at once.

use std::sync::Arc;

use futures_util::future::BoxFuture;

use crate::ids::{ConversationId, GroupId, UserId};
use crate::permissions::GroupRole;
use crate::store::conversations::ConversationDoc;
use crate::store::messages::{MessageDoc, Reactor};

/// A membership change to announce to the member concerned.
#[derive(Debug, Clone, Copy)]
pub enum MembershipChange {
    Added(GroupRole),
    Removed,
}

/// A change a toggle made, to announce.
#[derive(Debug, Clone)]
pub struct ReactionChange {
    pub emoji: String,
    pub user: Reactor,
    pub on: bool,
    /// The emoji's count after the change.
    pub count: usize,
    /// The conversation's change counter for this change (set once stored).
    pub rev: i64,
}

pub trait Fanout: Send + Sync {
    /// Tells the other nodes of a stored message, if there are any; returns the
    /// encoded frame for `deliver` (`None`: nobody else to tell).
    fn announce(&self, conversation: &ConversationDoc, message: &MessageDoc) -> Option<Arc<str>>;

    /// Ready once every event announced so far has left this node.
    fn announced(&self) -> BoxFuture<'_, ()>;

    /// Delivers a stored message to this node's connections (and, when it was
    /// not `announce`d, to the other nodes too).
    fn deliver(
        &self,
        conversation: &ConversationDoc,
        message: &MessageDoc,
        announced: Option<&Arc<str>>,
    );

    /// A message found stored by a reload (a take-over, a late insert) that may
    /// never have been announced: to every node's connections.
    fn replayed(&self, conversation: &ConversationDoc, message: &MessageDoc);

    /// The user posted in the DM for the first time: from now on they show
    /// their presence there.
    fn revealed(&self, conversation: &ConversationId, user: &UserId);
}

/// The chat core's second fan-out port: changes to what is already there (an
/// edit, a deletion, a read marker, a membership), told to whoever listens.
/// The hub implements it (`realtime::changes`).
pub trait Changes: Send + Sync {
    /// A message's text changed.
    fn message_updated(&self, conversation: &ConversationDoc, message: &MessageDoc);

    /// A message was deleted.
    fn message_deleted(&self, conversation: &ConversationDoc, message: &MessageDoc);

    /// A reaction to `message` was added or removed: `change` is the delta (with
    /// its rev), `message` the state the batch it came in leaves the message in
    /// (its rev may be a later change's: copies merge by rev).
    fn reaction(
        &self,
        conversation: &ConversationDoc,
        message: &MessageDoc,
        change: &ReactionChange,
    );

    /// `caller` read the conversation up to `seq`.
    fn read(&self, conversation: &ConversationDoc, caller: &super::Caller, seq: i64);

    /// The user joined, was added to, left or was removed from the group.
    fn membership_changed(&self, group: &GroupId, user: &UserId, change: MembershipChange);
}
