//! Presence across nodes (`realtime::presence`): this node's heartbeats and
//! snapshots, its presence key in Redis, and the other nodes' presence events.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::realtime::hub::Hub;
use crate::realtime::presence::Change;

use super::Cluster;
use super::connection::REDIS_TIMEOUT;
use super::wire::{Ask, Event, PresenceEvent};

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

impl Cluster {
    /// The subscription is up (again): the other nodes count as heard from now
    /// (this node could not hear them; that is not their death), and this node
    /// publishes its presence and asks for theirs. What changed meanwhile on
    /// either side is then announced once, as differences.
    pub(super) fn presence_subscribed(&self, hub: &Hub) {
        self.subscribed.store(true, Ordering::Release);
        hub.presence_resumed();
        self.send_presence(hub, Ask::Everyone);
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
    pub(super) async fn heartbeat_forever(self: Arc<Self>, hub: Arc<Hub>) {
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
                    hub.presence_heartbeat(|seq| {
                        self.send(Event::Presence(PresenceEvent::Heartbeat { seq }), "");
                    });
                    let counts = hub.presence_counts();
                    self.record_presence(&mut conn, counts).await;
                }
                _ = sweep.tick() => {
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
        // Bounded: a Redis that never answers must not stop the heartbeats.
        let dialled = tokio::time::timeout(REDIS_TIMEOUT, async {
            if conn.is_none() {
                *conn = self.client.get_multiplexed_async_connection().await.ok();
            }
        })
        .await;
        if dialled.is_err() {
            return;
        }
        let Some(c) = conn.as_mut() else { return };
        let key = format!("{}:{PRESENCE}:{}", self.namespace, self.node);
        let ttl_ms = i64::try_from(PRESENCE_TTL.as_millis()).unwrap_or(i64::MAX);
        let mut pipe = redis::pipe();
        pipe.atomic()
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
            .ignore();
        let recorded = tokio::time::timeout(REDIS_TIMEOUT, pipe.query_async::<()>(c))
            .await
            .unwrap_or_else(|_| {
                Err(redis::RedisError::from((
                    redis::ErrorKind::IoError,
                    "timed out",
                )))
            });
        if let Err(err) = recorded {
            tracing::debug!(error = %err, "presence key not renewed");
            *conn = None;
        }
    }

    /// Another node's presence: applied to the merged view and announced here
    /// where it changes it; a snapshot asked of this node is answered.
    pub(super) fn receive_presence(&self, hub: &Hub, node: &str, presence: PresenceEvent) {
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
