//! The wire format of the cluster's events: what one node tells the others
//! (`Event`), in an `Envelope` numbered in its node's stream (`sequence`), as
//! one JSON line followed by the frame (`encode`, `decode`).

use serde::{Deserialize, Serialize};

use crate::chat::writer::Draft;
use crate::error::{ApiError, ErrorCode};
use crate::ids::{ConversationId, UserId};
use crate::realtime::hub::Audience;
use crate::realtime::presence::{Change, Snapshot};
use crate::realtime::protocol::UserRef;
use crate::store::cache::Changed;
use crate::store::messages::MessageDoc;

/// What one node tells the others.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(super) enum Event {
    /// Deliver the frame that follows the envelope to these connections; for a
    /// message event, with the message, for the receiving node's copy of the
    /// conversation (`Writers::observe_remote`); `replayed` for a message a node
    /// taking a conversation over announces (its predecessor stored it; nodes
    /// that already heard it skip it).
    Deliver {
        audience: WireAudience,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<MessageDoc>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        replayed: bool,
        /// For a `read` event: the marker, for the receiving node's copy.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        read: Option<ReadMark>,
    },
    /// A send for a conversation node `to` owns, forwarded as call `call`.
    Submit {
        to: String,
        call: u64,
        conversation: ConversationId,
        draft: Draft,
    },
    /// The owner's answer to call `call` of node `to`.
    Answer {
        to: String,
        call: u64,
        outcome: Outcome,
    },
    /// The sending node is shutting down and gave its leases back: forget it
    /// as an owner, and send again what was forwarded to it.
    Leaving,
    /// The sending node changed a cached fact (a user's auth facts, a group, a
    /// membership): forget it, so a revocation or a removal holds here too.
    Forget(Changed),
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
pub(super) enum PresenceEvent {
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
pub(super) enum Ask {
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

/// A read marker that moved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct ReadMark {
    pub(super) conversation: ConversationId,
    pub(super) user: UserId,
    pub(super) seq: i64,
}

/// How a forwarded send ended on the owner.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub(super) enum Outcome {
    /// Stored (`created`), or the first message of a repeated `client_id`.
    Stored {
        message: Box<MessageDoc>,
        created: bool,
    },
    Refused {
        code: ErrorCode,
        message: String,
    },
    /// That node does not own the conversation (any more): ask Redis again.
    NotOwner,
}

impl Outcome {
    pub(super) fn refused(err: &ApiError) -> Self {
        Self::Refused {
            code: err.code,
            message: err.message.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum WireAudience {
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

/// An event with the node that sent it (a node ignores its own) and its number
/// in that node's stream (1, 2, ...): a receiver that sees a number skipped knows
/// it missed events (a batch the publisher gave up on), and one it has seen is a
/// repeat (a retried batch that had gone through).
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Envelope {
    pub(super) node: String,
    #[serde(default)]
    pub(super) n: u64,
    #[serde(flatten)]
    pub(super) event: Event,
}

/// Where an event's number falls in its node's stream, after `last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sequence {
    /// The next one (or the first heard from that node).
    Next,
    /// Seen already: a retried batch that had gone through.
    Repeat,
    /// Some were skipped: events were lost.
    Gap,
}

pub(super) fn sequence(last: Option<u64>, n: u64) -> Sequence {
    match last {
        None => Sequence::Next,
        Some(last) if n <= last => Sequence::Repeat,
        Some(last) if n == last + 1 => Sequence::Next,
        Some(_) => Sequence::Gap,
    }
}

/// Wire form: the envelope as one JSON line, then the frame (for `Deliver`) as
/// it is. The frame is JSON already: escaping it into a JSON string would copy
/// and rescan every byte of every event (it showed as memmove and malloc at the
/// top of the sending node's profile).
pub(super) fn encode(envelope: &Envelope, frame: &str) -> serde_json::Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec(envelope)?;
    bytes.reserve(frame.len() + 1);
    bytes.push(b'\n');
    bytes.extend_from_slice(frame.as_bytes());
    Ok(bytes)
}

/// The envelope and the frame after it (JSON never holds a raw newline).
pub(super) fn decode(bytes: &[u8]) -> Option<(Envelope, &str)> {
    let split = bytes.iter().position(|b| *b == b'\n')?;
    let (head, rest) = bytes.split_at(split);
    let envelope = serde_json::from_slice(head).ok()?;
    let frame = std::str::from_utf8(rest.get(1..)?).ok()?;
    Some((envelope, frame))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_numbers_tell_repeats_and_losses_apart() {
        assert_eq!(sequence(None, 41), Sequence::Next, "the first heard");
        assert_eq!(sequence(Some(41), 42), Sequence::Next);
        assert_eq!(sequence(Some(42), 42), Sequence::Repeat);
        assert_eq!(sequence(Some(42), 3), Sequence::Repeat);
        assert_eq!(sequence(Some(42), 44), Sequence::Gap);
    }

    #[test]
    fn events_round_trip_through_their_wire_form() {
        let frame = r#"{"type":"message","body":"two\nlines \"quoted\""}"#;
        for (event, frame) in [
            (
                Event::Deliver {
                    audience: WireAudience::Room("0123456789abcdef01234567".into()),
                    message: None,
                    replayed: false,
                    read: None,
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
                        rev: 0,
                        reactions: Vec::new(),
                        reply_to: None,
                    }),
                    replayed: true,
                    read: None,
                },
                frame,
            ),
            (
                Event::Deliver {
                    audience: WireAudience::Users(vec!["a".into(), "b".into()]),
                    message: None,
                    replayed: false,
                    read: None,
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
                Event::Submit {
                    to: "n2".into(),
                    call: 9,
                    conversation: "0123456789abcdef01234567".into(),
                    draft: Draft {
                        sender_id: "u".into(),
                        sender_username: "ann".into(),
                        body: "hi".into(),
                        client_id: Some("k".into()),
                        reply_to: None,
                    },
                },
                "",
            ),
            (
                Event::Answer {
                    to: "n1".into(),
                    call: 9,
                    outcome: Outcome::Refused {
                        code: ErrorCode::NotFound,
                        message: "conversation not found".into(),
                    },
                },
                "",
            ),
            (
                Event::Answer {
                    to: "n1".into(),
                    call: 10,
                    outcome: Outcome::NotOwner,
                },
                "",
            ),
            (
                Event::Deliver {
                    audience: WireAudience::Room("0123456789abcdef01234567".into()),
                    message: None,
                    replayed: false,
                    read: Some(ReadMark {
                        conversation: "0123456789abcdef01234567".into(),
                        user: "u".into(),
                        seq: 12,
                    }),
                },
                r#"{"type":"read"}"#,
            ),
            (Event::Leaving, ""),
            (Event::Forget(Changed::User("u".into())), ""),
            (
                Event::Forget(Changed::Membership("0123456789abcdef01234567:u".into())),
                "",
            ),
            (
                Event::Forget(Changed::GroupDeleted("0123456789abcdef01234567".into())),
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
                n: 7,
                event: event.clone(),
            };
            let bytes = encode(&envelope, frame).unwrap();
            let (back, back_frame) = decode(&bytes).expect("decodes");
            assert_eq!(back.node, "n1");
            assert_eq!(back.n, 7);
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
