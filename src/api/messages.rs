//! `/api/v1/conversations/{id}/...` and `/api/v1/messages/{id}`: history, sending,
//! editing, deleting, read markers and presence.

use super::errors::{
    Authed, Busy, Clash, Errors, Invalid, JsonBody, Limited, Missing, Params, Refused,
};
use crate::ids::{ConversationId, MessageId};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use super::models::{Changes, History, Message, Presence, UserSummary};
use super::text::Text;
use crate::auth::BearerAuth;
use crate::chat::{Caller, messages};
use crate::domain::page_limit;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::messages::HistoryWindow;

pub struct MessagesApi;

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct SendMessage {
    /// 1-4000 characters after trimming; newlines and tabs allowed.
    pub body: Text,
    /// Idempotency key: a repeat from the same sender returns the first message.
    pub client_id: Option<Text>,
    /// The id of the message (of this conversation) this one replies to.
    pub reply_to: Option<Text>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct EditMessage {
    pub body: Text,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct ReadMarker {
    /// The highest seq read; markers never move back.
    pub seq: i64,
}

#[derive(ApiResponse)]
pub enum SendResult {
    /// Stored (and fanned out).
    #[oai(status = 201)]
    Created(Json<Message>),
    /// This `client_id` was already used: the first message, nothing new stored.
    #[oai(status = 200)]
    Repeated(Json<Message>),
}

#[derive(ApiResponse)]
pub enum Done {
    /// Done.
    #[oai(status = 204)]
    Done,
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Messages")]
impl MessagesApi {
    /// Read message history by seq
    ///
    /// Items are always in ascending `seq`. No parameter: the latest `limit`;
    /// `before=S`: the `limit` just before S; `after=S`: the `limit` just after S.
    #[oai(
        path = "/conversations/:id/messages",
        method = "get",
        operation_id = "listMessages"
    )]
    async fn history(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<ConversationId>,
        before: Query<Option<i64>>,
        after: Query<Option<i64>>,
        /// Page size, 1-100 (default 50).
        limit: Query<Option<u32>>,
    ) -> Result<Json<History>, Errors<(Authed, Params, Invalid, Refused, Missing, Limited)>> {
        let window = match (before.0, after.0) {
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid_field(
                    "before",
                    "use either before or after, not both",
                )
                .into());
            }
            (Some(seq), None) => HistoryWindow::Before(seq),
            (None, Some(seq)) => HistoryWindow::After(seq),
            (None, None) => HistoryWindow::Latest,
        };
        let (docs, has_more) = messages::history(
            &state.chat,
            &Caller::from(&auth.0),
            &id.0,
            window,
            page_limit(limit.0),
        )
        .await?;
        Ok(Json(History {
            items: docs
                .iter()
                .map(|m| Message::seen_by(m, &auth.0.id))
                .collect(),
            has_more,
        }))
    }

    /// Read what changed since a rev
    ///
    /// The messages edited or deleted after `since_rev` (a `last_rev` from
    /// `joined`, this operation, or the highest `rev` you hold), as they are now,
    /// ascending by `rev`: what a client without a socket needs to bring the
    /// history it holds up to date. A page covers at most `limit` changes; pass
    /// its `last_rev` as `since_rev` for the next while `has_more`. New messages
    /// are not changes: read them with `listMessages?after=`.
    #[oai(
        path = "/conversations/:id/changes",
        method = "get",
        operation_id = "listChanges"
    )]
    async fn changes(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<ConversationId>,
        /// Changes after this rev (0 for all).
        since_rev: Query<i64>,
        /// Changes per page, 1-100 (default 50).
        limit: Query<Option<u32>>,
    ) -> Result<Json<Changes>, Errors<(Authed, Params, Invalid, Refused, Missing, Limited)>> {
        let (docs, last_rev, has_more) = messages::changes(
            &state.chat,
            &Caller::from(&auth.0),
            &id.0,
            since_rev.0,
            page_limit(limit.0),
        )
        .await?;
        Ok(Json(Changes {
            items: docs
                .iter()
                .map(|m| Message::seen_by(m, &auth.0.id))
                .collect(),
            last_rev,
            has_more,
        }))
    }

    /// Send a message (same path as the WebSocket `send`)
    ///
    /// Rate limited per user, together with the WebSocket `send`
    /// (`WS_MAX_MSGS_PER_SEC`, `WS_BURST`): over the limit, 429 with `Retry-After`.
    #[oai(
        path = "/conversations/:id/messages",
        method = "post",
        operation_id = "sendMessage"
    )]
    async fn send(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<ConversationId>,
        body: Json<SendMessage>,
    ) -> Result<
        SendResult,
        Errors<(
            Authed,
            JsonBody,
            Invalid,
            Refused,
            Missing,
            Clash,
            Limited,
            Busy,
        )>,
    > {
        let sent = messages::send(
            &state.chat,
            &Caller::from(&auth.0),
            &id.0,
            &body.body,
            body.client_id.as_deref(),
            body.reply_to.as_deref(),
            None,
        )
        .await?;
        let view = Json(Message::seen_by(&sent.message, &auth.0.id));
        Ok(if sent.created {
            SendResult::Created(view)
        } else {
            SendResult::Repeated(view)
        })
    }

    /// Set my read marker
    ///
    /// Rate limited per user, together with the WebSocket `read` (429 with
    /// `Retry-After`).
    #[oai(
        path = "/conversations/:id/read",
        method = "post",
        operation_id = "markRead"
    )]
    async fn read(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<ConversationId>,
        body: Json<ReadMarker>,
    ) -> Result<Done, Errors<(Authed, JsonBody, Invalid, Refused, Missing, Limited)>> {
        messages::mark_read(&state.chat, &Caller::from(&auth.0), &id.0, body.seq).await?;
        Ok(Done::Done)
    }

    /// Who is online in the room now
    #[oai(
        path = "/conversations/:id/presence",
        method = "get",
        operation_id = "getPresence"
    )]
    async fn presence(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<ConversationId>,
    ) -> Result<Json<Presence>, Errors<(Authed, Refused, Missing, Limited)>> {
        let online = crate::chat::people::room_presence(
            &state.chat,
            &Caller::from(&auth.0),
            &id.0,
            || state.hub.room_online(&id.0),
            |u| &u.id,
        )
        .await?
        .into_iter()
        .map(|u| UserSummary {
            id: u.id,
            username: u.username,
        })
        .collect();
        Ok(Json(Presence {
            conversation_id: id.0,
            online,
        }))
    }

    /// Edit my message
    #[oai(path = "/messages/:id", method = "patch", operation_id = "editMessage")]
    async fn edit(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<MessageId>,
        body: Json<EditMessage>,
    ) -> Result<
        Json<Message>,
        Errors<(
            Authed,
            JsonBody,
            Invalid,
            Refused,
            Missing,
            Clash,
            Limited,
            Busy,
        )>,
    > {
        let edited = messages::edit(&state.chat, &Caller::from(&auth.0), &id.0, &body.body).await?;
        Ok(Json(Message::seen_by(&edited, &auth.0.id)))
    }

    /// List the replies to a message
    ///
    /// The messages sent with `reply_to` = this message, ascending by seq
    /// (deleted ones as tombstones, as in history): `limit` after seq `after`.
    /// Page on with the last item's seq as `after` while `has_more`.
    #[oai(
        path = "/messages/:id/replies",
        method = "get",
        operation_id = "listReplies"
    )]
    async fn replies(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<MessageId>,
        /// Replies after this seq (default 0: from the first).
        after: Query<Option<i64>>,
        /// Page size, 1-100 (default 50).
        limit: Query<Option<u32>>,
    ) -> Result<Json<History>, Errors<(Authed, Params, Invalid, Missing, Limited)>> {
        let (docs, has_more) = crate::chat::replies::replies(
            &state.chat,
            &Caller::from(&auth.0),
            &id.0,
            after.0.unwrap_or(0),
            page_limit(limit.0),
        )
        .await?;
        Ok(Json(History {
            items: docs
                .iter()
                .map(|m| Message::seen_by(m, &auth.0.id))
                .collect(),
            has_more,
        }))
    }

    /// Delete a message (sender, group admin or owner, global admin); leaves a tombstone
    #[oai(
        path = "/messages/:id",
        method = "delete",
        operation_id = "deleteMessage"
    )]
    async fn delete(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<MessageId>,
    ) -> Result<Done, Errors<(Authed, Refused, Missing, Limited, Busy)>> {
        messages::delete(&state.chat, &Caller::from(&auth.0), &id.0).await?;
        Ok(Done::Done)
    }
}
