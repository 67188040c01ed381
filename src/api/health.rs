//! Liveness, readiness and Prometheus metrics.

use poem::web::Data;
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{Object, OpenApi};

use super::ApiTags;
use crate::error::ApiError;
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
    async fn readyz(&self, state: Data<&AppState>) -> Result<Json<Status>, ApiError> {
        state.store.ping().await?;
        Ok(Json(Status {
            status: "ok".to_owned(),
        }))
    }

    /// Prometheus metrics in the text exposition format
    #[oai(path = "/metrics", method = "get", operation_id = "metrics")]
    async fn metrics(&self) -> PlainText<String> {
        PlainText(crate::telemetry::render_metrics())
    }
}
