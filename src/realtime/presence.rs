//! Presence merged across nodes (cluster mode): who is in which room, and who is
//! connected at all, as the union of every live node's facts.
//!
//! Each node tells the others only its own *transitions* (a user's first
//! connection on that node joined a room, their last one left it; their first
//! connection on that node, their last one), in order, plus a full snapshot when
//! asked. Every node keeps this merged view and announces `online` to its own
//! connections when a user's set of nodes in a room goes from empty to non-empty,
//! `offline` when it goes back to empty. So a user with tabs on two nodes is
//! announced online once and offline once, on every node.
//!
//! A node not heard from for the TTL is dropped, which announces its users
//! offline where no other node has them. Each node counts the transitions it
//! has sent (`seq`, carried by its heartbeats and snapshots) and the others count
//! those they applied: a difference means one was lost on the way, and that
//! node's snapshot is asked for. Pure: no I/O, time passed in.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::protocol::{PresenceStatus, UserRef};
use crate::ids::{ConversationId, UserId};

/// A node's id (`Cluster::node`).
pub type NodeId = String;

/// A presence transition of one node.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// The user's first connection on the node joined the room.
    Joined {
        conversation: ConversationId,
        user: UserRef,
    },
    /// The user's last connection on the node in the room left it.
    Left {
        conversation: ConversationId,
        user: UserId,
    },
    /// The user's first connection on the node.
    Connected(UserId),
    /// The user's last connection on the node closed.
    Disconnected(UserId),
}

/// Everything one node has: the users connected to it, and per room the users
/// with a connection joined there.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub users: Vec<UserId>,
    pub rooms: Vec<RoomSnapshot>,
    /// How many transitions the node had sent when it took the snapshot.
    pub seq: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomSnapshot {
    pub conversation: ConversationId,
    pub users: Vec<UserRef>,
}

/// What to announce to a room's connections on this node.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub conversation: ConversationId,
    pub user: UserRef,
    pub status: PresenceStatus,
}

struct Present {
    user: UserRef,
    nodes: HashSet<NodeId>,
}

/// Another node, as this one knows it.
struct Peer {
    heard: Instant,
    /// Its transitions applied here (its `seq` as far as this node knows).
    applied: u64,
}

/// The cluster-wide view one node holds.
pub struct Merged {
    me: NodeId,
    rooms: HashMap<ConversationId, HashMap<UserId, Present>>,
    users: HashMap<UserId, HashSet<NodeId>>,
    /// The other nodes known alive.
    peers: HashMap<NodeId, Peer>,
    /// This node's transitions so far.
    sent: u64,
}

impl Merged {
    pub fn new(me: impl Into<NodeId>) -> Self {
        Self {
            me: me.into(),
            rooms: HashMap::new(),
            users: HashMap::new(),
            peers: HashMap::new(),
            sent: 0,
        }
    }

    /// Records that `node` is alive; `true` when it was not known (its state is
    /// to be asked for).
    pub fn heard(&mut self, node: &str, now: Instant) -> bool {
        if node == self.me {
            return false;
        }
        match self.peers.get_mut(node) {
            Some(peer) => {
                peer.heard = now;
                false
            }
            None => {
                let peer = Peer {
                    heard: now,
                    applied: 0,
                };
                self.peers.insert(node.to_owned(), peer);
                true
            }
        }
    }

    /// Whether every transition `node` had sent by its `seq` was applied here.
    pub fn in_step(&self, node: &str, seq: u64) -> bool {
        self.peers.get(node).is_some_and(|peer| peer.applied == seq)
    }

    /// How many transitions this node has sent.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Applies one transition of `node` (counted); returns what to announce.
    pub fn apply(&mut self, node: &str, change: &Change) -> Option<Transition> {
        if let Some(peer) = self.peers.get_mut(node) {
            peer.applied += 1;
        }
        self.change(node, change)
    }

    fn change(&mut self, node: &str, change: &Change) -> Option<Transition> {
        match change {
            Change::Joined { conversation, user } => {
                let room = self.rooms.entry(conversation.clone()).or_default();
                let present = room.entry(user.id.clone()).or_insert_with(|| Present {
                    user: user.clone(),
                    nodes: HashSet::new(),
                });
                present.user = user.clone();
                let was_empty = present.nodes.is_empty();
                present.nodes.insert(node.to_owned());
                was_empty.then(|| Transition {
                    conversation: conversation.clone(),
                    user: user.clone(),
                    status: PresenceStatus::Online,
                })
            }
            Change::Left { conversation, user } => {
                let room = self.rooms.get_mut(conversation)?;
                let present = room.get_mut(user)?;
                if !present.nodes.remove(node) || !present.nodes.is_empty() {
                    return None;
                }
                let gone = room.remove(user).map(|p| p.user);
                if room.is_empty() {
                    self.rooms.remove(conversation);
                }
                gone.map(|user| Transition {
                    conversation: conversation.clone(),
                    user,
                    status: PresenceStatus::Offline,
                })
            }
            Change::Connected(user) => {
                self.users
                    .entry(user.clone())
                    .or_default()
                    .insert(node.to_owned());
                None
            }
            Change::Disconnected(user) => {
                if let Some(nodes) = self.users.get_mut(user) {
                    nodes.remove(node);
                    if nodes.is_empty() {
                        self.users.remove(user);
                    }
                }
                None
            }
        }
    }

    /// Applies one transition of this node.
    pub fn apply_mine(&mut self, change: &Change) -> Option<Transition> {
        self.sent += 1;
        let me = std::mem::take(&mut self.me);
        let transition = self.change(&me, change);
        self.me = me;
        transition
    }

    /// Replaces everything known of `node` with its snapshot; returns what to
    /// announce (only real differences: a snapshot equal to what is known
    /// announces nothing).
    pub fn replace(&mut self, node: &str, snapshot: &Snapshot) -> Vec<Transition> {
        let wanted: HashSet<(&ConversationId, &UserId)> = snapshot
            .rooms
            .iter()
            .flat_map(|r| r.users.iter().map(move |u| (&r.conversation, &u.id)))
            .collect();
        let stale: Vec<(ConversationId, UserId)> = self
            .rooms
            .iter()
            .flat_map(|(c, users)| {
                users
                    .iter()
                    .filter(|(_, p)| p.nodes.contains(node))
                    .map(move |(u, _)| (c, u))
            })
            .filter(|key| !wanted.contains(key))
            .map(|(c, u)| (c.clone(), u.clone()))
            .collect();
        let mut transitions = Vec::new();
        for (conversation, user) in stale {
            transitions.extend(self.change(node, &Change::Left { conversation, user }));
        }
        for room in &snapshot.rooms {
            for user in &room.users {
                transitions.extend(self.change(
                    node,
                    &Change::Joined {
                        conversation: room.conversation.clone(),
                        user: user.clone(),
                    },
                ));
            }
        }
        let connected: HashSet<&UserId> = snapshot.users.iter().collect();
        let gone: Vec<UserId> = self
            .users
            .iter()
            .filter(|(u, nodes)| nodes.contains(node) && !connected.contains(u))
            .map(|(u, _)| u.clone())
            .collect();
        for user in gone {
            self.change(node, &Change::Disconnected(user));
        }
        for user in &snapshot.users {
            self.change(node, &Change::Connected(user.clone()));
        }
        if let Some(peer) = self.peers.get_mut(node) {
            peer.applied = snapshot.seq;
        }
        transitions
    }

    /// Forgets `node` and everything it had.
    pub fn drop_node(&mut self, node: &str) -> Vec<Transition> {
        self.peers.remove(node);
        self.replace(node, &Snapshot::default())
    }

    /// Drops every node not heard from for `ttl`; returns what to announce.
    pub fn expire(&mut self, now: Instant, ttl: Duration) -> Vec<Transition> {
        let dead: Vec<NodeId> = self
            .peers
            .iter()
            .filter(|(_, peer)| now.saturating_duration_since(peer.heard) > ttl)
            .map(|(node, _)| node.clone())
            .collect();
        dead.iter().flat_map(|node| self.drop_node(node)).collect()
    }

    /// Counts every known node as heard from now (after this node could hear
    /// nothing: a lost subscription is not the other nodes' death).
    pub fn touch_all(&mut self, now: Instant) {
        for peer in self.peers.values_mut() {
            peer.heard = now;
        }
    }

    /// This node's own facts, for the others.
    pub fn snapshot(&self) -> Snapshot {
        let users = self
            .users
            .iter()
            .filter(|(_, nodes)| nodes.contains(&self.me))
            .map(|(u, _)| u.clone())
            .collect();
        let rooms = self
            .rooms
            .iter()
            .filter_map(|(conversation, users)| {
                let users: Vec<UserRef> = users
                    .values()
                    .filter(|p| p.nodes.contains(&self.me))
                    .map(|p| p.user.clone())
                    .collect();
                (!users.is_empty()).then(|| RoomSnapshot {
                    conversation: conversation.clone(),
                    users,
                })
            })
            .collect();
        Snapshot {
            users,
            rooms,
            seq: self.sent,
        }
    }

    /// Users present in the room on any node.
    pub fn room_online(&self, conversation: &ConversationId) -> Vec<UserRef> {
        self.rooms
            .get(conversation)
            .map(|users| users.values().map(|p| p.user.clone()).collect())
            .unwrap_or_default()
    }

    /// Whether the user has a connection on any node.
    pub fn is_online(&self, user: &UserId) -> bool {
        self.users.contains_key(user)
    }

    /// The other nodes known alive.
    pub fn nodes(&self) -> usize {
        self.peers.len()
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

    fn joined(room: &str, id: &str) -> Change {
        Change::Joined {
            conversation: room.into(),
            user: user(id),
        }
    }

    fn left(room: &str, id: &str) -> Change {
        Change::Left {
            conversation: room.into(),
            user: id.into(),
        }
    }

    fn online(room: &str, id: &str) -> Transition {
        Transition {
            conversation: room.into(),
            user: user(id),
            status: PresenceStatus::Online,
        }
    }

    fn offline(room: &str, id: &str) -> Transition {
        Transition {
            status: PresenceStatus::Offline,
            ..online(room, id)
        }
    }

    #[test]
    fn a_user_on_two_nodes_is_online_on_the_first_and_offline_after_the_last() {
        let mut m = Merged::new("a");
        assert_eq!(m.apply("a", &joined("r", "u")), Some(online("r", "u")));
        assert_eq!(
            m.apply("b", &joined("r", "u")),
            None,
            "second node: no news"
        );
        assert_eq!(m.room_online(&"r".into()), vec![user("u")]);
        assert_eq!(m.apply("a", &left("r", "u")), None, "still on b");
        assert_eq!(m.room_online(&"r".into()), vec![user("u")]);
        assert_eq!(m.apply("b", &left("r", "u")), Some(offline("r", "u")));
        assert!(m.room_online(&"r".into()).is_empty());
        assert_eq!(m.apply("b", &left("r", "u")), None, "a repeat is no news");
    }

    #[test]
    fn a_leave_from_a_node_that_never_joined_changes_nothing() {
        let mut m = Merged::new("a");
        m.apply("a", &joined("r", "u"));
        assert_eq!(m.apply("b", &left("r", "u")), None);
        assert_eq!(m.room_online(&"r".into()), vec![user("u")]);
    }

    #[test]
    fn user_level_online_is_the_union_of_nodes() {
        let mut m = Merged::new("a");
        m.apply("a", &Change::Connected("u".into()));
        m.apply("b", &Change::Connected("u".into()));
        m.apply("a", &Change::Disconnected("u".into()));
        assert!(m.is_online(&"u".into()));
        m.apply("b", &Change::Disconnected("u".into()));
        assert!(!m.is_online(&"u".into()));
    }

    #[test]
    fn a_dead_node_expires_and_its_users_go_offline_where_no_one_else_has_them() {
        let t0 = Instant::now();
        let ttl = Duration::from_secs(6);
        let mut m = Merged::new("a");
        assert!(m.heard("b", t0), "b is new");
        assert!(!m.heard("b", t0));
        assert!(!m.heard("a", t0), "this node is never tracked");
        m.apply("b", &joined("r", "only-b"));
        m.apply("b", &joined("r", "both"));
        m.apply("a", &joined("r", "both"));
        m.apply("b", &Change::Connected("only-b".into()));
        assert!(m.expire(t0 + ttl, ttl).is_empty(), "not yet");
        let gone = m.expire(t0 + ttl + Duration::from_millis(1), ttl);
        assert_eq!(gone, vec![offline("r", "only-b")]);
        assert_eq!(m.room_online(&"r".into()), vec![user("both")]);
        assert!(!m.is_online(&"only-b".into()));
        assert_eq!(m.nodes(), 0);
        assert!(
            m.expire(t0 + ttl * 2, ttl).is_empty(),
            "offline is announced once"
        );
    }

    #[test]
    fn touching_all_nodes_postpones_their_expiry() {
        let t0 = Instant::now();
        let ttl = Duration::from_secs(6);
        let mut m = Merged::new("a");
        m.heard("b", t0);
        m.apply("b", &joined("r", "u"));
        m.touch_all(t0 + ttl);
        assert!(m.expire(t0 + ttl + Duration::from_secs(1), ttl).is_empty());
        assert_eq!(m.room_online(&"r".into()), vec![user("u")]);
    }

    #[test]
    fn a_snapshot_replaces_what_was_known_of_its_node_and_announces_only_differences() {
        let mut m = Merged::new("a");
        m.apply("b", &joined("r", "stays"));
        m.apply("b", &joined("r", "leaves"));
        m.apply("a", &joined("r", "also-on-a"));
        m.apply("b", &joined("r", "also-on-a"));
        m.apply("b", &Change::Connected("leaves".into()));
        let snapshot = Snapshot {
            users: vec!["stays".into(), "new".into()],
            rooms: vec![
                RoomSnapshot {
                    conversation: "r".into(),
                    users: vec![user("stays"), user("new")],
                },
                RoomSnapshot {
                    conversation: "s".into(),
                    users: vec![user("new")],
                },
            ],
            seq: 9,
        };
        let mut got = m.replace("b", &snapshot);
        got.sort_by(|x, y| (&x.conversation, &x.user.id).cmp(&(&y.conversation, &y.user.id)));
        assert_eq!(
            got,
            vec![
                offline("r", "leaves"),
                online("r", "new"),
                online("s", "new")
            ]
        );
        let mut here: Vec<UserId> = m
            .room_online(&"r".into())
            .into_iter()
            .map(|u| u.id)
            .collect();
        here.sort();
        let expected: Vec<UserId> = vec!["also-on-a".into(), "new".into(), "stays".into()];
        assert_eq!(here, expected);
        assert!(m.is_online(&"new".into()) && !m.is_online(&"leaves".into()));
        assert!(
            m.replace("b", &snapshot).is_empty(),
            "the same again: no news"
        );
    }

    #[test]
    fn a_lost_transition_shows_as_a_seq_the_peer_has_not_reached_until_its_snapshot() {
        let t0 = Instant::now();
        let mut m = Merged::new("a");
        assert!(!m.in_step("b", 0), "an unknown node is never in step");
        m.heard("b", t0);
        assert!(m.in_step("b", 0));
        m.apply("b", &joined("r", "u"));
        assert!(m.in_step("b", 1));
        // b sent a second transition (a leave) that never arrived.
        assert!(!m.in_step("b", 2), "one lost on the way");
        let got = m.replace(
            "b",
            &Snapshot {
                seq: 2,
                ..Snapshot::default()
            },
        );
        assert_eq!(got, vec![offline("r", "u")]);
        assert!(m.in_step("b", 2), "the snapshot brings it back in step");
        let mut mine = Merged::new("b");
        mine.apply_mine(&joined("r", "u"));
        mine.apply_mine(&left("r", "u"));
        assert_eq!((mine.sent(), mine.snapshot().seq), (2, 2));
    }

    #[test]
    fn the_snapshot_holds_only_this_nodes_facts() {
        let mut m = Merged::new("a");
        m.apply_mine(&joined("r", "mine"));
        m.apply("b", &joined("r", "theirs"));
        m.apply("b", &joined("s", "theirs"));
        m.apply_mine(&Change::Connected("mine".into()));
        m.apply("b", &Change::Connected("theirs".into()));
        assert_eq!(
            m.snapshot(),
            Snapshot {
                users: vec!["mine".into()],
                rooms: vec![RoomSnapshot {
                    conversation: "r".into(),
                    users: vec![user("mine")],
                }],
                seq: 2,
            }
        );
        let mut other = Merged::new("c");
        other.replace("a", &m.snapshot());
        assert_eq!(other.room_online(&"r".into()), vec![user("mine")]);
    }
}
