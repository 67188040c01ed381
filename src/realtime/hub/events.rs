//! Event fan-out: who receives an event (`Audience`), encoding it once, delivering
//! the bytes to this node's connections and handing them to the backplane.

use std::sync::Arc;

use super::{
    Caller, ConnId, ConversationDoc, ConversationId, ConversationKind, GroupId, Hub,
    MembershipChange, MembershipFrame, MembershipStatus, MessageDeletedFrame, MessageDoc,
    MessageFrame, MessageUpdatedFrame, ReactionChange, ReactionFrame, ReadEventFrame, ServerFrame,
    TypingFrame, UserId, UserRef, encode,
};

/// Who receives an event.
#[derive(Debug, Clone)]
pub enum Audience {
    /// Every connection that has joined the conversation's room.
    Room(ConversationId),
    /// Every connection of these users, joined or not (DMs, membership events).
    Users(Vec<UserId>),
}

impl Hub {
    /// The one way out for events: local delivery, then the backplane.
    pub fn publish(&self, audience: Audience, frame: &ServerFrame) {
        let bytes = encode(frame);
        self.deliver_local(&audience, &bytes, None);
        self.backplane.forward(&audience, &bytes);
    }

    /// Delivers already-encoded bytes to this node's connections.
    pub fn deliver_local(&self, audience: &Audience, frame: &Arc<str>, except: Option<ConnId>) {
        match audience {
            Audience::Room(conversation) => self.deliver_room(conversation, frame, except),
            Audience::Users(ids) => {
                for id in ids {
                    if let Some(conns) = self.users.get(id) {
                        for conn in conns.values().filter(|c| Some(c.id) != except) {
                            conn.deliver(frame);
                        }
                    }
                }
            }
        }
    }

    pub(super) fn deliver_room(
        &self,
        conversation: &ConversationId,
        frame: &Arc<str>,
        except: Option<ConnId>,
    ) {
        if let Some(room) = self.rooms.get(conversation) {
            for conn in room.conns.values().filter(|c| Some(c.id) != except) {
                conn.deliver(frame);
            }
        }
    }

    /// Who hears about activity in a conversation.
    fn audience_of(conversation: &ConversationDoc) -> Audience {
        match conversation.kind {
            ConversationKind::Direct => Audience::Users(conversation.participants.clone()),
            ConversationKind::Group => Audience::Room(conversation.id.clone()),
        }
    }

    /// Like `publish`, for events that change a message.
    fn publish_message(&self, audience: Audience, frame: &ServerFrame, message: &MessageDoc) {
        let bytes = encode(frame);
        self.deliver_local(&audience, &bytes, None);
        self.backplane.forward_message(&audience, &bytes, message);
    }

    pub fn message_created(&self, conversation: &ConversationDoc, message: &MessageDoc) {
        self.publish_message(
            Self::audience_of(conversation),
            &ServerFrame::Message(MessageFrame::from(message)),
            message,
        );
    }

    /// `message_created` for a message found by a take-over (see
    /// `Backplane::forward_replayed`).
    pub fn message_replayed(&self, conversation: &ConversationDoc, message: &MessageDoc) {
        let audience = Self::audience_of(conversation);
        let bytes = encode(&ServerFrame::Message(MessageFrame::from(message)));
        self.deliver_local(&audience, &bytes, None);
        self.backplane.forward_replayed(&audience, &bytes, message);
    }

    /// The other nodes' half of `message_created` (cluster mode: the writer
    /// announces a batch to them, waits for `barrier`, then delivers here).
    /// Returns the encoded frame, for `message_created_local`.
    pub fn message_created_remote(
        &self,
        conversation: &ConversationDoc,
        message: &MessageDoc,
    ) -> Arc<str> {
        let bytes = encode(&ServerFrame::Message(MessageFrame::from(message)));
        self.backplane
            .forward_message(&Self::audience_of(conversation), &bytes, message);
        bytes
    }

    /// This node's half of `message_created`: the frame already encoded.
    pub fn message_created_local(&self, conversation: &ConversationDoc, frame: &Arc<str>) {
        self.deliver_local(&Self::audience_of(conversation), frame, None);
    }

    /// Waits until what was forwarded so far has left this node (cluster mode).
    pub async fn barrier(&self) {
        if let Some(done) = self.backplane.barrier()
            && !done.await.unwrap_or(false)
        {
            tracing::debug!("cluster events given up before a barrier");
        }
    }

    pub fn message_updated(&self, conversation: &ConversationDoc, message: &MessageDoc) {
        self.publish_message(
            Self::audience_of(conversation),
            &ServerFrame::MessageUpdated(MessageUpdatedFrame {
                message: MessageFrame::from(message),
            }),
            message,
        );
    }

    pub fn message_deleted(&self, conversation: &ConversationDoc, message: &MessageDoc) {
        let frame = MessageDeletedFrame::from(message);
        self.publish_message(
            Self::audience_of(conversation),
            &ServerFrame::MessageDeleted(frame),
            message,
        );
    }

    /// A reaction's delta to the room; the other nodes get the message as it
    /// now is too, for their copies (as for an edit).
    pub fn reaction(
        &self,
        conversation: &ConversationDoc,
        message: &MessageDoc,
        change: &ReactionChange,
    ) {
        let frame = ReactionFrame {
            conversation: conversation.id.clone(),
            message: message.id.clone(),
            emoji: change.emoji.clone(),
            user: UserRef {
                id: change.user.id.clone(),
                username: change.user.username.clone(),
            },
            on: change.on,
            count: i64::try_from(change.count).unwrap_or(i64::MAX),
            rev: change.rev,
        };
        self.publish_message(
            Self::audience_of(conversation),
            &ServerFrame::Reaction(frame),
            message,
        );
    }

    pub fn read(&self, conversation: &ConversationDoc, caller: &Caller, seq: i64) {
        let user = UserRef {
            id: caller.id.clone(),
            username: caller.username.clone(),
        };
        let frame = ReadEventFrame {
            conversation: conversation.id.clone(),
            user,
            seq,
        };
        let audience = Self::audience_of(conversation);
        let bytes = encode(&ServerFrame::Read(frame));
        self.deliver_local(&audience, &bytes, None);
        self.backplane
            .forward_read(&audience, &bytes, &conversation.id, &caller.id, seq);
    }

    /// Typing notices go to the room (or the DM's users), not back to the typist.
    pub fn typing(&self, conversation: &ConversationDoc, user: &UserRef, from: ConnId) {
        let frame = encode(&ServerFrame::Typing(TypingFrame {
            conversation: conversation.id.clone(),
            user: user.clone(),
        }));
        let audience = Self::audience_of(conversation);
        self.deliver_local(&audience, &frame, Some(from));
        self.backplane.forward(&audience, &frame);
    }

    /// Tells the user, and on removal unsubscribes every connection of theirs from
    /// the room at once.
    pub fn membership_changed(
        &self,
        group_id: &GroupId,
        user_id: &UserId,
        change: MembershipChange,
    ) {
        let (status, role) = match change {
            MembershipChange::Added(role) => (MembershipStatus::Added, Some(role)),
            MembershipChange::Removed => (MembershipStatus::Removed, None),
        };
        let room = group_id.conversation();
        if let MembershipChange::Removed = change {
            self.unsubscribe_local(&room, user_id);
            self.backplane.unsubscribe(&room, user_id);
        }
        let frame = MembershipFrame {
            conversation: room,
            status,
            role,
        };
        self.publish(
            Audience::Users(vec![user_id.clone()]),
            &ServerFrame::Membership(frame),
        );
    }
}
