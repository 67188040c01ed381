//! Races a hostile or unlucky client can provoke, tried many times each with the
//! two sides started together (issue 10).

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{UNLIMITED_SENDS, expect_json, room, room_with};

const TRIALS: usize = 20;

#[tokio::test]
async fn a_member_removed_while_joining_never_ends_up_subscribed() {
    let (app, alice, bob, group) = room().await;
    let member_path = format!("/api/v1/groups/{group}/members/{}", bob.id);
    let mut bob_ws = app.ws(&bob.access).await;
    for trial in 0..TRIALS {
        // Bob is a member again, and not joined.
        let added = app.set_member(&alice, &group, &bob, "member").await;
        assert!(added.status().is_success(), "{}", added.status());
        bob_ws.drain(Duration::from_millis(20)).await;

        // Join and removal at once.
        let join = bob_ws.send_json(json!({ "type": "join", "conversation": group }));
        let remove = app.send(Method::DELETE, &member_path, Some(&alice.access), None);
        let ((), removed) = tokio::join!(join, remove);
        assert_eq!(removed.status(), StatusCode::NO_CONTENT);
        bob_ws.drain(Duration::from_millis(50)).await;

        // Whatever order they ran in, Bob hears nothing said after the removal.
        let body = format!("after removal {trial}");
        app.said(&alice, &group, &body).await;
        let heard = bob_ws.drain(Duration::from_millis(150)).await;
        assert!(
            heard
                .iter()
                .all(|f| !(f["type"] == "message" && f["body"] == body.as_str())),
            "trial {trial}: a removed member still receives the room: {heard:?}"
        );
    }
}

#[tokio::test]
async fn an_edit_racing_a_delete_never_resurrects_the_message() {
    // Edits and deletes draw on the send budget; this test is about the race.
    let (app, alice, bob, group) = room_with(UNLIMITED_SENDS).await;
    let mut bob_ws = app.ws(&bob.access).await;
    bob_ws.join(&group, None).await;
    for trial in 0..TRIALS {
        let sent = app.said(&alice, &group, &format!("original {trial}")).await;
        let id = sent["id"].as_str().expect("id").to_owned();
        let path = format!("/api/v1/messages/{id}");
        let edits = (0..4).map(|i| {
            app.send(
                Method::PATCH,
                &path,
                Some(&alice.access),
                Some(json!({ "body": format!("edit {i}") })),
            )
        });
        let delete = app.send(Method::DELETE, &path, Some(&alice.access), None);
        let (edited, deleted) = tokio::join!(futures_util::future::join_all(edits), delete);
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
        for resp in edited {
            let status = resp.status();
            assert!(
                status == StatusCode::OK || status == StatusCode::CONFLICT,
                "edit answered {status}"
            );
        }
        // Stored state: deleted, no text.
        let page = expect_json(
            app.history(
                &bob,
                &group,
                &format!("?after={}&limit=1", sent["seq"].as_i64().unwrap_or(0) - 1),
            )
            .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(page["items"][0]["deleted"], true, "trial {trial}");
        assert_eq!(page["items"][0]["body"], "", "trial {trial}");
        // Events: nothing about this message after its deletion.
        let frames = bob_ws.drain(Duration::from_millis(100)).await;
        let about: Vec<&str> = frames
            .iter()
            .filter(|f| f["id"] == id.as_str())
            .filter_map(|f| f["type"].as_str())
            .collect();
        if let Some(at) = about.iter().position(|t| *t == "message_deleted") {
            assert!(
                about[at + 1..].is_empty(),
                "trial {trial}: events after message_deleted: {about:?}"
            );
        } else {
            panic!("trial {trial}: no message_deleted event: {about:?}");
        }
    }
}

#[tokio::test]
async fn two_concurrent_transfers_never_leave_two_owners() {
    let (app, alice, bob, group) = room().await;
    let carol = app.user("carol").await;
    let added = app.set_member(&alice, &group, &carol, "member").await;
    assert!(added.status().is_success());
    let path = format!("/api/v1/groups/{group}/transfer");
    let transfer = |from: String, to: String| {
        let path = path.clone();
        let app = &app;
        async move { app.post(&path, Some(&from), json!({ "user_id": to })).await }
    };
    let mut owner = alice.clone();
    for trial in 0..TRIALS {
        let others: Vec<_> = [&alice, &bob, &carol]
            .into_iter()
            .filter(|s| s.id != owner.id)
            .cloned()
            .collect();
        let (a, b) = tokio::join!(
            transfer(owner.access.clone(), others[0].id.clone()),
            transfer(owner.access.clone(), others[1].id.clone())
        );
        let statuses = [a.status(), b.status()];
        assert!(
            statuses.contains(&StatusCode::OK),
            "trial {trial}: one transfer succeeds: {statuses:?}"
        );
        let members = expect_json(
            app.get(
                &format!("/api/v1/groups/{group}/members"),
                Some(&alice.access),
            )
            .await,
            StatusCode::OK,
        )
        .await;
        let owners: Vec<String> = members["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|m| m["role"] == "owner")
            .filter_map(|m| m["user"]["id"].as_str().map(str::to_owned))
            .collect();
        assert_eq!(owners.len(), 1, "trial {trial}: owners {owners:?}");
        let details = expect_json(
            app.get(&format!("/api/v1/groups/{group}"), Some(&alice.access))
                .await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(details["owner_id"], owners[0].as_str(), "trial {trial}");
        owner = [&alice, &bob, &carol]
            .into_iter()
            .find(|s| s.id == owners[0])
            .cloned()
            .expect("the owner is one of us");
    }
}
