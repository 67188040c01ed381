//! Direct messages: one conversation per pair, private to the pair.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn opening_a_dm_is_idempotent_from_either_side() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let created = app
        .post(
            "/api/v1/dms",
            Some(&alice.access),
            json!({ "user_id": bob.id }),
        )
        .await;
    let first = expect_json(created, StatusCode::CREATED).await;
    assert_eq!(first["kind"], "direct");
    assert_eq!(first["peer"]["username"], "bob");
    let again = expect_json(
        app.post(
            "/api/v1/dms",
            Some(&alice.access),
            json!({ "user_id": bob.id }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let reverse = expect_json(
        app.post(
            "/api/v1/dms",
            Some(&bob.access),
            json!({ "user_id": alice.id }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(first["id"], again["id"]);
    assert_eq!(first["id"], reverse["id"]);
    assert_eq!(reverse["peer"]["username"], "alice");

    let me = app
        .post(
            "/api/v1/dms",
            Some(&alice.access),
            json!({ "user_id": alice.id }),
        )
        .await;
    assert_eq!(
        expect_error(me, StatusCode::UNPROCESSABLE_ENTITY).await,
        "validation_failed"
    );
    let ghost = app
        .post(
            "/api/v1/dms",
            Some(&alice.access),
            json!({ "user_id": "000000000000000000000000" }),
        )
        .await;
    assert_eq!(
        expect_error(ghost, StatusCode::NOT_FOUND).await,
        "not_found"
    );
}

#[tokio::test]
async fn carol_cannot_read_or_write_a_dm_between_alice_and_bob() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let admin = app.admin("root").await;
    let dm = app.dm(&alice, &bob).await;
    let sent = app.said(&alice, &dm, "just between us").await;
    for outsider in [&carol, &admin] {
        assert_eq!(
            expect_error(app.history(outsider, &dm, "").await, StatusCode::NOT_FOUND).await,
            "not_found"
        );
        assert_eq!(
            expect_error(
                app.say(outsider, &dm, "let me in").await,
                StatusCode::NOT_FOUND
            )
            .await,
            "not_found"
        );
        let read = app
            .post(
                &format!("/api/v1/conversations/{dm}/read"),
                Some(&outsider.access),
                json!({ "seq": 1 }),
            )
            .await;
        assert_eq!(expect_error(read, StatusCode::NOT_FOUND).await, "not_found");
        let presence = app
            .get(
                &format!("/api/v1/conversations/{dm}/presence"),
                Some(&outsider.access),
            )
            .await;
        assert_eq!(
            expect_error(presence, StatusCode::NOT_FOUND).await,
            "not_found"
        );
        let edit = app
            .send(
                reqwest::Method::PATCH,
                &format!("/api/v1/messages/{}", sent["id"].as_str().unwrap()),
                Some(&outsider.access),
                Some(json!({ "body": "x" })),
            )
            .await;
        assert_eq!(expect_error(edit, StatusCode::NOT_FOUND).await, "not_found");
        let delete = app
            .send(
                reqwest::Method::DELETE,
                &format!("/api/v1/messages/{}", sent["id"].as_str().unwrap()),
                Some(&outsider.access),
                None,
            )
            .await;
        assert_eq!(
            expect_error(delete, StatusCode::NOT_FOUND).await,
            "not_found"
        );
        let list = expect_json(
            app.get("/api/v1/dms", Some(&outsider.access)).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(list["items"].as_array().unwrap().len(), 0);
    }
    let page = expect_json(app.history(&bob, &dm, "").await, StatusCode::OK).await;
    assert_eq!(bodies(&page), ["just between us"]);
}

#[tokio::test]
async fn the_dm_list_shows_the_peer_last_message_and_unread_count() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let with_bob = app.dm(&alice, &bob).await;
    let with_carol = app.dm(&carol, &alice).await;
    app.said(&bob, &with_bob, "one").await;
    app.said(&bob, &with_bob, "two").await;
    app.said(&carol, &with_carol, "hey").await;
    app.said(&bob, &with_bob, "three").await;

    let list = expect_json(
        app.get("/api/v1/dms", Some(&alice.access)).await,
        StatusCode::OK,
    )
    .await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(
        items[0]["id"],
        with_bob.as_str(),
        "most recently active first"
    );
    assert_eq!(items[0]["peer"]["username"], "bob");
    assert_eq!(items[0]["last_message"]["body"], "three");
    assert_eq!(items[0]["unread"], 3);
    assert_eq!(items[1]["unread"], 1);

    let read = app
        .post(
            &format!("/api/v1/conversations/{with_bob}/read"),
            Some(&alice.access),
            json!({ "seq": 2 }),
        )
        .await;
    assert_eq!(read.status(), StatusCode::NO_CONTENT);
    // Markers never move back.
    app.post(
        &format!("/api/v1/conversations/{with_bob}/read"),
        Some(&alice.access),
        json!({ "seq": 1 }),
    )
    .await;
    let list = expect_json(
        app.get("/api/v1/dms", Some(&alice.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(list["items"][0]["unread"], 1);
    let bob_view = expect_json(
        app.get("/api/v1/dms", Some(&bob.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        bob_view["items"][0]["unread"], 0,
        "your own messages are read"
    );

    let page = expect_json(
        app.get("/api/v1/dms?limit=1", Some(&alice.access)).await,
        StatusCode::OK,
    )
    .await;
    let cursor = page["next_cursor"].as_str().unwrap();
    let next = expect_json(
        app.get(
            &format!("/api/v1/dms?limit=1&cursor={cursor}"),
            Some(&alice.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(next["items"][0]["id"], with_carol.as_str());
    let bad = app
        .get("/api/v1/dms?cursor=garbage", Some(&alice.access))
        .await;
    assert_eq!(
        expect_error(bad, StatusCode::BAD_REQUEST).await,
        "invalid_cursor"
    );
}
