//! Replies (issue 23): `reply_to` on a send (REST and WebSocket), the excerpt
//! that follows the original's edits and deletion, the list of a message's
//! replies, and the refusals.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::changes::delete;
use crate::cluster::{joined, two_nodes_with};
use crate::helpers::*;

async fn reply(app: &TestApp, who: &Session, g: &str, body: &str, to: &str) -> reqwest::Response {
    app.post(
        &format!("/api/v1/conversations/{g}/messages"),
        Some(&who.access),
        json!({ "body": body, "reply_to": to }),
    )
    .await
}

async fn replies(app: &TestApp, who: &Session, id: &str, query: &str) -> Value {
    expect_json(
        app.get(
            &format!("/api/v1/messages/{id}/replies{query}"),
            Some(&who.access),
        )
        .await,
        StatusCode::OK,
    )
    .await
}

/// The `reply_to` of the message with `seq` in `who`'s history.
async fn reply_to_in_history(app: &TestApp, who: &Session, g: &str, seq: i64) -> Value {
    let page = expect_json(
        app.history(who, g, &format!("?after={}&limit=1", seq - 1))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(page["items"][0]["seq"], seq, "{page}");
    page["items"][0]["reply_to"].clone()
}

#[tokio::test]
async fn a_reply_shows_the_original_as_it_is_now() {
    let (app, alice, bob, g) = room_with(UNLIMITED_SENDS).await;
    let original = app
        .said(&alice, &g, "what time is the standup tomorrow?")
        .await;
    let id = original["id"].as_str().expect("id").to_owned();
    let answer = expect_json(
        reply(&app, &bob, &g, "10:00", &id).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        answer["reply_to"],
        json!({
            "id": id,
            "seq": 1,
            "sender": { "id": alice.id, "username": "alice" },
            "excerpt": "what time is the standup tomorrow?",
            "deleted": false,
        }),
        "{answer}"
    );

    // Over the socket too: the room's `message` frame carries it.
    let mut ws = app.ws(&alice.access).await;
    ws.join(&g, None).await;
    ws.send_json(json!({ "type": "send", "conversation": g, "body": "thanks", "client_id": "r1", "reply_to": answer["id"] }))
        .await;
    let echo = ws.expect("message").await;
    assert_eq!(echo["reply_to"]["id"], answer["id"], "{echo}");
    assert_eq!(echo["reply_to"]["excerpt"], "10:00");

    // The excerpt follows an edit of the original...
    let long = "x".repeat(150);
    let resp = app
        .send(
            Method::PATCH,
            &format!("/api/v1/messages/{id}"),
            Some(&alice.access),
            Some(json!({ "body": long })),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let now = reply_to_in_history(&app, &bob, &g, 2).await;
    assert_eq!(
        now["excerpt"],
        "x".repeat(100),
        "the first 100 characters: {now}"
    );
    // ... and its deletion.
    delete(&app, &alice, &id).await;
    let now = reply_to_in_history(&app, &bob, &g, 2).await;
    assert_eq!(
        (now["deleted"].clone(), now["excerpt"].clone()),
        (json!(true), json!("")),
        "{now}"
    );
    let listed = replies(&app, &alice, &id, "").await;
    assert_eq!(listed["items"][0]["reply_to"]["deleted"], true, "{listed}");
}

#[tokio::test]
async fn a_messages_replies_are_listed_in_order_and_paged() {
    let (app, alice, bob, g) = room_with(UNLIMITED_SENDS).await;
    let original = app.said(&alice, &g, "ideas for the offsite?").await;
    let id = original["id"].as_str().expect("id").to_owned();
    let other = app.said(&alice, &g, "unrelated").await;
    let mut sent = Vec::new();
    for i in 0..5 {
        let who = if i % 2 == 0 { &bob } else { &alice };
        let m = expect_json(
            reply(&app, who, &g, &format!("idea {i}"), &id).await,
            StatusCode::CREATED,
        )
        .await;
        sent.push(m["seq"].as_i64().expect("seq"));
        // Replies to another message are not this one's.
        expect_json(
            reply(
                &app,
                who,
                &g,
                "elsewhere",
                other["id"].as_str().expect("id"),
            )
            .await,
            StatusCode::CREATED,
        )
        .await;
    }
    let first = replies(&app, &bob, &id, "?limit=2").await;
    let seqs = |page: &Value| -> Vec<i64> {
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|m| m["seq"].as_i64())
            .collect()
    };
    assert_eq!(seqs(&first), sent[..2]);
    assert_eq!(first["has_more"], true);
    let rest = replies(&app, &bob, &id, &format!("?after={}&limit=10", sent[1])).await;
    assert_eq!(seqs(&rest), sent[2..]);
    assert_eq!(rest["has_more"], false);
    let bodies: Vec<&str> = rest["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|m| m["body"].as_str())
        .collect();
    assert_eq!(bodies, ["idea 2", "idea 3", "idea 4"]);
    let a_reply = first["items"][0]["id"].as_str().expect("id");
    let none = replies(&app, &bob, a_reply, "").await;
    assert_eq!(none["items"], json!([]), "a reply nobody answered: {none}");
}

#[tokio::test]
async fn bad_reply_targets_and_strangers_are_refused() {
    let (app, alice, bob, g) = room_with(UNLIMITED_SENDS).await;
    let original = app.said(&alice, &g, "hello").await;
    let id = original["id"].as_str().expect("id").to_owned();
    let other = app.group(&alice, "Other", "public").await;
    let elsewhere = app.said(&alice, &other, "elsewhere").await;

    let across = reply(&app, &alice, &g, "x", elsewhere["id"].as_str().expect("id")).await;
    assert_eq!(
        expect_error(across, StatusCode::UNPROCESSABLE_ENTITY).await,
        "validation_failed"
    );
    let unknown = reply(&app, &alice, &g, "x", &format!("{g}-999")).await;
    assert_eq!(
        expect_error(unknown, StatusCode::NOT_FOUND).await,
        "not_found"
    );
    for junk in ["", "nope", "1-2", &"z".repeat(5000)] {
        let resp = reply(&app, &alice, &g, "x", junk).await;
        assert!(
            resp.status().is_client_error(),
            "{junk:?}: {}",
            resp.status()
        );
    }
    // Over the socket: the same refusal as an error frame.
    let mut ws = app.ws(&bob.access).await;
    ws.send_json(json!({ "type": "send", "conversation": g, "body": "x", "client_id": "c1", "reply_to": elsewhere["id"] }))
        .await;
    let err = ws.expect("error").await;
    assert_eq!(
        (err["code"].clone(), err["ref"].clone()),
        (json!("validation_failed"), json!("c1")),
        "{err}"
    );

    // Nothing was stored by the refusals.
    let page = expect_json(app.history(&alice, &g, "").await, StatusCode::OK).await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "{page}");

    // A deleted message takes no replies.
    delete(&app, &alice, &id).await;
    assert_eq!(
        expect_error(reply(&app, &bob, &g, "x", &id).await, StatusCode::CONFLICT).await,
        "conflict"
    );

    // Strangers: a private group's message is not found, its replies neither.
    let dave = app.user("dave").await;
    let private = app.group(&alice, "Private", "private").await;
    let secret = app.said(&alice, &private, "secret").await;
    let secret_id = secret["id"].as_str().expect("id");
    assert_eq!(
        expect_error(
            reply(&app, &dave, &private, "x", secret_id).await,
            StatusCode::NOT_FOUND
        )
        .await,
        "not_found"
    );
    let listed = app
        .get(
            &format!("/api/v1/messages/{secret_id}/replies"),
            Some(&dave.access),
        )
        .await;
    assert_eq!(listed.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_reply_sent_through_one_node_is_listed_on_the_other() {
    let (a, b) = two_nodes_with(UNLIMITED_SENDS).await;
    let alice = a.user("alice").await;
    let bob = a.user("bob").await;
    let g = a.group(&alice, "Split", "public").await;
    joined(&b, &bob, &g).await;
    let original = a.said(&alice, &g, "question").await;
    let id = original["id"].as_str().expect("id").to_owned();
    let answer = expect_json(
        reply(&b, &bob, &g, "answer", &id).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(answer["reply_to"]["excerpt"], "question", "{answer}");
    for node in [&a, &b] {
        let listed = replies(node, &alice, &id, "").await;
        assert_eq!(listed["items"][0]["id"], answer["id"], "{listed}");
    }
}
