//! Health, readiness, request ids, headers and metrics.

use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn health_and_readiness_answer_when_the_database_is_up() {
    let app = spawn_app().await;
    assert_eq!(
        expect_json(app.get("/healthz", None).await, StatusCode::OK).await["status"],
        "ok"
    );
    assert_eq!(
        expect_json(app.get("/readyz", None).await, StatusCode::OK).await["status"],
        "ok"
    );
}

#[tokio::test]
async fn without_a_database_readiness_and_api_calls_fail_fast_with_503() {
    let app = spawn_unready_app().await;
    assert_eq!(
        expect_json(app.get("/healthz", None).await, StatusCode::OK).await["status"],
        "ok"
    );
    let started = std::time::Instant::now();
    assert_eq!(
        expect_error(
            app.get("/readyz", None).await,
            StatusCode::SERVICE_UNAVAILABLE
        )
        .await,
        "database_unavailable"
    );
    let resp = app.login("alice", PASSWORD).await;
    assert_eq!(
        expect_error(resp, StatusCode::SERVICE_UNAVAILABLE).await,
        "database_unavailable"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_safe_headers() {
    let app = spawn_app().await;
    let resp = app.get("/api/v1/users/me", None).await;
    let id = resp
        .headers()
        .get("x-request-id")
        .expect("generated id")
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(id.len(), 36);
    assert_eq!(
        resp.headers().get("x-content-type-options").unwrap(),
        "nosniff"
    );
    assert_eq!(resp.headers().get("cache-control").unwrap(), "no-store");

    let resp = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", "client-chosen-42")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers().get("x-request-id").unwrap(),
        "client-chosen-42"
    );
    let resp = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", "bad id\twith junk")
        .send()
        .await
        .unwrap();
    assert_ne!(
        resp.headers().get("x-request-id").unwrap(),
        "bad id\twith junk"
    );
}

#[tokio::test]
async fn auth_responses_are_never_cached() {
    let app = spawn_app().await;
    app.user("alice").await;
    let resp = app.login("alice", PASSWORD).await;
    assert_eq!(resp.headers().get("cache-control").unwrap(), "no-store");
}

#[tokio::test]
async fn metrics_count_requests_by_operation() {
    let token = "m3trics-T0ken-for-tests-9f8e7d6c5b4a";
    let app = spawn_app_with(&[("METRICS_TOKEN", token)]).await;
    app.get("/healthz", None).await;
    let text = app.get("/metrics", Some(token)).await.text().await.unwrap();
    assert!(
        text.contains("confab_http_requests_total{operation=\"healthz\",status=\"200\"}"),
        "{text}"
    );
}

#[tokio::test]
async fn cors_allows_only_configured_origins() {
    let app = spawn_app_with(&[("ALLOWED_ORIGINS", "https://chat.example")]).await;
    let preflight = |origin: &'static str| {
        app.http
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/auth/login"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    let ok = preflight("https://chat.example").await.unwrap();
    assert_eq!(
        ok.headers().get("access-control-allow-origin").unwrap(),
        "https://chat.example"
    );
    let evil = preflight("https://evil.example").await.unwrap();
    assert!(evil.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn a_request_that_takes_too_long_gets_503_request_timeout() {
    // Nothing listens on port 1: the driver keeps trying for DB_TIMEOUT_MS (5 s),
    // and the request gives up first, after REQUEST_TIMEOUT_SECS.
    let app =
        spawn_unready_app_with(&[("DB_TIMEOUT_MS", "5000"), ("REQUEST_TIMEOUT_SECS", "1")]).await;
    let started = std::time::Instant::now();
    let resp = app.login("alice", PASSWORD).await;
    assert_eq!(
        expect_error(resp, StatusCode::SERVICE_UNAVAILABLE).await,
        "request_timeout"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}
