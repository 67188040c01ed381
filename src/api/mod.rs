//! The REST surface: one file per OpenAPI tag, shared shapes in `models`.

pub mod auth;
pub mod dms;
pub mod errors;
pub mod groups;
pub mod health;
pub mod messages;
pub mod models;
pub mod reactions;
pub mod realtime;
pub mod search;
pub mod spec;
pub mod text;
pub mod users;

use poem::Request;
use poem_openapi::{OpenApiService, Tags};

#[derive(Tags)]
pub enum ApiTags {
    /// Registration, login, token refresh and logout.
    Auth,
    /// Profiles, search and global moderation.
    Users,
    /// Groups, their members and roles.
    Groups,
    /// Direct conversations.
    Dms,
    /// History, sending, editing, deleting, read markers, presence.
    Messages,
    /// Finding messages by their text.
    Search,
    /// The WebSocket gateway.
    Realtime,
    /// Liveness, readiness and metrics.
    Health,
}

/// The API description; the committed `openapi/openapi.json` is its output.
pub type Apis = (
    auth::AuthApi,
    auth::WebAuthApi,
    users::UsersApi,
    groups::GroupsApi,
    dms::DmsApi,
    messages::MessagesApi,
    reactions::ReactionsApi,
    search::SearchApi,
    realtime::RealtimeApi,
    health::HealthApi,
);

pub fn service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            auth::AuthApi,
            auth::WebAuthApi,
            users::UsersApi,
            groups::GroupsApi,
            dms::DmsApi,
            messages::MessagesApi,
            reactions::ReactionsApi,
            search::SearchApi,
            realtime::RealtimeApi,
            health::HealthApi,
        ),
        "confab",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "A secure, authenticated chat API. Authenticate with `POST /api/v1/auth/login` and \
         send the access token as `Authorization: Bearer <token>`. Every error has the shape \
         `{\"error\": {\"code\", \"message\", \"details\"}}`.",
    )
}

/// The client's address as a per-address throttle key: the TCP peer, or the
/// `X-Forwarded-For` client when the peer is one of `TRUSTED_PROXIES`; an IPv6
/// client by its /64.
pub fn client_ip(req: &Request, trusted_proxies: &[crate::netaddr::Cidr]) -> String {
    let Some(peer) = req.remote_addr().as_socket_addr().map(|addr| addr.ip()) else {
        return "unknown".to_owned();
    };
    let forwarded: Vec<&[u8]> = if trusted_proxies.is_empty() {
        Vec::new()
    } else {
        // Raw bytes, split hop by hop (`netaddr::client_addr`).
        req.headers()
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| v.as_bytes())
            .collect()
    };
    crate::netaddr::throttle_key(crate::netaddr::client_addr(
        peer,
        &forwarded,
        trusted_proxies,
    ))
}
