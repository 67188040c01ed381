//! Liveness, readiness and Prometheus metrics.

use super::errors::{Errors, Missing};
use poem::Request;
use poem::web::Data;
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{Object, OpenApi};
use secrecy::ExposeSecret;

use super::ApiTags;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

pub struct HealthApi;

#[derive(Object)]
pub struct Status {
    /// `ok`
    pub status: String,
}

#[OpenApi(tag = "ApiTags::Health")]
impl HealthApi {
    /// Liveness: the process is up
    #[oai(path = "/healthz", method = "get", operation_id = "healthz")]
    async fn healthz(&self) -> Json<Status> {
        Json(Status {
            status: "ok".to_owned(),
        })
    }

    /// Readiness: the database answers (503 `database_unavailable` otherwise)
    #[oai(path = "/readyz", method = "get", operation_id = "readyz")]
    async fn readyz(&self, state: Data<&AppState>) -> Result<Json<Status>, Errors<()>> {
        state.store.ping().await?;
        Ok(Json(Status {
            status: "ok".to_owned(),
        }))
    }

    /// Prometheus metrics in the text exposition format
    ///
    /// Not public: served only when the server has a `METRICS_TOKEN` and the
    /// request carries `Authorization: Bearer <METRICS_TOKEN>`; anything else gets
    /// 404 `not_found`, like a route that does not exist.
    #[oai(path = "/metrics", method = "get", operation_id = "metrics")]
    async fn metrics(
        &self,
        state: Data<&AppState>,
        req: &Request,
    ) -> Result<PlainText<String>, Errors<Missing>> {
        let presented = req
            .headers()
            .get(poem::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match (&state.config.metrics_token, presented) {
            (Some(expected), Some(presented))
                if same_secret(expected.expose_secret(), presented) =>
            {
                Ok(PlainText(crate::telemetry::render_metrics()))
            }
            _ => Err(ApiError::new(ErrorCode::NotFound, "no such resource").into()),
        }
    }
}

/// Compares two secrets in time that depends on neither: both are hashed first,
/// so lengths leak nothing, and the digests are compared without an early exit.
fn same_secret(expected: &str, presented: &str) -> bool {
    use sha2::{Digest, Sha256};
    let (a, b) = (
        Sha256::digest(expected.as_bytes()),
        Sha256::digest(presented.as_bytes()),
    );
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    use super::same_secret;

    #[test]
    fn secrets_compare_equal_only_when_identical() {
        assert!(same_secret("metrics-token", "metrics-token"));
        assert!(!same_secret("metrics-token", "metrics-tokeN"));
        assert!(!same_secret("metrics-token", "metrics-token "));
        assert!(!same_secret("metrics-token", ""));
    }
}
