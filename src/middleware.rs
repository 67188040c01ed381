//! Request-level protections that poem does not provide as we need them.

use std::sync::Arc;

use poem::http::header;
use poem::{Endpoint, IntoResponse, Request, Response};

use crate::error::{ApiError, ErrorCode};
use crate::limits::MAX_BODY_BYTES;

fn too_large() -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("request body is larger than {MAX_BODY_BYTES} bytes"),
    )
}

/// Answers 503 `request_timeout` when a request takes longer than
/// `REQUEST_TIMEOUT_SECS`, so a stuck dependency cannot pile up requests forever.
pub async fn time_limit<E: Endpoint>(ep: Arc<E>, req: Request) -> poem::Result<Response> {
    let limit = req
        .data::<crate::state::AppState>()
        .map_or(std::time::Duration::from_secs(30), |s| {
            s.config.request_timeout
        });
    let path = req.uri().path().to_owned();
    match tokio::time::timeout(limit, ep.call(req)).await {
        Ok(result) => Ok(result?.into_response()),
        Err(_) => {
            tracing::warn!(event = "request_timeout", %path, limit_secs = limit.as_secs(), "request timed out");
            Ok(ApiError::new(
                ErrorCode::RequestTimeout,
                "the request took too long; try again",
            )
            .into_response())
        }
    }
}

/// Refuses bodies over `MAX_BODY_BYTES`: by `Content-Length` before reading, and for
/// chunked bodies while reading. (poem's `SizeLimit` also refuses requests that
/// carry no `Content-Length`, such as every GET.)
pub async fn limit_body<E: Endpoint>(ep: Arc<E>, mut req: Request) -> poem::Result<Response> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(len) if len > MAX_BODY_BYTES as u64 => return Ok(too_large().into_response()),
        Some(_) => {}
        None if req.headers().contains_key(header::TRANSFER_ENCODING) => {
            match req.take_body().into_bytes_limit(MAX_BODY_BYTES).await {
                Ok(bytes) => req.set_body(bytes),
                Err(_) => return Ok(too_large().into_response()),
            }
        }
        None => {}
    }
    Ok(ep.call(req).await?.into_response())
}
