//! Cross-group and cross-user access by id.

use super::*;

#[tokio::test]
async fn a_member_of_one_group_cannot_reach_another_private_group_by_id() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let carol = app.user("carol").await;
    let dave = app.user("dave").await;
    let a = app.group(&alice, "A", "private").await;
    let b = app.group(&carol, "B", "private").await;
    expect_json(
        app.set_member(&carol, &b, &dave, "member").await,
        StatusCode::OK,
    )
    .await;
    let secret = app.said(&carol, &b, "group B only").await;
    let secret_id = secret["id"].as_str().unwrap();
    let mut dave_ws = app.ws(&dave.access).await;
    dave_ws.join(&b, None).await;

    let not_found = |resp: reqwest::Response, what: &'static str| async move {
        assert_eq!(
            expect_error(resp, StatusCode::NOT_FOUND).await,
            "not_found",
            "{what}"
        );
    };
    not_found(
        app.get(&format!("/api/v1/groups/{b}"), Some(&alice.access))
            .await,
        "get",
    )
    .await;
    not_found(
        app.get(&format!("/api/v1/groups/{b}/members"), Some(&alice.access))
            .await,
        "members",
    )
    .await;
    not_found(app.history(&alice, &b, "").await, "history").await;
    not_found(app.say(&alice, &b, "hello B").await, "send").await;
    not_found(
        app.get(
            &format!("/api/v1/conversations/{b}/presence"),
            Some(&alice.access),
        )
        .await,
        "presence",
    )
    .await;
    not_found(
        app.post(
            &format!("/api/v1/conversations/{b}/read"),
            Some(&alice.access),
            json!({ "seq": 1 }),
        )
        .await,
        "read",
    )
    .await;
    not_found(
        app.post(
            &format!("/api/v1/groups/{b}/join"),
            Some(&alice.access),
            json!({}),
        )
        .await,
        "join",
    )
    .await;
    not_found(
        patch(
            &app,
            &format!("/api/v1/messages/{secret_id}"),
            &alice,
            json!({ "body": "x" }),
        )
        .await,
        "edit",
    )
    .await;
    not_found(
        app.send(
            Method::DELETE,
            &format!("/api/v1/messages/{secret_id}"),
            Some(&alice.access),
            None,
        )
        .await,
        "delete",
    )
    .await;
    // Alice owns A, and using A's id in the path does not widen B's membership.
    not_found(
        app.set_member(&alice, &b, &alice, "admin").await,
        "self-add to B",
    )
    .await;
    let resp = app
        .send(
            Method::PUT,
            &format!("/api/v1/groups/{a}/members/{}", dave.id),
            Some(&alice.access),
            Some(json!({ "role": "member" })),
        )
        .await;
    expect_json(resp, StatusCode::OK).await;
    not_found(
        app.history(&alice, &b, "").await,
        "history after adding dave to A",
    )
    .await;

    let mut alice_ws = app.ws(&alice.access).await;
    alice_ws
        .send_json(json!({ "type": "join", "conversation": b }))
        .await;
    assert_eq!(alice_ws.expect("error").await["code"], "not_found");
    alice_ws.say(&b, "via ws", "w1").await;
    assert_eq!(alice_ws.expect("error").await["code"], "not_found");
    alice_ws
        .send_json(json!({ "type": "typing", "conversation": b }))
        .await;
    alice_ws
        .send_json(json!({ "type": "read", "conversation": b, "seq": 1 }))
        .await;
    let frames = dave_ws.drain(QUIET).await;
    assert!(
        frames
            .iter()
            .all(|f| f["type"] != "message" && f["type"] != "typing" && f["type"] != "read"),
        "alice reached group B: {frames:?}"
    );
    let page = expect_json(app.history(&carol, &b, "").await, StatusCode::OK).await;
    assert_eq!(bodies(&page), ["group B only"]);
}

#[tokio::test]
async fn a_member_cannot_promote_themselves_or_take_the_group() {
    let (app, alice, bob, g) = room().await;
    let resp = app.set_member(&bob, &g, &bob, "admin").await;
    assert_eq!(expect_error(resp, StatusCode::FORBIDDEN).await, "forbidden");
    let resp = app.set_member(&bob, &g, &bob, "owner").await;
    let status = resp.status();
    assert!(
        status == StatusCode::FORBIDDEN || status == StatusCode::UNPROCESSABLE_ENTITY,
        "{status}"
    );
    expect_error(resp, status).await;
    let resp = app
        .post(
            &format!("/api/v1/groups/{g}/transfer"),
            Some(&bob.access),
            json!({ "user_id": bob.id }),
        )
        .await;
    assert_eq!(expect_error(resp, StatusCode::FORBIDDEN).await, "forbidden");
    let resp = patch(
        &app,
        &format!("/api/v1/groups/{g}"),
        &bob,
        json!({ "owner_id": bob.id, "name": "Mine" }),
    )
    .await;
    // Unknown fields are refused before anything else (the spec says
    // `additionalProperties: false`); without one, a member is still refused.
    assert_eq!(
        expect_error(resp, StatusCode::BAD_REQUEST).await,
        "bad_request"
    );
    let resp = patch(
        &app,
        &format!("/api/v1/groups/{g}"),
        &bob,
        json!({ "name": "Mine" }),
    )
    .await;
    assert_eq!(expect_error(resp, StatusCode::FORBIDDEN).await, "forbidden");

    // A group admin who sends `owner_id` in an update changes the name, not the owner.
    expect_json(
        app.set_member(&alice, &g, &bob, "admin").await,
        StatusCode::OK,
    )
    .await;
    let resp = patch(
        &app,
        &format!("/api/v1/groups/{g}"),
        &bob,
        json!({ "owner_id": bob.id, "name": "Renamed" }),
    )
    .await;
    assert_eq!(
        expect_error(resp, StatusCode::BAD_REQUEST).await,
        "bad_request"
    );
    let group = expect_json(
        app.get(&format!("/api/v1/groups/{g}"), Some(&alice.access))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(group["owner_id"], alice.id.as_str());
    let members = expect_json(
        app.get(&format!("/api/v1/groups/{g}/members"), Some(&alice.access))
            .await,
        StatusCode::OK,
    )
    .await;
    let owners: Vec<&Value> = members["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "owner")
        .collect();
    assert_eq!(owners.len(), 1);
    assert_eq!(owners[0]["user"]["id"], alice.id.as_str());
}
