//! Cluster mode under faults: what a node may still believe after it missed the
//! other nodes' events (issue 20). Each test runs its own Redis, so it can take a
//! node's rights away without touching the other tests.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::cluster::PrivateRedis;
use crate::helpers::*;

async fn redis_command(url: &str, args: &[&str]) -> redis::Value {
    let client = redis::Client::open(url).expect("redis URL");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis connection");
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query_async(&mut conn).await.expect("redis command")
}

/// How many connections are subscribed to `channel`.
async fn subscribers(url: &str, channel: &str) -> i64 {
    match redis_command(url, &["PUBSUB", "NUMSUB", channel]).await {
        redis::Value::Array(items) => match items.get(1) {
            Some(redis::Value::Int(n)) => *n,
            other => panic!("PUBSUB NUMSUB answered {other:?}"),
        },
        other => panic!("PUBSUB NUMSUB answered {other:?}"),
    }
}

async fn until_subscribers(url: &str, channel: &str, want: i64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while subscribers(url, channel).await != want {
        assert!(
            std::time::Instant::now() < deadline,
            "{channel} never had {want} subscribers"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Node B misses every event of a removal, a demotion and a logout-all (its
/// subscription is cut and it may not subscribe again meanwhile). Once it is back,
/// none of them may still be served from its caches: the finding was 200s from B
/// ten seconds later, with no end.
#[tokio::test]
async fn a_node_that_missed_events_serves_no_revoked_access_once_it_is_back() {
    let redis = PrivateRedis::start().await;
    let admin_url = redis.url();
    // B is its own Redis user, so that its channel rights can be taken away alone.
    redis_command(
        &admin_url,
        &[
            "ACL",
            "SETUSER",
            "nodeb",
            "on",
            ">nodeb-secret-pass",
            "~*",
            "&*",
            "+@all",
        ],
    )
    .await;
    let b_url = admin_url.replacen("redis://", "redis://nodeb:nodeb-secret-pass@", 1);
    let namespace = format!("lost{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let channel = format!("{namespace}:events");
    let a = spawn_app_with(&[
        ("REDIS_URL", admin_url.as_str()),
        ("REDIS_NAMESPACE", namespace.as_str()),
    ])
    .await;
    let b = a
        .another_node_with(&[
            ("REDIS_URL", b_url.as_str()),
            ("REDIS_NAMESPACE", namespace.as_str()),
        ])
        .await;
    until_subscribers(&admin_url, &channel, 2).await;

    let chief = a.admin("chief").await;
    let carol = a.admin("carol").await;
    let alice = a.user("alice").await;
    let bob = a.user("bob").await;
    let erin = a.user("erin").await;
    let victim = a.user("victim").await;
    let g = a.group(&alice, "Guarded", "private").await;
    assert_eq!(
        a.set_member(&alice, &g, &bob, "member").await.status(),
        StatusCode::OK
    );
    let history = format!("/api/v1/conversations/{g}/messages");
    let me = "/api/v1/users/me";
    // B's caches fill: Bob's membership, Carol's admin role, Erin's token version.
    assert_eq!(
        b.get(&history, Some(&bob.access)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        b.get(me, Some(&carol.access)).await.status(),
        StatusCode::OK
    );
    assert_eq!(b.get(me, Some(&erin.access)).await.status(), StatusCode::OK);
    let mut bob_ws = b.ws(&bob.access).await;
    bob_ws.join(&g, None).await;

    // B's subscription is cut, and B may not subscribe again for now.
    redis_command(&admin_url, &["ACL", "SETUSER", "nodeb", "resetchannels"]).await;
    until_subscribers(&admin_url, &channel, 1).await;

    // Meanwhile on A: Bob is removed, Carol demoted, Erin logs out everywhere.
    let removed = a
        .send(
            Method::DELETE,
            &format!("/api/v1/groups/{g}/members/{}", bob.id),
            Some(&alice.access),
            None,
        )
        .await;
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    let demoted = a
        .send(
            Method::PATCH,
            &format!("/api/v1/users/{}/role", carol.id),
            Some(&chief.access),
            Some(json!({ "role": "user" })),
        )
        .await;
    assert_eq!(demoted.status(), StatusCode::OK);
    let out = a
        .post("/api/v1/auth/logout-all", Some(&erin.access), json!({}))
        .await;
    assert_eq!(out.status(), StatusCode::NO_CONTENT);

    // B may subscribe again; it does, and closes its sockets with 1012.
    redis_command(&admin_url, &["ACL", "SETUSER", "nodeb", "allchannels"]).await;
    assert_eq!(bob_ws.closed_with().await, Some(1012));

    // From then on, nothing of what B missed is served from its memory.
    assert_eq!(
        b.get(&history, Some(&bob.access)).await.status(),
        StatusCode::NOT_FOUND,
        "a removed member reads history through B"
    );
    let posted = b
        .post(&history, Some(&bob.access), json!({ "body": "still in?" }))
        .await;
    assert_eq!(
        posted.status(),
        StatusCode::NOT_FOUND,
        "a removed member posts through B"
    );
    let disabled = b
        .post(
            &format!("/api/v1/users/{}/disable", victim.id),
            Some(&carol.access),
            json!({}),
        )
        .await;
    assert_eq!(
        disabled.status(),
        StatusCode::UNAUTHORIZED,
        "a demoted admin acts as admin through B"
    );
    assert_eq!(
        b.get(me, Some(&erin.access)).await.status(),
        StatusCode::UNAUTHORIZED,
        "a token revoked by logout-all is served by B"
    );
    let ticket = b
        .post("/api/v1/auth/ws-ticket", Some(&erin.access), json!({}))
        .await;
    assert_eq!(ticket.status(), StatusCode::UNAUTHORIZED);
}
