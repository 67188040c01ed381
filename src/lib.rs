//! confab: a secure, authenticated chat API (REST + WebSocket) on MongoDB.
//!
//! `build_app` assembles the HTTP application from an `AppState`; `main.rs` and the
//! black-box tests both start the server through it.

pub mod api;
pub mod auth;
pub mod chat;
pub mod cluster;
pub mod config;
pub mod domain;
pub mod error;
pub mod gateway;
pub mod ids;
pub mod limits;
pub mod middleware;
pub mod netaddr;
pub mod permissions;
pub mod rate_limits;
pub mod realtime;
pub mod search;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod web;

use poem::middleware::Cors;
use poem::{Endpoint, EndpointExt, Response, Route};

pub use config::Config;
pub use state::AppState;

/// The whole HTTP application: API, Swagger UI at `/docs`, spec at `/openapi.json`,
/// and the web client at `/` (`web.rs`).
pub fn build_app(state: AppState) -> impl Endpoint<Output = Response> {
    telemetry::init_metrics();
    let api = api::service();
    let docs_html = api::spec::swagger_html();
    let docs_csp = api::spec::swagger_csp(&docs_html);
    // Swagger UI shares the origin with the web client: it gets its own strict CSP
    // and may not be framed (docs/security.md).
    let docs = poem::endpoint::make_sync(move |_| {
        Response::builder()
            .content_type("text/html; charset=utf-8")
            .header("content-security-policy", docs_csp.as_str())
            .header("x-frame-options", "DENY")
            .header("referrer-policy", "no-referrer")
            .body(docs_html.clone())
    });
    let spec = poem::endpoint::make_sync(|_| {
        Response::builder()
            .content_type("application/json")
            .body(api::spec::document())
    });
    let origins = state.config.allowed_origins.clone();
    let cors = Cors::new()
        .allow_origins(origins.iter().map(String::as_str))
        .allow_credentials(false)
        .max_age(600);
    Route::new()
        .nest("/", api)
        .nest("/docs", Route::new().at("/", docs))
        .at("/openapi.json", spec)
        .around(web::client)
        .around(middleware::limit_body)
        .with_if(!origins.is_empty(), cors)
        // Parses the `Cookie` header for the web session's cookie parameter.
        .with(poem::middleware::CookieJarManager::new())
        .around(middleware::time_limit)
        // The bearer guard reads identity's context (`auth::guard`).
        .data(std::sync::Arc::clone(&state.auth))
        .data(state)
        .catch_all_error(error::render_error)
        .around(middleware::allow_header)
        .around(telemetry::observe)
}

/// Accepts TCP connections with Nagle's algorithm off. A WebSocket answer written
/// in more than one segment (a `join` replay, a burst of fan-out) otherwise waits
/// for the peer's delayed ACK: measured, a 100-message join replay took 44 ms at
/// p50 with Nagle on.
pub struct NoDelay(pub poem::listener::TcpAcceptor);

impl poem::listener::Acceptor for NoDelay {
    type Io = tokio::net::TcpStream;

    fn local_addr(&self) -> Vec<poem::web::LocalAddr> {
        self.0.local_addr()
    }

    async fn accept(
        &mut self,
    ) -> std::io::Result<(
        Self::Io,
        poem::web::LocalAddr,
        poem::web::RemoteAddr,
        poem::http::uri::Scheme,
    )> {
        let (io, local, remote, scheme) = self.0.accept().await?;
        if let Err(err) = io.set_nodelay(true) {
            tracing::debug!(error = %err, "could not set TCP_NODELAY");
        }
        Ok((io, local, remote, scheme))
    }
}

/// Serves `state` on `acceptor` until `shutdown` resolves, then drains: every
/// WebSocket closes with 1001 after the frame in hand (its sends in flight are
/// stored and acked first), HTTP requests get `grace` to finish, and what the
/// conversation writers hold is written behind. `main` and the black-box tests
/// both run the server through this, so the tests exercise the real drain path.
pub async fn serve(
    acceptor: poem::listener::TcpAcceptor,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    grace: std::time::Duration,
) -> std::io::Result<()> {
    let hub = state.hub.clone();
    let writers = state.writers.clone();
    let cluster = state.cluster.clone();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: closing WebSockets with 1001, draining HTTP");
        hub.close_all(realtime::hub::close_code::SHUTDOWN);
    };
    let served = poem::Server::new_with_acceptor(NoDelay(acceptor))
        .run_with_graceful_shutdown(build_app(state), signal, Some(grace))
        .await;
    // Conversation documents, history blocks and read markers are written behind:
    // write what is pending before returning (a crash instead is recovered on load).
    if let Err(err) = writers.flush_all().await {
        tracing::warn!(error = %err.message, "write-behind at shutdown failed; recovered on next load");
    }
    // Cluster mode: the conversations this node wrote move to other nodes now.
    if let Some(cluster) = cluster {
        cluster.shutdown(&writers).await;
    }
    served
}

/// The committed form of the spec (`cargo run -- openapi > openapi/openapi.json`).
pub fn openapi_json() -> String {
    api::spec::document().to_owned()
}
