//! The bearer security scheme: turns `Authorization: Bearer <jwt>` into the caller.

use poem::Request;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;

use super::sessions::CurrentUser;
use crate::error::ApiError;

/// JWT access token from `POST /api/v1/auth/login`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_bearer")]
pub struct BearerAuth(pub CurrentUser);

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<CurrentUser> {
    let auth = req
        .data::<std::sync::Arc<super::Auth>>()
        .ok_or_else(ApiError::internal)?;
    Ok(crate::auth::sessions::authenticate(auth, &bearer.token).await?)
}
