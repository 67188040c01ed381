//! Sending, history paging, idempotency, ordering under concurrency, edit and delete.

use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

async fn delete_message(app: &TestApp, who: &Session, m: &Value) -> reqwest::Response {
    let path = format!("/api/v1/messages/{}", m["id"].as_str().unwrap());
    app.send(Method::DELETE, &path, Some(&who.access), None)
        .await
}

#[tokio::test]
async fn a_sent_message_is_stored_with_the_next_seq_and_read_back() {
    let (app, alice, bob, g) = room().await;
    let first = app.said(&alice, &g, "  hello\tworld\n ").await;
    assert_eq!(first["seq"], 1);
    assert_eq!(first["body"], "hello\tworld");
    assert_eq!(first["sender"]["username"], "alice");
    assert_eq!(first["deleted"], false);
    let second = app.said(&bob, &g, "hi alice").await;
    assert_eq!(second["seq"], 2);
    let page = expect_json(app.history(&bob, &g, "").await, StatusCode::OK).await;
    assert_eq!(bodies(&page), ["hello\tworld", "hi alice"]);
    assert_eq!(page["has_more"], false);
}

#[tokio::test]
async fn bodies_are_validated() {
    let (app, alice, _, g) = room().await;
    for bad in ["", "   ", "bell\u{7}", "rtl\u{202E}override"] {
        assert_eq!(
            expect_error(
                app.say(&alice, &g, bad).await,
                StatusCode::UNPROCESSABLE_ENTITY
            )
            .await,
            "validation_failed",
            "{bad:?}"
        );
    }
    let too_long = "é".repeat(4001);
    assert_eq!(
        expect_error(
            app.say(&alice, &g, &too_long).await,
            StatusCode::UNPROCESSABLE_ENTITY
        )
        .await,
        "validation_failed"
    );
    let max = app.said(&alice, &g, &"é".repeat(4000)).await;
    assert_eq!(max["body"].as_str().unwrap().chars().count(), 4000);
    let nfc = app.said(&alice, &g, "Jose\u{301}").await;
    assert_eq!(nfc["body"], "José");
    let resp = app
        .post(
            &format!("/api/v1/conversations/{g}/messages"),
            Some(&alice.access),
            json!({ "body": "x", "client_id": "" }),
        )
        .await;
    assert_eq!(
        expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY).await,
        "validation_failed"
    );
}

#[tokio::test]
async fn a_repeated_client_id_returns_the_first_message_and_stores_nothing() {
    let (app, alice, bob, g) = room().await;
    let path = format!("/api/v1/conversations/{g}/messages");
    let first = expect_json(
        app.post(
            &path,
            Some(&alice.access),
            json!({ "body": "once", "client_id": "c-1" }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let again = expect_json(
        app.post(
            &path,
            Some(&alice.access),
            json!({ "body": "once (retry)", "client_id": "c-1" }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(first["id"], again["id"]);
    assert_eq!(again["body"], "once");
    assert_eq!(again["client_id"], "c-1");
    // Another sender may use the same client_id.
    expect_json(
        app.post(
            &path,
            Some(&bob.access),
            json!({ "body": "mine", "client_id": "c-1" }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let page = expect_json(app.history(&alice, &g, "").await, StatusCode::OK).await;
    assert_eq!(bodies(&page), ["once", "mine"]);
}

#[tokio::test]
async fn one_hundred_concurrent_sends_get_distinct_increasing_seqs_and_all_land_once() {
    let (app, alice, bob, g) = room_with(UNLIMITED_SENDS).await;
    let sends = (0..100).map(|i| {
        let who = if i % 2 == 0 { &alice } else { &bob };
        let path = format!("/api/v1/conversations/{g}/messages");
        let app = &app;
        async move {
            let resp = app
                .post(
                    &path,
                    Some(&who.access),
                    json!({ "body": format!("m{i}"), "client_id": format!("k{i}") }),
                )
                .await;
            expect_json(resp, StatusCode::CREATED).await
        }
    });
    let sent: Vec<Value> = futures_util::future::join_all(sends).await;
    let seqs: HashSet<i64> = sent.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs.len(), 100, "every send got its own seq");

    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let page = expect_json(
            app.history(&alice, &g, &format!("?after={after}&limit=30"))
                .await,
            StatusCode::OK,
        )
        .await;
        let items = page["items"].as_array().unwrap().clone();
        if let Some(last) = items.last() {
            after = last["seq"].as_i64().unwrap();
        }
        all.extend(items);
        if page["has_more"] == false {
            break;
        }
    }
    let history_seqs: Vec<i64> = all.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert!(
        history_seqs.windows(2).all(|w| w[0] < w[1]),
        "ascending: {history_seqs:?}"
    );
    assert_eq!(history_seqs.iter().copied().collect::<HashSet<_>>(), seqs);
    let mut history_bodies: Vec<String> = all
        .iter()
        .map(|m| m["body"].as_str().unwrap().to_owned())
        .collect();
    history_bodies.sort();
    let mut expected: Vec<String> = (0..100).map(|i| format!("m{i}")).collect();
    expected.sort();
    assert_eq!(history_bodies, expected, "every message exactly once");
}

#[tokio::test]
async fn history_pages_backwards_and_forwards_in_ascending_order() {
    let (app, alice, _, g) = room().await;
    for i in 1..=7 {
        app.said(&alice, &g, &format!("m{i}")).await;
    }
    let latest = expect_json(app.history(&alice, &g, "?limit=3").await, StatusCode::OK).await;
    assert_eq!(bodies(&latest), ["m5", "m6", "m7"]);
    assert_eq!(latest["has_more"], true);
    let before = expect_json(
        app.history(&alice, &g, "?before=5&limit=3").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(bodies(&before), ["m2", "m3", "m4"]);
    assert_eq!(before["has_more"], true);
    let oldest = expect_json(
        app.history(&alice, &g, "?before=2&limit=3").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(bodies(&oldest), ["m1"]);
    assert_eq!(oldest["has_more"], false);
    let after = expect_json(
        app.history(&alice, &g, "?after=2&limit=3").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(bodies(&after), ["m3", "m4", "m5"]);
    assert_eq!(after["has_more"], true);
    let tail = expect_json(
        app.history(&alice, &g, "?after=5&limit=3").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(bodies(&tail), ["m6", "m7"]);
    assert_eq!(tail["has_more"], false);
    let capped = expect_json(app.history(&alice, &g, "?limit=1000").await, StatusCode::OK).await;
    assert_eq!(capped["items"].as_array().unwrap().len(), 7);
    expect_error(
        app.history(&alice, &g, "?before=3&after=1").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    expect_error(
        app.history(&alice, &g, "?before=abc").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}

#[tokio::test]
async fn only_the_sender_edits_and_an_edit_sets_edited_at() {
    let (app, alice, bob, g) = room().await;
    let msg = app.said(&alice, &g, "typo").await;
    let path = format!("/api/v1/messages/{}", msg["id"].as_str().unwrap());
    let resp = app
        .send(
            Method::PATCH,
            &path,
            Some(&bob.access),
            Some(json!({ "body": "hijack" })),
        )
        .await;
    assert_eq!(expect_error(resp, StatusCode::FORBIDDEN).await, "forbidden");
    let edited = expect_json(
        app.send(
            Method::PATCH,
            &path,
            Some(&alice.access),
            Some(json!({ "body": "fixed" })),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(edited["body"], "fixed");
    assert!(edited["edited_at"].is_string());
    assert_eq!(edited["seq"], msg["seq"]);
    let resp = app
        .send(
            Method::PATCH,
            &path,
            Some(&alice.access),
            Some(json!({ "body": "" })),
        )
        .await;
    assert_eq!(
        expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY).await,
        "validation_failed"
    );
}

#[tokio::test]
async fn deletes_leave_a_tombstone_and_follow_the_roles() {
    let (app, alice, bob, g) = room().await;
    let carol = app.user("carol").await;
    let admin = app.admin("root").await;
    app.post(
        &format!("/api/v1/groups/{g}/join"),
        Some(&carol.access),
        json!({}),
    )
    .await;
    let by_bob = app.said(&bob, &g, "bob's").await;
    let by_carol = app.said(&carol, &g, "carol's").await;
    let by_alice = app.said(&alice, &g, "alice's").await;

    assert_eq!(
        expect_error(
            delete_message(&app, &carol, &by_bob).await,
            StatusCode::FORBIDDEN
        )
        .await,
        "forbidden",
        "members delete only their own"
    );
    assert_eq!(
        delete_message(&app, &bob, &by_bob).await.status(),
        StatusCode::NO_CONTENT,
        "the sender"
    );
    assert_eq!(
        delete_message(&app, &alice, &by_carol).await.status(),
        StatusCode::NO_CONTENT,
        "the owner"
    );
    assert_eq!(
        delete_message(&app, &admin, &by_alice).await.status(),
        StatusCode::NO_CONTENT,
        "a global admin"
    );

    let page = expect_json(app.history(&alice, &g, "").await, StatusCode::OK).await;
    for (item, original) in page["items"]
        .as_array()
        .unwrap()
        .iter()
        .zip([&by_bob, &by_carol, &by_alice])
    {
        assert_eq!(item["id"], original["id"]);
        assert_eq!(item["seq"], original["seq"]);
        assert_eq!(item["deleted"], true);
        assert_eq!(item["body"], "");
    }
    let path = format!("/api/v1/messages/{}", by_bob["id"].as_str().unwrap());
    let resp = app
        .send(
            Method::PATCH,
            &path,
            Some(&bob.access),
            Some(json!({ "body": "undo" })),
        )
        .await;
    assert_eq!(expect_error(resp, StatusCode::CONFLICT).await, "conflict");
}

#[tokio::test]
async fn read_markers_are_clamped_and_validated() {
    let (app, alice, bob, g) = room().await;
    app.said(&alice, &g, "one").await;
    let path = format!("/api/v1/conversations/{g}/read");
    assert_eq!(
        app.post(&path, Some(&bob.access), json!({ "seq": 99 }))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        expect_error(
            app.post(&path, Some(&bob.access), json!({ "seq": -1 }))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY
        )
        .await,
        "validation_failed"
    );
    expect_error(
        app.post(&path, Some(&bob.access), json!({ "seq": "1" }))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}
