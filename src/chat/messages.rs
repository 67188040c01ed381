//! Messages: the one send path (REST and WebSocket), history, edits, deletes, reads.

use super::Caller;
use super::Chat;
use super::access::{Room, check_seq, room};
use super::dms;
use super::writer::{Draft, Joined, OnStored, Since, Ticket};
use crate::domain::clean_text;
use crate::error::ApiError;
use crate::error::ErrorCode;
use crate::ids::{ConversationId, MessageId};
use crate::limits::JOIN_REPLAY_MAX;
use crate::limits::{CLIENT_ID_MAX_CHARS, MESSAGE_BODY_MAX_CHARS};
use crate::permissions::{GroupAction, may};
use crate::rate_limits::Action;
use crate::store::messages::{HistoryWindow, MessageDoc};
use crate::store::now;

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

/// The result of a send: the stored message, and whether this call stored it
/// (`false`: the `client_id` was seen before and this is the first message again).
pub struct Sent {
    pub message: MessageDoc,
    pub created: bool,
}

/// Checks the caller's send rate (per user: REST and every
/// socket together), validates, authorizes and hands the message to the
/// conversation's writer (`chat::writer`), which gives it the next `seq`, stores
/// it, calls `on_stored` (the gateway's ack), then fans it out. The message is
/// stored before anything reports success; a repeated `client_id` stores nothing.
#[tracing::instrument(name = "chat.messages.send", level = "debug", skip_all, fields(user = %caller.id, conversation = %conversation_id), err(level = "debug"))]
pub async fn send(
    chat: &Chat,
    caller: &Caller,
    conversation_id: &ConversationId,
    body: &str,
    client_id: Option<&str>,
    reply_to: Option<&str>,
    on_stored: Option<OnStored>,
) -> Result<Sent, ApiError> {
    let (message, created) = enqueue(
        chat,
        caller,
        conversation_id,
        body,
        client_id,
        reply_to,
        on_stored,
    )
    .await?
    .wait()
    .await?;
    Ok(Sent { message, created })
}

/// The first half of `send`: validated, authorized and queued with its `seq`,
/// without waiting for the database. The gateway submits a connection's sends in
/// order and waits for their outcomes concurrently.
#[tracing::instrument(name = "chat.messages.submit", level = "debug", skip_all, fields(user = %caller.id, conversation = %conversation_id), err(level = "debug"))]
pub async fn enqueue(
    chat: &Chat,
    caller: &Caller,
    conversation_id: &ConversationId,
    body: &str,
    client_id: Option<&str>,
    reply_to: Option<&str>,
    on_stored: Option<OnStored>,
) -> Result<Ticket, ApiError> {
    chat.rate_limits.check(&caller.id, Action::Send).await?;
    let body = parse_body(body)?;
    let client_id = client_id.map(parse_client_id).transpose()?;
    let room = room(chat, caller, conversation_id, GroupAction::Send).await?;
    let reply_to = match reply_to {
        Some(raw) => Some(Box::new(
            super::replies::parse_reply_to(chat, &room, raw).await?,
        )),
        None => None,
    };
    let draft = Draft {
        sender_id: caller.id.clone(),
        sender_username: caller.username.clone(),
        body,
        client_id,
        reply_to,
    };
    // Here, or on the conversation's owner node (cluster mode), which hands out
    // its seqs.
    chat.router.dispatch(&room.live, draft, on_stored).await
}

/// The messages changed (edited, deleted) after `since_rev`, as they are now,
/// ascending by `rev`: at most `limit` changes' worth. Returns them, the rev
/// this page covers up to, and whether more changes lie beyond it.
#[tracing::instrument(name = "chat.messages.changes", level = "debug", skip_all, fields(user = %caller.id, conversation = %conversation_id, since_rev, limit), err(level = "debug"))]
pub async fn changes(
    chat: &Chat,
    caller: &Caller,
    conversation_id: &ConversationId,
    since_rev: i64,
    limit: u32,
) -> Result<(Vec<MessageDoc>, i64, bool), ApiError> {
    chat.rate_limits.check(&caller.id, Action::History).await?;
    check_seq("since_rev", since_rev)?;
    let room = room(chat, caller, conversation_id, GroupAction::Read).await?;
    let last_rev = room.live.lock_last_rev();
    let upto = last_rev.min(since_rev.saturating_add(i64::from(limit.max(1))));
    let mut changed = chat
        .writers
        .changed_since(&room.live, since_rev, upto, limit.max(1) as usize)
        .await?
        .unwrap_or_default();
    super::replies::refresh(chat, &room, &mut changed).await?;
    Ok((changed, upto.max(since_rev), upto < last_rev))
}

/// A page of history in ascending `seq`, and whether more lies beyond it.
#[tracing::instrument(name = "chat.messages.history", level = "debug", skip_all, fields(user = %caller.id, conversation = %conversation_id, ?window, limit), err(level = "debug"))]
pub async fn history(
    chat: &Chat,
    caller: &Caller,
    conversation_id: &ConversationId,
    window: HistoryWindow,
    limit: u32,
) -> Result<(Vec<MessageDoc>, bool), ApiError> {
    chat.rate_limits.check(&caller.id, Action::History).await?;
    match window {
        HistoryWindow::Before(seq) => _ = check_seq("before", seq)?,
        HistoryWindow::After(seq) => _ = check_seq("after", seq)?,
        HistoryWindow::Latest => {}
    }
    for attempt in 0..JOIN_ATTEMPTS {
        // `room` reloads a copy that needs it (`Live::needs_reload`) once nothing
        // of its own is in flight.
        let room = room(chat, caller, conversation_id, GroupAction::Read).await?;
        let mut page = chat.writers.history(&room.live, window, limit).await?;
        if !room.live.needs_reload() {
            super::replies::refresh(chat, &room, &mut page.0).await?;
            return Ok(page);
        }
        // The copy is stale (events from other nodes may have been missed): a
        // page with a hole would move the client's cursor past messages it never
        // got. Read again from the reloaded copy.
        settle(attempt).await;
    }
    Err(ApiError::new(
        ErrorCode::ServerBusy,
        "the conversation is reloading; read it again shortly",
    ))
}

/// Subscribes a connection to a room (`register`, under the writer's lock, with
/// the replay to queue before any live message) and returns the replay after
/// `since`, the last seq and whether the replay was cut.
/// A member removed while this runs does not end up subscribed: the access check
/// is repeated if a removal happened between it and the registration.
#[tracing::instrument(name = "chat.messages.join", level = "debug", skip_all, fields(user = %caller.id, conversation = %conversation_id, ?resume), err(level = "debug"))]
pub async fn join<R>(
    chat: &Chat,
    caller: &Caller,
    conversation_id: &ConversationId,
    resume: Since,
    mut register: impl FnMut(bool, &[MessageDoc], &[MessageDoc]) -> R,
) -> Result<Joined<R>, ApiError> {
    if let Some(since) = resume.seq {
        check_seq("since", since)?;
    }
    if let Some(since_rev) = resume.rev {
        check_seq("since_rev", since_rev)?;
    }
    let since = resume.seq;
    // Authorized before anything is loaded into memory (`access::room`); the loop
    // below repeats the check around the registration.
    room(chat, caller, conversation_id, GroupAction::Send).await?;
    for attempt in 0..JOIN_ATTEMPTS {
        let epoch = chat.writers.get(conversation_id).await?.membership_epoch();
        let room = room(chat, caller, conversation_id, GroupAction::Send).await?;
        if attempt == 0
            && chat.router.copies_trail()
            && let Some(since) = since
        {
            // The client saw `since` on another node; this node's copy follows
            // that node's writes one Redis hop behind. Wait (briefly) until it has
            // caught up, or `since`'s own messages would come again as live events.
            room.live
                .caught_up(since, tokio::time::Instant::now() + CLUSTER_CATCH_UP)
                .await;
        }
        // In a DM, a participant is present to the other only once they have
        // written there (as for `online`: opening a DM reveals nothing).
        let visible = !room.is_direct() || dms::has_written(&room.conversation, &caller.id);
        if let Some(joined) = chat
            .writers
            .join(
                &room.live,
                epoch,
                resume,
                JOIN_REPLAY_MAX,
                |replay, changes| register(visible, replay, changes),
            )
            .await?
        {
            return Ok(joined);
        }
        settle(attempt).await;
    }
    Err(ApiError::conflict(
        "the membership or this node's copy of the conversation changed while joining; join again",
    ))
}

/// A join retried this often while memberships keep changing, or its copy stays
/// stale, gives up (409); a history read likewise (503).
const JOIN_ATTEMPTS: u32 = 8;

/// Between attempts: 5 ms, doubling (about 1.3 s over all of them), for a stale
/// copy's own sends to finish so that it can reload.
async fn settle(attempt: u32) {
    tokio::time::sleep(std::time::Duration::from_millis(5 << attempt.min(7))).await;
}
/// Cluster mode: how long a `join` waits for this node's copy to reach `since`.
const CLUSTER_CATCH_UP: std::time::Duration = std::time::Duration::from_secs(2);

/// Loads a message and the room it is in, as the caller may see it.
/// `fresh`: read from the database, not this node's copy (under a cluster-wide
/// lock, after another node's edit that may not have reached the copy yet).
pub(super) async fn message_in_room(
    chat: &Chat,
    caller: &Caller,
    message_id: &MessageId,
    fresh: bool,
) -> Result<(MessageDoc, Room), ApiError> {
    let not_found = || ApiError::not_found("message");
    let (conversation_id, seq) = message_id.parts().ok_or_else(not_found)?;
    let room = room(chat, caller, &conversation_id, GroupAction::Read)
        .await
        .map_err(|err| match err.code {
            ErrorCode::DatabaseUnavailable => err,
            _ => not_found(),
        })?;
    let message = if fresh {
        chat.store.messages.by_seq(&conversation_id, seq).await?
    } else {
        chat.writers.message(&room.live, seq).await?
    };
    Ok((message.ok_or_else(not_found)?, room))
}

/// The lock serialising a conversation's edits and deletes.
pub(super) async fn edits_of(chat: &Chat, room: &Room) -> Result<super::Exclusive, ApiError> {
    super::exclusive(chat, &format!("edits:{}", room.live.id)).await
}

#[tracing::instrument(name = "chat.messages.edit", level = "debug", skip_all, fields(user = %caller.id, message = %message_id), err(level = "debug"))]
pub async fn edit(
    chat: &Chat,
    caller: &Caller,
    message_id: &MessageId,
    body: &str,
) -> Result<MessageDoc, ApiError> {
    let body = parse_body(body)?;
    // An edit costs what a send costs (a write, a publish, a frame to every
    // member): it draws on the same bucket.
    chat.rate_limits.check(&caller.id, Action::Send).await?;
    let (_, room) = message_in_room(chat, caller, message_id, false).await?;
    // Edits and deletes of a conversation are serialised (across nodes too), and
    // the message is read again under that lock: an edit cannot resurrect a
    // deleted message.
    let edits = edits_of(chat, &room).await?;
    let (message, _) = message_in_room(chat, caller, message_id, edits.shared()).await?;
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
    let mut edited = message;
    edited.body = body;
    edited.edited_at = Some(now());
    edits.still_held()?;
    chat.writers
        .update_message(&room.live, &edited, |doc, now| {
            chat.changes.message_updated(doc, now);
        })
        .await
}

#[tracing::instrument(name = "chat.messages.delete", level = "debug", skip_all, fields(user = %caller.id, message = %message_id), err(level = "debug"))]
pub async fn delete(
    chat: &Chat,
    caller: &Caller,
    message_id: &MessageId,
) -> Result<MessageDoc, ApiError> {
    chat.rate_limits.check(&caller.id, Action::Send).await?;
    let (_, room) = message_in_room(chat, caller, message_id, false).await?;
    let edits = edits_of(chat, &room).await?;
    let (message, _) = message_in_room(chat, caller, message_id, edits.shared()).await?;
    if !may(
        room.actor,
        GroupAction::DeleteMessage {
            own: message.sender_id == caller.id,
        },
    ) {
        tracing::warn!(event = "forbidden", user_id = %caller.id, %message_id, "message delete refused");
        return Err(ApiError::forbidden(
            "only the sender or a group admin may delete this message",
        ));
    }
    if message.deleted {
        return Ok(message);
    }
    let mut deleted = message;
    deleted.body = String::new();
    deleted.deleted = true;
    // Reactions vanish with the message.
    deleted.reactions.clear();
    edits.still_held()?;
    chat.writers
        .update_message(&room.live, &deleted, |doc, now| {
            chat.changes.message_deleted(doc, now);
        })
        .await
}

/// Moves the caller's read marker to `seq` (clamped to the room's last seq). A
/// `read` event goes out only when the marker moved. Rate limited per user.
#[tracing::instrument(name = "chat.messages.mark_read", level = "debug", skip_all, fields(user = %caller.id, conversation = %conversation_id, seq), err(level = "debug"))]
pub async fn mark_read(
    chat: &Chat,
    caller: &Caller,
    conversation_id: &ConversationId,
    seq: i64,
) -> Result<i64, ApiError> {
    chat.rate_limits.check(&caller.id, Action::Read).await?;
    check_seq("seq", seq)?;
    let room = room(chat, caller, conversation_id, GroupAction::Read).await?;
    chat.writers
        .mark_read(&room.live, &caller.id, seq, |doc, seq| {
            chat.changes.read(doc, caller, seq);
        })
        .await
}
