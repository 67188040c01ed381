//! Rooms, fan-out and presence for the connections of this node.
//!
//! Fan-out is built for speed: an event is serialised once and the same bytes go
//! to every recipient; delivery is a non-blocking `try_send` into each connection's
//! bounded queue, so a slow socket is never awaited (a full queue closes that
//! connection with 4009 instead); rooms live in a sharded map, so lookups take no
//! global lock.
//!
//! Scale-out: an event is encoded once; the bytes are delivered to this node's
//! connections (`deliver_local`) and handed to a `Backplane` (`LocalOnly` alone,
//! Redis in cluster mode), whose other nodes call `deliver_local` with them.
//! `Hub::publish` is that path for an event with nothing more to tell (a
//! membership change); the other events call `deliver_local` and their own
//! `Backplane` method, which carries what the other nodes need besides the bytes:
//! message events (created, edited, deleted) go through `forward_message` with
//! the message, a message a take-over found through `forward_replayed`, a read
//! marker through `forward_read`; a typing notice goes through plain `forward`
//! but is not delivered back to the typist's connection. In cluster mode a new
//! message's event leaves in two halves (`chat::fanout::Fanout`): forwarded first
//! (`message_created_remote`), delivered here once the backplane's `barrier`
//! says it has left this node (`message_created_local`). Revocations and
//! removals reach the other nodes as `Backplane::close_users` and
//! `Backplane::unsubscribe`; replies to one connection (`Conn::send`) go to it
//! alone. Presence frames never cross the backplane: each node announces them
//! to its own connections, as follows.
//!
//! Presence is computed from per-node facts (which users have a connection
//! joined to which room). Alone, this node's facts are all there is. In cluster
//! mode (`Hub::clustered`) the node's transitions go to the others through the
//! backplane, and presence is announced and answered from the merged view
//! (`realtime::presence::Merged`).
//!
//! This file holds the `Hub` itself: its construction and the registry of this
//! node's connections (`Conn`, registering, closing). The rest is in further
//! `impl Hub` blocks, one concern each: `rooms` (joining and leaving rooms),
//! `events` (encoding an event once and delivering it), `presence` (announcing
//! and answering presence, merging the other nodes'), `ports` (the chat core's
//! `Fanout` and the auth core's `Revoker`); `backplane` is the way to the other
//! nodes, `tests` the unit tests.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use dashmap::DashMap;
use tokio::sync::{mpsc, watch};

// The hub's imports from the rest of the crate, made once here for this file
// and its children (`use super::{…}`): what the hub depends on reads in one
// place, and scripts/layers, which reads this file as `realtime::hub`, sees it.
use super::presence::{Change, Merged, Snapshot, Transition};
use super::protocol::{
    MembershipFrame, MembershipStatus, MessageDeletedFrame, MessageFrame, MessageUpdatedFrame,
    PresenceFrame, PresenceStatus, ReactionFrame, ReadEventFrame, ServerFrame, TypingFrame,
    UserRef, encode,
};
use crate::auth::Revoker;
use crate::chat::Caller;
use crate::chat::fanout::ReactionChange;
use crate::chat::fanout::{Fanout, MembershipChange};
use crate::ids::{ConversationId, GroupId, UserId};
use crate::limits::OUTBOUND_QUEUE;
use crate::store::conversations::{ConversationDoc, ConversationKind};
use crate::store::messages::MessageDoc;

mod backplane;
mod events;
mod ports;
mod presence;
mod rooms;
#[cfg(test)]
mod tests;

pub use backplane::{Backplane, LocalOnly};
pub use events::Audience;
use rooms::RoomState;

pub type ConnId = u64;

/// WebSocket close codes the hub asks for.
/// Every close code confab sends lives here.
pub mod close_code {
    pub const SHUTDOWN: u16 = 1001;
    /// A text frame that is not UTF-8 (RFC 6455).
    pub const INVALID_DATA: u16 = 1007;
    pub const POLICY: u16 = 1008;
    /// A frame over `limits::MAX_FRAME_BYTES` (RFC 6455: message too big).
    pub const TOO_BIG: u16 = 1009;
    /// This node may have missed events (cluster mode: a Redis blip, a gap in
    /// another node's event numbers): rejoin with `since` (RFC 6455: service
    /// restart).
    pub const RESYNC: u16 = 1012;
    pub const UNAUTHORIZED: u16 = 4001;
    pub const FORBIDDEN: u16 = 4003;
    pub const RATE_LIMITED: u16 = 4008;
    pub const TOO_SLOW: u16 = 4009;
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

    /// How many live connections the user has on this node.
    pub fn user_connections(&self, user_id: &UserId) -> usize {
        self.users.get(user_id).map_or(0, |conns| conns.len())
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
