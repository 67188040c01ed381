//! The real shutdown path (`confab::serve`, as `main` runs it on SIGTERM): sockets
//! close with 1001, and every send the server took is stored and acked first.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{UNLIMITED_SENDS, expect_json, room_with};

#[tokio::test]
async fn shutdown_closes_sockets_with_1001_after_storing_and_acking_what_was_sent() {
    let (mut app, alice, bob, group) = room_with(UNLIMITED_SENDS).await;
    let mut bob_ws = app.ws(&bob.access).await;
    bob_ws.join(&group, None).await;
    let mut alice_ws = app.ws(&alice.access).await;
    alice_ws.join(&group, None).await;

    // A burst of sends, then shutdown while they are being stored.
    for i in 0..50 {
        alice_ws
            .say(&group, &format!("before shutdown {i}"), &format!("s{i}"))
            .await;
    }
    // Once the first is acked, the server is busy with the rest: shut it down.
    let first = alice_ws.expect("ack").await;
    let mut acked: Vec<i64> = vec![first["seq"].as_i64().expect("seq")];
    app.shut_down().await;

    // Alice reads what the server sent her before closing: acks, then 1001.
    let code = loop {
        match tokio::time::timeout(Duration::from_secs(10), alice_ws.stream.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                let frame: Value = serde_json::from_str(&text).expect("json");
                if frame["type"] == "ack" {
                    acked.push(frame["seq"].as_i64().expect("seq"));
                }
            }
            Ok(Some(Ok(Message::Close(frame)))) => break frame.map(|f| u16::from(f.code)),
            Ok(Some(Ok(_))) => {}
            other => panic!("no close frame: {other:?}"),
        }
    };
    assert_eq!(code, Some(1001), "shutdown closes with 1001");
    assert_eq!(bob_ws.closed_with().await, Some(1001));
    assert!(
        !acked.is_empty(),
        "sends taken before the shutdown are acked"
    );

    // Everything acked is stored: a new node on the same database serves it.
    let node = app.another_node().await;
    let page = expect_json(
        node.history(&bob, &group, "?limit=100").await,
        StatusCode::OK,
    )
    .await;
    let stored: Vec<i64> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|m| m["seq"].as_i64())
        .collect();
    for seq in &acked {
        assert!(
            stored.contains(seq),
            "acked seq {seq} is stored: {stored:?}"
        );
    }
    // And nothing unacked beyond what was sent was invented.
    assert!(stored.len() <= 50);
}
