//! Direct messages: one conversation per pair of users.

use super::Caller;
use super::Chat;
use crate::error::ApiError;
use crate::ids::{ConversationId, UserId};
use crate::rate_limits::Action;
use crate::store::conversations::{ConversationDoc, ConversationKind, ConversationStore, dm_key};
use crate::store::is_duplicate_key;

/// The id DMs had before ids were random: the first 24 hex digits of
/// SHA-256(`dm:<smaller id>:<larger id>`). DMs opened then keep it; `find` still
/// finds them by it.
pub fn legacy_dm_id(a: &UserId, b: &UserId) -> ConversationId {
    use sha2::{Digest, Sha256};
    let mut id = hex::encode(Sha256::digest(dm_key(a, b).as_bytes()));
    id.truncate(crate::ids::OBJECT_ID_LEN);
    ConversationId::from_trusted(id)
}

/// A fresh DM id: 12 random bytes as 24 hex digits (like every other id, but not
/// derivable from the two user ids, and not guessable like an ObjectId).
fn random_dm_id() -> ConversationId {
    use rand::RngCore;
    let mut bytes = [0u8; crate::ids::OBJECT_ID_LEN / 2];
    rand::rng().fill_bytes(&mut bytes);
    ConversationId::from_trusted(hex::encode(bytes))
}

/// The DM of `a` and `b`, if it exists: the pair's record (an `_id` lookup), or
/// for a DM opened before ids were random, its derived id (another `_id` lookup).
pub async fn find(
    chat: &Chat,
    a: &UserId,
    b: &UserId,
) -> Result<Option<ConversationDoc>, ApiError> {
    let conversations = &chat.store.conversations;
    if let Some(id) = conversations.dm_pair(&dm_key(a, b)).await? {
        return Ok(conversations.by_id(&id).await?);
    }
    Ok(conversations
        .by_id(&legacy_dm_id(a, b))
        .await?
        .filter(|c| c.kind == ConversationKind::Direct))
}

/// Opens (idempotently, from either side) the DM between the caller and `peer_id`.
/// Returns the conversation and whether it was created now.
#[tracing::instrument(name = "chat.dms.open", level = "debug", skip(chat, caller), fields(user = %caller.id, peer = %peer_id), err(level = "debug"))]
pub async fn open(
    chat: &Chat,
    caller: &Caller,
    peer_id: &UserId,
) -> Result<(ConversationDoc, bool), ApiError> {
    chat.rate_limits
        .check(&caller.id, Action::Membership)
        .await?;
    if *peer_id == caller.id {
        return Err(ApiError::invalid_field(
            "user_id",
            "cannot open a direct conversation with yourself",
        ));
    }
    let peer = chat
        .store
        .users
        .by_id(peer_id)
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(|| ApiError::not_found("user"))?;
    if let Some(existing) = find(chat, &caller.id, &peer.id).await? {
        return Ok((existing, false));
    }
    let key = dm_key(&caller.id, &peer.id);
    let conversations = &chat.store.conversations;
    // The pair's record decides which id the DM gets: the first claim wins, and
    // whoever lost uses the winner's id.
    let mut id = random_dm_id();
    if !conversations.claim_dm_pair(&key, &id).await? {
        id = conversations
            .dm_pair(&key)
            .await?
            .ok_or_else(ApiError::database_unavailable)?;
    }
    let conversation = ConversationStore::new_doc(
        id.clone(),
        ConversationKind::Direct,
        key.clone(),
        vec![caller.id.clone(), peer.id.clone()],
    );
    match conversations.insert(&conversation).await {
        Ok(()) => Ok((conversation, true)),
        Err(err) if is_duplicate_key(&err) => {
            // Both sides opened it at once and the other insert won; or the unique
            // `key` refused it: a DM from before the pair records, found by its key
            // (a scan, once per such pair) and recorded from now on.
            if let Some(existing) = conversations.by_id(&id).await? {
                return Ok((existing, false));
            }
            let existing = conversations
                .by_key(&key)
                .await?
                .ok_or_else(|| ApiError::not_found("conversation"))?;
            conversations.set_dm_pair(&key, &existing.id).await?;
            Ok((existing, false))
        }
        Err(err) => Err(err.into()),
    }
}

/// Whether `user` has written in the DM `conversation` (then their `online`
/// status and presence are visible to the other participant).
pub fn has_written(conversation: &ConversationDoc, user: &UserId) -> bool {
    conversation.posted.contains(user)
        || conversation
            .last_message
            .as_ref()
            .is_some_and(|m| &m.sender_id == user)
}

/// The shape of a DM list cursor, `<millis>:<conversation id>` (the spec
/// carries it as the parameter's pattern).
pub const CURSOR_PATTERN: &str = "^[0-9]{1,18}:[0-9a-f]{24}$";

/// A DM list cursor: the last conversation's activity (Unix millis) and id.
fn parse_cursor(raw: &str) -> Option<(i64, &str)> {
    let (millis, id) = raw.split_once(':')?;
    let digits = (1..=18).contains(&millis.len()) && millis.bytes().all(|b| b.is_ascii_digit());
    if !digits || !crate::ids::is_object_id(id) {
        return None;
    }
    Some((millis.parse().ok()?, id))
}

/// The caller's DMs, most recently active first; the cursor is `<millis>:<id>`.
pub async fn list(
    chat: &Chat,
    caller: &Caller,
    cursor: Option<&str>,
    limit: u32,
) -> Result<(Vec<ConversationDoc>, Option<String>), ApiError> {
    let after = match cursor {
        None => None,
        Some(raw) => Some(parse_cursor(raw).ok_or_else(|| {
            ApiError::new(
                crate::error::ErrorCode::InvalidCursor,
                "the cursor is not one this API issued",
            )
        })?),
    };
    let page = chat
        .store
        .conversations
        .direct_page(&caller.id, after, limit)
        .await?;
    let next = (page.len() == limit as usize)
        .then(|| {
            page.last()
                .map(|c| format!("{}:{}", c.last_activity.timestamp_millis(), c.id))
        })
        .flatten();
    Ok((page, next))
}

/// The other participant of a DM.
pub fn peer_of<'a>(conversation: &'a ConversationDoc, me: &UserId) -> Option<&'a UserId> {
    conversation.participants.iter().find(|p| *p != me)
}

#[cfg(test)]
mod tests {
    use super::{legacy_dm_id, random_dm_id};
    use crate::ids::{ConversationId, UserId};

    #[test]
    fn cursors_are_millis_and_a_conversation_id_and_nothing_else() {
        let id = "0123456789abcdef01234567";
        assert_eq!(
            super::parse_cursor(&format!("1700000000000:{id}")),
            Some((1_700_000_000_000, id))
        );
        for bad in [
            String::new(),
            ":".into(),
            format!("-5:{id}"),
            format!("+5:{id}"),
            format!("1234567890123456789:{id}"),
            "5:abc".into(),
            format!("5:{id}:x"),
        ] {
            assert_eq!(super::parse_cursor(&bad), None, "{bad}");
        }
    }

    #[test]
    fn legacy_dm_ids_are_the_same_from_either_side_and_new_ones_are_random() {
        let user = |raw: &str| UserId::from_trusted(raw);
        let (a, b, c) = (
            user("65a0000000000000000000a1"),
            user("65a0000000000000000000b2"),
            user("65a0000000000000000000c3"),
        );
        let id = legacy_dm_id(&a, &b);
        assert_eq!(ConversationId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(id, legacy_dm_id(&b, &a));
        assert_ne!(id, legacy_dm_id(&a, &c));
        let fresh = random_dm_id();
        assert_eq!(ConversationId::parse(fresh.as_str()), Some(fresh.clone()));
        assert_ne!(fresh, random_dm_id());
    }
}
