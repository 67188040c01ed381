//! Rooms: which of this node's connections joined which conversation, joining
//! (visibly or hidden) and leaving, with the presence changes that follow.

use std::collections::HashMap;

use super::{
    Change, Conn, ConnHandle, ConnId, ConversationId, Hub, Merged, PresenceStatus, UserId, UserRef,
};

#[derive(Default)]
pub(super) struct RoomState {
    pub(super) conns: HashMap<ConnId, ConnHandle>,
    /// Joined connections per user: a user is present while this is > 0.
    pub(super) per_user: HashMap<UserId, (UserRef, usize)>,
    /// Connections that receive the room but show no presence there (a DM
    /// participant who has not written in it: `join_as`).
    hidden: std::collections::HashSet<ConnId>,
}

impl Hub {
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
    pub(super) fn leave_matching(
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

    /// Takes the user's connections on this node out of the room, announcing
    /// them offline there.
    pub fn unsubscribe_local(&self, room: &ConversationId, user_id: &UserId) {
        let mut merged = self.merged();
        self.leave_matching(merged.as_deref_mut(), room, |_, c| &c.user.id == user_id);
    }
}
