//! The confab server: read config, set up logs, serve until SIGINT/SIGTERM.

use std::process::ExitCode;
use std::time::Duration;

use confab::config::{Config, LogFormat};
use confab::{AppState, serve, telemetry};
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
            eprintln!("confab: {err}");
            return ExitCode::from(2);
        }
    };
    // Background work is supervised: a task that ends (a panic included) is
    // logged and ends the process, instead of leaving a server that silently stops
    // sweeping tokens or storing messages.
    let mut background = tokio::task::JoinSet::new();
    background.spawn(sweep_forever(state.clone()));
    background.spawn(state.writers.clone().supervise());
    if let Some(search) = &state.search {
        background.spawn(std::sync::Arc::clone(search).supervise());
    }
    if let Some(cluster) = &state.cluster {
        background.spawn(std::sync::Arc::clone(cluster).supervise());
    }
    tokio::spawn(init_until_ready(state.clone()));

    let acceptor = match TcpListener::bind(bind.clone()).into_acceptor().await {
        Ok(acceptor) => acceptor,
        Err(err) => {
            tracing::error!(error = %err, %bind, "cannot listen");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(%bind, "confab listening; Swagger UI at /docs");
    let served = tokio::select! {
        served = serve(acceptor, state, shutdown_signal(), SHUTDOWN_GRACE) => served,
        ended = background.join_next() => {
            let why = match ended {
                Some(Err(err)) if err.is_panic() => "panicked",
                Some(Err(_)) => "was cancelled",
                _ => "returned",
            };
            tracing::error!(why, "a background task ended; stopping");
            return ExitCode::FAILURE;
        }
    };
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
        match state.store.groups.recount_members().await {
            Ok(n) => tracing::debug!(corrected = n, "recounted group members"),
            Err(err) => tracing::warn!(error = %err, "recounting group members failed"),
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
