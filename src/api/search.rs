//! `/api/v1/search/messages`: message search (issue 22, `chat::search`).

use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::ApiTags;
use super::errors::{Authed, Busy, Cursor, Errors, Invalid, Limited, Missing, Params, Refused};
use super::models::Message;
use crate::auth::BearerAuth;
use crate::chat::{Caller, search};
use crate::domain::{Timestamp, search_limit};
use crate::ids::{ConversationId, UserId};
use crate::state::AppState;

pub struct SearchApi;

/// A message found, with where the query matched it.
#[derive(Object)]
pub struct SearchHit {
    pub message: Message,
    /// Where the query matched `message.body`: `[start, end)` pairs of Unicode
    /// code point offsets, in order, not overlapping.
    pub highlights: Vec<Vec<u32>>,
}

#[derive(Object)]
pub struct SearchPage {
    /// Newest first.
    pub items: Vec<SearchHit>,
    /// Pass as `cursor` for the next (older) page; absent on the last one.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Search")]
impl SearchApi {
    /// Search the messages you may read
    ///
    /// Finds messages in the groups you are a member of and the DMs you are in,
    /// newest first. `q` searches message text only: words (every one must
    /// match, anywhere in a word, any script: `rust` finds "trustworthy", `東京`
    /// finds "東京都"), `"a phrase"` (those words in that order) and `prefix*` (at
    /// the start of a word); matching ignores case. Everything else in `q` is
    /// plain text: it never names a field or widens the search. Filters are
    /// parameters. Deleted messages are never found, edited ones by their
    /// current text only. A message is searchable within about a second of
    /// being sent.
    #[oai(
        path = "/search/messages",
        method = "get",
        operation_id = "searchMessages"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn messages(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        /// What to find, 1-256 characters, up to 16 words, phrases or prefixes,
        /// each at least 2 characters. A quote left open is a 400.
        q: Query<String>,
        /// Only this conversation (a group you are a member of, or your DM):
        /// 404 like its history when you may not read it.
        conversation: Query<Option<ConversationId>>,
        /// Only messages sent by this user.
        sender: Query<Option<UserId>>,
        /// Only messages sent after this moment.
        after: Query<Option<Timestamp>>,
        /// Only messages sent before this moment.
        before: Query<Option<Timestamp>>,
        /// Page size, 1-50 (default 20).
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<
        Json<SearchPage>,
        Errors<(
            Authed,
            Params,
            Invalid,
            Cursor,
            Refused,
            Missing,
            Limited,
            Busy,
        )>,
    > {
        let page = search::messages(
            &state.chat,
            &Caller::from(&auth.0),
            search::Request {
                q: q.0,
                conversation: conversation.0,
                sender: sender.0,
                after: after.0.map(|at| at.timestamp_millis()),
                before: before.0.map(|at| at.timestamp_millis()),
                limit: search_limit(limit.0) as usize,
                cursor: cursor.0,
            },
        )
        .await?;
        Ok(Json(SearchPage {
            items: page
                .items
                .iter()
                .map(|found| SearchHit {
                    message: Message::seen_by(&found.message, &auth.0.id),
                    highlights: found
                        .highlights
                        .iter()
                        .map(|&(start, end)| vec![start as u32, end as u32])
                        .collect(),
                })
                .collect(),
            next_cursor: page.next_cursor,
        }))
    }
}
