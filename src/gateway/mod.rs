//! The WebSocket upgrade: `GET /api/v1/ws`, authenticated before anything else.
//!
//! A browser `Origin` that is neither this server's own (the web client served at
//! `/`) nor in `ALLOWED_ORIGINS` gets 403 (poem checks no Origin by itself); no valid credential gets 401; neither is upgraded. The `ticket` query
//! parameter is a secret: it is never logged (request logs carry the path only).

pub mod session;

use poem::http::header;
use poem::web::websocket::{WebSocket, WebSocketConfig};
use poem::{FromRequest, IntoResponse, Request, RequestBody, Response};
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, MetaSchemaRef, Registry};
use poem_openapi::types::Type;

use crate::auth::CurrentUser;
use crate::auth::sessions::{authenticate, redeem_ticket};
use crate::error::{ApiError, ErrorCode};
use crate::limits::{MAX_FRAME_BYTES, WS_READ_BUFFER_BYTES, WS_WRITE_BUFFER_BYTES};
use crate::realtime::protocol::{ClientFrame, ServerFrame, UserRef};
use crate::state::AppState;

/// The `101 Switching Protocols` answer, documented with the frame schemas.
pub struct Upgrade(pub Response);

impl IntoResponse for Upgrade {
    fn into_response(self) -> Response {
        self.0
    }
}

impl poem_openapi::ApiResponse for Upgrade {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "Switching Protocols. The connection then carries JSON text frames: \
                    the client sends `ClientFrame`s and receives `ServerFrame`s (both listed \
                    here by media type; see also openapi/asyncapi.yaml).",
                status: Some(101),
                status_range: None,
                // Not HTTP bodies: the two frame vocabularies, named by media type so
                // that both schemas are part of the spec.
                content: vec![
                    MetaMediaType {
                        content_type: "application/vnd.confab.server-frame+json",
                        schema: MetaSchemaRef::Reference(ServerFrame::name().into_owned()),
                    },
                    MetaMediaType {
                        content_type: "application/vnd.confab.client-frame+json",
                        schema: MetaSchemaRef::Reference(ClientFrame::name().into_owned()),
                    },
                ],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        ServerFrame::register(registry);
        ClientFrame::register(registry);
    }
}

/// Whether `origin` is the page this server served (the web client at `/`): its
/// host is the request's `Host`. Either scheme, since a TLS proxy in front changes it.
fn same_origin(origin: &str, host: Option<&str>) -> bool {
    // `str::is_empty` by name: poem_openapi's `Type` (in scope here) has an `is_empty` too.
    let Some(host) = host.filter(|h| !str::is_empty(h)) else {
        return false;
    };
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|rest| rest.eq_ignore_ascii_case(host))
}

/// Whether a browser origin may open a socket.
fn origin_allowed(state: &AppState, req: &Request) -> bool {
    match req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    {
        // Not a browser: nothing to check.
        None => true,
        Some(origin) => {
            let origin = origin.trim_end_matches('/');
            let host = req
                .headers()
                .get(header::HOST)
                .and_then(|v| v.to_str().ok());
            same_origin(origin, host)
                || state
                    .config
                    .allowed_origins
                    .iter()
                    .any(|allowed| allowed == origin)
        }
    }
}

fn ticket_param(req: &Request) -> Option<String> {
    req.uri().query()?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == "ticket" && !value.is_empty()).then(|| value.to_owned())
    })
}

fn bearer(req: &Request) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Small buffers: an idle socket should cost little. tungstenite allocates its
/// read buffer up front (128 KiB by default); the write buffer only grows while
/// frames are written. `max_write_buffer_size` stays unlimited: a write waits for
/// the previous one to drain, so the buffer never holds more than
/// `WS_WRITE_BUFFER_BYTES` plus one frame, and a cap would break a single large
/// frame (a `joined` listing a crowded room); stuck peers are cut off by the
/// session's write timeout instead.
pub fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(WS_READ_BUFFER_BYTES)
        .write_buffer_size(WS_WRITE_BUFFER_BYTES)
        .max_message_size(Some(MAX_FRAME_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES))
}

/// Whether the user's tokens of `user.token_version` are still good (the cached
/// auth facts, refreshed by every revocation).
async fn still_valid(state: &AppState, user: &CurrentUser) -> Result<bool, ApiError> {
    Ok(state
        .store
        .users
        .auth_facts(&user.id)
        .await?
        .is_some_and(|facts| !facts.disabled && facts.token_version == user.token_version))
}

/// Checks origin and credentials, then upgrades.
pub async fn upgrade(state: &AppState, req: &Request) -> Result<Upgrade, ApiError> {
    if !origin_allowed(state, req) {
        tracing::warn!(
            event = "forbidden",
            reason = "origin",
            "WebSocket upgrade from a foreign origin refused"
        );
        return Err(ApiError::forbidden("this origin may not open a WebSocket"));
    }
    let user: CurrentUser = if let Some(token) = bearer(req) {
        authenticate(&state.auth, token).await?
    } else if let Some(ticket) = ticket_param(req) {
        redeem_ticket(&state.auth, &ticket).await?
    } else {
        return Err(ApiError::unauthenticated(
            "send `Authorization: Bearer <access token>` or `?ticket=<ws ticket>`",
        ));
    };
    let ws = WebSocket::from_request(req, &mut RequestBody::default())
        .await
        .map_err(|_| {
            ApiError::new(
                ErrorCode::BadRequest,
                "this endpoint expects a WebSocket upgrade request",
            )
        })?;
    let config = socket_config();
    // Take the connection slot now, atomically, so parallel upgrades cannot
    // overshoot the per-user cap; it is given back if the upgrade never completes.
    let limit = state.config.ws_max_connections_per_user as usize;
    let me = UserRef {
        id: user.id.clone(),
        username: user.username.clone(),
    };
    let Some(registration) = state.hub.try_register(me, limit) else {
        tracing::warn!(event = "rate_limited", limit = "ws_connections_per_user", user_id = %user.id, "too many connections");
        return Err(ApiError {
            message: format!("at most {limit} simultaneous connections per user"),
            ..ApiError::rate_limited(5)
        });
    };
    let pending = session::Pending::new(state.hub.clone(), registration);
    // A logout-all or password change between the credential check above and
    // the registration would have missed this connection: `close_user` reaches
    // only registered ones. Revocations bump the token version before they close
    // sockets, so looking again now, registered, catches what was missed.
    if !still_valid(state, &user).await? {
        tracing::info!(event = "ws_revoked_during_upgrade", user_id = %user.id);
        return Err(ApiError::new(
            ErrorCode::InvalidToken,
            "the access token has been revoked",
        ));
    }
    let state = state.clone();
    Ok(Upgrade(
        ws.config(config)
            .on_upgrade(move |socket| session::run(state, socket, user, pending))
            .into_response(),
    ))
}

#[cfg(test)]
mod tests {
    use super::same_origin;

    #[test]
    fn own_origin_only() {
        assert!(same_origin("http://localhost:8000", Some("localhost:8000")));
        assert!(same_origin("https://chat.example", Some("chat.example")));
        assert!(!same_origin("http://evil.example", Some("localhost:8000")));
        assert!(!same_origin(
            "http://localhost:8000.evil",
            Some("localhost:8000")
        ));
        assert!(!same_origin("null", Some("localhost:8000")));
        assert!(!same_origin("http://", Some("")));
        assert!(!same_origin("http://localhost:8000", None));
    }
}
