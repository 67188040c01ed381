//! Replies (issue 23): a message may answer another of its conversation
//! (`reply_to`); it shows an excerpt of that message as it is now, and a
//! message's replies can be listed.
//!
//! A reply keeps a snapshot of what it answers (`ReplyRef`, taken at send);
//! reads refresh it from the message itself (`refresh`: the window or a history
//! block, by `_id`), so the excerpt follows edits and a deletion. The batcher
//! lists each stored reply under the message it answers (`store::threads`)
//! before it is acked; listing is one `_id` lookup and the replies come from the
//! window or blocks. Threads with their own unread state can hang off the same
//! document later.

use super::access::{Room, room};
use super::{Caller, Chat};
use crate::error::{ApiError, ErrorCode};
use crate::ids::MessageId;
use crate::permissions::GroupAction;
use crate::rate_limits::Action;
use crate::store::messages::{MessageDoc, ReplyRef};

/// What a reply to `original` shows of it, as it is now.
fn target(original: &MessageDoc) -> ReplyRef {
    ReplyRef {
        id: original.id.clone(),
        seq: original.seq,
        sender_id: original.sender_id.clone(),
        sender_username: original.sender_username.clone(),
        excerpt: original
            .visible_body()
            .chars()
            .take(crate::limits::REPLY_EXCERPT_CHARS)
            .collect(),
        deleted: original.deleted,
    }
}

/// `reply_to` of a send into `room`: a message of the same conversation (any
/// other is 422), that exists (404) and is not deleted (409), as it is now.
pub async fn parse_reply_to(chat: &Chat, room: &Room, raw: &str) -> Result<ReplyRef, ApiError> {
    let id = MessageId::parse(raw).ok_or_else(|| {
        ApiError::invalid_field(
            "reply_to",
            "must be the id of a message in this conversation",
        )
    })?;
    let (conversation, seq) = id.parts().ok_or_else(|| {
        ApiError::invalid_field(
            "reply_to",
            "must be the id of a message in this conversation",
        )
    })?;
    if conversation != room.live.id {
        return Err(ApiError::invalid_field(
            "reply_to",
            "must be a message of the same conversation",
        ));
    }
    let original = chat
        .writers
        .message(&room.live, seq)
        .await?
        .ok_or_else(|| ApiError::not_found("message"))?;
    if original.deleted {
        return Err(ApiError::conflict("a deleted message cannot be replied to"));
    }
    Ok(target(&original))
}

/// Brings each reply's view of the message it answers up to date (its text now,
/// or deleted). All of `messages` are of `room`'s conversation.
pub async fn refresh(
    chat: &Chat,
    room: &Room,
    messages: &mut [MessageDoc],
) -> Result<(), ApiError> {
    for message in messages.iter_mut() {
        let Some(seq) = message.reply_to.as_ref().map(|r| r.seq) else {
            continue;
        };
        if let Some(original) = chat.writers.message(&room.live, seq).await? {
            message.reply_to = Some(Box::new(target(&original)));
        }
    }
    Ok(())
}

/// The replies to a message, ascending by seq: `limit` after seq `after`, and
/// whether more follow. Deleted replies are listed as tombstones, as in history.
#[tracing::instrument(name = "chat.replies.list", level = "debug", skip_all, fields(user = %caller.id, message = %message_id), err(level = "debug"))]
pub async fn replies(
    chat: &Chat,
    caller: &Caller,
    message_id: &MessageId,
    after: i64,
    limit: u32,
) -> Result<(Vec<MessageDoc>, bool), ApiError> {
    chat.rate_limits.check(&caller.id, Action::History).await?;
    super::access::check_seq("after", after)?;
    let not_found = || ApiError::not_found("message");
    let (conversation, seq) = message_id.parts().ok_or_else(not_found)?;
    let room = room(chat, caller, &conversation, GroupAction::Read)
        .await
        .map_err(|err| match err.code {
            ErrorCode::DatabaseUnavailable => err,
            _ => not_found(),
        })?;
    chat.writers
        .message(&room.live, seq)
        .await?
        .ok_or_else(not_found)?;
    let seqs = chat.store.threads.replies(message_id).await?;
    let limit = limit.max(1) as usize;
    let mut page = Vec::new();
    let mut more = false;
    for seq in seqs.into_iter().filter(|&s| s > after) {
        // A seq listed for a message that is not this one's reply (a seq handed
        // out again after a crash) is skipped.
        let Some(reply) = chat.writers.message(&room.live, seq).await? else {
            continue;
        };
        if reply.reply_to.as_ref().is_none_or(|r| &r.id != message_id) {
            continue;
        }
        if page.len() == limit {
            more = true;
            break;
        }
        page.push(reply);
    }
    refresh(chat, &room, &mut page).await?;
    Ok((page, more))
}
