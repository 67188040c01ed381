//! The bearer security scheme: turns `Authorization: Bearer <jwt>` into the caller.

use poem::Request;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;

use crate::domain::Role;
use crate::error::ApiError;
use crate::state::AppState;

/// The authenticated caller, checked against the database on every request.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub id: crate::ids::UserId,
    pub username: String,
    pub role: Role,
    pub token_version: i64,
    /// Unix seconds when the presented access token expires.
    pub token_expires_at: i64,
}

/// JWT access token from `POST /api/v1/auth/login`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_bearer")]
pub struct BearerAuth(pub CurrentUser);

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<CurrentUser> {
    let state = req.data::<AppState>().ok_or_else(ApiError::internal)?;
    Ok(crate::auth::sessions::authenticate(state, &bearer.token).await?)
}
