//! The hub's way to the other nodes (`realtime::hub::Backplane`): each hub event
//! becomes a cluster event on the bus.

use std::sync::Arc;

use tokio::sync::oneshot;

use crate::ids::{ConversationId, UserId};
use crate::realtime::hub::{Audience, Backplane, Hub};
use crate::realtime::presence::Change;
use crate::store::messages::MessageDoc;

use super::Cluster;
use super::bus::Outgoing;
use super::wire::{Event, PresenceEvent, ReadMark, WireAudience};

/// The hub's way to the other nodes.
struct RedisBackplane(Arc<Cluster>);

impl Backplane for RedisBackplane {
    fn forward(&self, audience: &Audience, frame: &Arc<str>) {
        self.0.send(
            Event::Deliver {
                audience: WireAudience::from(audience),
                message: None,
                replayed: false,
                read: None,
            },
            frame,
        );
    }

    fn forward_message(&self, audience: &Audience, frame: &Arc<str>, message: &MessageDoc) {
        self.0.send(
            Event::Deliver {
                audience: WireAudience::from(audience),
                message: Some(message.clone()),
                replayed: false,
                read: None,
            },
            frame,
        );
    }

    fn forward_replayed(&self, audience: &Audience, frame: &Arc<str>, message: &MessageDoc) {
        self.0.send(
            Event::Deliver {
                audience: WireAudience::from(audience),
                message: Some(message.clone()),
                replayed: true,
                read: None,
            },
            frame,
        );
    }

    fn forward_read(
        &self,
        audience: &Audience,
        frame: &Arc<str>,
        conversation: &ConversationId,
        user: &UserId,
        seq: i64,
    ) {
        self.0.send(
            Event::Deliver {
                audience: WireAudience::from(audience),
                message: None,
                replayed: false,
                read: Some(ReadMark {
                    conversation: conversation.clone(),
                    user: user.clone(),
                    seq,
                }),
            },
            frame,
        );
    }

    fn has_other_nodes(&self) -> bool {
        true
    }

    fn barrier(&self) -> Option<oneshot::Receiver<bool>> {
        let (done, wait) = oneshot::channel();
        // A full outbox: the ack does not wait (as during a Redis outage).
        self.0.outbox.try_send(Outgoing::Barrier(done)).ok()?;
        Some(wait)
    }

    fn close_users(&self, users: &[UserId], code: u16) {
        self.0.send(
            Event::Close {
                users: users.to_vec(),
                code,
            },
            "",
        );
    }

    fn unsubscribe(&self, conversation: &ConversationId, user: &UserId) {
        self.0.send(
            Event::Unsubscribe {
                conversation: conversation.clone(),
                user: user.clone(),
            },
            "",
        );
    }

    fn presence(&self, change: &Change) {
        self.0
            .send(Event::Presence(PresenceEvent::from(change)), "");
    }
}

impl Cluster {
    /// The hub to build with this cluster: its presence merged across nodes.
    pub fn new_hub(self: &Arc<Self>) -> Hub {
        Hub::clustered(self.backplane(), &self.node)
    }

    /// The backplane to build the hub with.
    pub fn backplane(self: &Arc<Self>) -> Box<dyn Backplane> {
        Box::new(RedisBackplane(Arc::clone(self)))
    }
}
