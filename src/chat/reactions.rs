//! Reactions to messages (issue 23): toggles, and who reacted.
//!
//! A message keeps its reactions (each emoji with its reactors, `ReactionDoc`),
//! so a page of history shows them with nothing more read. A toggle is a change
//! of the message like an edit: under the conversation's edit lock (across
//! nodes too), read again, changed, stored with a fresh `rev` through the
//! conversation's writer (`Writers::update_message`, `Touches::Reactions`),
//! and announced as a `reaction` delta, never the whole message. So counts are
//! exact under concurrent toggles from any node (each toggle sees the one
//! before it), and a client that was away gets each changed message's state
//! once from a `join` with `since_rev`.

use super::fanout::ReactionChange;
use super::messages::{edits_of, message_in_room};
use super::{Caller, Chat};
use crate::error::ApiError;
use crate::ids::MessageId;
use crate::limits::{EMOJI_MAX_BYTES, REACTIONS_DISTINCT_MAX};
use crate::permissions::{GroupAction, may};
use crate::rate_limits::Action;
use crate::store::messages::{MessageDoc, ReactionDoc, Reactor};

use super::writer::Touches;

/// One emoji, in its canonical form: a Unicode emoji sequence the `emojis`
/// crate knows (skin tones included; with or without its variation selector),
/// or a GitHub shortcode (`:+1:`) standing for one. At most
/// `EMOJI_MAX_BYTES` bytes as sent.
pub fn parse_emoji(raw: &str) -> Result<String, ApiError> {
    let invalid = || {
        ApiError::invalid_field(
            "emoji",
            format!(
                "must be one emoji (like 👍) or its shortcode (like :+1:), at most {EMOJI_MAX_BYTES} bytes"
            ),
        )
    };
    if raw.is_empty() || raw.len() > EMOJI_MAX_BYTES {
        return Err(invalid());
    }
    let found = match raw
        .strip_prefix(':')
        .and_then(|name| name.strip_suffix(':'))
    {
        Some(name) => emojis::get_by_shortcode(name),
        None => emojis::get(raw),
    };
    found.map(|e| e.as_str().to_owned()).ok_or_else(invalid)
}

/// Adds (`on`) or removes the caller's `emoji` reaction to a message. Idempotent:
/// returns the message as it is now and whether this call changed it (a toggle
/// to the state already there stores and announces nothing).
#[tracing::instrument(name = "chat.reactions.react", level = "debug", skip_all, fields(user = %caller.id, message = %message_id, on), err(level = "debug"))]
pub async fn react(
    chat: &Chat,
    caller: &Caller,
    message_id: &MessageId,
    emoji: &str,
    on: bool,
) -> Result<(MessageDoc, bool), ApiError> {
    let emoji = parse_emoji(emoji)?;
    // A toggle costs what a send costs (a write, a frame to every member).
    chat.rate_limits.check(&caller.id, Action::Send).await?;
    let (_, room) = message_in_room(chat, caller, message_id, false).await?;
    if !may(room.actor, GroupAction::Send) {
        return Err(ApiError::forbidden("only members may react"));
    }
    let edits = edits_of(chat, &room).await?;
    let (message, _) = message_in_room(chat, caller, message_id, edits.shared()).await?;
    if message.deleted {
        return Err(ApiError::conflict("a deleted message takes no reactions"));
    }
    let mut changed = message.clone();
    let Some(change) = toggle(&mut changed.reactions, &emoji, caller, on)? else {
        return Ok((message, false));
    };
    edits.still_held()?;
    let now = chat
        .writers
        .update_message(&room.live, &changed, Touches::Reactions, |doc, now| {
            chat.changes.reaction(doc, now, &change);
        })
        .await?;
    Ok((now, true))
}

/// Applies a toggle to a message's reactions; `None` when it changes nothing.
/// The `REACTIONS_DISTINCT_MAX + 1`th distinct emoji is refused (422).
fn toggle(
    reactions: &mut Vec<ReactionDoc>,
    emoji: &str,
    caller: &Caller,
    on: bool,
) -> Result<Option<ReactionChange>, ApiError> {
    let at = reactions.iter().position(|r| r.emoji == emoji);
    let has = at.is_some_and(|i| reactions[i].users.iter().any(|u| u.id == caller.id));
    if has == on {
        return Ok(None);
    }
    let user = Reactor {
        id: caller.id.clone(),
        username: caller.username.clone(),
    };
    let count = match (at, on) {
        (Some(i), true) => {
            reactions[i].users.push(user.clone());
            reactions[i].users.len()
        }
        (None, true) => {
            if reactions.len() >= REACTIONS_DISTINCT_MAX {
                return Err(ApiError::invalid_field(
                    "emoji",
                    format!(
                        "a message takes at most {REACTIONS_DISTINCT_MAX} different emoji; react with one already there"
                    ),
                ));
            }
            reactions.push(ReactionDoc {
                emoji: emoji.to_owned(),
                users: vec![user.clone()],
            });
            1
        }
        (Some(i), false) => {
            reactions[i].users.retain(|u| u.id != caller.id);
            let left = reactions[i].users.len();
            if left == 0 {
                reactions.remove(i);
            }
            left
        }
        // `has` is false and `on` is false: returned above.
        (None, false) => return Ok(None),
    };
    Ok(Some(ReactionChange {
        emoji: emoji.to_owned(),
        user,
        on,
        count,
    }))
}

/// Who reacted to a message with `emoji`: by username, `limit` after the
/// username `after`, and whether more follow.
#[tracing::instrument(name = "chat.reactions.reactors", level = "debug", skip_all, fields(user = %caller.id, message = %message_id), err(level = "debug"))]
pub async fn reactors(
    chat: &Chat,
    caller: &Caller,
    message_id: &MessageId,
    emoji: &str,
    after: Option<&str>,
    limit: u32,
) -> Result<(Vec<Reactor>, bool), ApiError> {
    let emoji = parse_emoji(emoji)?;
    chat.rate_limits.check(&caller.id, Action::History).await?;
    let (message, _) = message_in_room(chat, caller, message_id, false).await?;
    let mut users: Vec<Reactor> = message
        .reactions
        .into_iter()
        .find(|r| r.emoji == emoji)
        .map(|r| r.users)
        .unwrap_or_default();
    users.retain(|u| after.is_none_or(|after| u.username.as_str() > after));
    users.sort_by(|a, b| a.username.cmp(&b.username));
    let limit = limit.max(1) as usize;
    let more = users.len() > limit;
    users.truncate(limit);
    Ok((users, more))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;

    fn caller(id: &str) -> Caller {
        Caller {
            id: id.into(),
            username: format!("user_{id}"),
            role: Role::User,
        }
    }

    #[test]
    fn emoji_are_canonical_and_junk_is_refused() {
        assert_eq!(parse_emoji("👍").as_deref().ok(), Some("👍"));
        assert_eq!(parse_emoji(":+1:").as_deref().ok(), Some("👍"));
        assert_eq!(parse_emoji(":thumbsup:").as_deref().ok(), Some("👍"));
        assert!(parse_emoji("👍🏽").is_ok(), "skin tones are emoji");
        assert!(parse_emoji("👨‍👩‍👧").is_ok(), "ZWJ sequences are emoji");
        assert_eq!(parse_emoji("❤").ok(), parse_emoji("❤️").ok());
        for junk in [
            "",
            "a",
            "👍👍",
            ":nope_not_an_emoji:",
            "::",
            ":+1",
            " 👍",
            "<script>",
            &"👍".repeat(20),
        ] {
            assert!(parse_emoji(junk).is_err(), "{junk:?}");
        }
    }

    #[test]
    fn toggles_count_each_user_once_and_cap_distinct_emoji() {
        let mut r = Vec::new();
        let a = caller("a");
        let b = caller("b");
        let on = toggle(&mut r, "👍", &a, true).ok().flatten();
        assert_eq!(on.map(|c| c.count), Some(1));
        assert!(toggle(&mut r, "👍", &a, true).ok().flatten().is_none());
        assert_eq!(
            toggle(&mut r, "👍", &b, true)
                .ok()
                .flatten()
                .map(|c| c.count),
            Some(2)
        );
        assert_eq!(
            toggle(&mut r, "👍", &a, false)
                .ok()
                .flatten()
                .map(|c| c.count),
            Some(1)
        );
        assert!(toggle(&mut r, "👍", &a, false).ok().flatten().is_none());
        assert!(toggle(&mut r, "🎉", &a, false).ok().flatten().is_none());
        assert_eq!(
            toggle(&mut r, "👍", &b, false)
                .ok()
                .flatten()
                .map(|c| c.count),
            Some(0)
        );
        assert!(r.is_empty(), "an emoji nobody uses is gone");

        let all: Vec<String> = emojis::iter()
            .take(REACTIONS_DISTINCT_MAX + 1)
            .map(|e| e.as_str().to_owned())
            .collect();
        for e in &all[..REACTIONS_DISTINCT_MAX] {
            assert!(toggle(&mut r, e, &a, true).is_ok());
        }
        let over = toggle(&mut r, &all[REACTIONS_DISTINCT_MAX], &b, true);
        assert_eq!(
            over.err().map(|e| e.code),
            Some(crate::error::ErrorCode::ValidationFailed)
        );
        assert!(
            toggle(&mut r, &all[0], &b, true).is_ok(),
            "one already there is fine"
        );
    }
}
