//! Message search (issue 22): the query language (`query`), the search port
//! (`SearchIndex`, implemented by `crate::search` with tantivy) and the search
//! itself (`messages`).
//!
//! What is promised (docs/architecture.md §11):
//! - **Nothing the caller may not read.** The scope is decided here, at query
//!   time, never by the index: the groups the caller is a member of *now*
//!   (`GroupStore::groups_of`, changed by the same writes and cluster events as
//!   the membership checks of every other read) and the DMs the caller is in (a
//!   DM's participants never change). The engine gets the scope as a mandatory
//!   clause that no part of `q` can remove: `q` is parsed here into words, never
//!   handed to the engine's own parser.
//! - **Nothing a message no longer says.** Every candidate the index finds is
//!   read again as it is now (`current`: on one node the writer's copy in
//!   memory, where an edit or delete is applied after it is stored and before
//!   anyone hears of it; where copies may trail, the database by `_id`) and
//!   checked against the text it has *now*: a deleted message, or one edited
//!   since it was indexed, never shows, whatever events the index missed. An
//!   index that trails can only miss results, never leak them.

pub mod port;
pub mod query;

use std::sync::Arc;

use super::Chat;
use super::access::room;
use crate::chat::Caller;
use crate::error::{ApiError, ErrorCode};
use crate::ids::{ConversationId, MessageId, UserId};
use crate::limits::{
    SEARCH_CANDIDATE_ROUNDS, SEARCH_Q_MAX_CHARS, SEARCH_Q_MAX_PARTS, SEARCH_Q_MIN_CHARS,
};
use crate::permissions::GroupAction;
use crate::rate_limits::Action;
use crate::store::messages::MessageDoc;

pub use port::{Candidate, Find, Key, NoIndex, Scope, SearchIndex, tie_of};
pub use query::Clause;

/// A search request, as the edge parsed it.
#[derive(Debug, Clone)]
pub struct Request {
    pub q: String,
    pub conversation: Option<ConversationId>,
    pub sender: Option<UserId>,
    pub after: Option<i64>,
    pub before: Option<i64>,
    pub limit: usize,
    pub cursor: Option<String>,
}

/// A message found, with where `q` matched its body (char offsets `[start, end)`).
#[derive(Debug, Clone)]
pub struct Found {
    pub message: MessageDoc,
    pub highlights: Vec<(usize, usize)>,
}

#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<Found>,
    pub next_cursor: Option<String>,
}

/// The query's clauses, or the error the client gets: a malformed query is a
/// 400, an empty, too long or too short one a 422.
pub fn parse(q: &str) -> Result<Vec<Clause>, ApiError> {
    let limits = query::Limits {
        max_chars: SEARCH_Q_MAX_CHARS,
        max_parts: SEARCH_Q_MAX_PARTS,
        min_chars: SEARCH_Q_MIN_CHARS,
    };
    query::parse(q, limits).map_err(|err| match err {
        query::QueryError::Syntax(why) => ApiError::new(ErrorCode::BadRequest, why),
        other => ApiError::invalid_field("q", other.to_string()),
    })
}

/// The newest messages the caller may read that match `request`.
#[tracing::instrument(name = "chat.search.messages", level = "debug", skip_all, fields(user = %caller.id), err(level = "debug"))]
pub async fn messages(chat: &Chat, caller: &Caller, request: Request) -> Result<Page, ApiError> {
    if !chat.config.search_enabled {
        return Err(ApiError::new(
            ErrorCode::ServerBusy,
            "message search is turned off on this server (SEARCH_ENABLED=false)",
        ));
    }
    let clauses = parse(&request.q)?;
    let below = match &request.cursor {
        Some(raw) => Some(Key::from_cursor(raw).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidCursor,
                "cursor is not one this server returned",
            )
        })?),
        None => None,
    };
    if let (Some(after), Some(before)) = (request.after, request.before)
        && after >= before
    {
        return Err(ApiError::invalid_field(
            "after",
            "must be earlier than before",
        ));
    }
    chat.rate_limits.check(&caller.id, Action::History).await?;
    let scope = match &request.conversation {
        // Refused exactly as a history read of it is (404 when not visible).
        Some(id) => {
            room(chat, caller, id, GroupAction::Read).await?;
            Scope {
                conversations: vec![id.clone()],
                reader: None,
            }
        }
        None => Scope {
            conversations: crate::chat::memberships::groups_of(chat, &caller.id)
                .await?
                .iter()
                .map(|group| group.conversation())
                .collect(),
            reader: Some(caller.id.clone()),
        },
    };
    let mut find = Find {
        clauses,
        scope,
        sender: request.sender,
        from: request.after.map(|ms| ms.saturating_add(1)),
        until: request.before,
        below,
        // One more than asked (whether a next page exists); later rounds, when
        // candidates failed the final check, ask for twice as many each time.
        limit: request.limit + 1,
    };
    let wanted = request.limit + 1;
    let mut items: Vec<(Found, Key)> = Vec::with_capacity(wanted);
    let mut examined: Option<Key> = None;
    let mut exhausted = false;
    for _ in 0..SEARCH_CANDIDATE_ROUNDS {
        let index = Arc::clone(&chat.search);
        let asked = find.clone();
        let started = std::time::Instant::now();
        let candidates = tokio::task::spawn_blocking(move || index.find(&asked))
            .await
            .map_err(|_| ApiError::internal())?
            .map_err(|err| {
                tracing::error!(error = %err, "search index failed");
                ApiError::internal()
            })?;
        exhausted = candidates.len() < find.limit;
        metrics::histogram!("confab_search_round_seconds", "stage" => "find")
            .record(started.elapsed().as_secs_f64());
        let started = std::time::Instant::now();
        let checked = verify(chat, &find, &candidates).await?;
        metrics::histogram!("confab_search_round_seconds", "stage" => "verify")
            .record(started.elapsed().as_secs_f64());
        for (candidate, found) in candidates.iter().zip(checked) {
            examined = Some(candidate.key);
            if let Some(found) = found {
                items.push((found, candidate.key));
                if items.len() == wanted {
                    break;
                }
            }
        }
        if items.len() == wanted || exhausted {
            break;
        }
        find.below = examined;
        find.limit = (find.limit * 2).min(crate::limits::SEARCH_ROUND_MAX);
    }
    let more = items.len() == wanted;
    items.truncate(request.limit);
    let next_cursor = if more {
        items.last().map(|(_, key)| key.cursor())
    } else if !exhausted {
        // The rounds ran out before the page filled (many candidates no longer
        // match): the page is short, and the next one goes on from there.
        examined.map(Key::cursor)
    } else {
        None
    };
    Ok(Page {
        items: items.into_iter().map(|(found, _)| found).collect(),
        next_cursor,
    })
}

/// A message as it is now. On one node, the conversation's copy in memory is
/// the writer's own (an edit or delete is stored, then applied there, before
/// anyone hears of it): the window answers for its newest messages, the
/// history blocks (kept in memory) for older ones, as history pages show them
/// (`Writers::message_as_shown`). Where a copy may trail another node's writes
/// (cluster mode), or is to be reloaded, the database does (`_id`).
async fn current(chat: &Chat, id: &MessageId) -> Result<Option<MessageDoc>, ApiError> {
    if !chat.router.copies_trail()
        && let Some((conversation, seq)) = id.parts()
        && let Some(live) = chat.writers.loaded(&conversation)
        && !live.needs_reload()
    {
        return chat.writers.message_as_shown(&live, seq).await;
    }
    Ok(chat.store.messages.by_id(id).await?)
}

/// Each candidate as it is stored now, if it still matches: not deleted, its
/// current text matching every clause (which also gives the highlights).
async fn verify(
    chat: &Chat,
    find: &Find,
    candidates: &[Candidate],
) -> Result<Vec<Option<Found>>, ApiError> {
    let mut read: Vec<Option<MessageDoc>> = Vec::with_capacity(candidates.len());
    for chunk in candidates.chunks(crate::limits::SEARCH_VERIFY_CONCURRENCY) {
        read.extend(
            futures_util::future::try_join_all(chunk.iter().map(|c| current(chat, &c.id))).await?,
        );
    }
    let mut checked = Vec::with_capacity(read.len());
    for message in read {
        checked.push(message.and_then(|message| {
            if message.deleted
                || find
                    .sender
                    .as_ref()
                    .is_some_and(|sender| *sender != message.sender_id)
            {
                return None;
            }
            let highlights = query::matches(&message.body, &find.clauses)?;
            Some(Found {
                message,
                highlights,
            })
        }));
    }
    Ok(checked)
}
