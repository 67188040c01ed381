//! Rooms, fan-out and presence for the connections of this node.
//!
//! Fan-out is built for speed: an event is serialised once and the same bytes go
//! to every recipient; delivery is a non-blocking `try_send` into each connection's
//! bounded queue, so a slow socket is never awaited (a full queue closes that
//! connection with 4009 instead); rooms live in a sharded map, so lookups take no
//! global lock.
//!
//! Scale-out: every event leaves through `Hub::publish`, which delivers locally and
//! hands the same bytes to a `Backplane` (`LocalOnly` alone, Redis in cluster
//! mode), whose other nodes call `deliver_local`. Presence is computed from
//! per-node facts (which users have a connection joined to which room). Alone,
//! this node's facts are all there is. In cluster mode (`Hub::clustered`) the
//! node's transitions go to the others through the backplane, and presence is
//! announced and answered from the merged view (`presence::Merged`).

use crate::ids::{ConversationId, GroupId, UserId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use tokio::sync::{mpsc, watch};

use super::presence::{Change, Merged, Snapshot, Transition};
use super::protocol::{
    MembershipFrame, MembershipStatus, MessageDeletedFrame, MessageFrame, MessageUpdatedFrame,
    PresenceFrame, PresenceStatus, ReadEventFrame, ServerFrame, TypingFrame, UserRef, encode,
};
use crate::auth::Revoker;
use crate::chat::Caller;
use crate::chat::fanout::{Fanout, MembershipChange};
use crate::limits::OUTBOUND_QUEUE;
use crate::store::conversations::{ConversationDoc, ConversationKind};
use crate::store::messages::MessageDoc;

pub type ConnId = u64;

/// WebSocket close codes the hub asks for.
pub mod close_code {
    pub const SHUTDOWN: u16 = 1001;
    pub const POLICY: u16 = 1008;
    pub const UNAUTHORIZED: u16 = 4001;
    pub const FORBIDDEN: u16 = 4003;
    pub const RATE_LIMITED: u16 = 4008;
    pub const TOO_SLOW: u16 = 4009;
}

/// Who receives an event.
#[derive(Debug, Clone)]
pub enum Audience {
    /// Every connection that has joined the conversation's room.
    Room(ConversationId),
    /// Every connection of these users, joined or not (DMs, membership events).
    Users(Vec<UserId>),
}

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
    fn clustered(&self) -> bool {
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

/// The hub's side of one connection.
pub struct Conn {
    pub id: ConnId,
    pub user: UserRef,
    tx: mpsc::Sender<Arc<str>>,
    close: watch::Sender<Option<u16>>,
}

impl Conn {
    /// Queues a frame without waiting; a full queue closes the connection (4009).
    fn deliver(&self, frame: &Arc<str>) -> bool {
        match self.tx.try_send(frame.clone()) {
            Ok(()) => {
                metrics::counter!("confab_ws_deliveries_total").increment(1);
                true
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                if self.close.borrow().is_none() {
                    tracing::warn!(conn = self.id, user_id = %self.user.id, "slow consumer: outbound queue full, closing with 4009");
                    metrics::counter!("confab_ws_slow_consumers_total").increment(1);
                }
                self.close(close_code::TOO_SLOW);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Queues a frame for this connection only (replies: ack, joined, error, pong).
    pub fn send(&self, frame: &ServerFrame) -> bool {
        self.deliver(&encode(frame))
    }

    /// Asks the session to close with `code` (the first request wins).
    pub fn close(&self, code: u16) {
        self.close.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(code);
                true
            } else {
                false
            }
        });
    }
}

pub type ConnHandle = Arc<Conn>;

/// What a session gets back when it registers.
pub struct Registration {
    pub conn: ConnHandle,
    pub outbound: mpsc::Receiver<Arc<str>>,
    pub close_requests: watch::Receiver<Option<u16>>,
}

#[derive(Default)]
struct RoomState {
    conns: HashMap<ConnId, ConnHandle>,
    /// Joined connections per user: a user is present while this is > 0.
    per_user: HashMap<UserId, (UserRef, usize)>,
    /// Connections that receive the room but show no presence there (a DM
    /// participant who has not written in it: `join_as`).
    hidden: std::collections::HashSet<ConnId>,
}

pub struct Hub {
    users: DashMap<UserId, HashMap<ConnId, ConnHandle>>,
    rooms: DashMap<ConversationId, RoomState>,
    next_id: AtomicU64,
    backplane: Box<dyn Backplane>,
    /// Cluster mode: presence merged across nodes. Lock order: this, then a
    /// room or user entry (never the other way round).
    merged: Option<Mutex<Merged>>,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new(Box::new(LocalOnly))
    }
}

/// The chat core's fan-out port (`chat::fanout`): this node's connections and,
/// through the backplane, the other nodes'.
impl Fanout for Hub {
    fn announce(&self, conversation: &ConversationDoc, message: &MessageDoc) -> Option<Arc<str>> {
        self.backplane
            .clustered()
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

impl Hub {
    pub fn new(backplane: Box<dyn Backplane>) -> Self {
        Self {
            users: DashMap::new(),
            rooms: DashMap::new(),
            next_id: AtomicU64::new(1),
            backplane,
            merged: None,
        }
    }

    /// A hub that is one node of several: presence is merged across nodes, with
    /// this node's transitions told to the others through the backplane.
    pub fn clustered(backplane: Box<dyn Backplane>, node: &str) -> Self {
        Self {
            merged: Some(Mutex::new(Merged::new(node))),
            ..Self::new(backplane)
        }
    }

    fn merged(&self) -> Option<MutexGuard<'_, Merged>> {
        self.merged
            .as_ref()
            .map(|m| m.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Applies a transition of this node and tells the other nodes.
    fn local_change(&self, merged: &mut Merged, change: Change) -> Option<Transition> {
        self.backplane.presence(&change);
        merged.apply_mine(&change)
    }

    /// Registers a connection of `user` unless they already hold `limit`; the check
    /// and the insert happen under one map-entry lock, so parallel upgrades cannot
    /// overshoot.
    pub fn try_register(&self, user: UserRef, limit: usize) -> Option<Registration> {
        let mut merged = self.merged();
        let mut conns = self.users.entry(user.id.clone()).or_default();
        if conns.len() >= limit {
            drop(conns);
            self.users.remove_if(&user.id, |_, c| c.is_empty());
            return None;
        }
        if conns.is_empty()
            && let Some(merged) = merged.as_deref_mut()
        {
            self.local_change(merged, Change::Connected(user.id.clone()));
        }
        let (tx, outbound) = mpsc::channel(OUTBOUND_QUEUE);
        let (close, close_requests) = watch::channel(None);
        let conn = Arc::new(Conn {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            user,
            tx,
            close,
        });
        conns.insert(conn.id, conn.clone());
        metrics::gauge!("confab_ws_connections").increment(1.0);
        Some(Registration {
            conn,
            outbound,
            close_requests,
        })
    }

    /// Forgets a connection: leaves its rooms (announcing presence) and its user.
    pub fn unregister(&self, conn: &ConnHandle, rooms: impl IntoIterator<Item = ConversationId>) {
        let mut merged = self.merged();
        for room in rooms {
            self.leave_matching(merged.as_deref_mut(), &room, |id, _| id == conn.id);
        }
        if let Some(mut conns) = self.users.get_mut(&conn.user.id) {
            conns.remove(&conn.id);
        }
        let last = self
            .users
            .remove_if(&conn.user.id, |_, conns| conns.is_empty())
            .is_some();
        if last && let Some(merged) = merged.as_deref_mut() {
            self.local_change(merged, Change::Disconnected(conn.user.id.clone()));
        }
        metrics::gauge!("confab_ws_connections").decrement(1.0);
    }

    /// Adds a connection to a room; returns who is online there now. The user's
    /// first connection in the room announces them online to the others.
    pub fn join(&self, conversation: &ConversationId, conn: &ConnHandle) -> Vec<UserRef> {
        self.join_as(conversation, conn, true)
    }

    /// `join`; with `visible` false the connection receives the room but is not
    /// counted or announced as present in it (a DM participant who has not
    /// written there yet: opening a DM must not reveal whether the other is
    /// online, docs/security.md).
    pub fn join_as(
        &self,
        conversation: &ConversationId,
        conn: &ConnHandle,
        visible: bool,
    ) -> Vec<UserRef> {
        let mut merged = self.merged();
        let (online, announce) = {
            let mut room = self.rooms.entry(conversation.to_owned()).or_default();
            let already = room.conns.insert(conn.id, conn.clone()).is_some();
            let mut announce = false;
            if !already && !visible {
                room.hidden.insert(conn.id);
            } else if !already {
                let entry = room
                    .per_user
                    .entry(conn.user.id.clone())
                    .or_insert_with(|| (conn.user.clone(), 0));
                entry.1 += 1;
                announce = entry.1 == 1;
            }
            let online: Vec<UserRef> = room.per_user.values().map(|(u, _)| u.clone()).collect();
            (online, announce)
        };
        let Some(merged) = merged.as_deref_mut() else {
            if announce {
                self.presence(
                    conversation,
                    &conn.user,
                    PresenceStatus::Online,
                    Some(conn.id),
                );
            }
            return online;
        };
        if announce {
            let change = Change::Joined {
                conversation: conversation.to_owned(),
                user: conn.user.clone(),
            };
            if let Some(transition) = self.local_change(merged, change) {
                self.announce(&transition, Some(conn.id));
            }
        }
        merged.room_online(conversation)
    }

    /// `user` has written in the DM `conversation`: their connections that joined
    /// it hidden (`join_as`) become present there, announced as usual. Called under
    /// the conversation's lock, so no message of the room is fanned out meanwhile.
    pub fn reveal(&self, conversation: &ConversationId, user: &UserId) {
        let hidden: Vec<ConnHandle> = match self.rooms.get_mut(conversation) {
            Some(mut room) => {
                let ids: Vec<ConnId> = room
                    .hidden
                    .iter()
                    .copied()
                    .filter(|id| room.conns.get(id).is_some_and(|c| &c.user.id == user))
                    .collect();
                ids.into_iter()
                    .filter_map(|id| {
                        room.hidden.remove(&id);
                        room.conns.remove(&id)
                    })
                    .collect()
            }
            None => return,
        };
        for conn in hidden {
            self.join_as(conversation, &conn, true);
        }
    }

    /// Removes a connection from a room; the user's last one announces them offline.
    pub fn leave(&self, conversation: &ConversationId, conn: &ConnHandle) {
        let mut merged = self.merged();
        self.leave_matching(merged.as_deref_mut(), conversation, |id, _| id == conn.id);
    }

    /// Removes the matching connections from the room, announcing the users who
    /// went offline (alone: from this node; in cluster mode: from every node).
    fn leave_matching(
        &self,
        mut merged: Option<&mut Merged>,
        conversation: &ConversationId,
        matches: impl Fn(ConnId, &Conn) -> bool,
    ) {
        for user in self.remove_from_room(conversation, matches) {
            match merged.as_deref_mut() {
                None => self.presence(conversation, &user, PresenceStatus::Offline, None),
                Some(merged) => {
                    let change = Change::Left {
                        conversation: conversation.to_owned(),
                        user: user.id,
                    };
                    if let Some(transition) = self.local_change(merged, change) {
                        self.announce(&transition, None);
                    }
                }
            }
        }
    }

    /// Removes the matching connections; returns the users who went offline.
    fn remove_from_room(
        &self,
        conversation: &ConversationId,
        matches: impl Fn(ConnId, &Conn) -> bool,
    ) -> Vec<UserRef> {
        let mut gone = Vec::new();
        if let Some(mut room) = self.rooms.get_mut(conversation) {
            let removed: Vec<ConnHandle> = room
                .conns
                .values()
                .filter(|c| matches(c.id, c))
                .cloned()
                .collect();
            for conn in removed {
                room.conns.remove(&conn.id);
                if room.hidden.remove(&conn.id) {
                    continue;
                }
                if let Some(entry) = room.per_user.get_mut(&conn.user.id) {
                    entry.1 = entry.1.saturating_sub(1);
                    if entry.1 == 0 {
                        room.per_user.remove(&conn.user.id);
                        gone.push(conn.user.clone());
                    }
                }
            }
        }
        self.rooms
            .remove_if(conversation, |_, room| room.conns.is_empty());
        gone
    }

    fn presence(
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

    fn announce(&self, transition: &Transition, except: Option<ConnId>) {
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

    /// How many live connections the user has on this node.
    pub fn user_connections(&self, user_id: &UserId) -> usize {
        self.users.get(user_id).map_or(0, |conns| conns.len())
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

    fn deliver_room(
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
        let frame = MessageDeletedFrame {
            conversation: message.conversation_id.clone(),
            id: message.id.clone(),
            seq: message.seq,
        };
        self.publish_message(
            Self::audience_of(conversation),
            &ServerFrame::MessageDeleted(frame),
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

    /// Takes the user's connections on this node out of the room, announcing
    /// them offline there.
    pub fn unsubscribe_local(&self, room: &ConversationId, user_id: &UserId) {
        let mut merged = self.merged();
        self.leave_matching(merged.as_deref_mut(), room, |_, c| &c.user.id == user_id);
    }

    /// Closes every connection of the user (token revocation), on every node.
    pub fn close_user(&self, user_id: &UserId, code: u16) {
        self.close_user_local(user_id, code);
        self.backplane
            .close_users(std::slice::from_ref(user_id), code);
    }

    /// Closes the user's connections on this node.
    pub fn close_user_local(&self, user_id: &UserId, code: u16) {
        if let Some(conns) = self.users.get(user_id) {
            for conn in conns.values() {
                conn.close(code);
            }
        }
    }

    /// Closes every connection (graceful shutdown).
    pub fn close_all(&self, code: u16) {
        for conns in self.users.iter() {
            for conn in conns.values() {
                conn.close(code);
            }
        }
    }

    /// Connections, users and joined rooms on this node.
    pub fn presence_counts(&self) -> (usize, usize, usize) {
        (self.connection_count(), self.users.len(), self.rooms.len())
    }

    pub fn connection_count(&self) -> usize {
        self.users.iter().map(|c| c.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str) -> UserRef {
        UserRef {
            id: id.into(),
            username: format!("{id}-name"),
        }
    }

    fn register(hub: &Hub, id: &str) -> Registration {
        hub.try_register(user(id), usize::MAX).expect("no cap")
    }

    fn drain(rx: &mut mpsc::Receiver<Arc<str>>) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(frame) = rx.try_recv() {
            out.push(frame.to_string());
        }
        out
    }

    #[test]
    fn presence_changes_only_on_the_first_and_last_connection_of_a_user() {
        let hub = Hub::default();
        let mut watcher = register(&hub, "w");
        hub.join(&"room".into(), &watcher.conn);
        let a1 = register(&hub, "a");
        let a2 = register(&hub, "a");
        hub.join(&"room".into(), &a1.conn);
        hub.join(&"room".into(), &a2.conn);
        let frames = drain(&mut watcher.outbound);
        assert_eq!(
            frames
                .iter()
                .filter(|f| f.contains(r#""status":"online""#))
                .count(),
            1,
            "{frames:?}"
        );
        hub.leave(&"room".into(), &a1.conn);
        assert!(
            drain(&mut watcher.outbound).is_empty(),
            "a second tab leaving is not offline"
        );
        hub.unregister(&a2.conn, ["room".into()]);
        let frames = drain(&mut watcher.outbound);
        assert_eq!(frames.len(), 1);
        assert!(frames[0].contains(r#""status":"offline""#));
        assert_eq!(hub.room_online(&"room".into()), vec![user("w")]);
        assert!(
            hub.is_online(&"a".into()),
            "a1 is still connected, just not in the room"
        );
        hub.unregister(&a1.conn, Vec::new());
        assert!(!hub.is_online(&"a".into()));
    }

    /// A backplane that keeps this node's presence transitions, for another hub.
    #[derive(Default, Clone)]
    struct Recorded(Arc<std::sync::Mutex<Vec<Change>>>);

    impl Backplane for Recorded {
        fn forward(&self, _audience: &Audience, _frame: &Arc<str>) {}
        fn presence(&self, change: &Change) {
            self.0.lock().unwrap().push(change.clone());
        }
    }

    impl Recorded {
        /// Hands what was recorded to `to` as node `from`'s transitions.
        fn deliver(&self, from: &str, to: &Hub) {
            for change in self.0.lock().unwrap().drain(..) {
                to.remote_presence(from, &change);
            }
        }
    }

    fn statuses(frames: &[String]) -> Vec<&'static str> {
        frames
            .iter()
            .filter_map(|f| {
                if f.contains(r#""status":"online""#) {
                    Some("online")
                } else if f.contains(r#""status":"offline""#) {
                    Some("offline")
                } else {
                    None
                }
            })
            .collect()
    }

    #[test]
    fn clustered_hubs_announce_a_user_with_tabs_on_both_once_online_and_once_offline() {
        let (to_b, to_a) = (Recorded::default(), Recorded::default());
        let a = Hub::clustered(Box::new(to_b.clone()), "a");
        let b = Hub::clustered(Box::new(to_a.clone()), "b");
        let mut watcher_a = register(&a, "wa");
        let mut watcher_b = register(&b, "wb");
        a.join(&"r".into(), &watcher_a.conn);
        b.join(&"r".into(), &watcher_b.conn);
        to_b.deliver("a", &b);
        to_a.deliver("b", &a);
        drain(&mut watcher_a.outbound);
        drain(&mut watcher_b.outbound);

        let tab_a = register(&a, "u");
        let online = a.join(&"r".into(), &tab_a.conn);
        to_b.deliver("a", &b);
        assert_eq!(online.len(), 3, "wa, wb and u: {online:?}");
        let tab_b = register(&b, "u");
        b.join(&"r".into(), &tab_b.conn);
        to_a.deliver("b", &a);
        assert_eq!(statuses(&drain(&mut watcher_a.outbound)), ["online"]);
        assert_eq!(statuses(&drain(&mut watcher_b.outbound)), ["online"]);

        a.unregister(&tab_a.conn, ["r".into()]);
        to_b.deliver("a", &b);
        assert!(statuses(&drain(&mut watcher_a.outbound)).is_empty());
        assert!(statuses(&drain(&mut watcher_b.outbound)).is_empty());
        assert!(a.is_online(&"u".into()), "still connected to b");

        b.unregister(&tab_b.conn, ["r".into()]);
        to_a.deliver("b", &a);
        assert_eq!(statuses(&drain(&mut watcher_a.outbound)), ["offline"]);
        assert_eq!(statuses(&drain(&mut watcher_b.outbound)), ["offline"]);
        assert!(!a.is_online(&"u".into()) && !b.is_online(&"u".into()));
        assert_eq!(a.room_online(&"r".into()).len(), 2);
    }

    #[test]
    fn a_full_queue_closes_only_the_slow_connection() {
        let hub = Hub::default();
        let slow = register(&hub, "slow");
        let mut fast = register(&hub, "fast");
        hub.join(&"r".into(), &slow.conn);
        hub.join(&"r".into(), &fast.conn);
        drain(&mut fast.outbound);
        for _ in 0..OUTBOUND_QUEUE + 1 {
            hub.publish(
                Audience::Room("r".into()),
                &ServerFrame::Pong(Default::default()),
            );
            drain(&mut fast.outbound);
        }
        assert_eq!(*slow.close_requests.borrow(), Some(close_code::TOO_SLOW));
        assert_eq!(*fast.close_requests.borrow(), None);
    }

    #[test]
    fn removal_from_a_group_unsubscribes_every_connection_of_the_user() {
        let hub = Hub::default();
        let mut kicked = register(&hub, "k");
        hub.join(&"g".into(), &kicked.conn);
        hub.membership_changed(&"g".into(), &"k".into(), MembershipChange::Removed);
        let frames = drain(&mut kicked.outbound);
        assert!(
            frames
                .iter()
                .any(|f| f.contains(r#""type":"membership""#) && f.contains("removed")),
            "{frames:?}"
        );
        hub.publish(
            Audience::Room("g".into()),
            &ServerFrame::Pong(Default::default()),
        );
        assert!(drain(&mut kicked.outbound).is_empty());
    }
}
