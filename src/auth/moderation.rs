//! Global moderation of accounts (admins): a role change or a disable takes
//! effect at once, everywhere: the user's tokens stop working and their sockets
//! close (the revoker).

use super::{Auth, CurrentUser};
use crate::domain::Role;
use crate::error::ApiError;
use crate::ids::UserId;
use crate::permissions::{UserAction, may_moderate_user};
use crate::store::users::UserDoc;

/// Refuses (403) what `actor` may not do to `target`'s account.
pub fn authorize(actor: &CurrentUser, target: &UserId, action: UserAction) -> Result<(), ApiError> {
    if may_moderate_user(actor.role, &actor.id, target, action) {
        Ok(())
    } else {
        tracing::warn!(event = "forbidden", user_id = %actor.id, %target, ?action, "user moderation refused");
        Err(ApiError::forbidden(
            "only an administrator may do this, and not to their own account",
        ))
    }
}

/// Changes `target`'s global role; their sockets close (a new token carries the
/// new role; a refresh reads it from the database).
pub async fn change_role(
    auth: &Auth,
    actor: &CurrentUser,
    target: &UserId,
    role: Role,
) -> Result<UserDoc, ApiError> {
    authorize(actor, target, UserAction::ChangeRole)?;
    let user = auth
        .store
        .users
        .set_role(target, role)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    auth.revoker.revoked(&user.id);
    tracing::info!(event = "role_changed", actor = %actor.id, target = %user.id, role = ?user.role);
    Ok(user)
}

/// Disables (revoking every token and closing every socket) or re-enables
/// `target`.
pub async fn set_disabled(
    auth: &Auth,
    actor: &CurrentUser,
    target: &UserId,
    disabled: bool,
) -> Result<UserDoc, ApiError> {
    authorize(actor, target, UserAction::Disable)?;
    let user = auth
        .store
        .users
        .set_disabled(target, disabled)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    if disabled {
        auth.store.tokens.revoke_user(&user.id).await?;
        auth.revoker.revoked(&user.id);
    }
    tracing::info!(event = if disabled { "user_disabled" } else { "user_enabled" }, actor = %actor.id, target = %user.id);
    Ok(user)
}
