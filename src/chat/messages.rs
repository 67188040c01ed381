//! Messages: the one send path (REST and WebSocket), history, edits, deletes, reads.

use super::Caller;
use super::access::{Room, room};
use crate::domain::clean_text;
use crate::error::ApiError;
use crate::limits::{CLIENT_ID_MAX_CHARS, MESSAGE_BODY_MAX_CHARS};
use crate::permissions::{GroupAction, may};
use crate::realtime::hub::Conn;
use crate::realtime::protocol::{AckFrame, ServerFrame};
use crate::state::AppState;
use crate::store::conversations::LastMessage;
use crate::store::messages::{HistoryWindow, MessageDoc};
use crate::store::{is_duplicate_key, new_id, now};

/// Message bodies: NFC, trimmed, 1-4000 characters, newlines and tabs allowed.
pub fn parse_body(raw: &str) -> Result<String, ApiError> {
    clean_text(raw, MESSAGE_BODY_MAX_CHARS, &['\n', '\t'])
        .map_err(|m| ApiError::invalid_field("body", m))
}

/// Client ids: opaque printable ASCII, 1-64 characters.
pub fn parse_client_id(raw: &str) -> Result<String, ApiError> {
    let ok = !raw.is_empty()
        && raw.len() <= CLIENT_ID_MAX_CHARS
        && raw.chars().all(|c| c.is_ascii_graphic());
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(ApiError::invalid_field(
            "client_id",
            format!("must be 1 to {CLIENT_ID_MAX_CHARS} printable ASCII characters"),
        ))
    }
}

/// A contended `seq` is retried this many times before giving up.
const MAX_SEQ_ATTEMPTS: u32 = 8;

/// The result of a send: the stored message, and whether this call stored it
/// (`false`: the `client_id` was seen before and this is the first message again).
pub struct Sent {
    pub message: MessageDoc,
    pub created: bool,
}

/// The message this sender already sent with `client_id`, if any.
async fn earlier(
    state: &AppState,
    conversation_id: &str,
    sender_id: &str,
    client_id: Option<&str>,
) -> Result<Option<MessageDoc>, ApiError> {
    match client_id {
        Some(cid) => Ok(state
            .store
            .messages
            .by_client_id(conversation_id, sender_id, cid)
            .await?),
        None => Ok(None),
    }
}

/// Validates, authorizes, stores with the next `seq`, acks `ack_to` (the sending
/// WebSocket connection, if any), then fans out. The message is stored before
/// anything reports success; a repeated `client_id` stores nothing.
pub async fn send(
    state: &AppState,
    caller: &Caller,
    conversation_id: &str,
    body: &str,
    client_id: Option<&str>,
    ack_to: Option<&Conn>,
) -> Result<Sent, ApiError> {
    let body = parse_body(body)?;
    let client_id = client_id.map(parse_client_id).transpose()?;
    let room = room(state, caller, conversation_id, GroupAction::Send).await?;
    let messages = &state.store.messages;
    if let Some(existing) =
        earlier(state, conversation_id, &caller.id, client_id.as_deref()).await?
    {
        return Ok(Sent {
            message: existing,
            created: false,
        });
    }
    let message = {
        // Under the room's lock: allocate, store, record, ack, fan out. Holding it
        // through the fan-out means a joining connection's replay and the live
        // stream neither overlap nor leave a gap.
        let _room = state.seq_locks.lock(conversation_id).await;
        let mut attempt = 0;
        let message = loop {
            attempt += 1;
            // The conversation's last_seq is exact on this node (all writes to it
            // happen under this lock); after a conflict with another node, the
            // stored messages are the authority (slower on FerretDB: no sort pushdown).
            let last = if attempt == 1 {
                state
                    .store
                    .conversations
                    .by_id(conversation_id)
                    .await?
                    .map_or(0, |c| c.last_seq)
            } else {
                messages.max_seq(conversation_id).await?
            };
            let seq = last + 1;
            let id = new_id();
            let message = MessageDoc {
                dedupe_key: client_id.clone().unwrap_or_else(|| format!("auto:{id}")),
                id,
                conversation_id: conversation_id.to_owned(),
                seq,
                sender_id: caller.id.clone(),
                sender_username: caller.username.clone(),
                body: body.clone(),
                client_id: client_id.clone(),
                created_at: now(),
                edited_at: None,
                deleted: false,
            };
            match messages.insert(&message).await {
                Ok(()) => break message,
                Err(err) if is_duplicate_key(&err) => {
                    // Either the same client_id raced itself (the other copy won) or
                    // another node took this seq: answer the first, or try the next seq.
                    if let Some(existing) =
                        earlier(state, conversation_id, &caller.id, client_id.as_deref()).await?
                    {
                        return Ok(Sent {
                            message: existing,
                            created: false,
                        });
                    }
                    if attempt >= MAX_SEQ_ATTEMPTS {
                        return Err(err.into());
                    }
                    tracing::debug!(conversation_id, seq, "seq taken; allocating the next");
                }
                Err(err) => return Err(err.into()),
            }
        };
        let last = LastMessage {
            id: message.id.clone(),
            seq: message.seq,
            sender_id: message.sender_id.clone(),
            sender_username: message.sender_username.clone(),
            body: message.body.clone(),
            created_at: message.created_at,
        };
        // The message is stored: from here on the send has succeeded.
        if let Err(err) = state
            .store
            .conversations
            .record_message(conversation_id, &last)
            .await
        {
            tracing::warn!(error = %err, conversation_id, seq = message.seq, "stored, but last_seq not recorded");
        }
        if let Some(conn) = ack_to {
            conn.send(&ServerFrame::Ack(AckFrame {
                client_id: message.client_id.clone(),
                id: message.id.clone(),
                seq: message.seq,
            }));
        }
        state.hub.message_created(&room.conversation, &message);
        message
    };
    metrics::counter!("confab_messages_stored_total").increment(1);
    if let Err(err) = state
        .store
        .conversations
        .mark_read(conversation_id, &caller.id, message.seq)
        .await
    {
        tracing::warn!(error = %err, conversation_id, "sender's read marker not moved");
    }
    Ok(Sent {
        message,
        created: true,
    })
}

/// A page of history in ascending `seq`, and whether more lies beyond it.
pub async fn history(
    state: &AppState,
    caller: &Caller,
    conversation_id: &str,
    window: HistoryWindow,
    limit: u32,
) -> Result<(Vec<MessageDoc>, bool), ApiError> {
    room(state, caller, conversation_id, GroupAction::Read).await?;
    let mut docs = state
        .store
        .messages
        .history(conversation_id, window, limit)
        .await?;
    let has_more = docs.len() > limit as usize;
    if has_more {
        match window {
            // Ascending and read forwards: the extra one is at the end.
            HistoryWindow::After(_) => {
                docs.pop();
            }
            // Read backwards: the extra one is the oldest, at the front.
            HistoryWindow::Latest | HistoryWindow::Before(_) => {
                docs.remove(0);
            }
        }
    }
    Ok((docs, has_more))
}

/// Loads a message and the room it is in, as the caller may see it.
async fn message_in_room(
    state: &AppState,
    caller: &Caller,
    message_id: &str,
) -> Result<(MessageDoc, Room), ApiError> {
    let message = state
        .store
        .messages
        .by_id(message_id)
        .await?
        .ok_or_else(|| ApiError::not_found("message"))?;
    let room = room(state, caller, &message.conversation_id, GroupAction::Read)
        .await
        .map_err(|_| ApiError::not_found("message"))?;
    Ok((message, room))
}

pub async fn edit(
    state: &AppState,
    caller: &Caller,
    message_id: &str,
    body: &str,
) -> Result<MessageDoc, ApiError> {
    let body = parse_body(body)?;
    let (message, room) = message_in_room(state, caller, message_id).await?;
    if !may(
        room.actor,
        GroupAction::EditMessage {
            own: message.sender_id == caller.id,
        },
    ) {
        return Err(ApiError::forbidden("only the sender may edit a message"));
    }
    if message.deleted {
        return Err(ApiError::conflict("a deleted message cannot be edited"));
    }
    let edited = state
        .store
        .messages
        .edit(message_id, &body)
        .await?
        .ok_or_else(|| ApiError::conflict("a deleted message cannot be edited"))?;
    let _room = state.seq_locks.lock(&edited.conversation_id).await;
    state
        .store
        .conversations
        .update_last_message_body(&edited.conversation_id, &edited.id, &edited.body)
        .await?;
    state.hub.message_updated(&room.conversation, &edited);
    Ok(edited)
}

pub async fn delete(
    state: &AppState,
    caller: &Caller,
    message_id: &str,
) -> Result<MessageDoc, ApiError> {
    let (message, room) = message_in_room(state, caller, message_id).await?;
    if !may(
        room.actor,
        GroupAction::DeleteMessage {
            own: message.sender_id == caller.id,
        },
    ) {
        tracing::warn!(event = "forbidden", user_id = %caller.id, message_id, "message delete refused");
        return Err(ApiError::forbidden(
            "only the sender or a group admin may delete this message",
        ));
    }
    if message.deleted {
        return Ok(message);
    }
    let deleted = state
        .store
        .messages
        .tombstone(message_id)
        .await?
        .ok_or_else(|| ApiError::not_found("message"))?;
    let _room = state.seq_locks.lock(&deleted.conversation_id).await;
    state
        .store
        .conversations
        .update_last_message_body(&deleted.conversation_id, &deleted.id, "")
        .await?;
    state.hub.message_deleted(&room.conversation, &deleted);
    Ok(deleted)
}

/// Moves the caller's read marker to `seq` (clamped to the room's last seq).
pub async fn mark_read(
    state: &AppState,
    caller: &Caller,
    conversation_id: &str,
    seq: i64,
) -> Result<i64, ApiError> {
    if seq < 0 {
        return Err(ApiError::invalid_field("seq", "must not be negative"));
    }
    let room = room(state, caller, conversation_id, GroupAction::Read).await?;
    let seq = seq.min(room.conversation.last_seq);
    state
        .store
        .conversations
        .mark_read(conversation_id, &caller.id, seq)
        .await?;
    state.hub.read(&room.conversation, caller, seq);
    Ok(seq)
}
