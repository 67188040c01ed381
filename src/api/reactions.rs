//! `/api/v1/messages/{id}/reactions/...`: reactions (issue 23,
//! `chat::reactions`).

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::ApiTags;
use super::errors::{Authed, Busy, Clash, Errors, Invalid, Limited, Missing, Params, Refused};
use super::messages::Done;
use super::models::UserSummary;
use crate::auth::BearerAuth;
use crate::chat::{Caller, reactions};
use crate::domain::page_limit;
use crate::ids::MessageId;
use crate::state::AppState;

pub struct ReactionsApi;

/// What `addReaction` and `removeReaction` may answer.
type ToggleErrors = Errors<(
    Authed,
    Params,
    Invalid,
    Refused,
    Missing,
    Clash,
    Limited,
    Busy,
)>;

async fn toggle(
    state: &AppState,
    auth: &BearerAuth,
    id: &MessageId,
    emoji: &str,
    on: bool,
) -> Result<Done, ToggleErrors> {
    reactions::react(&state.chat, &Caller::from(&auth.0), id, emoji, on).await?;
    Ok(Done::Done)
}

/// Who reacted with an emoji.
#[derive(Object)]
pub struct ReactorPage {
    /// By username.
    pub items: Vec<UserSummary>,
    /// Pass as `cursor` for the next page; absent on the last one.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Messages")]
impl ReactionsApi {
    /// React to a message
    ///
    /// Adds your reaction: one emoji (`👍`, percent-encoded in the path) or its
    /// shortcode (`:+1:`), stored as the emoji. Idempotent: reacting again
    /// changes nothing. A message takes at most 20 different emoji (the 21st is
    /// 422); a deleted one takes none (409). The room gets a `reaction` event;
    /// the message's `rev` moves. Rate limited with sends.
    #[oai(
        path = "/messages/:id/reactions/:emoji",
        method = "put",
        operation_id = "addReaction"
    )]
    async fn add(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<MessageId>,
        /// One emoji or `:shortcode:`, at most 32 bytes.
        #[oai(validator(max_length = 32))]
        emoji: Path<String>,
    ) -> Result<
        Done,
        Errors<(
            Authed,
            Params,
            Invalid,
            Refused,
            Missing,
            Clash,
            Limited,
            Busy,
        )>,
    > {
        toggle(&state, &auth, &id, &emoji, true).await
    }

    /// Remove my reaction
    ///
    /// Idempotent: removing a reaction you do not have changes nothing.
    #[oai(
        path = "/messages/:id/reactions/:emoji",
        method = "delete",
        operation_id = "removeReaction"
    )]
    async fn remove(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<MessageId>,
        /// One emoji or `:shortcode:`, at most 32 bytes.
        #[oai(validator(max_length = 32))]
        emoji: Path<String>,
    ) -> Result<
        Done,
        Errors<(
            Authed,
            Params,
            Invalid,
            Refused,
            Missing,
            Clash,
            Limited,
            Busy,
        )>,
    > {
        toggle(&state, &auth, &id, &emoji, false).await
    }

    /// List who reacted with an emoji
    #[oai(
        path = "/messages/:id/reactions/:emoji/users",
        method = "get",
        operation_id = "listReactors"
    )]
    async fn users(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<MessageId>,
        /// One emoji or `:shortcode:`, at most 32 bytes.
        #[oai(validator(max_length = 32))]
        emoji: Path<String>,
        /// Page size, 1-100 (default 50).
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        #[oai(validator(max_length = 32))]
        cursor: Query<Option<String>>,
    ) -> Result<Json<ReactorPage>, Errors<(Authed, Params, Invalid, Missing, Limited)>> {
        let (users, more) = reactions::reactors(
            &state.chat,
            &Caller::from(&auth.0),
            &id.0,
            &emoji.0,
            cursor.0.as_deref(),
            page_limit(limit.0),
        )
        .await?;
        let next_cursor = more
            .then(|| users.last().map(|u| u.username.clone()))
            .flatten();
        Ok(Json(ReactorPage {
            items: users
                .into_iter()
                .map(|u| UserSummary {
                    id: u.id,
                    username: u.username,
                })
                .collect(),
            next_cursor,
        }))
    }
}
