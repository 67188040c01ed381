//! `/api/v1/dms`: direct conversations.

use super::errors::{Authed, Cursor, Errors, Invalid, JsonBody, Limited, Missing, Params};
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use super::models::{Conversation, ConversationPage};
use super::text::Text;
use crate::auth::BearerAuth;
use crate::chat::{Caller, dms};
use crate::domain::page_limit;
use crate::error::ApiError;
use crate::ids::{ConversationId, UserId};
use crate::state::AppState;
use crate::store::conversations::ConversationDoc;

pub struct DmsApi;

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct OpenDm {
    /// The other user.
    pub user_id: Text,
}

#[derive(ApiResponse)]
pub enum Opened {
    /// The conversation already existed.
    #[oai(status = 200)]
    Existing(Json<Conversation>),
    /// The conversation was created.
    #[oai(status = 201)]
    Created(Json<Conversation>),
}

/// Conversation views for the caller: peers, unread counts.
async fn views(
    state: &AppState,
    me: &UserId,
    docs: &[ConversationDoc],
) -> Result<Vec<Conversation>, ApiError> {
    let peer_ids: Vec<UserId> = docs
        .iter()
        .filter_map(|c| dms::peer_of(c, me).cloned())
        .collect();
    let peers = state.store.users.by_ids(&peer_ids).await?;
    let ids: Vec<ConversationId> = docs.iter().map(|c| c.id.clone()).collect();
    let mut reads = state.store.conversations.read_seqs(me, &ids).await?;
    // Conversations in use have newer facts in memory (written behind).
    let docs: Vec<ConversationDoc> = docs
        .iter()
        .map(|c| match state.writers.loaded(&c.id) {
            Some(live) => {
                if let Some(mark) = live.mark(me) {
                    let read = reads.entry(c.id.clone()).or_default();
                    *read = mark.max(*read);
                }
                live.doc()
            }
            None => c.clone(),
        })
        .collect();
    Ok(docs
        .iter()
        .map(|c| {
            let peer = dms::peer_of(c, me).and_then(|p| peers.iter().find(|u| &u.id == p));
            let mut view = Conversation::direct(c, peer, reads.get(&c.id).copied().unwrap_or(0));
            // The peer's status only once they have written here (issue 20).
            if let (Some(view_peer), Some(p)) = (view.peer.as_mut(), peer)
                && dms::has_written(c, &p.id)
            {
                view_peer.online = Some(state.hub.is_online(&p.id));
            }
            view
        })
        .collect())
}

#[OpenApi(prefix_path = "/api/v1/dms", tag = "ApiTags::Dms")]
impl DmsApi {
    /// Open the direct conversation with a user (idempotent)
    #[oai(path = "/", method = "post", operation_id = "openDm")]
    async fn open(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: Json<OpenDm>,
    ) -> Result<Opened, Errors<(Authed, JsonBody, Invalid, Missing, Limited)>> {
        let peer = UserId::parse(&body.user_id).ok_or_else(|| ApiError::not_found("user"))?;
        let (doc, created) = dms::open(&state.chat, &Caller::from(&auth.0), &peer).await?;
        let view = views(&state, &auth.0.id, std::slice::from_ref(&doc))
            .await?
            .pop()
            .ok_or_else(|| ApiError::not_found("conversation"))?;
        Ok(if created {
            Opened::Created(Json(view))
        } else {
            Opened::Existing(Json(view))
        })
    }

    /// List my direct conversations, most recently active first
    #[oai(path = "/", method = "get", operation_id = "listDms")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        /// Page size, 1-100 (default 50).
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<ConversationPage>, Errors<(Authed, Params, Cursor)>> {
        state.writers.flush_direct_of(&auth.0.id).await?;
        let (docs, next_cursor) = dms::list(
            &state.chat,
            &Caller::from(&auth.0),
            cursor.0.as_deref(),
            page_limit(limit.0),
        )
        .await?;
        Ok(Json(ConversationPage {
            items: views(&state, &auth.0.id, &docs).await?,
            next_cursor,
        }))
    }
}
