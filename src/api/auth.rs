//! `/api/v1/auth`: register, login, refresh, logout, tickets, password change.

use super::errors::{
    Authed, Credentials, Errors, Hashing, Invalid, JsonBody, Limited, Params, RefreshToken, Taken,
};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Cookie, Header};
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

/// The web client's session: the access token only. The refresh token travels in
/// the `confab_refresh` cookie (`HttpOnly`, `Secure`, `SameSite=Strict`, path
/// `/api/v1/auth/web`), where no script on the origin can read it.
#[derive(Object)]
pub struct WebSession {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

/// The web session cookie: its name, and where the browser sends it.
pub const WEB_COOKIE: &str = "confab_refresh";
const WEB_COOKIE_PATH: &str = "/api/v1/auth/web";
/// The value of `X-Confab-Web`, which every web-session call carries (the web
/// client sends it; without it, or with another value, 400 `bad_request`): a
/// cross-origin page cannot add it without a CORS preflight, which confab never
/// grants with credentials, on top of `SameSite=Strict`.
#[derive(poem_openapi::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebMarker {
    #[oai(rename = "1")]
    One,
}

/// `Set-Cookie` for the refresh token (or, with `None`, one that clears it).
fn web_cookie(token: Option<&str>, max_age: std::time::Duration) -> String {
    let (value, max_age) = match token {
        Some(token) => (token, max_age.as_secs()),
        None => ("", 0),
    };
    format!(
        "{WEB_COOKIE}={value}; Path={WEB_COOKIE_PATH}; Max-Age={max_age}; HttpOnly; Secure; SameSite=Strict"
    )
}

fn web_issued(pair: IssuedPair, ttl: std::time::Duration) -> WebIssued {
    WebIssued::Issued(
        Json(WebSession {
            access_token: pair.access_token,
            token_type: "Bearer".to_owned(),
            expires_in: pair.expires_in,
        }),
        web_cookie(Some(&pair.refresh_token), ttl),
    )
}

#[derive(ApiResponse)]
pub enum WebIssued {
    /// Signed in: the access token here, the refresh token in the cookie.
    #[oai(status = 200)]
    Issued(
        Json<WebSession>,
        /// `confab_refresh=<token>; Path=/api/v1/auth/web; HttpOnly; Secure; SameSite=Strict`
        #[oai(header = "Set-Cookie")]
        String,
    ),
}

#[derive(ApiResponse)]
pub enum WebEnded {
    /// Logged out; the cookie is cleared.
    #[oai(status = 204)]
    Done(
        /// Clears `confab_refresh`.
        #[oai(header = "Set-Cookie")]
        String,
    ),
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
            &state.auth,
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
            &state.auth,
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
            sessions::refresh(&state.auth, &body.refresh_token)
                .await?
                .into(),
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
        sessions::logout(&state.auth, &auth.0, &body.refresh_token).await?;
        Ok(NoContent::Done)
    }

    /// Log out everywhere: revoke every access and refresh token
    #[oai(path = "/logout-all", method = "post", operation_id = "logoutAll")]
    async fn logout_all(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<NoContent, Errors<Authed>> {
        sessions::revoke_everything(&state.auth, &auth.0.id).await?;
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
        let (ticket, expires_in) = sessions::issue_ticket(&state.auth, &auth.0).await?;
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
        sessions::change_password(
            &state.auth,
            &auth.0,
            &body.current_password,
            &body.new_password,
        )
        .await?;
        Ok(NoContent::Done)
    }
}

/// The web client's sessions: the refresh token never reaches a script.
pub struct WebAuthApi;

#[OpenApi(prefix_path = "/api/v1/auth/web", tag = "ApiTags::Auth")]
impl WebAuthApi {
    /// Log in (web client): the refresh token goes into an HttpOnly cookie
    ///
    /// As `login`, but the answer holds only the access token; the refresh token
    /// is set as the `confab_refresh` cookie, which scripts cannot read. Needs the
    /// header `X-Confab-Web: 1`.
    #[oai(path = "/login", method = "post", operation_id = "webLogin")]
    async fn login(
        &self,
        state: Data<&AppState>,
        req: &Request,
        #[oai(name = "X-Confab-Web")] _marker: Header<WebMarker>,
        body: Json<LoginRequest>,
    ) -> Result<WebIssued, Errors<(Params, JsonBody, Invalid, Credentials, Limited, Hashing)>> {
        let pair = sessions::login(
            &state.auth,
            &client_ip(req, &state.config.trusted_proxies),
            &body.username,
            &body.password,
        )
        .await?;
        Ok(web_issued(pair, state.config.refresh_token_ttl))
    }

    /// Refresh (web client): rotates the cookie, returns a new access token
    ///
    /// The refresh token comes from the `confab_refresh` cookie and is rotated as
    /// in `refresh` (a reused one revokes the login). Needs `X-Confab-Web: 1`.
    #[oai(path = "/refresh", method = "post", operation_id = "webRefresh")]
    async fn refresh(
        &self,
        state: Data<&AppState>,
        #[oai(name = "X-Confab-Web")] _marker: Header<WebMarker>,
        #[oai(name = "confab_refresh")] cookie: Cookie<Option<String>>,
    ) -> Result<WebIssued, Errors<(Params, RefreshToken)>> {
        let token = cookie.0.as_deref().unwrap_or_default();
        let pair = sessions::refresh(&state.auth, token).await?;
        Ok(web_issued(pair, state.config.refresh_token_ttl))
    }

    /// Log out (web client): revokes the cookie's session and clears it
    ///
    /// The cookie is the proof, so no access token is needed (after `logoutAll`
    /// there is none left). Needs `X-Confab-Web: 1`.
    #[oai(path = "/logout", method = "post", operation_id = "webLogout")]
    async fn logout(
        &self,
        state: Data<&AppState>,
        #[oai(name = "X-Confab-Web")] _marker: Header<WebMarker>,
        #[oai(name = "confab_refresh")] cookie: Cookie<Option<String>>,
    ) -> Result<WebEnded, Errors<Params>> {
        if let Some(token) = cookie.0.as_deref() {
            sessions::logout_token(&state.auth, token).await?;
        }
        Ok(WebEnded::Done(web_cookie(None, std::time::Duration::ZERO)))
    }
}
