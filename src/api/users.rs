//! `/api/v1/users`: own profile, search, public profiles and global moderation.

use super::errors::{Authed, Errors, Invalid, JsonBody, Missing, Params, Refused};
use crate::ids::UserId;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::ApiTags;
use super::models::{User, UserPage};
use super::text::Text;
use crate::auth::BearerAuth;
use crate::domain::{DisplayName, Role, page_limit};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::users::UserDoc;

pub struct UsersApi;

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct ProfilePatch {
    /// 1-64 characters.
    pub display_name: Option<Text>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct RoleChange {
    pub role: Role,
}

async fn load(state: &AppState, id: &UserId) -> Result<UserDoc, ApiError> {
    state
        .store
        .users
        .by_id(id)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))
}

/// `target`'s `online` status if `viewer` may see it
/// (`chat::people::may_see_online`).
pub async fn online_for(
    state: &AppState,
    viewer: &UserId,
    target: &UserId,
) -> Result<Option<bool>, ApiError> {
    Ok(
        crate::chat::people::may_see_online(&state.chat, viewer, target)
            .await?
            .then(|| state.hub.is_online(target)),
    )
}

#[OpenApi(prefix_path = "/api/v1/users", tag = "ApiTags::Users")]
impl UsersApi {
    /// Get my profile
    #[oai(path = "/me", method = "get", operation_id = "getMe")]
    async fn me(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<Json<User>, Errors<Authed>> {
        Ok(Json(User::from(&load(&state, &auth.0.id).await?)))
    }

    /// Update my profile
    #[oai(path = "/me", method = "patch", operation_id = "updateMe")]
    async fn update_me(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: Json<ProfilePatch>,
    ) -> Result<Json<User>, Errors<(Authed, JsonBody, Invalid)>> {
        let user = match &body.display_name {
            Some(raw) => {
                let name = DisplayName::parse(raw)
                    .map_err(|m| ApiError::invalid_field("display_name", m))?;
                state
                    .store
                    .users
                    .set_display_name(&auth.0.id, &name.into_inner())
                    .await?
                    .ok_or_else(|| ApiError::not_found("user"))?
            }
            None => load(&state, &auth.0.id).await?,
        };
        Ok(Json(User::from(&user)))
    }

    /// Find users by username prefix
    #[oai(path = "/", method = "get", operation_id = "searchUsers")]
    async fn search(
        &self,
        state: Data<&AppState>,
        _auth: BearerAuth,
        /// Username prefix (case-insensitive), 1-32 characters. Required: an empty
        /// `q` is a 422, so a search never lists every user.
        q: Query<String>,
        /// Page size, 1-100 (default 50).
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<UserPage>, Errors<(Authed, Params, Invalid)>> {
        let prefix = q.0.to_ascii_lowercase();
        if prefix.is_empty() {
            return Err(ApiError::invalid_field(
                "q",
                "must be at least 1 character: a search never lists every user",
            )
            .into());
        }
        if prefix.len() > crate::limits::USERNAME_MAX_CHARS {
            return Err(ApiError::invalid_field("q", "is longer than any username").into());
        }
        let limit = page_limit(limit.0);
        let docs = state
            .store
            .users
            .search_prefix(&prefix, cursor.0.as_deref(), limit)
            .await?;
        let next_cursor = (docs.len() == limit as usize)
            .then(|| docs.last().map(|u| u.username.clone()))
            .flatten();
        Ok(Json(UserPage {
            items: docs.iter().map(User::from).collect(),
            next_cursor,
        }))
    }

    /// Get a user's public profile
    #[oai(path = "/:id", method = "get", operation_id = "getUser")]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<UserId>,
    ) -> Result<Json<User>, Errors<(Authed, Missing)>> {
        let mut user = User::from(&load(&state, &id.0).await?);
        user.online = online_for(&state, &auth.0.id, &user.id).await?;
        Ok(Json(user))
    }

    /// Change a user's global role (admin)
    #[oai(path = "/:id/role", method = "patch", operation_id = "changeUserRole")]
    async fn change_role(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<UserId>,
        body: Json<RoleChange>,
    ) -> Result<Json<User>, Errors<(Authed, JsonBody, Refused, Missing)>> {
        let user =
            crate::auth::moderation::change_role(&state.auth, &auth.0, &id.0, body.role).await?;
        Ok(Json(User::from(&user)))
    }

    /// Disable a user (admin): revokes all their tokens
    #[oai(path = "/:id/disable", method = "post", operation_id = "disableUser")]
    async fn disable(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<UserId>,
    ) -> Result<Json<User>, Errors<(Authed, Refused, Missing)>> {
        Ok(Json(User::from(
            &crate::auth::moderation::set_disabled(&state.auth, &auth.0, &id.0, true).await?,
        )))
    }

    /// Re-enable a disabled user (admin)
    #[oai(path = "/:id/enable", method = "post", operation_id = "enableUser")]
    async fn enable(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<UserId>,
    ) -> Result<Json<User>, Errors<(Authed, Refused, Missing)>> {
        Ok(Json(User::from(
            &crate::auth::moderation::set_disabled(&state.auth, &auth.0, &id.0, false).await?,
        )))
    }
}
