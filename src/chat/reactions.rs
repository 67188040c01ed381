//! Reactions to messages (issue 23): toggles, and who reacted.
//!
//! A message keeps its reactions (each emoji with its reactors, `ReactionDoc`),
//! so a page of history shows them with nothing more read. A toggle is a change
//! of the message like an edit: under the conversation's edit lock (across
//! nodes too), read again, changed, stored with a fresh `rev` through the
//! conversation's writer (`Writers::update_reactions`), and announced as a
//! `reaction` delta, never the whole message. So counts are exact under
//! concurrent toggles from any node (each toggle sees the one before it), and a
//! client that was away gets each changed message's state once from a `join`
//! with `since_rev`.
//!
//! Toggles combine: each is queued for its conversation (`Toggles`), and
//! whoever takes the conversation's edit lock applies every toggle queued by
//! then, in order, as one run of writes (one insert of their changes, one write
//! per message touched). A busy room pays a round of writes per batch instead of
//! per toggle.

use super::fanout::ReactionChange;
use super::messages::{edits_of, message_in_room};
use super::writer::Live;
use super::{Caller, Chat};
use crate::error::ApiError;
use crate::error::ErrorCode;
use crate::ids::MessageId;
use crate::limits::{EMOJI_MAX_BYTES, REACTIONS_DISTINCT_MAX};
use crate::permissions::{GroupAction, may};
use crate::rate_limits::Action;
use crate::store::messages::{MessageDoc, ReactionDoc, Reactor};
use std::sync::Arc;

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::oneshot;

use crate::ids::ConversationId;

/// One toggle waiting for its conversation's edit lock.
struct Queued {
    /// Unique on this node (`Toggles::withdraw`).
    ticket: u64,
    message_id: MessageId,
    emoji: String,
    caller: Caller,
    on: bool,
    /// Whether it changed anything (a toggle to the state already there
    /// stores and announces nothing), or why it was refused.
    done: oneshot::Sender<Result<bool, ApiError>>,
    /// When it was queued (`confab_reaction_queue_seconds`).
    queued_at: std::time::Instant,
}

/// Toggles waiting, per conversation (`Chat::toggles`). Memory only: a toggle
/// is answered once applied or refused; after a crash nothing waits (the
/// client's request failed with the connection and it toggles again: toggles
/// are idempotent).
#[derive(Default)]
pub struct Toggles {
    waiting: Mutex<HashMap<ConversationId, Vec<Queued>>>,
    tickets: std::sync::atomic::AtomicU64,
}

impl Toggles {
    fn ticket(&self) -> u64 {
        self.tickets
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    fn push(&self, conversation: &ConversationId, toggle: Queued) {
        self.waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(conversation.clone())
            .or_default()
            .push(toggle);
    }

    /// The toggles queued for the conversation, but not those whose caller
    /// stopped waiting (its request went away unanswered).
    fn take(&self, conversation: &ConversationId) -> Vec<Queued> {
        let mut taken = self
            .waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(conversation)
            .unwrap_or_default();
        taken.retain(|toggle| !toggle.done.is_closed());
        taken
    }

    /// Takes the toggle back out of the queue: `false` when someone took it to
    /// apply it already (then it will be answered).
    fn withdraw(&self, conversation: &ConversationId, ticket: u64) -> bool {
        let mut waiting = self
            .waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(queue) = waiting.get_mut(conversation) else {
            return false;
        };
        let before = queue.len();
        queue.retain(|toggle| toggle.ticket != ticket);
        let withdrawn = queue.len() != before;
        if queue.is_empty() {
            waiting.remove(conversation);
        }
        withdrawn
    }
}

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
/// returns whether this call changed it (a toggle to the state already there
/// stores and announces nothing).
pub async fn react(
    chat: &Chat,
    caller: &Caller,
    message_id: &MessageId,
    emoji: &str,
    on: bool,
) -> Result<bool, ApiError> {
    submit(chat, caller, message_id, emoji, on)
        .await?
        .wait()
        .await
}

/// A toggle queued for its conversation (`submit`), not yet applied.
#[must_use = "a toggle is applied by `wait`"]
pub struct Submitted {
    chat: Chat,
    room: super::access::Room,
    ticket: u64,
    outcome: oneshot::Receiver<Result<bool, ApiError>>,
}

/// The first half of `react`: checks the toggle (emoji, rate, access) and
/// queues it for its conversation, so a connection's toggles are applied in
/// the order it sent them even when it waits for none of them (the gateway
/// reads its next frame meanwhile, as for sends).
#[tracing::instrument(name = "chat.reactions.react", level = "debug", skip_all, fields(user = %caller.id, message = %message_id, on), err(level = "debug"))]
pub async fn submit(
    chat: &Chat,
    caller: &Caller,
    message_id: &MessageId,
    emoji: &str,
    on: bool,
) -> Result<Submitted, ApiError> {
    let emoji = parse_emoji(emoji)?;
    // A toggle costs what a send costs (a write, a frame to every member).
    chat.rate_limits.check(&caller.id, Action::Send).await?;
    let (_, room) = message_in_room(chat, caller, message_id, false).await?;
    if !may(room.actor, GroupAction::Send) {
        return Err(ApiError::forbidden("only members may react"));
    }
    let (done, outcome) = oneshot::channel();
    let ticket = chat.toggles.ticket();
    chat.toggles.push(
        &room.live.id,
        Queued {
            ticket,
            message_id: message_id.clone(),
            emoji,
            caller: caller.clone(),
            on,
            done,
            queued_at: std::time::Instant::now(),
        },
    );
    Ok(Submitted {
        chat: chat.clone(),
        room,
        ticket,
        outcome,
    })
}

impl Submitted {
    /// The second half of `react`: takes the conversation's edit lock and
    /// applies every toggle queued by then (this one included, unless an
    /// earlier lock holder took it), and answers this one.
    pub async fn wait(self) -> Result<bool, ApiError> {
        let Self {
            chat,
            room,
            ticket,
            outcome,
        } = self;
        match edits_of(&chat, &room).await {
            Ok(edits) => {
                // This toggle, and every other queued meanwhile, unless whoever
                // held the lock before took them. Applied in a task of its own,
                // holding the lock: the toggles of others must be answered even
                // if this caller goes away.
                let batch = chat.toggles.take(&room.live.id);
                if !batch.is_empty() {
                    let live = Arc::clone(&room.live);
                    let chat = chat.clone();
                    tokio::spawn(async move { apply(&chat, &live, &edits, batch).await });
                }
            }
            // Refused: the toggle leaves the queue, or a later lock holder would
            // apply it after this caller was told it failed (and had perhaps
            // toggled back since). If one took it already, its answer stands.
            Err(err) if chat.toggles.withdraw(&room.live.id, ticket) => return Err(err),
            Err(_) => {}
        }
        outcome.await.map_err(|_| {
            ApiError::new(
                ErrorCode::ServerBusy,
                "the reaction was not applied; try again",
            )
        })?
    }
}

/// Applies queued toggles of one conversation in order, under its edit lock,
/// and answers each.
async fn apply(chat: &Chat, live: &Arc<Live>, edits: &super::Exclusive, batch: Vec<Queued>) {
    metrics::histogram!("confab_reaction_batch_toggles").record(batch.len() as f64);
    let started = std::time::Instant::now();
    let queued = metrics::histogram!("confab_reaction_queue_seconds");
    for toggle in &batch {
        queued.record(started.duration_since(toggle.queued_at).as_secs_f64());
    }
    // Each message as the toggles before leave it, and the changes in order
    // (the message each changes, and how). Nothing is cloned per toggle: a busy
    // message carries hundreds of reactors.
    let mut now: HashMap<i64, MessageDoc> = HashMap::new();
    let mut changed: Vec<(i64, ReactionChange)> = Vec::new();
    let mut answers: Vec<(Queued, Result<bool, ApiError>)> = Vec::new();
    for toggle in batch {
        let outcome = async {
            let seq = toggle
                .message_id
                .parts()
                .map(|(_, seq)| seq)
                .ok_or_else(|| ApiError::not_found("message"))?;
            let message = match now.entry(seq) {
                std::collections::hash_map::Entry::Occupied(known) => known.into_mut(),
                std::collections::hash_map::Entry::Vacant(slot) => {
                    let (message, _) =
                        message_in_room(chat, &toggle.caller, &toggle.message_id, edits.shared())
                            .await?;
                    slot.insert(message)
                }
            };
            if message.deleted {
                return Err(ApiError::conflict("a deleted message takes no reactions"));
            }
            let Some(change) = toggle_in(
                &mut message.reactions,
                &toggle.emoji,
                &toggle.caller,
                toggle.on,
            )?
            else {
                return Ok(false);
            };
            changed.push((seq, change));
            Ok(true)
        }
        .await;
        answers.push((toggle, outcome));
    }
    metrics::histogram!("confab_reaction_batch_seconds", "stage" => "read")
        .record(started.elapsed().as_secs_f64());
    let storing = std::time::Instant::now();
    let stored = match edits.still_held() {
        Ok(()) => {
            let seqs: Vec<i64> = changed.iter().map(|(seq, _)| *seq).collect();
            chat.writers
                .update_reactions(
                    live,
                    now.into_values().collect(),
                    &seqs,
                    |doc, message, i, rev| {
                        if let Some((_, change)) = changed.get_mut(i) {
                            change.rev = rev;
                            chat.changes.reaction(doc, message, change);
                        }
                    },
                )
                .await
        }
        Err(err) => Err(err),
    };
    metrics::histogram!("confab_reaction_batch_seconds", "stage" => "store")
        .record(storing.elapsed().as_secs_f64());
    for (toggle, outcome) in answers {
        let answer = match (outcome, &stored) {
            (Ok(true), Err(err)) => Err(err.clone()),
            (outcome, _) => outcome,
        };
        let _ = toggle.done.send(answer);
    }
}

/// Applies a toggle to a message's reactions; `None` when it changes nothing.
/// The `REACTIONS_DISTINCT_MAX + 1`th distinct emoji is refused (422).
fn toggle_in(
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
        rev: 0,
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
    fn a_refused_toggle_leaves_the_queue_and_an_abandoned_one_is_not_applied() {
        let toggles = Toggles::default();
        let conv: ConversationId = "c".into();
        let queue = |toggles: &Toggles| {
            let (done, outcome) = oneshot::channel();
            let ticket = toggles.ticket();
            toggles.push(
                &conv,
                Queued {
                    ticket,
                    message_id: MessageId::new(&conv, 1),
                    emoji: "👍".into(),
                    caller: caller("a"),
                    on: true,
                    done,
                    queued_at: std::time::Instant::now(),
                },
            );
            (ticket, outcome)
        };
        let (refused, _waits) = queue(&toggles);
        let (kept, _waits_too) = queue(&toggles);
        let (abandoned, gone) = queue(&toggles);
        assert!(toggles.withdraw(&conv, refused));
        assert!(!toggles.withdraw(&conv, refused), "withdrawn once");
        drop(gone); // its caller went away unanswered
        let taken: Vec<u64> = toggles.take(&conv).iter().map(|t| t.ticket).collect();
        assert_eq!(taken, [kept], "not {refused} nor {abandoned}");
        assert!(
            !toggles.withdraw(&conv, kept),
            "taken to be applied: its answer comes from whoever took it"
        );
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
        let on = toggle_in(&mut r, "👍", &a, true).ok().flatten();
        assert_eq!(on.map(|c| c.count), Some(1));
        assert!(toggle_in(&mut r, "👍", &a, true).ok().flatten().is_none());
        assert_eq!(
            toggle_in(&mut r, "👍", &b, true)
                .ok()
                .flatten()
                .map(|c| c.count),
            Some(2)
        );
        assert_eq!(
            toggle_in(&mut r, "👍", &a, false)
                .ok()
                .flatten()
                .map(|c| c.count),
            Some(1)
        );
        assert!(toggle_in(&mut r, "👍", &a, false).ok().flatten().is_none());
        assert!(toggle_in(&mut r, "🎉", &a, false).ok().flatten().is_none());
        assert_eq!(
            toggle_in(&mut r, "👍", &b, false)
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
            assert!(toggle_in(&mut r, e, &a, true).is_ok());
        }
        let over = toggle_in(&mut r, &all[REACTIONS_DISTINCT_MAX], &b, true);
        assert_eq!(
            over.err().map(|e| e.code),
            Some(crate::error::ErrorCode::ValidationFailed)
        );
        assert!(
            toggle_in(&mut r, &all[0], &b, true).is_ok(),
            "one already there is fine"
        );
    }
}
