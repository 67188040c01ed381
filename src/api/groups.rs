//! `/api/v1/groups`: groups, membership and roles.

use super::errors::{
    Authed, Busy, Clash, Errors, Invalid, JsonBody, Limited, Missing, Params, Refused,
};
use crate::ids::{GroupId, UserId};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use super::models::{Group, GroupPage, Member, MemberPage, MemberUser, timestamp};
use super::text::Text;
use crate::auth::BearerAuth;
use crate::chat::{Caller, groups};
use crate::domain::page_limit;
use crate::error::ApiError;
use crate::permissions::GroupRole;
use crate::state::AppState;
use crate::store::groups::{MembershipDoc, Visibility};

pub struct GroupsApi;

/// A new group; `visibility` defaults to `public`.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct GroupCreate {
    /// 1-100 characters.
    pub name: Text,
    /// Up to 1000 characters.
    pub description: Option<Text>,
    pub visibility: Option<Visibility>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct GroupPatch {
    pub name: Option<Text>,
    pub description: Option<Text>,
    pub visibility: Option<Visibility>,
}

/// The member's new role: `admin` or `member` (ownership moves only by transfer).
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct MemberRole {
    pub role: GroupRole,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct OwnershipTransfer {
    /// A current member who becomes the owner; the old owner becomes an admin.
    pub user_id: Text,
}

#[derive(ApiResponse)]
pub enum GroupCreated {
    /// The group was created; the caller is its owner.
    #[oai(status = 201)]
    Created(Json<Group>),
}

#[derive(ApiResponse)]
pub enum Done {
    /// Done.
    #[oai(status = 204)]
    Done,
}

/// Member views for `viewer`. A member of the group shares its room with every
/// other member and sees each `online`; a non-member (a global admin) sees it
/// only for the members they share another conversation with.
async fn member_views(
    state: &AppState,
    viewer: &UserId,
    group_id: &GroupId,
    memberships: Vec<MembershipDoc>,
) -> Result<Vec<Member>, ApiError> {
    let ids: Vec<UserId> = memberships.iter().map(|m| m.user_id.clone()).collect();
    let users = state.store.users.by_ids(&ids).await?;
    let viewer_is_member = state
        .store
        .groups
        .membership(group_id, viewer)
        .await?
        .is_some();
    let mut views = Vec::with_capacity(memberships.len());
    for m in memberships {
        let Some(user) = users.iter().find(|u| u.id == m.user_id) else {
            continue;
        };
        let online = if viewer_is_member {
            Some(state.hub.is_online(&user.id))
        } else {
            super::users::online_for(state, viewer, &user.id).await?
        };
        views.push(Member {
            user: MemberUser {
                id: user.id.clone(),
                username: user.username.clone(),
                display_name: user.display_name.clone(),
            },
            role: m.role,
            joined_at: timestamp(m.joined_at),
            online,
        });
    }
    Ok(views)
}

#[OpenApi(prefix_path = "/api/v1/groups", tag = "ApiTags::Groups")]
impl GroupsApi {
    /// Create a group (you become its owner)
    #[oai(path = "/", method = "post", operation_id = "createGroup")]
    async fn create(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: Json<GroupCreate>,
    ) -> Result<GroupCreated, Errors<(Authed, JsonBody, Invalid, Limited)>> {
        let group = groups::create(
            &state.chat,
            &Caller::from(&auth.0),
            &body.name,
            body.description.as_deref(),
            body.visibility,
        )
        .await?;
        Ok(GroupCreated::Created(Json(Group::from(&group))))
    }

    /// List my groups, or public groups with `discover=true`
    #[oai(path = "/", method = "get", operation_id = "listGroups")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        /// List public groups instead of mine.
        discover: Query<Option<bool>>,
        /// Page size, 1-100 (default 50).
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<GroupPage>, Errors<(Authed, Params)>> {
        let limit = page_limit(limit.0);
        let (docs, next_cursor) = if discover.0.unwrap_or(false) {
            groups::discover(&state.chat, cursor.0.as_deref(), limit).await?
        } else {
            groups::mine(
                &state.chat,
                &Caller::from(&auth.0),
                cursor.0.as_deref(),
                limit,
            )
            .await?
        };
        Ok(Json(GroupPage {
            items: docs.iter().map(Group::from).collect(),
            next_cursor,
        }))
    }

    /// Get a group
    #[oai(path = "/:id", method = "get", operation_id = "getGroup")]
    async fn get(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<GroupId>,
    ) -> Result<Json<Group>, Errors<(Authed, Missing)>> {
        let (group, _) = groups::visible(&state.chat, &Caller::from(&auth.0), &id.0).await?;
        Ok(Json(Group::from(&group)))
    }

    /// Update a group (owner or group admin)
    #[oai(path = "/:id", method = "patch", operation_id = "updateGroup")]
    async fn update(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<GroupId>,
        body: Json<GroupPatch>,
    ) -> Result<Json<Group>, Errors<(Authed, JsonBody, Invalid, Refused, Missing)>> {
        let group = groups::update(
            &state.chat,
            &Caller::from(&auth.0),
            &id.0,
            body.name.as_deref(),
            body.description.as_deref(),
            body.visibility,
        )
        .await?;
        Ok(Json(Group::from(&group)))
    }

    /// Delete a group with its messages (owner or global admin)
    #[oai(path = "/:id", method = "delete", operation_id = "deleteGroup")]
    async fn delete(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<GroupId>,
    ) -> Result<Done, Errors<(Authed, Refused, Missing)>> {
        groups::delete(&state.chat, &Caller::from(&auth.0), &id.0).await?;
        Ok(Done::Done)
    }

    /// Join a public group
    #[oai(path = "/:id/join", method = "post", operation_id = "joinGroup")]
    async fn join(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<GroupId>,
    ) -> Result<Json<Group>, Errors<(Authed, Refused, Missing, Limited)>> {
        Ok(Json(Group::from(
            &groups::join(&state.chat, &Caller::from(&auth.0), &id.0).await?,
        )))
    }

    /// Leave a group (the owner must transfer ownership first)
    #[oai(path = "/:id/leave", method = "post", operation_id = "leaveGroup")]
    async fn leave(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<GroupId>,
    ) -> Result<Done, Errors<(Authed, Refused, Missing, Clash, Limited, Busy)>> {
        groups::leave(&state.chat, &Caller::from(&auth.0), &id.0).await?;
        Ok(Done::Done)
    }

    /// Transfer ownership to another member (owner or global admin)
    #[oai(
        path = "/:id/transfer",
        method = "post",
        operation_id = "transferGroupOwnership"
    )]
    async fn transfer(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<GroupId>,
        body: Json<OwnershipTransfer>,
    ) -> Result<Json<Group>, Errors<(Authed, JsonBody, Invalid, Refused, Missing, Clash, Busy)>>
    {
        let new_owner = UserId::parse(&body.user_id)
            .ok_or_else(|| ApiError::invalid_field("user_id", groups::NOT_A_MEMBER))?;
        Ok(Json(Group::from(
            &groups::transfer(&state.chat, &Caller::from(&auth.0), &id.0, &new_owner).await?,
        )))
    }

    /// List a group's members with roles and presence
    #[oai(
        path = "/:id/members",
        method = "get",
        operation_id = "listGroupMembers"
    )]
    async fn members(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<GroupId>,
        /// Page size, 1-100 (default 50).
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<MemberPage>, Errors<(Authed, Params, Refused, Missing)>> {
        let (page, next_cursor) = groups::members(
            &state.chat,
            &Caller::from(&auth.0),
            &id.0,
            cursor.0.as_deref(),
            page_limit(limit.0),
        )
        .await?;
        Ok(Json(MemberPage {
            items: member_views(&state, &auth.0.id, &id.0, page).await?,
            next_cursor,
        }))
    }

    /// Add a member or change their role (group admins add members; only the owner grants admin)
    #[oai(
        path = "/:id/members/:user_id",
        method = "put",
        operation_id = "putGroupMember"
    )]
    async fn put_member(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<GroupId>,
        user_id: Path<UserId>,
        body: Json<MemberRole>,
    ) -> Result<Json<Member>, Errors<(Authed, JsonBody, Invalid, Refused, Missing, Clash, Busy)>>
    {
        let membership = groups::put_member(
            &state.chat,
            &Caller::from(&auth.0),
            &id.0,
            &user_id.0,
            body.role,
        )
        .await?;
        member_views(&state, &auth.0.id, &id.0, vec![membership])
            .await?
            .pop()
            .map(Json)
            .ok_or_else(|| ApiError::not_found("user").into())
    }

    /// Remove a member (group admins remove members; anyone removes themselves)
    #[oai(
        path = "/:id/members/:user_id",
        method = "delete",
        operation_id = "removeGroupMember"
    )]
    async fn remove_member(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<GroupId>,
        user_id: Path<UserId>,
    ) -> Result<Done, Errors<(Authed, Refused, Missing, Clash, Busy)>> {
        groups::remove_member(&state.chat, &Caller::from(&auth.0), &id.0, &user_id.0).await?;
        Ok(Done::Done)
    }
}
