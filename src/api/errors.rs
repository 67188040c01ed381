//! Which errors each operation can return, as the spec shows them.
//!
//! A handler returns `Result<_, Errors<S>>`, where `S` names the kinds of failure
//! it can meet: `(Authed, JsonBody, Invalid, Missing)` for an authenticated call
//! with a body that validates fields and loads something by id. The spec lists,
//! per operation, exactly those statuses, each with the error `code`s it can
//! carry; generated clients get no error type that cannot happen. Server-side
//! failures (500 `internal_error`, 503 `database_unavailable`/`request_timeout`)
//! can happen anywhere and are always listed.
//!
//! The codes come from `ErrorCode` (one source of truth for codes and statuses).
//! An error outside its operation's set is still sent as it is, and logged as an
//! `undeclared_error` so that the set gets fixed (schemathesis' status-code check
//! finds the same from the outside).

use std::collections::{BTreeMap, HashSet};
use std::marker::PhantomData;
use std::sync::{Mutex, OnceLock};

use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::registry::{MetaHeader, MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiResponse, payload::Json};

use crate::domain::FieldErrors;
use crate::error::{ApiError, ErrorBody, ErrorCode};

/// A kind of failure: the error codes it brings.
pub trait ErrorSet: Send + Sync + 'static {
    fn codes() -> Vec<ErrorCode>;
}

macro_rules! error_set {
    ($(#[$doc:meta])* $name:ident => [$($code:ident),* $(,)?]) => {
        $(#[$doc])*
        pub struct $name;
        impl ErrorSet for $name {
            fn codes() -> Vec<ErrorCode> {
                vec![$(ErrorCode::$code),*]
            }
        }
    };
}

error_set!(
    /// Server-side failures, possible in every operation.
    Always => [Internal, DatabaseUnavailable, RequestTimeout]
);
error_set!(
    /// Needs a valid access token.
    Authed => [Unauthenticated, InvalidToken, TokenExpired]
);
error_set!(
    /// Takes a JSON body: it may be malformed, too large or of another type.
    JsonBody => [BadRequest, PayloadTooLarge, UnsupportedMediaType]
);
error_set!(
    /// Takes query parameters that may not parse.
    Params => [BadRequest]
);
error_set!(
    /// Validates fields (`details.fields` names each).
    Invalid => [ValidationFailed]
);
error_set!(
    /// Names something by id that may not exist or not be visible.
    Missing => [NotFound]
);
error_set!(
    /// Checks the caller's role.
    Refused => [Forbidden]
);
error_set!(
    /// May conflict with the current state.
    Clash => [Conflict]
);
error_set!(
    /// Rate limited (429 with `Retry-After`).
    Limited => [RateLimited]
);
error_set!(
    /// Hashes a password on the bounded hashing pool.
    Hashing => [ServerBusy]
);
error_set!(
    /// Cluster mode: waits for another node, a cluster-wide lock or Redis (503
    /// `server_busy`: do it again shortly; a send with the same `client_id`).
    Busy => [ServerBusy]
);
error_set!(
    /// Claims a username.
    Taken => [UsernameTaken]
);
error_set!(
    /// Checks a username and password.
    Credentials => [InvalidCredentials, AccountDisabled]
);
error_set!(
    /// Takes a refresh token.
    RefreshToken => [InvalidToken, RefreshTokenReused]
);
error_set!(
    /// Takes a `cursor` this API issued.
    Cursor => [InvalidCursor]
);

/// Nothing beyond the server-side failures.
impl ErrorSet for () {
    fn codes() -> Vec<ErrorCode> {
        Vec::new()
    }
}

macro_rules! tuple_set {
    ($($t:ident),+) => {
        impl<$($t: ErrorSet),+> ErrorSet for ($($t,)+) {
            fn codes() -> Vec<ErrorCode> {
                let mut codes = Vec::new();
                $(codes.extend($t::codes());)+
                codes
            }
        }
    };
}
tuple_set!(A);
tuple_set!(A, B);
tuple_set!(A, B, C);
tuple_set!(A, B, C, D);
tuple_set!(A, B, C, D, E);
tuple_set!(A, B, C, D, E, F);
tuple_set!(A, B, C, D, E, F, G);
tuple_set!(A, B, C, D, E, F, G, H);

/// An `ApiError` from an operation whose possible errors are `S` (plus `Always`).
pub struct Errors<S>(pub ApiError, PhantomData<S>);

impl<S> From<ApiError> for Errors<S> {
    fn from(err: ApiError) -> Self {
        Self(err, PhantomData)
    }
}

impl<S> From<mongodb::error::Error> for Errors<S> {
    fn from(err: mongodb::error::Error) -> Self {
        Self(ApiError::from(err), PhantomData)
    }
}

impl<S> From<FieldErrors> for Errors<S> {
    fn from(errors: FieldErrors) -> Self {
        Self(ApiError::from(errors), PhantomData)
    }
}

impl<S: ErrorSet> Errors<S> {
    /// Every code this operation declares, `Always` included.
    pub fn declared() -> Vec<ErrorCode> {
        let mut codes = Always::codes();
        for code in S::codes() {
            if !codes.contains(&code) {
                codes.push(code);
            }
        }
        codes
    }

    fn checked(self) -> ApiError {
        let code = self.0.code;
        if !Self::declared().contains(&code) {
            tracing::error!(
                event = "undeclared_error",
                code = code.as_str(),
                "an operation returned an error its spec does not list"
            );
        }
        self.0
    }
}

impl<S: ErrorSet> IntoResponse for Errors<S> {
    fn into_response(self) -> Response {
        self.checked().into_response()
    }
}

impl<S: ErrorSet> From<Errors<S>> for poem::Error {
    fn from(err: Errors<S>) -> Self {
        poem::Error::from(err.checked())
    }
}

/// What a status means, before the list of its codes.
fn status_meaning(status: u16) -> &'static str {
    match status {
        400 => "Malformed request: invalid JSON, wrong types, bad parameters",
        401 => "Missing, invalid or expired credentials",
        403 => "Authenticated, but not allowed",
        404 => "No such resource, or not visible to the caller",
        409 => "Conflicts with the current state",
        413 => "Request body too large",
        415 => "Request body is not `application/json`",
        422 => "Well-formed but invalid fields; `details.fields` names each",
        429 => "Rate limited; retry after `Retry-After` seconds",
        500 => "Unexpected server error (logged)",
        503 => "Temporarily unavailable; retry shortly",
        _ => "Error",
    }
}

/// `MetaResponse::description` is `&'static str`: each distinct text is kept once.
fn interned(text: String) -> &'static str {
    static TEXTS: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut texts = TEXTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(known) = texts.get(text.as_str()) {
        return known;
    }
    let leaked: &'static str = Box::leak(text.into_boxed_str());
    texts.insert(leaked);
    leaked
}

impl<S: ErrorSet> ApiResponse for Errors<S> {
    fn meta() -> MetaResponses {
        let mut by_status: BTreeMap<u16, Vec<&'static str>> = BTreeMap::new();
        for code in Self::declared() {
            by_status
                .entry(code.status().as_u16())
                .or_default()
                .push(code.as_str());
        }
        let body = <Json<ErrorBody> as poem_openapi::payload::Payload>::schema_ref();
        let responses = by_status
            .into_iter()
            .map(|(status, codes)| {
                let codes: Vec<String> = codes.iter().map(|c| format!("`{c}`")).collect();
                let headers = if status == StatusCode::TOO_MANY_REQUESTS.as_u16() {
                    vec![MetaHeader {
                        name: "Retry-After".to_owned(),
                        description: Some("Seconds to wait before retrying.".to_owned()),
                        required: true,
                        deprecated: false,
                        schema: <u64 as Type>::schema_ref(),
                    }]
                } else {
                    Vec::new()
                };
                MetaResponse {
                    description: interned(format!(
                        "{}. Codes: {}.",
                        status_meaning(status),
                        codes.join(", ")
                    )),
                    status: Some(status),
                    status_range: None,
                    content: vec![MetaMediaType {
                        content_type: "application/json; charset=utf-8",
                        schema: body.clone(),
                    }],
                    headers,
                }
            })
            .collect();
        MetaResponses { responses }
    }

    fn register(registry: &mut Registry) {
        <ErrorBody as Type>::register(registry);
    }

    fn from_parse_request_error(err: poem::Error) -> Self {
        Self(crate::error::from_poem_error(&err), PhantomData)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_lists_the_server_side_failures_and_no_duplicates() {
        let codes = Errors::<(Authed, Missing, Missing)>::declared();
        for always in Always::codes() {
            assert!(codes.contains(&always), "{always:?}");
        }
        assert_eq!(
            codes.iter().filter(|c| **c == ErrorCode::NotFound).count(),
            1
        );
        assert!(!codes.contains(&ErrorCode::Conflict));
    }

    #[test]
    fn the_spec_groups_codes_by_status_and_gives_429_its_header() {
        let meta = Errors::<(Authed, RefreshToken, Limited)>::meta();
        let statuses: Vec<u16> = meta.responses.iter().filter_map(|r| r.status).collect();
        assert_eq!(statuses, [401, 429, 500, 503]);
        let unauthorized = &meta.responses[0];
        for code in ["unauthenticated", "invalid_token", "refresh_token_reused"] {
            assert!(unauthorized.description.contains(code), "{code}");
        }
        assert_eq!(meta.responses[1].headers[0].name, "Retry-After");
    }
}
