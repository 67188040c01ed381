//! The hub as the chat core's `Changes` port: edits, deletions, read markers and
//! membership changes, told to this node's connections and (cluster mode) the
//! other nodes, by the hub's own methods.

use super::hub::Hub;
use crate::chat::Caller;
use crate::chat::fanout::{Changes, MembershipChange};
use crate::ids::{GroupId, UserId};
use crate::store::conversations::ConversationDoc;
use crate::store::messages::MessageDoc;

impl Changes for Hub {
    fn message_updated(&self, conversation: &ConversationDoc, message: &MessageDoc) {
        Hub::message_updated(self, conversation, message);
    }

    fn message_deleted(&self, conversation: &ConversationDoc, message: &MessageDoc) {
        Hub::message_deleted(self, conversation, message);
    }

    fn read(&self, conversation: &ConversationDoc, caller: &Caller, seq: i64) {
        Hub::read(self, conversation, caller, seq);
    }

    fn membership_changed(&self, group: &GroupId, user: &UserId, change: MembershipChange) {
        Hub::membership_changed(self, group, user, change);
    }
}
