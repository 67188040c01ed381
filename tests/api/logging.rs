//! Security events are logged as structured fields, and secrets never are.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::ws_client::*;

fn events(name: &str) -> Vec<Value> {
    logged()
        .into_iter()
        .filter(|l| l["event"] == name)
        .collect()
}

fn nothing_logged_contains(secret: &str) {
    let leaks: Vec<Value> = logged()
        .into_iter()
        .filter(|l| l.to_string().contains(secret))
        .collect();
    assert!(leaks.is_empty(), "secret in logs: {leaks:?}");
}

#[tokio::test]
async fn security_events_are_logged_with_fields_and_without_secrets() {
    let app = spawn_app_with(&[
        ("LOGIN_MAX_FAILURES_PER_USER", "2"),
        ("REFRESH_REUSE_GRACE_SECS", "1"),
    ])
    .await;
    let victim = app.user("evt_victim").await;
    let stranger = app.user("evt_stranger").await;
    let wrong = "evt-wrong-password-8812";
    for _ in 0..2 {
        expect_error(
            app.login("evt_victim", wrong).await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    expect_error(
        app.login("evt_victim", wrong).await,
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
    let failed: Vec<Value> = events("login_failed")
        .into_iter()
        .filter(|e| e["username"] == "evt_victim")
        .collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert_eq!(failed[0]["ip"], "127.0.0.1");
    assert!(
        events("rate_limited")
            .iter()
            .any(|e| e["username"] == "evt_victim" && e["limit"] == "login_per_user")
    );

    // Token reuse (after the retry grace).
    let first = expect_json(app.refresh(&victim.refresh).await, StatusCode::OK).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    expect_error(app.refresh(&victim.refresh).await, StatusCode::UNAUTHORIZED).await;
    assert!(
        events("refresh_token_reused")
            .iter()
            .any(|e| e["user_id"] == victim.id.as_str())
    );

    // A forbidden attempt.
    let resp = app
        .post(
            &format!("/api/v1/users/{}/disable", victim.id),
            Some(&stranger.access),
            json!({}),
        )
        .await;
    expect_error(resp, StatusCode::FORBIDDEN).await;
    assert!(
        events("forbidden")
            .iter()
            .any(|e| e["user_id"] == stranger.id.as_str())
    );

    // A WebSocket ticket is a secret too.
    let ticket = expect_json(
        app.post("/api/v1/auth/ws-ticket", Some(&stranger.access), json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    let ticket = ticket["ticket"].as_str().unwrap().to_owned();
    assert!(matches!(
        app.try_ws(None, &format!("?ticket={ticket}"), None).await,
        Upgrade::Open(_)
    ));

    for secret in [
        PASSWORD,
        wrong,
        victim.refresh.as_str(),
        victim.access.as_str(),
        first["refresh_token"].as_str().unwrap(),
        ticket.as_str(),
    ] {
        nothing_logged_contains(secret);
    }
    // Request log lines carry a request id and the path, never the query.
    assert!(
        logged()
            .iter()
            .any(|l| l["message"] == "request" && l["span"]["request_id"].is_string())
    );
}
