//! The hub's side of presence: announcing who came online or went offline in a
//! room, answering who is online, and in cluster mode taking in the other nodes'
//! presence (the merged view itself is `realtime::presence::Merged`).

use std::time::{Duration, Instant};

use super::{
    Change, ConnId, ConversationId, Hub, PresenceFrame, PresenceStatus, ServerFrame, Snapshot,
    Transition, UserId, UserRef, encode,
};

impl Hub {
    pub(super) fn presence(
        &self,
        conversation: &ConversationId,
        user: &UserRef,
        status: PresenceStatus,
        except: Option<ConnId>,
    ) {
        let frame = encode(&ServerFrame::Presence(PresenceFrame {
            conversation: conversation.to_owned(),
            user: user.clone(),
            status,
        }));
        self.deliver_room(conversation, &frame, except);
    }

    pub(super) fn announce(&self, transition: &Transition, except: Option<ConnId>) {
        self.presence(
            &transition.conversation,
            &transition.user,
            transition.status,
            except,
        );
    }

    /// Cluster mode: another node's presence transition, announced here if it
    /// changes the merged view. Returns whether that node was unknown (its
    /// state is to be asked for).
    pub fn remote_presence(&self, node: &str, change: &Change) -> bool {
        let Some(mut merged) = self.merged() else {
            return false;
        };
        let unknown = merged.heard(node, Instant::now());
        if let Some(transition) = merged.apply(node, change) {
            self.announce(&transition, None);
        }
        unknown
    }

    /// Cluster mode: another node's whole presence, replacing what was known of
    /// it; only the differences are announced.
    pub fn remote_snapshot(&self, node: &str, snapshot: &Snapshot) {
        let Some(mut merged) = self.merged() else {
            return;
        };
        merged.heard(node, Instant::now());
        for transition in merged.replace(node, snapshot) {
            self.announce(&transition, None);
        }
    }

    /// Cluster mode: another node's heartbeat, with how many transitions it has
    /// sent. Returns whether its state is to be asked for: the node was unknown,
    /// or a transition of its never arrived here.
    pub fn remote_heartbeat(&self, node: &str, seq: u64) -> bool {
        self.merged().is_some_and(|mut merged| {
            let unknown = merged.heard(node, Instant::now());
            unknown || !merged.in_step(node, seq)
        })
    }

    /// Cluster mode: hands how many transitions this node has sent to `send`,
    /// under the lock that orders them (so a heartbeat counts exactly the
    /// transitions queued before it).
    pub fn presence_heartbeat(&self, send: impl FnOnce(u64)) {
        if let Some(merged) = self.merged() {
            send(merged.sent());
        }
    }

    /// Cluster mode: drops the nodes not heard from for `ttl`, announcing their
    /// users offline where no other node has them.
    pub fn expire_nodes(&self, ttl: Duration) {
        let Some(mut merged) = self.merged() else {
            return;
        };
        let transitions = merged.expire(Instant::now(), ttl);
        for transition in transitions {
            self.announce(&transition, None);
        }
    }

    /// Cluster mode: counts every known node as heard from now (this node could
    /// not hear them for a while; that is not their death).
    pub fn presence_resumed(&self) {
        if let Some(mut merged) = self.merged() {
            merged.touch_all(Instant::now());
        }
    }

    /// Cluster mode: hands this node's presence to `send` under the lock that
    /// orders its transitions, so the snapshot takes its place among them.
    pub fn presence_snapshot(&self, send: impl FnOnce(Snapshot)) {
        if let Some(merged) = self.merged() {
            send(merged.snapshot());
        }
    }

    /// Users with a connection joined to the room (in cluster mode: on any node).
    pub fn room_online(&self, conversation: &ConversationId) -> Vec<UserRef> {
        if let Some(merged) = self.merged() {
            return merged.room_online(conversation);
        }
        self.rooms
            .get(conversation)
            .map(|room| room.per_user.values().map(|(u, _)| u.clone()).collect())
            .unwrap_or_default()
    }

    /// Whether the user has any live connection (in cluster mode: on any node).
    pub fn is_online(&self, user_id: &UserId) -> bool {
        if let Some(merged) = self.merged() {
            return merged.is_online(user_id);
        }
        self.users
            .get(user_id)
            .is_some_and(|conns| !conns.is_empty())
    }
}
