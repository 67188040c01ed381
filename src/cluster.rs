//! Cluster mode: several confab nodes sharing one Redis (`REDIS_URL`).
//!
//! What crosses nodes today, through one Redis pub/sub channel
//! (`<REDIS_NAMESPACE>:events`):
//! - every hub event (`Hub::publish`): each node delivers it to its own
//!   connections, so a member connected to another node gets the message, edit,
//!   delete, typing, read marker, presence change or membership change;
//! - revocation: `Hub::close_user` (logout-all, password or role change, disable)
//!   closes the user's sockets on every node;
//! - removal from a group: the member's sockets leave the room on every node.
//!
//! One publisher task per node sends events in the order the hub published them
//! (one connection: Redis keeps that order for every subscriber). One subscriber
//! task receives the other nodes' events. Either task reconnects by itself when
//! Redis goes away. Events published while Redis is unreachable are lost to the
//! other nodes, so when the subscription comes back after a loss, the node closes
//! its sockets with 1012 (service restart): clients reconnect and catch up with
//! `since`, losing nothing that was acked.
//!
//! Presence is merged across nodes (`realtime::presence`): each node publishes
//! its presence transitions and a heartbeat every `HEARTBEAT`; a node not heard
//! from for `PRESENCE_TTL` is dropped, and its users go offline where no other
//! node has them. A node that (re)subscribes publishes its whole presence and
//! asks the others for theirs.
//!
//! Not yet cluster-wide (docs/architecture.md, "Several nodes"): a
//! conversation's writer, per-user and login rate limits.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::chat::writer::Writers;
use crate::ids::{ConversationId, UserId};
use crate::realtime::hub::{Audience, Backplane, Hub};
use crate::realtime::presence::{Change, Snapshot};
use crate::realtime::protocol::UserRef;
use crate::store::messages::MessageDoc;

/// The channel every node publishes its events on and subscribes to, after the
/// namespace (`REDIS_NAMESPACE`).
const EVENTS: &str = "events";
/// Waits between reconnection attempts (doubling up to the last).
const RETRY: [Duration; 4] = [
    Duration::from_millis(100),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
];
/// Most events one pipeline carries.
const PUBLISH_BATCH: usize = 512;
/// Close code for sockets whose node lost events (RFC 6455: service restart).
pub const CLOSE_RESYNC: u16 = 1012;
/// `<namespace>:presence:<node>`: a node's presence counts, expiring with
/// `PRESENCE_TTL`.
const PRESENCE: &str = "presence";
/// How often a node says it is alive (and renews `<namespace>:presence:<node>`).
const HEARTBEAT: Duration = Duration::from_secs(2);
/// A node not heard from for this long is dead: its presence is dropped. Three
/// heartbeats, so one or two late ones are not a death.
const PRESENCE_TTL: Duration = Duration::from_secs(6);
/// How often the nodes not heard from are looked for: a dead node's users go
/// offline at most `PRESENCE_TTL + EXPIRY_SWEEP` after its last heartbeat.
const EXPIRY_SWEEP: Duration = Duration::from_secs(1);

/// What one node tells the others.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Event {
    /// Deliver the frame that follows the envelope to these connections; for a
    /// message event, with the message, for the receiving node's copy of the
    /// conversation (`Writers::observe_remote`).
    Deliver {
        audience: WireAudience,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<MessageDoc>,
    },
    /// Close every connection of these users with `code`.
    Close { users: Vec<UserId>, code: u16 },
    /// Take the user's connections out of the room (a member removed).
    Unsubscribe {
        conversation: ConversationId,
        user: UserId,
    },
    /// Presence merged across nodes (`realtime::presence`).
    Presence(PresenceEvent),
}

/// What a node tells the others of its presence, tagged `presence`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "presence", rename_all = "snake_case")]
enum PresenceEvent {
    /// Transitions of the sending node (`presence::Change`), in its order.
    Joined {
        conversation: ConversationId,
        user: UserRef,
    },
    Left {
        conversation: ConversationId,
        user: UserId,
    },
    Connected {
        user: UserId,
    },
    Disconnected {
        user: UserId,
    },
    /// The sender is alive (every `HEARTBEAT`), and has sent `seq` transitions.
    Heartbeat {
        seq: u64,
    },
    /// The sender's whole presence, replacing what the others hold of it;
    /// `ask`: who should answer with theirs.
    Snapshot {
        snapshot: Snapshot,
        ask: Ask,
    },
}

/// Who answers a presence snapshot with their own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Ask {
    Nobody,
    Everyone,
    Node(String),
}

impl From<&Change> for PresenceEvent {
    fn from(change: &Change) -> Self {
        match change.clone() {
            Change::Joined { conversation, user } => Self::Joined { conversation, user },
            Change::Left { conversation, user } => Self::Left { conversation, user },
            Change::Connected(user) => Self::Connected { user },
            Change::Disconnected(user) => Self::Disconnected { user },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum WireAudience {
    Room(ConversationId),
    Users(Vec<UserId>),
}

impl From<&Audience> for WireAudience {
    fn from(audience: &Audience) -> Self {
        match audience {
            Audience::Room(id) => Self::Room(id.clone()),
            Audience::Users(ids) => Self::Users(ids.clone()),
        }
    }
}

impl From<WireAudience> for Audience {
    fn from(audience: WireAudience) -> Self {
        match audience {
            WireAudience::Room(id) => Self::Room(id),
            WireAudience::Users(ids) => Self::Users(ids),
        }
    }
}

/// An event with the node that sent it (a node ignores its own).
#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    node: String,
    #[serde(flatten)]
    event: Event,
}

/// Wire form: the envelope as one JSON line, then the frame (for `Deliver`) as
/// it is. The frame is JSON already: escaping it into a JSON string would copy
/// and rescan every byte of every event (it showed as memmove and malloc at the
/// top of the sending node's profile).
fn encode(envelope: &Envelope, frame: &str) -> serde_json::Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec(envelope)?;
    bytes.reserve(frame.len() + 1);
    bytes.push(b'\n');
    bytes.extend_from_slice(frame.as_bytes());
    Ok(bytes)
}

/// The envelope and the frame after it (JSON never holds a raw newline).
fn decode(bytes: &[u8]) -> Option<(Envelope, &str)> {
    let split = bytes.iter().position(|b| *b == b'\n')?;
    let (head, rest) = bytes.split_at(split);
    let envelope = serde_json::from_slice(head).ok()?;
    let frame = std::str::from_utf8(rest.get(1..)?).ok()?;
    Some((envelope, frame))
}

/// This node's link to the others.
pub struct Cluster {
    node: String,
    /// `<namespace>:events`
    channel: String,
    client: redis::Client,
    outbox: mpsc::UnboundedSender<Vec<u8>>,
    outbox_rx: std::sync::Mutex<Option<mpsc::UnboundedReceiver<Vec<u8>>>>,
    hub: OnceLock<std::sync::Weak<Hub>>,
    writers: OnceLock<std::sync::Weak<Writers>>,
    /// `REDIS_NAMESPACE` (for `<namespace>:presence:<node>`).
    namespace: String,
    /// Whether the subscription is up: other nodes expire only while this node
    /// can hear them.
    subscribed: AtomicBool,
}

impl Cluster {
    /// Parses the URL; nothing is dialled until `start`.
    pub fn new(url: &SecretString, namespace: &str) -> redis::RedisResult<Arc<Self>> {
        let client = redis::Client::open(url.expose_secret())?;
        let (outbox, outbox_rx) = mpsc::unbounded_channel();
        Ok(Arc::new(Self {
            node: uuid::Uuid::new_v4().simple().to_string(),
            channel: format!("{namespace}:{EVENTS}"),
            client,
            outbox,
            outbox_rx: std::sync::Mutex::new(Some(outbox_rx)),
            hub: OnceLock::new(),
            writers: OnceLock::new(),
            namespace: namespace.to_owned(),
            subscribed: AtomicBool::new(false),
        }))
    }

    /// The hub to build with this cluster: its presence merged across nodes.
    pub fn new_hub(self: &Arc<Self>) -> Hub {
        Hub::clustered(self.backplane(), &self.node)
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// The backplane to build the hub with.
    pub fn backplane(self: &Arc<Self>) -> Box<dyn Backplane> {
        Box::new(RedisBackplane(Arc::clone(self)))
    }

    /// Starts the publisher and the subscriber (once), delivering the other
    /// nodes' events to `hub` and their messages to `writers`.
    pub fn start(self: &Arc<Self>, hub: &Arc<Hub>, writers: &Arc<Writers>) {
        if self.hub.set(Arc::downgrade(hub)).is_err() {
            return;
        }
        let _ = self.writers.set(Arc::downgrade(writers));
        let outbox = self
            .outbox_rx
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(outbox) = outbox {
            tokio::spawn(Arc::clone(self).publish_forever(outbox));
        }
        tokio::spawn(Arc::clone(self).subscribe_forever());
        tokio::spawn(Arc::clone(self).heartbeat_forever());
        tracing::info!(node = %self.node, "cluster mode: events cross nodes through Redis");
    }

    /// Whether Redis answers (for `/readyz`).
    pub async fn ping(&self) -> bool {
        let Ok(mut conn) = self.client.get_multiplexed_async_connection().await else {
            return false;
        };
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .is_ok()
    }

    fn send(&self, event: Event, frame: &str) {
        let envelope = Envelope {
            node: self.node.clone(),
            event,
        };
        match encode(&envelope, frame) {
            Ok(bytes) => {
                // The receiver lives as long as the process (publish_forever).
                let _ = self.outbox.send(bytes);
            }
            Err(err) => tracing::error!(error = %err, "cluster event not encodable"),
        }
    }

    /// Publishes queued events in order, reconnecting when Redis goes away.
    /// Whatever has queued up meanwhile goes in one pipeline (one round trip; Redis
    /// runs a pipeline's commands in order), so the rate is not bound by the
    /// round-trip time. A batch that cannot be published after its retries is
    /// dropped (and counted): the other nodes' clients catch up when their node
    /// resubscribes.
    async fn publish_forever(self: Arc<Self>, mut outbox: mpsc::UnboundedReceiver<Vec<u8>>) {
        let mut conn: Option<redis::aio::MultiplexedConnection> = None;
        let mut batch: Vec<Vec<u8>> = Vec::new();
        while let Some(first) = outbox.recv().await {
            batch.clear();
            batch.push(first);
            while batch.len() < PUBLISH_BATCH {
                match outbox.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            let mut pipe = redis::pipe();
            for bytes in &batch {
                pipe.cmd("PUBLISH").arg(&self.channel).arg(bytes).ignore();
            }
            let mut attempt = 0;
            loop {
                if conn.is_none() {
                    conn = self.client.get_multiplexed_async_connection().await.ok();
                }
                let published = match conn.as_mut() {
                    Some(c) => pipe.query_async::<()>(c).await.is_ok(),
                    None => false,
                };
                if published {
                    break;
                }
                conn = None;
                if attempt >= RETRY.len() {
                    metrics::counter!("confab_cluster_events_dropped_total")
                        .increment(batch.len() as u64);
                    tracing::warn!(
                        events = batch.len(),
                        "Redis unreachable: cluster events dropped"
                    );
                    break;
                }
                tokio::time::sleep(RETRY[attempt]).await;
                attempt += 1;
            }
        }
    }

    /// Receives the other nodes' events for as long as the process runs.
    async fn subscribe_forever(self: Arc<Self>) {
        let mut attempt = 0;
        let mut subscribed_before = false;
        loop {
            match self.client.get_async_pubsub().await {
                Ok(mut pubsub) => match pubsub.subscribe(&self.channel).await {
                    Ok(()) => {
                        attempt = 0;
                        if subscribed_before {
                            // Events may have been missed while unsubscribed: the
                            // conversations in memory reload from the database, and
                            // clients reconnect and catch up with `since`.
                            tracing::warn!(
                                "cluster subscription restored; conversations reload, sockets close so clients catch up"
                            );
                            if let Some(writers) =
                                self.writers.get().and_then(std::sync::Weak::upgrade)
                            {
                                writers.resync_all();
                            }
                            if let Some(hub) = self.hub() {
                                hub.close_all(CLOSE_RESYNC);
                            }
                        }
                        subscribed_before = true;
                        self.presence_subscribed();
                        let mut messages = pubsub.on_message();
                        while let Some(msg) = messages.next().await {
                            self.receive(msg.get_payload_bytes());
                        }
                        self.subscribed.store(false, Ordering::Release);
                        tracing::warn!("cluster subscription lost; reconnecting");
                    }
                    Err(err) => tracing::warn!(error = %err, "cluster subscribe failed"),
                },
                Err(err) => {
                    tracing::warn!(error = %err, "Redis unreachable for the cluster subscription")
                }
            }
            tokio::time::sleep(RETRY[attempt.min(RETRY.len() - 1)]).await;
            attempt += 1;
        }
    }

    /// The subscription is up (again): the other nodes count as heard from now
    /// (this node could not hear them; that is not their death), and this node
    /// publishes its presence and asks for theirs. What changed meanwhile on
    /// either side is then announced once, as differences.
    fn presence_subscribed(&self) {
        self.subscribed.store(true, Ordering::Release);
        if let Some(hub) = self.hub() {
            hub.presence_resumed();
            self.send_presence(&hub, Ask::Everyone);
        }
    }

    /// Publishes this node's presence, in order with its transitions.
    fn send_presence(&self, hub: &Hub, ask: Ask) {
        hub.presence_snapshot(|snapshot| {
            self.send(
                Event::Presence(PresenceEvent::Snapshot { snapshot, ask }),
                "",
            );
        });
    }

    /// Says this node is alive every `HEARTBEAT` (on the events channel, and in
    /// `<namespace>:presence:<node>` with a TTL), and drops the nodes not heard
    /// from for `PRESENCE_TTL` while the subscription is up.
    async fn heartbeat_forever(self: Arc<Self>) {
        // The first one after `HEARTBEAT`: at start, the snapshot published on
        // subscribing introduces this node.
        let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
        let mut sweep = tokio::time::interval(EXPIRY_SWEEP);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut conn: Option<redis::aio::MultiplexedConnection> = None;
        loop {
            tokio::select! {
                _ = beat.tick() => {
                    let Some(hub) = self.hub() else { return };
                    hub.presence_heartbeat(|seq| {
                        self.send(Event::Presence(PresenceEvent::Heartbeat { seq }), "");
                    });
                    let counts = hub.presence_counts();
                    drop(hub);
                    self.record_presence(&mut conn, counts).await;
                }
                _ = sweep.tick() => {
                    let Some(hub) = self.hub() else { return };
                    if self.subscribed.load(Ordering::Acquire) {
                        hub.expire_nodes(PRESENCE_TTL);
                    }
                }
            }
        }
    }

    /// Renews `<namespace>:presence:<node>` (connections, users and rooms of
    /// this node), expiring with `PRESENCE_TTL`: what an operator sees of the
    /// live nodes in Redis. The nodes' merged views do not read it: they follow
    /// the ordered events, where a transition cannot overtake a snapshot.
    async fn record_presence(
        &self,
        conn: &mut Option<redis::aio::MultiplexedConnection>,
        (connections, users, rooms): (usize, usize, usize),
    ) {
        if conn.is_none() {
            *conn = self.client.get_multiplexed_async_connection().await.ok();
        }
        let Some(c) = conn.as_mut() else { return };
        let key = format!("{}:{PRESENCE}:{}", self.namespace, self.node);
        let ttl_ms = i64::try_from(PRESENCE_TTL.as_millis()).unwrap_or(i64::MAX);
        let recorded = redis::pipe()
            .atomic()
            .hset_multiple(
                &key,
                &[
                    ("connections", connections),
                    ("users", users),
                    ("rooms", rooms),
                ],
            )
            .ignore()
            .pexpire(&key, ttl_ms)
            .ignore()
            .query_async::<()>(c)
            .await;
        if let Err(err) = recorded {
            tracing::debug!(error = %err, "presence key not renewed");
            *conn = None;
        }
    }

    fn hub(&self) -> Option<Arc<Hub>> {
        self.hub.get().and_then(std::sync::Weak::upgrade)
    }

    fn receive(&self, bytes: &[u8]) {
        let Some((envelope, frame)) = decode(bytes) else {
            tracing::warn!("unreadable cluster event ignored");
            return;
        };
        if envelope.node == self.node {
            return;
        }
        let Some(hub) = self.hub() else {
            return;
        };
        match envelope.event {
            Event::Deliver { audience, message } => {
                let audience = Audience::from(audience);
                let frame: Arc<str> = Arc::from(frame);
                let deliver = || hub.deliver_local(&audience, &frame, None);
                match (
                    message,
                    self.writers.get().and_then(std::sync::Weak::upgrade),
                ) {
                    (Some(message), Some(writers)) => writers.observe_remote(message, deliver),
                    _ => deliver(),
                }
            }
            Event::Close { users, code } => {
                for user in &users {
                    hub.close_user_local(user, code);
                }
            }
            Event::Unsubscribe { conversation, user } => {
                hub.unsubscribe_local(&conversation, &user);
            }
            Event::Presence(presence) => self.receive_presence(&hub, &envelope.node, presence),
        }
    }

    /// Another node's presence: applied to the merged view and announced here
    /// where it changes it; a snapshot asked of this node is answered.
    fn receive_presence(&self, hub: &Hub, node: &str, presence: PresenceEvent) {
        let change = match presence {
            PresenceEvent::Joined { conversation, user } => Change::Joined { conversation, user },
            PresenceEvent::Left { conversation, user } => Change::Left { conversation, user },
            PresenceEvent::Connected { user } => Change::Connected(user),
            PresenceEvent::Disconnected { user } => Change::Disconnected(user),
            PresenceEvent::Heartbeat { seq } => {
                if hub.remote_heartbeat(node, seq) {
                    self.send_presence(hub, Ask::Node(node.to_owned()));
                }
                return;
            }
            PresenceEvent::Snapshot { snapshot, ask } => {
                hub.remote_snapshot(node, &snapshot);
                if ask == Ask::Everyone || ask == Ask::Node(self.node.clone()) {
                    self.send_presence(hub, Ask::Nobody);
                }
                return;
            }
        };
        self.remote_presence(hub, node, change);
    }

    /// Applies another node's transition; a node not known (new, or dropped as
    /// dead and back) is asked for its whole presence. (A node that lost some of
    /// this one's transitions finds out at the next heartbeat.)
    fn remote_presence(&self, hub: &Hub, node: &str, change: Change) {
        if hub.remote_presence(node, &change) {
            self.send_presence(hub, Ask::Node(node.to_owned()));
        }
    }
}

/// The hub's way to the other nodes.
struct RedisBackplane(Arc<Cluster>);

impl Backplane for RedisBackplane {
    fn forward(&self, audience: &Audience, frame: &Arc<str>) {
        self.0.send(
            Event::Deliver {
                audience: WireAudience::from(audience),
                message: None,
            },
            frame,
        );
    }

    fn forward_message(&self, audience: &Audience, frame: &Arc<str>, message: &MessageDoc) {
        self.0.send(
            Event::Deliver {
                audience: WireAudience::from(audience),
                message: Some(message.clone()),
            },
            frame,
        );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_through_their_wire_form() {
        let frame = r#"{"type":"message","body":"two\nlines \"quoted\""}"#;
        for (event, frame) in [
            (
                Event::Deliver {
                    audience: WireAudience::Room("0123456789abcdef01234567".into()),
                    message: None,
                },
                frame,
            ),
            (
                Event::Deliver {
                    audience: WireAudience::Room("0123456789abcdef01234567".into()),
                    message: Some(MessageDoc {
                        id: crate::ids::MessageId::new(&"0123456789abcdef01234567".into(), 7),
                        conversation_id: "0123456789abcdef01234567".into(),
                        seq: 7,
                        sender_id: "u".into(),
                        sender_username: "ann".into(),
                        body: "hi".into(),
                        client_id: Some("k".into()),
                        dedupe_key: "k".into(),
                        created_at: mongodb::bson::DateTime::from_millis(1_700_000_000_123),
                        edited_at: None,
                        deleted: false,
                    }),
                },
                frame,
            ),
            (
                Event::Deliver {
                    audience: WireAudience::Users(vec!["a".into(), "b".into()]),
                    message: None,
                },
                "{}",
            ),
            (
                Event::Close {
                    users: vec!["a".into()],
                    code: 4001,
                },
                "",
            ),
            (
                Event::Unsubscribe {
                    conversation: "0123456789abcdef01234567".into(),
                    user: "b".into(),
                },
                "",
            ),
            (
                Event::Presence(PresenceEvent::Joined {
                    conversation: "0123456789abcdef01234567".into(),
                    user: UserRef {
                        id: "u".into(),
                        username: "ann".into(),
                    },
                }),
                "",
            ),
            (
                Event::Presence(PresenceEvent::Left {
                    conversation: "0123456789abcdef01234567".into(),
                    user: "u".into(),
                }),
                "",
            ),
            (
                Event::Presence(PresenceEvent::Connected { user: "u".into() }),
                "",
            ),
            (
                Event::Presence(PresenceEvent::Disconnected { user: "u".into() }),
                "",
            ),
            (Event::Presence(PresenceEvent::Heartbeat { seq: 12 }), ""),
            (
                Event::Presence(PresenceEvent::Snapshot {
                    snapshot: Snapshot {
                        users: vec!["u".into()],
                        rooms: vec![crate::realtime::presence::RoomSnapshot {
                            conversation: "0123456789abcdef01234567".into(),
                            users: vec![UserRef {
                                id: "u".into(),
                                username: "ann".into(),
                            }],
                        }],
                        seq: 3,
                    },
                    ask: Ask::Node("n2".into()),
                }),
                "",
            ),
            (
                Event::Presence(PresenceEvent::Snapshot {
                    snapshot: Snapshot::default(),
                    ask: Ask::Everyone,
                }),
                "",
            ),
        ] {
            let envelope = Envelope {
                node: "n1".into(),
                event: event.clone(),
            };
            let bytes = encode(&envelope, frame).unwrap();
            let (back, back_frame) = decode(&bytes).expect("decodes");
            assert_eq!(back.node, "n1");
            assert_eq!(
                serde_json::to_value(&back.event).unwrap(),
                serde_json::to_value(&event).unwrap()
            );
            assert_eq!(back_frame, frame);
        }
        assert!(decode(b"no newline").is_none());
        assert!(decode(b"{not json}\n{}").is_none());
    }
}
