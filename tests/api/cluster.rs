//! Cluster mode (`REDIS_URL`): two nodes sharing one database and one Redis,
//! clients split across them. Each test uses its own Redis namespace.
//!
//! Needs a Redis: `scripts/test` starts one with `scripts/redis` and passes it as
//! `CONFAB_TEST_REDIS_URL` (default `redis://127.0.0.1:6390`, what `scripts/redis`
//! starts).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

fn redis_url() -> String {
    std::env::var("CONFAB_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6390".to_owned())
}

/// Two nodes on one database and one Redis namespace.
async fn two_nodes() -> (TestApp, TestApp) {
    let url = redis_url();
    let namespace = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let cluster = [
        ("REDIS_URL", url.as_str()),
        ("REDIS_NAMESPACE", namespace.as_str()),
    ];
    let a = spawn_app_with(&cluster).await;
    let b = a.another_node_with(&cluster).await;
    // Both subscriptions are up before anything is published.
    tokio::time::sleep(Duration::from_millis(300)).await;
    (a, b)
}

#[tokio::test]
async fn messages_sent_on_one_node_reach_members_on_the_other_exactly_once() {
    let (a, b) = two_nodes().await;
    let alice = a.user("alice").await;
    let bob = a.user("bob").await;
    let g = a.group(&alice, "Split", "public").await;
    expect_json(
        b.post(
            &format!("/api/v1/groups/{g}/join"),
            Some(&bob.access),
            json!({}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let mut bob_ws = b.ws(&bob.access).await;
    bob_ws.join(&g, None).await;

    for i in 0..5 {
        expect_json(
            a.post(
                &format!("/api/v1/conversations/{g}/messages"),
                Some(&alice.access),
                json!({ "body": format!("hello {i}") }),
            )
            .await,
            StatusCode::CREATED,
        )
        .await;
    }
    let frames = bob_ws.drain(Duration::from_millis(800)).await;
    let seqs: Vec<i64> = frames
        .iter()
        .filter(|f| f["type"] == "message")
        .map(|f| f["seq"].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5], "in seq order, once each: {frames:?}");

    // A DM: its audience is the two participants, wherever they are connected.
    let dm = expect_json(
        a.post(
            "/api/v1/dms",
            Some(&alice.access),
            json!({ "user_id": bob.id }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let dm_id = dm["id"].as_str().expect("dm id").to_owned();
    expect_json(
        a.post(
            &format!("/api/v1/conversations/{dm_id}/messages"),
            Some(&alice.access),
            json!({ "body": "psst" }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let dm_frame = bob_ws.expect("message").await;
    assert_eq!(dm_frame["body"], "psst");
    assert_eq!(dm_frame["conversation"], dm_id.as_str());
}

#[tokio::test]
async fn logout_all_on_one_node_closes_the_sockets_on_the_other() {
    let (a, b) = two_nodes().await;
    let carol = a.user("carol").await;
    let mut on_b = b.ws(&carol.access).await;
    let mut on_a = a.ws(&carol.access).await;
    let resp = a
        .post("/api/v1/auth/logout-all", Some(&carol.access), json!({}))
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(on_a.closed_with().await, Some(4001));
    assert_eq!(on_b.closed_with().await, Some(4001));
}

#[tokio::test]
async fn a_member_removed_on_one_node_stops_receiving_on_the_other() {
    let (a, b) = two_nodes().await;
    let owner = a.user("owner").await;
    let kicked = a.user("kicked").await;
    let g = a.group(&owner, "Club", "public").await;
    expect_json(
        a.post(
            &format!("/api/v1/groups/{g}/join"),
            Some(&kicked.access),
            json!({}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let mut kicked_ws = b.ws(&kicked.access).await;
    kicked_ws.join(&g, None).await;
    let resp = a
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/groups/{g}/members/{}", kicked.id),
            Some(&owner.access),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let removed = kicked_ws.expect("membership").await;
    assert_eq!(removed["status"], "removed");
    expect_json(
        a.post(
            &format!("/api/v1/conversations/{g}/messages"),
            Some(&owner.access),
            json!({ "body": "after the kick" }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let after = kicked_ws.drain(Duration::from_millis(600)).await;
    assert!(
        after.iter().all(|f| f["type"] != "message"),
        "a removed member hears nothing more: {after:?}"
    );
}
