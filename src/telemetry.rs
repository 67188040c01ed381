//! Logs, request ids, security headers and Prometheus metrics.
//!
//! Only the path of a request is logged, never its query (which may hold a
//! WebSocket ticket) or its body (which may hold a password).

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use poem::http::{HeaderValue, header};
use poem::{Endpoint, Request, Response};
use tracing::Instrument;

use crate::config::LogFormat;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

static METRICS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Resolves when the first of `tasks` ends (long-lived tasks never should: a
/// panic in one would leave the process serving without it), logging which
/// `kind` of task ended and how; never resolves when there are none. `main`
/// stops the process when it resolves.
pub async fn first_to_end(tasks: Vec<tokio::task::JoinHandle<()>>, kind: &str) {
    if tasks.is_empty() {
        return std::future::pending().await;
    }
    let (ended, _, _) = futures_util::future::select_all(tasks).await;
    match ended {
        Err(err) if err.is_panic() => tracing::error!(kind, "a background task panicked"),
        _ => tracing::error!(kind, "a background task ended"),
    }
}

/// A part's long-lived tasks, kept from their start until someone supervises
/// them (`first_to_end`). In memory only: a restarted process starts them anew.
#[derive(Default)]
pub struct Tasks(std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>);

impl Tasks {
    /// Keeps `tasks` (those of an earlier call are replaced).
    pub fn keep(&self, tasks: Vec<tokio::task::JoinHandle<()>>) {
        *self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = tasks;
    }

    /// Resolves when the first of the kept tasks ends (`first_to_end`); never,
    /// when none were started or another caller supervises them already.
    pub async fn supervise(&self, kind: &str) {
        let tasks = std::mem::take(
            &mut *self
                .0
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        first_to_end(tasks, kind).await;
    }
}

/// Installs the process-wide metrics recorder (once; later calls are no-ops).
pub fn init_metrics() {
    METRICS.get_or_init(|| match PrometheusBuilder::new().install_recorder() {
        Ok(handle) => Some(handle),
        Err(err) => {
            tracing::warn!(error = %err, "metrics recorder not installed");
            None
        }
    });
}

pub fn render_metrics() -> String {
    METRICS
        .get()
        .and_then(Option::as_ref)
        .map(PrometheusHandle::render)
        .unwrap_or_default()
}

/// Sets up `tracing`: JSON lines or human-readable, filtered by `RUST_LOG`.
///
/// The steps of a request (`auth.*`, `chat.*`, `store.*`: each store method, with
/// the ids it works on) are debug-level spans. With `RUST_LOG` at debug for
/// confab (`RUST_LOG=info,confab=debug`), each step also logs when it closes, with
/// its busy and idle time, under the request's span: a slow request's log shows
/// where its time went. A failed store step logs its error under its own name.
pub fn init_tracing(format: LogFormat) {
    use tracing_subscriber::fmt::format::FmtSpan;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let steps = filter
        .max_level_hint()
        .is_some_and(|max| max >= tracing::level_filters::LevelFilter::DEBUG);
    let builder = tracing_subscriber::fmt()
        .with_span_events(if steps { FmtSpan::CLOSE } else { FmtSpan::NONE })
        .with_env_filter(filter);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

/// Accepts a caller's request id if it is short and plain, else makes one.
fn request_id(req: &Request) -> String {
    req.headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// Wraps every request: id, span, log line, metrics and security headers.
pub async fn observe<E: Endpoint>(ep: Arc<E>, req: Request) -> poem::Result<Response> {
    let started = Instant::now();
    let id = request_id(&req);
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let span = tracing::info_span!("request", request_id = %id, %method, %path);
    let mut resp = ep.get_response(req).instrument(span.clone()).await;

    let status = resp.status().as_u16();
    let elapsed = started.elapsed();
    let operation = resp
        .data::<poem_openapi::OperationId>()
        .map(|op| op.0)
        .unwrap_or(if status == 404 { "unmatched" } else { "other" });
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    span.in_scope(|| {
        if status >= 500 {
            tracing::error!(status, latency_ms, operation, "request failed");
        } else {
            tracing::info!(status, latency_ms, operation, "request");
        }
    });
    metrics::counter!("confab_http_requests_total", "operation" => operation, "status" => status.to_string())
        .increment(1);
    metrics::histogram!("confab_http_request_duration_seconds", "operation" => operation)
        .record(elapsed.as_secs_f64());

    let headers = resp.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&id) {
        headers.insert(REQUEST_ID_HEADER, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if path.starts_with("/api/") {
        // Tokens and private data: never cached by browsers or proxies.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(resp)
}
