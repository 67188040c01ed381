//! Lean sockets and a bounded password-hashing queue.
//!
//! Memory per idle socket is measured outside the tests (release build, server
//! VmRSS); these tests check behaviour: small buffers still carry full-size
//! frames, bursts arrive whole and in order, and a full hashing queue answers 503
//! with `Retry-After` at once instead of a 500 or a long wait.

use std::time::Duration;

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::Value;

use confab::gateway::socket_config;
use confab::limits::{MAX_FRAME_BYTES, MESSAGE_BODY_MAX_CHARS};

use crate::helpers::*;

const QUIET: Duration = Duration::from_millis(400);

#[test]
fn sockets_get_small_buffers_and_keep_the_frame_limits() {
    let config = socket_config();
    assert!(config.read_buffer_size < MAX_FRAME_BYTES);
    assert!(config.write_buffer_size < MAX_FRAME_BYTES);
    assert_eq!(config.max_message_size, Some(MAX_FRAME_BYTES));
    assert_eq!(config.max_frame_size, Some(MAX_FRAME_BYTES));
}

#[tokio::test]
async fn frames_larger_than_the_buffers_arrive_whole_both_ways() {
    let (app, alice, bob, g) = room().await;
    let mut alice_ws = app.ws(&alice.access).await;
    let mut bob_ws = app.ws(&bob.access).await;
    alice_ws.join(&g, None).await;
    bob_ws.join(&g, None).await;
    alice_ws.drain(QUIET).await;
    // Two bytes a character: the frame is about 8 KiB, twice the read buffer.
    let body = "é".repeat(MESSAGE_BODY_MAX_CHARS);
    alice_ws.say(&g, &body, "big-1").await;
    let ack = alice_ws.expect("ack").await;
    assert_eq!(ack["client_id"], "big-1");
    let got = bob_ws.expect("message").await;
    assert_eq!(got["body"].as_str(), Some(body.as_str()));
    assert_eq!(got["seq"], ack["seq"]);
}

#[tokio::test]
async fn a_burst_fans_out_whole_and_in_order_to_every_socket() {
    let (app, alice, bob, g) = room().await;
    let mut sockets = Vec::new();
    for who in [&alice, &bob, &bob] {
        let mut ws = app.ws(&who.access).await;
        ws.join(&g, None).await;
        sockets.push(ws);
    }
    for ws in &mut sockets {
        ws.drain(QUIET).await;
    }
    let sender = &mut sockets[0];
    for i in 0..30 {
        sender
            .say(&g, &format!("burst {i}"), &format!("b-{i}"))
            .await;
    }
    for (n, ws) in sockets.iter_mut().enumerate() {
        let mut bodies = Vec::new();
        while bodies.len() < 30 {
            let frame: Value = ws.next_json().await;
            if frame["type"] == "message" {
                bodies.push(frame["body"].as_str().unwrap_or_default().to_owned());
            }
        }
        let expected: Vec<String> = (0..30).map(|i| format!("burst {i}")).collect();
        assert_eq!(bodies, expected, "socket {n}");
    }
}

#[tokio::test]
async fn a_full_hashing_queue_answers_503_with_retry_after_and_never_500() {
    let app = spawn_app_with(&[
        ("HASH_CONCURRENCY", "1"),
        ("HASH_QUEUE", "1"),
        ("LOGIN_MAX_FAILURES_PER_IP", "100000"),
        ("LOGIN_MAX_FAILURES_PER_USER", "100000"),
    ])
    .await;
    app.user("alice").await;
    let app = &app;
    let mut busy_total = 0;
    for round in 0..3 {
        let attempts = (0..30).map(|i| async move {
            // A third of the logins are for nobody: the decoy hash takes the queue too.
            let name = if i % 3 == 0 { "nobody" } else { "alice" };
            app.login(name, PASSWORD).await
        });
        let mut busy = 0;
        for resp in join_all(attempts).await {
            let status = resp.status();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            match status {
                StatusCode::OK | StatusCode::UNAUTHORIZED => {}
                StatusCode::SERVICE_UNAVAILABLE => {
                    busy += 1;
                    let seconds = retry_after.and_then(|v| v.parse::<u64>().ok());
                    assert!(
                        seconds.is_some_and(|s| s >= 1),
                        "round {round}: 503 without a Retry-After"
                    );
                    let code = expect_error(resp, status).await;
                    assert_eq!(code, "server_busy", "round {round}");
                }
                other => panic!(
                    "round {round}: unexpected {other}: {}",
                    resp.text().await.unwrap_or_default()
                ),
            }
        }
        assert!(
            busy > 0,
            "round {round}: 30 logins through a queue of 1 all waited"
        );
        busy_total += busy;
    }
    assert!(busy_total >= 3);
    // Once the storm is over the queue drains and logins work again.
    let ok = app.login("alice", PASSWORD).await;
    assert_eq!(ok.status(), StatusCode::OK);
}
