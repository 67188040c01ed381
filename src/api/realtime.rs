//! `GET /api/v1/ws`: the WebSocket gateway, documented with its frames.

use poem::Request;
use poem::web::Data;
use poem_openapi::OpenApi;
use poem_openapi::param::Query;

use super::ApiTags;
use super::errors::{Authed, Errors, Limited, Params, Refused};
use crate::gateway::{self, Upgrade};
use crate::state::AppState;

pub struct RealtimeApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Realtime")]
impl RealtimeApi {
    /// Open the real-time WebSocket gateway
    ///
    /// Authenticate with `Authorization: Bearer <access token>` or, from browsers,
    /// with `?ticket=` from `POST /api/v1/auth/ws-ticket` (single use, 30 s).
    /// No valid credential: 401 and no upgrade. A browser `Origin` outside
    /// `ALLOWED_ORIGINS`: 403. Frames are JSON text frames: `ClientFrame` and
    /// `ServerFrame` in the components; see also `openapi/asyncapi.yaml`.
    #[oai(path = "/ws", method = "get", operation_id = "connectWebSocket")]
    async fn connect(
        &self,
        state: Data<&AppState>,
        req: &Request,
        /// Single-use ticket (instead of the Authorization header).
        ticket: Query<Option<String>>,
    ) -> Result<Upgrade, Errors<(Authed, Params, Refused, Limited)>> {
        let _ = ticket;
        Ok(gateway::upgrade(&state, req).await?)
    }
}
