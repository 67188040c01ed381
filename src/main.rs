//! The confab server: read config, set up logs, serve until SIGINT/SIGTERM.

use std::process::ExitCode;
use std::time::Duration;

use confab::config::{Config, LogFormat};
use confab::realtime::hub::close_code;
use confab::{AppState, NoDelay, build_app, telemetry};
use poem::Server;
use poem::listener::{Listener, TcpListener};

const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
const SWEEP_EVERY: Duration = Duration::from_secs(600);

#[tokio::main]
async fn main() -> ExitCode {
    let _ = dotenvy::dotenv();
    if std::env::args().nth(1).as_deref() == Some("openapi") {
        print!("{}", confab::openapi_json());
        return ExitCode::SUCCESS;
    }
    let format = match std::env::var("LOG_FORMAT").as_deref() {
        Ok("json") => LogFormat::Json,
        _ => LogFormat::Pretty,
    };
    telemetry::init_tracing(format);
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            tracing::error!("configuration error: {err}");
            eprintln!("confab: configuration error: {err}");
            return ExitCode::from(2);
        }
    };
    let bind = config.bind.clone();
    let state = match AppState::new(config).await {
        Ok(state) => state,
        Err(err) => {
            eprintln!("confab: cannot use MONGO_URI: {err}");
            return ExitCode::from(2);
        }
    };
    tokio::spawn(init_until_ready(state.clone()));
    tokio::spawn(sweep_forever(state.clone()));

    tracing::info!(%bind, "confab listening; Swagger UI at /docs");
    let hub = state.hub.clone();
    let writers = state.writers.clone();
    let shutdown = async move {
        shutdown_signal().await;
        // Sessions finish the frame in hand (a send is stored or refused), then close 1001.
        hub.close_all(close_code::SHUTDOWN);
    };
    let acceptor = match TcpListener::bind(bind.clone()).into_acceptor().await {
        Ok(acceptor) => NoDelay(acceptor),
        Err(err) => {
            tracing::error!(error = %err, %bind, "cannot listen");
            return ExitCode::FAILURE;
        }
    };
    let served = Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(build_app(state), shutdown, Some(SHUTDOWN_GRACE))
        .await;
    // Conversation documents, history blocks and read markers are written behind:
    // write what is pending before exiting (a crash instead is recovered on load).
    if let Err(err) = writers.flush_all().await {
        tracing::warn!(error = %err.message, "write-behind at shutdown failed; recovered on next load");
    }
    match served {
        Ok(()) => {
            tracing::info!("confab stopped");
            ExitCode::SUCCESS
        }
        Err(err) => {
            tracing::error!(error = %err, "server failed");
            ExitCode::FAILURE
        }
    }
}

/// Creates indexes and the bootstrap admin, retrying while the database is away.
async fn init_until_ready(state: AppState) {
    let mut wait = Duration::from_millis(500);
    loop {
        match state.init().await {
            Ok(()) => {
                tracing::info!(database = %state.config.database, "database ready: indexes ensured");
                return;
            }
            Err(err) => {
                tracing::warn!(error = %err, retry_in_ms = wait.as_millis() as u64, "database not ready");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// Deletes expired refresh tokens and WebSocket tickets now and then.
async fn sweep_forever(state: AppState) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    loop {
        tick.tick().await;
        match state.store.sweep_expired().await {
            Ok(n) => tracing::debug!(deleted = n, "swept expired tokens"),
            Err(err) => tracing::warn!(error = %err, "sweep failed"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutdown signal received; draining");
}
