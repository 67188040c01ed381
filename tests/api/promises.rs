//! Promises that held only on the happy path (issue 20), one node: seq parameters
//! at the edges of i64, sessions that end badly, and the limits on every write.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

/// Waits until the hub holds `want` connections (a deadline, not a count).
async fn until_connections(app: &TestApp, want: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.state.hub.connection_count() != want {
        assert!(
            std::time::Instant::now() < deadline,
            "the hub still holds {} connections, not {want}",
            app.state.hub.connection_count()
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn seqs_at_the_edges_of_i64_are_refused_clearly_and_the_socket_lives_on() {
    let (app, alice, _bob, g) = room().await;
    let mut ws = app.ws(&alice.access).await;
    for since in [i64::MAX, -1, i64::MIN] {
        ws.send_json(json!({ "type": "join", "conversation": g, "since": since }))
            .await;
        let err = ws.expect("error").await;
        assert_eq!(err["code"], "validation_failed", "since={since}: {err}");
    }
    // The session did not die: it still answers, and a sane join works.
    ws.join(&g, Some(0)).await;
    ws.send_json(json!({ "type": "ping" })).await;
    assert_eq!(ws.expect("pong").await["type"], "pong");
    for query in [
        format!("before={}", i64::MIN),
        format!("before={}", i64::MAX),
        format!("after={}", i64::MAX),
        "after=-1".to_owned(),
    ] {
        let resp = app
            .get(
                &format!("/api/v1/conversations/{g}/messages?{query}"),
                Some(&alice.access),
            )
            .await;
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        let body: serde_json::Value = resp.json().await.expect("json");
        assert_eq!(
            body["error"]["code"], "validation_failed",
            "{query}: {body}"
        );
    }
    let read = app
        .post(
            &format!("/api/v1/conversations/{g}/read"),
            Some(&alice.access),
            json!({ "seq": i64::MAX }),
        )
        .await;
    assert_eq!(read.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Closing gives the slot back: nothing leaked.
    drop(ws);
    until_connections(&app, 0).await;
}
