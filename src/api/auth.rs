//! `/api/v1/auth`: register, login, refresh, logout, tickets, password change.

use super::errors::{
    Authed, Credentials, Errors, Hashing, Invalid, JsonBody, Limited, RefreshToken, Taken,
};
use poem::Request;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::models::User;
use super::text::Text;
use super::{ApiTags, client_ip};
use crate::auth::BearerAuth;
use crate::auth::sessions::{self, IssuedPair, Registration};
use crate::state::AppState;

pub struct AuthApi;

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct RegisterRequest {
    /// 3-32 characters of `a-z 0-9 _ . -`; stored lowercased, unique.
    pub username: Text,
    /// 8-1024 characters; common or guessable passwords are refused.
    #[oai(write_only)]
    pub password: Text,
    /// 1-64 characters; defaults to the username.
    pub display_name: Option<Text>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: Text,
    #[oai(write_only)]
    pub password: Text,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: Text,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct PasswordChange {
    #[oai(write_only)]
    pub current_password: Text,
    #[oai(write_only)]
    pub new_password: Text,
}

/// An access token (JWT, short-lived) and a refresh token (opaque, rotated on use).
#[derive(Object)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

impl From<IssuedPair> for TokenPair {
    fn from(pair: IssuedPair) -> Self {
        Self {
            access_token: pair.access_token,
            refresh_token: pair.refresh_token,
            token_type: "Bearer".to_owned(),
            expires_in: pair.expires_in,
        }
    }
}

/// A single-use ticket for `GET /api/v1/ws?ticket=...` (for browsers, which cannot
/// set headers on a WebSocket upgrade).
#[derive(Object)]
pub struct WsTicket {
    pub ticket: String,
    /// Seconds until the ticket expires.
    pub expires_in: u64,
}

#[derive(ApiResponse)]
pub enum Created {
    /// The account was created.
    #[oai(status = 201)]
    Created(Json<User>),
}

#[derive(ApiResponse)]
pub enum NoContent {
    /// Done.
    #[oai(status = 204)]
    Done,
}

#[OpenApi(prefix_path = "/api/v1/auth", tag = "ApiTags::Auth")]
impl AuthApi {
    /// Create an account
    #[oai(path = "/register", method = "post", operation_id = "register")]
    async fn register(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<RegisterRequest>,
    ) -> Result<Created, Errors<(JsonBody, Invalid, Taken, Limited, Hashing)>> {
        let input = Registration {
            username: &body.username,
            password: &body.password,
            display_name: body.display_name.as_deref(),
        };
        let user = sessions::register(
            &state,
            &client_ip(req, &state.config.trusted_proxies),
            input,
        )
        .await?;
        Ok(Created::Created(Json(User::from(&user))))
    }

    /// Log in with username and password
    ///
    /// Failures are generic (`invalid_credentials`) and rate limited per username and
    /// per client address (429 with `Retry-After`).
    #[oai(path = "/login", method = "post", operation_id = "login")]
    async fn login(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<LoginRequest>,
    ) -> Result<Json<TokenPair>, Errors<(JsonBody, Invalid, Credentials, Limited, Hashing)>> {
        let pair = sessions::login(
            &state,
            &client_ip(req, &state.config.trusted_proxies),
            &body.username,
            &body.password,
        )
        .await?;
        Ok(Json(pair.into()))
    }

    /// Exchange a refresh token for a new pair
    ///
    /// The refresh token is rotated: the old one stops working. Presenting an
    /// already-rotated token revokes every token of that login (`refresh_token_reused`).
    #[oai(path = "/refresh", method = "post", operation_id = "refresh")]
    async fn refresh(
        &self,
        state: Data<&AppState>,
        body: Json<RefreshRequest>,
    ) -> Result<Json<TokenPair>, Errors<(JsonBody, RefreshToken)>> {
        Ok(Json(
            sessions::refresh(&state, &body.refresh_token).await?.into(),
        ))
    }

    /// Log out: revoke the refresh token's session
    #[oai(path = "/logout", method = "post", operation_id = "logout")]
    async fn logout(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: Json<RefreshRequest>,
    ) -> Result<NoContent, Errors<(Authed, JsonBody)>> {
        sessions::logout(&state, &auth.0, &body.refresh_token).await?;
        Ok(NoContent::Done)
    }

    /// Log out everywhere: revoke every access and refresh token
    #[oai(path = "/logout-all", method = "post", operation_id = "logoutAll")]
    async fn logout_all(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<NoContent, Errors<Authed>> {
        sessions::revoke_everything(&state, &auth.0.id).await?;
        tracing::info!(event = "logout_all", user_id = %auth.0.id);
        Ok(NoContent::Done)
    }

    /// Get a single-use WebSocket ticket (valid 30 s)
    ///
    /// Rate limited per user (429 with `Retry-After`).
    #[oai(path = "/ws-ticket", method = "post", operation_id = "createWsTicket")]
    async fn ws_ticket(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<Json<WsTicket>, Errors<(Authed, Limited)>> {
        state
            .rate_limits
            .check(&auth.0.id, crate::rate_limits::Action::Ticket)
            .await?;
        let (ticket, expires_in) = sessions::issue_ticket(&state, &auth.0).await?;
        Ok(Json(WsTicket { ticket, expires_in }))
    }

    /// Change the password; revokes every session
    #[oai(path = "/password", method = "put", operation_id = "changePassword")]
    async fn change_password(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: Json<PasswordChange>,
    ) -> Result<NoContent, Errors<(Authed, JsonBody, Invalid, Limited, Hashing)>> {
        sessions::change_password(&state, &auth.0, &body.current_password, &body.new_password)
            .await?;
        Ok(NoContent::Done)
    }
}
