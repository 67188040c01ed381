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
use crate::permissions::{UserAction, may_moderate_user};
use crate::realtime::hub::close_code;
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

fn authorize(auth: &BearerAuth, target: &UserId, action: UserAction) -> Result<(), ApiError> {
    if may_moderate_user(auth.0.role, &auth.0.id, target, action) {
        Ok(())
    } else {
        tracing::warn!(event = "forbidden", user_id = %auth.0.id, %target, ?action, "user moderation refused");
        Err(ApiError::forbidden(
            "only an administrator may do this, and not to their own account",
        ))
    }
}

/// Whether `viewer` may see `target`'s `online` status: they are the same user,
/// share a group, or have a DM in which `target` has written.
/// The DM and each membership of `target` are `_id` lookups (or the membership
/// cache), but listing the viewer's own groups is a query on `user_id`, which
/// FerretDB answers by scanning `memberships`. Member lists and presence skip this
/// for members of the room (they share it with everyone in it); it remains for
/// `GET /users/{id}` and for global admins outside the group.
pub async fn may_see_online(
    state: &AppState,
    viewer: &UserId,
    target: &UserId,
) -> Result<bool, ApiError> {
    if viewer == target {
        return Ok(true);
    }
    // A DM shows `online` only once the viewed user has written in it: opening a
    // DM alone reveals nothing (issue 20). The stored document or this node's copy.
    if let Some(stored) = crate::chat::dms::find(state, viewer, target).await? {
        let written = crate::chat::dms::has_written(&stored, target)
            || state
                .writers
                .loaded(&stored.id)
                .is_some_and(|live| crate::chat::dms::has_written(&live.doc(), target));
        if written {
            return Ok(true);
        }
    }
    let groups = &state.store.groups;
    let mut after: Option<String> = None;
    loop {
        let page = groups
            .memberships_of(viewer, after.as_deref(), crate::limits::PAGE_MAX)
            .await?;
        for mine in &page {
            if groups.membership(&mine.group_id, target).await?.is_some() {
                return Ok(true);
            }
        }
        match page.last() {
            Some(last) if page.len() == crate::limits::PAGE_MAX as usize => {
                after = Some(last.group_id.to_string());
            }
            _ => return Ok(false),
        }
    }
}

/// `target`'s `online` status if `viewer` may see it (`may_see_online`).
pub async fn online_for(
    state: &AppState,
    viewer: &UserId,
    target: &UserId,
) -> Result<Option<bool>, ApiError> {
    Ok(may_see_online(state, viewer, target)
        .await?
        .then(|| state.hub.is_online(target)))
}

/// Disables (revoking every token and closing every socket) or re-enables a user.
async fn set_disabled(
    state: &AppState,
    auth: &BearerAuth,
    id: &UserId,
    disabled: bool,
) -> Result<Json<User>, ApiError> {
    authorize(auth, id, UserAction::Disable)?;
    let user = state
        .store
        .users
        .set_disabled(id, disabled)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    if disabled {
        state.store.tokens.revoke_user(&user.id).await?;
        state.hub.close_user(&user.id, close_code::UNAUTHORIZED);
    }
    tracing::info!(event = if disabled { "user_disabled" } else { "user_enabled" }, actor = %auth.0.id, target = %user.id);
    Ok(Json(User::from(&user)))
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
        authorize(&auth, &id.0, UserAction::ChangeRole)?;
        let user = state
            .store
            .users
            .set_role(&id.0, body.role)
            .await?
            .ok_or_else(|| ApiError::not_found("user"))?;
        state.hub.close_user(&user.id, close_code::UNAUTHORIZED);
        tracing::info!(event = "role_changed", actor = %auth.0.id, target = %user.id, role = ?user.role);
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
        Ok(set_disabled(&state, &auth, &id.0, true).await?)
    }

    /// Re-enable a disabled user (admin)
    #[oai(path = "/:id/enable", method = "post", operation_id = "enableUser")]
    async fn enable(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<UserId>,
    ) -> Result<Json<User>, Errors<(Authed, Refused, Missing)>> {
        Ok(set_disabled(&state, &auth, &id.0, false).await?)
    }
}
