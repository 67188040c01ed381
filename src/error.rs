//! One error type and one JSON shape for every failure, REST and WebSocket alike.
//!
//! `{"error": {"code": "snake_case", "message": "human text", "details": {...}}}`.
//! Codes are stable: clients switch on them. Causes are logged, never sent.

use poem::http::{HeaderValue, StatusCode, header};
use poem::{IntoResponse, Response};
use poem_openapi::registry::{MetaResponses, Registry};
use poem_openapi::{ApiResponse, Object, payload::Json};

use crate::domain::FieldErrors;

/// Every error code of the API, with its HTTP status. (Serde: how one node
/// answers another's forwarded send in cluster mode.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    InvalidCursor,
    Unauthenticated,
    InvalidToken,
    TokenExpired,
    InvalidCredentials,
    RefreshTokenReused,
    Forbidden,
    AccountDisabled,
    NotFound,
    MethodNotAllowed,
    Conflict,
    UsernameTaken,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
    RateLimited,
    Internal,
    DatabaseUnavailable,
    RequestTimeout,
    ServerBusy,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::InvalidCursor => "invalid_cursor",
            Self::Unauthenticated => "unauthenticated",
            Self::InvalidToken => "invalid_token",
            Self::TokenExpired => "token_expired",
            Self::InvalidCredentials => "invalid_credentials",
            Self::RefreshTokenReused => "refresh_token_reused",
            Self::Forbidden => "forbidden",
            Self::AccountDisabled => "account_disabled",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict => "conflict",
            Self::UsernameTaken => "username_taken",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::ValidationFailed => "validation_failed",
            Self::RateLimited => "rate_limited",
            Self::Internal => "internal_error",
            Self::DatabaseUnavailable => "database_unavailable",
            Self::RequestTimeout => "request_timeout",
            Self::ServerBusy => "server_busy",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Self::BadRequest | Self::InvalidCursor => StatusCode::BAD_REQUEST,
            Self::Unauthenticated
            | Self::InvalidToken
            | Self::TokenExpired
            | Self::InvalidCredentials
            | Self::RefreshTokenReused => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::AccountDisabled => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict | Self::UsernameTaken => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::ValidationFailed => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::DatabaseUnavailable | Self::RequestTimeout | Self::ServerBusy => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }
}

/// An error on its way to a client.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub details: Option<ErrorDetails>,
    /// Seconds, for `rate_limited`.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthenticated, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict, message)
    }
    pub fn internal() -> Self {
        Self::new(ErrorCode::Internal, "internal error; it has been logged")
    }
    pub fn database_unavailable() -> Self {
        Self::new(
            ErrorCode::DatabaseUnavailable,
            "the database is unavailable; try again shortly",
        )
    }
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let secs = retry_after_secs.max(1);
        Self {
            retry_after: Some(secs),
            details: Some(ErrorDetails {
                retry_after_secs: Some(secs),
                ..ErrorDetails::default()
            }),
            ..Self::new(ErrorCode::RateLimited, "too many attempts; slow down")
        }
    }
    pub fn validation(errors: FieldErrors) -> Self {
        let fields = errors
            .0
            .into_iter()
            .map(|(field, message)| (field.to_owned(), message))
            .collect();
        Self {
            details: Some(ErrorDetails {
                fields: Some(fields),
                ..ErrorDetails::default()
            }),
            ..Self::new(
                ErrorCode::ValidationFailed,
                "the request has invalid fields",
            )
        }
    }
    /// A single invalid field.
    pub fn invalid_field(field: &'static str, message: impl Into<String>) -> Self {
        Self::validation(FieldErrors::single(field, message))
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code.as_str().to_owned(),
                message: self.message.clone(),
                details: self.details.clone(),
            },
        }
    }
}

impl From<FieldErrors> for ApiError {
    fn from(errors: FieldErrors) -> Self {
        Self::validation(errors)
    }
}

/// The error envelope.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// Machine-readable details of some errors.
#[derive(Debug, Clone, Default, PartialEq, Eq, Object, serde::Serialize)]
pub struct ErrorDetails {
    /// `validation_failed`: each invalid field and what is wrong with it.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<std::collections::BTreeMap<String, String>>,
    /// `rate_limited` and `server_busy`: seconds to wait (also `Retry-After`).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
}

/// What went wrong: a stable code, a message for people, and optional details
/// (`fields` for validation errors, `retry_after_secs` for rate limits).
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<ErrorDetails>,
}

/// The error responses as the spec shows them; `ApiError` borrows this description.
#[allow(dead_code)]
#[derive(ApiResponse)]
enum ErrorResponses {
    /// Malformed request: invalid JSON, wrong types, bad parameters.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// Missing, invalid or expired credentials.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// Authenticated, but not allowed.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// No such resource, or not visible to the caller.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// Conflicts with the current state (e.g. `username_taken`).
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// Request body too large.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// Request body is not `application/json`.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// Well-formed but invalid fields; `details.fields` names each.
    #[oai(status = 422)]
    ValidationFailed(Json<ErrorBody>),
    /// Rate limited; retry after the given seconds.
    #[oai(status = 429)]
    TooManyRequests(Json<ErrorBody>, #[oai(header = "Retry-After")] u64),
    /// Unexpected server error (logged).
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// The database is unreachable, or the request took too long.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

impl ApiResponse for ApiError {
    const BAD_REQUEST_HANDLER: bool = true;

    fn meta() -> MetaResponses {
        ErrorResponses::meta()
    }

    fn register(registry: &mut Registry) {
        ErrorResponses::register(registry)
    }

    fn from_parse_request_error(err: poem::Error) -> Self {
        from_poem_error(&err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut resp = Response::builder()
            .status(self.code.status())
            .content_type("application/json; charset=utf-8")
            .body(body);
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        self.code.status()
    }
    fn as_response(&self) -> Response {
        self.clone().into_response()
    }
}

/// Maps one of poem's own errors (routing, extractors, body limits) to ours.
pub fn from_poem_error(err: &poem::Error) -> ApiError {
    if let Some(api) = err.downcast_ref::<ApiError>() {
        return api.clone();
    }
    // A malformed id in a path names nothing: the 404 an unknown id gets.
    if let Some(path) = err.downcast_ref::<poem_openapi::error::ParsePathError>()
        && let Some(what) = crate::ids::malformed_id_of(&path.reason)
    {
        return ApiError::not_found(what);
    }
    let status = err.status();
    let code = match status {
        StatusCode::UNAUTHORIZED => ErrorCode::Unauthenticated,
        StatusCode::FORBIDDEN => ErrorCode::Forbidden,
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
        StatusCode::UNPROCESSABLE_ENTITY => ErrorCode::ValidationFailed,
        StatusCode::TOO_MANY_REQUESTS => ErrorCode::RateLimited,
        StatusCode::SERVICE_UNAVAILABLE => ErrorCode::DatabaseUnavailable,
        s if s.is_server_error() => ErrorCode::Internal,
        _ => ErrorCode::BadRequest,
    };
    let message = match code {
        ErrorCode::Unauthenticated => "missing or malformed bearer token".to_owned(),
        ErrorCode::NotFound => "no such resource".to_owned(),
        ErrorCode::MethodNotAllowed => "method not allowed on this resource".to_owned(),
        ErrorCode::PayloadTooLarge => "request body is too large".to_owned(),
        ErrorCode::UnsupportedMediaType => "request body must be application/json".to_owned(),
        ErrorCode::Internal => {
            tracing::error!(error = %err, "unhandled server error");
            "internal error; it has been logged".to_owned()
        }
        _ => err.to_string(),
    };
    // poem reports some content-type problems as 400s; clients deserve the 415.
    let code = if code == ErrorCode::BadRequest && message.contains("content type") {
        ErrorCode::UnsupportedMediaType
    } else {
        code
    };
    ApiError::new(code, message)
}

/// Renders any error that escaped the handlers in the one error shape.
pub async fn render_error(err: poem::Error) -> Response {
    from_poem_error(&err).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_snake_case_and_maps_to_an_error_status() {
        let all = [
            ErrorCode::BadRequest,
            ErrorCode::InvalidCursor,
            ErrorCode::Unauthenticated,
            ErrorCode::InvalidToken,
            ErrorCode::TokenExpired,
            ErrorCode::InvalidCredentials,
            ErrorCode::RefreshTokenReused,
            ErrorCode::Forbidden,
            ErrorCode::AccountDisabled,
            ErrorCode::NotFound,
            ErrorCode::MethodNotAllowed,
            ErrorCode::Conflict,
            ErrorCode::UsernameTaken,
            ErrorCode::PayloadTooLarge,
            ErrorCode::UnsupportedMediaType,
            ErrorCode::ValidationFailed,
            ErrorCode::RateLimited,
            ErrorCode::Internal,
            ErrorCode::DatabaseUnavailable,
            ErrorCode::RequestTimeout,
            ErrorCode::ServerBusy,
        ];
        for code in all {
            let s = code.as_str();
            assert!(s.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{s}");
            assert!(code.status().as_u16() >= 400, "{s}");
        }
    }

    #[test]
    fn rate_limited_errors_carry_retry_after() {
        let resp = ApiError::rate_limited(0).into_response();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.headers().get(header::RETRY_AFTER).unwrap(), "1");
    }
}
