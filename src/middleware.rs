//! Request-level protections that poem does not provide as we need them.

use std::sync::Arc;

use poem::http::header;
use poem::{Endpoint, IntoResponse, Request, Response};

use crate::error::{ApiError, ErrorCode};

fn too_large(max: usize) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("request body is larger than {max} bytes"),
    )
}

/// Whether a JSON body holds a `null` anywhere. No request schema of this API is
/// nullable, so a `null` is a schema violation (poem-openapi would silently read
/// it as "absent"). Unparseable bodies are left to the handlers' own 400.
fn has_null(bytes: &[u8]) -> bool {
    fn walk(value: &serde_json::Value) -> bool {
        match value {
            serde_json::Value::Null => true,
            serde_json::Value::Array(items) => items.iter().any(walk),
            serde_json::Value::Object(fields) => fields.values().any(walk),
            _ => false,
        }
    }
    serde_json::from_slice::<serde_json::Value>(bytes).is_ok_and(|v| walk(&v))
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

/// Refuses bodies over `MAX_BODY_BYTES` (config): by `Content-Length` before reading, and for
/// chunked bodies while reading. (poem's `SizeLimit` also refuses requests that
/// carry no `Content-Length`, such as every GET.)
pub async fn limit_body<E: Endpoint>(ep: Arc<E>, mut req: Request) -> poem::Result<Response> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let max = req
        .data::<crate::state::AppState>()
        .map_or(crate::limits::MAX_BODY_BYTES, |s| s.config.max_body_bytes);
    if declared.is_some_and(|len| len > max as u64) {
        return Ok(too_large(max).into_response());
    }
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let chunked = declared.is_none() && req.headers().contains_key(header::TRANSFER_ENCODING);
    if is_json || chunked {
        let Ok(bytes) = req.take_body().into_bytes_limit(max).await else {
            return Ok(too_large(max).into_response());
        };
        if is_json && has_null(&bytes) {
            let err = ApiError::new(
                ErrorCode::BadRequest,
                "null is not a valid value in this API's request bodies; omit the field instead",
            );
            return Ok(err.into_response());
        }
        req.set_body(bytes);
    }
    Ok(ep.call(req).await?.into_response())
}

/// A 405 names the methods the path does support (RFC 9110, `Allow`), from the
/// OpenAPI document. Outside `catch_all_error`, so the answer is already in the
/// one error shape.
pub async fn allow_header<E: Endpoint>(ep: Arc<E>, req: Request) -> poem::Result<Response> {
    let path = req.uri().path().to_owned();
    let mut resp = ep.get_response(req).await;
    if resp.status() == poem::http::StatusCode::METHOD_NOT_ALLOWED
        && let Some(allowed) = crate::api::spec::allowed_methods(&path)
        && let Ok(value) = poem::http::HeaderValue::from_str(&allowed)
    {
        resp.headers_mut().insert(header::ALLOW, value);
    }
    Ok(resp)
}
