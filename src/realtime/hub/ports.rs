//! The hub as the cores' ports: the chat core's fan-out (`Fanout`) and changes
//! (`Changes`), and the auth core's revocation (`Revoker`).

use std::sync::Arc;

use crate::chat::Caller;
use crate::chat::fanout::ReactionChange;
use crate::chat::fanout::{Changes, MembershipChange};
use crate::ids::GroupId;

use super::{
    ConversationDoc, ConversationId, Fanout, Hub, MessageDoc, Revoker, UserId, close_code,
};

/// The chat core's fan-out port (`chat::fanout`): this node's connections and,
/// through the backplane, the other nodes'.
impl Fanout for Hub {
    fn announce(&self, conversation: &ConversationDoc, message: &MessageDoc) -> Option<Arc<str>> {
        self.backplane
            .has_other_nodes()
            .then(|| self.message_created_remote(conversation, message))
    }

    fn announced(&self) -> futures_util::future::BoxFuture<'_, ()> {
        Box::pin(self.barrier())
    }

    fn deliver(
        &self,
        conversation: &ConversationDoc,
        message: &MessageDoc,
        announced: Option<&Arc<str>>,
    ) {
        match announced {
            Some(frame) => self.message_created_local(conversation, frame),
            None => self.message_created(conversation, message),
        }
    }

    fn replayed(&self, conversation: &ConversationDoc, message: &MessageDoc) {
        self.message_replayed(conversation, message);
    }

    fn revealed(&self, conversation: &ConversationId, user: &UserId) {
        self.reveal(conversation, user);
    }
}

/// The auth core's revocation port: every connection of the user, on every
/// node, is closed with 4001.
impl Revoker for Hub {
    fn revoked(&self, user: &UserId) {
        self.close_user(user, close_code::UNAUTHORIZED);
    }
}

/// The chat core's changes port (`chat::fanout::Changes`): edits, deletions,
/// read markers and membership changes, by the hub's own methods.
impl Changes for Hub {
    fn message_updated(&self, conversation: &ConversationDoc, message: &MessageDoc) {
        Hub::message_updated(self, conversation, message);
    }

    fn message_deleted(&self, conversation: &ConversationDoc, message: &MessageDoc) {
        Hub::message_deleted(self, conversation, message);
    }

    fn reaction(
        &self,
        conversation: &ConversationDoc,
        message: &MessageDoc,
        change: &ReactionChange,
    ) {
        Hub::reaction(self, conversation, message, change);
    }

    fn read(&self, conversation: &ConversationDoc, caller: &Caller, seq: i64) {
        Hub::read(self, conversation, caller, seq);
    }

    fn membership_changed(&self, group: &GroupId, user: &UserId, change: MembershipChange) {
        Hub::membership_changed(self, group, user, change);
    }
}
