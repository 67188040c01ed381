//! Reactions (issue 23): idempotent toggles with exact counts, `me`, the
//! `reaction` delta, the limits, and the replay of reaction changes to a client
//! that was away.

use std::time::Duration;

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::changes::{assert_each_changed_once_by_rev, delete, edit};
use crate::cluster::{joined, two_nodes_with};
use crate::helpers::*;

async fn react(app: &TestApp, who: &Session, id: &str, emoji: &str, on: bool) -> Response {
    let method = if on { Method::PUT } else { Method::DELETE };
    app.send(
        method,
        &format!("/api/v1/messages/{id}/reactions/{emoji}"),
        Some(&who.access),
        None,
    )
    .await
}

async fn reacted(app: &TestApp, who: &Session, id: &str, emoji: &str, on: bool) {
    let resp = react(app, who, id, emoji, on).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT, "{emoji} {on}");
}

/// (emoji, count, me) of a message in `who`'s history of `g`.
async fn reactions_seen(
    app: &TestApp,
    who: &Session,
    g: &str,
    seq: i64,
) -> Vec<(String, i64, bool)> {
    let page = expect_json(
        app.history(who, g, &format!("?after={}&limit=1", seq - 1))
            .await,
        StatusCode::OK,
    )
    .await;
    let message = &page["items"][0];
    assert_eq!(message["seq"], seq, "{page}");
    counts(&message["reactions"])
}

fn counts(reactions: &Value) -> Vec<(String, i64, bool)> {
    reactions
        .as_array()
        .expect("reactions")
        .iter()
        .map(|r| {
            (
                r["emoji"].as_str().unwrap_or("").to_owned(),
                r["count"].as_i64().unwrap_or(-1),
                r["me"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

fn seen(list: &[(&str, i64, bool)]) -> Vec<(String, i64, bool)> {
    list.iter()
        .map(|(e, c, m)| ((*e).to_owned(), *c, *m))
        .collect()
}

#[tokio::test]
async fn toggles_count_each_user_once_and_say_whether_you_reacted() {
    let (app, alice, bob, g) = room_with(UNLIMITED_SENDS).await;
    let m = app.said(&alice, &g, "react to me").await;
    let id = m["id"].as_str().expect("id").to_owned();
    assert_eq!(m["reactions"], json!([]), "{m}");

    reacted(&app, &alice, &id, "👍", true).await;
    reacted(&app, &alice, &id, "👍", true).await; // again: nothing changes
    reacted(&app, &bob, &id, ":+1:", true).await; // the shortcode is the same emoji
    reacted(&app, &bob, &id, "🎉", true).await;
    assert_eq!(
        reactions_seen(&app, &alice, &g, 1).await,
        seen(&[("👍", 2, true), ("🎉", 1, false)])
    );
    assert_eq!(
        reactions_seen(&app, &bob, &g, 1).await,
        seen(&[("👍", 2, true), ("🎉", 1, true)])
    );

    reacted(&app, &alice, &id, "👍", false).await;
    reacted(&app, &alice, &id, "👍", false).await; // again: nothing changes
    reacted(&app, &alice, &id, "🎉", false).await; // never had it: nothing changes
    let page = expect_json(app.history(&alice, &g, "").await, StatusCode::OK).await;
    let now = &page["items"][0];
    assert_eq!(
        counts(&now["reactions"]),
        seen(&[("👍", 1, false), ("🎉", 1, false)])
    );
    assert_eq!(now["rev"], 4, "four toggles changed something: {now}");

    // Who reacted, by username, paged.
    let carol = app.user("carol").await;
    let joined = app
        .post(
            &format!("/api/v1/groups/{g}/join"),
            Some(&carol.access),
            json!({}),
        )
        .await;
    assert_eq!(joined.status(), StatusCode::OK);
    reacted(&app, &carol, &id, "👍", true).await;
    let users = |q: &str| format!("/api/v1/messages/{id}/reactions/👍/users{q}");
    let first = expect_json(
        app.get(&users("?limit=1"), Some(&alice.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        first["items"],
        json!([{ "id": bob.id, "username": "bob" }]),
        "{first}"
    );
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second = expect_json(
        app.get(
            &users(&format!("?limit=1&cursor={cursor}")),
            Some(&alice.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(second["items"][0]["username"], "carol", "{second}");
    assert!(second.get("next_cursor").is_none(), "{second}");
    let none = expect_json(
        app.get(
            &format!("/api/v1/messages/{id}/reactions/🚀/users"),
            Some(&alice.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(none["items"], json!([]));
}

#[tokio::test]
async fn the_room_hears_each_change_as_a_delta_never_the_message() {
    let (app, alice, bob, g) = room_with(UNLIMITED_SENDS).await;
    let m = app.said(&alice, &g, "react to me").await;
    let id = m["id"].as_str().expect("id").to_owned();
    let mut bob_ws = app.ws(&bob.access).await;
    bob_ws.join(&g, None).await;
    let mut alice_ws = app.ws(&alice.access).await;

    let toggle =
        json!({ "type": "react", "conversation": g, "message": id, "emoji": "👍", "on": true });
    alice_ws.send_json(toggle.clone()).await;
    let delta = bob_ws.next_json().await;
    assert_eq!(delta["type"], "reaction", "{delta}");
    assert_eq!(delta["conversation"], g.as_str());
    assert_eq!(delta["message"], id.as_str());
    assert_eq!(delta["emoji"], "👍");
    assert_eq!(delta["user"]["username"], "alice");
    assert_eq!(delta["on"], true);
    assert_eq!(delta["count"], 1);
    assert_eq!(delta["rev"], 1);
    assert!(
        delta.get("body").is_none(),
        "a delta, not the message: {delta}"
    );

    // The same toggle again changes nothing and announces nothing: the next
    // frame Bob gets is the next message.
    alice_ws.send_json(toggle).await;
    app.said(&alice, &g, "next").await;
    let next = bob_ws.next_json().await;
    assert_eq!(next["type"], "message", "{next}");

    // Off again, by shortcode.
    alice_ws
        .send_json(json!({ "type": "react", "conversation": g, "message": id, "emoji": ":+1:", "on": false }))
        .await;
    let delta = bob_ws.next_json().await;
    assert_eq!(
        (
            delta["on"].clone(),
            delta["count"].clone(),
            delta["rev"].clone()
        ),
        (json!(false), json!(0), json!(2)),
        "{delta}"
    );

    // Refusals come back as error frames naming the message.
    alice_ws
        .send_json(json!({ "type": "react", "conversation": g, "message": id, "emoji": "nope", "on": true }))
        .await;
    let err = alice_ws.expect("error").await;
    assert_eq!(err["code"], "validation_failed", "{err}");
    assert_eq!(err["ref"], id.as_str());
    let other = app.group(&alice, "Other", "public").await;
    let elsewhere = app.said(&alice, &other, "elsewhere").await;
    alice_ws
        .send_json(json!({ "type": "react", "conversation": g, "message": elsewhere["id"], "emoji": "👍", "on": true }))
        .await;
    let err = alice_ws.expect("error").await;
    assert_eq!(
        err["code"], "not_found",
        "a message of another conversation: {err}"
    );
}

#[tokio::test]
async fn limits_deletion_and_strangers_are_refused_cleanly() {
    let (app, alice, bob, g) = room_with(UNLIMITED_SENDS).await;
    let m = app.said(&alice, &g, "react to me").await;
    let id = m["id"].as_str().expect("id").to_owned();

    // At most 20 distinct emoji per message; the 21st is 422, one already there is fine.
    let emoji = [
        "😀", "😁", "😂", "🤣", "😃", "😄", "😅", "😆", "😉", "😊", "😋", "😎", "😍", "😘", "🥰",
        "😗", "😙", "🥲", "😚", "🙂", "🤗",
    ];
    for e in &emoji[..20] {
        reacted(&app, &alice, &id, e, true).await;
    }
    let over = expect_error(
        react(&app, &bob, &id, emoji[20], true).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(over, "validation_failed");
    reacted(&app, &bob, &id, emoji[0], true).await;

    // Not an emoji, too long, absurdly long: clean 4xx, nothing stored.
    for bad in ["abc", ":not_an_emoji_at_all:", "👍👍", &"👍".repeat(9)] {
        let resp = react(&app, &alice, &id, bad, true).await;
        assert!(resp.status().is_client_error(), "{bad}: {}", resp.status());
    }
    let resp = react(&app, &alice, &id, &"a".repeat(60_000), true).await;
    assert!(
        resp.status().is_client_error(),
        "60 kB emoji: {}",
        resp.status()
    );
    // A 1 MiB path segment (no HTTP client library sends one): a 4xx status line.
    let status = raw_put_status(
        &app,
        &alice,
        &format!("/api/v1/messages/{id}/reactions/{}", "a".repeat(1 << 20)),
    )
    .await;
    assert!(status.starts_with("HTTP/1.1 4"), "1 MiB emoji: {status}");
    assert_eq!(reactions_seen(&app, &alice, &g, 1).await.len(), 20);

    // Strangers: 404, like the message does not exist.
    let dave = app.user("dave").await;
    let private = app.group(&alice, "Private", "private").await;
    let secret = app.said(&alice, &private, "secret").await;
    let secret_id = secret["id"].as_str().expect("id");
    for target in [id.as_str(), secret_id] {
        let code = expect_error(
            react(&app, &dave, target, "👍", true).await,
            StatusCode::NOT_FOUND,
        )
        .await;
        assert_eq!(code, "not_found");
        let listed = app
            .get(
                &format!("/api/v1/messages/{target}/reactions/👍/users"),
                Some(&dave.access),
            )
            .await;
        assert_eq!(listed.status(), StatusCode::NOT_FOUND);
    }
    let unknown = format!("{g}-999");
    expect_error(
        react(&app, &alice, &unknown, "👍", true).await,
        StatusCode::NOT_FOUND,
    )
    .await;

    // A deleted message loses its reactions and takes no new ones.
    delete(&app, &alice, &id).await;
    assert_eq!(reactions_seen(&app, &alice, &g, 1).await, vec![]);
    let code = expect_error(
        react(&app, &bob, &id, "👍", true).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(code, "conflict");
}

/// The status line a raw `PUT path` gets (for paths no HTTP client builds).
async fn raw_put_status(app: &TestApp, who: &Session, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = app.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    let request = format!(
        "PUT {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        who.access
    );
    // The server may answer (and close) before it has read the whole request.
    let _ = stream.write_all(request.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

/// Retries a toggle the cluster could not coordinate at once (503: the
/// conversation's edit lock is busy); toggles are idempotent.
async fn toggle_until_done(node: &TestApp, who: &Session, id: &str, emoji: &str, on: bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let resp = react(node, who, id, emoji, on).await;
        match resp.status() {
            StatusCode::NO_CONTENT => return,
            StatusCode::SERVICE_UNAVAILABLE if tokio::time::Instant::now() < deadline => {
                tokio::task::yield_now().await;
            }
            other => panic!(
                "toggle refused: {other} {}",
                resp.text().await.unwrap_or_default()
            ),
        }
    }
}

#[tokio::test]
async fn concurrent_toggles_from_two_nodes_leave_the_exact_count() {
    let (a, b) = two_nodes_with(UNLIMITED_SENDS).await;
    let alice = a.user("alice").await;
    let g = a.group(&alice, "Busy", "public").await;
    let m = a.said(&alice, &g, "everyone react").await;
    let id = m["id"].as_str().expect("id").to_owned();
    let mut users = Vec::new();
    for i in 0..10 {
        let u = a.user(&format!("user{i}")).await;
        joined(&b, &u, &g).await;
        users.push(u);
    }
    // 100 toggles at once: each user on, off, on, ... ten times through
    // alternating nodes (ending off for even users, on for odd ones), plus one
    // repeated "on" by each odd user.
    let toggles = users.iter().enumerate().map(|(i, u)| {
        let (a, b, id) = (&a, &b, &id);
        async move {
            for k in 0..10 {
                let node = if (i + k) % 2 == 0 { a } else { b };
                let on = k % 2 == 0;
                let on = if i % 2 == 1 && k == 9 { true } else { on };
                toggle_until_done(node, u, id, "👍", on).await;
            }
        }
    });
    futures_util::future::join_all(toggles).await;
    for node in [&a, &b] {
        let page = expect_json(node.history(&alice, &g, "").await, StatusCode::OK).await;
        assert_eq!(
            counts(&page["items"][0]["reactions"]),
            seen(&[("👍", 5, false)]),
            "{page}"
        );
        let who = expect_json(
            node.get(
                &format!("/api/v1/messages/{id}/reactions/👍/users"),
                Some(&alice.access),
            )
            .await,
            StatusCode::OK,
        )
        .await;
        let names: Vec<&str> = who["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|u| u["username"].as_str())
            .collect();
        assert_eq!(names, ["user1", "user3", "user5", "user7", "user9"]);
    }
}

#[tokio::test]
async fn a_client_away_during_edits_deletes_and_200_reaction_changes_gets_each_message_once() {
    let (app, alice, bob, g) = room_with(UNLIMITED_SENDS).await;
    let mut ids = vec![String::new()];
    for i in 1..=40 {
        let m = app.said(&alice, &g, &format!("message {i}")).await;
        ids.push(m["id"].as_str().expect("id").to_owned());
    }
    let mut ws = app.ws(&bob.access).await;
    let first = ws.join(&g, None).await;
    assert_eq!(first["last_rev"], 0);
    drop(ws);

    // 50 edits (messages 1-25, twice), 20 deletions (21-40), 200 reaction
    // changes (ten on each of 1-20).
    for round in 1..=2 {
        for id in &ids[1..=25] {
            edit(&app, &alice, id, &format!("edit {round}")).await;
        }
    }
    for id in &ids[21..=40] {
        delete(&app, &alice, id).await;
    }
    for id in &ids[1..=20] {
        for (who, emoji, on) in [
            (&alice, "👍", true),
            (&bob, "👍", true),
            (&alice, "🎉", true),
            (&bob, "🎉", true),
            (&alice, "❤️", true),
            (&alice, "👍", false),
            (&bob, "🎉", false),
            (&bob, "❤️", true),
            (&alice, "❤️", false),
            (&alice, "👍", true),
        ] {
            reacted(&app, who, id, emoji, on).await;
        }
    }

    let mut ws = app.ws(&bob.access).await;
    ws.send_json(json!({ "type": "join", "conversation": g, "since": 40, "since_rev": 0 }))
        .await;
    let mut frames = Vec::new();
    loop {
        let f = ws
            .next_within(Duration::from_secs(10))
            .await
            .expect("a frame");
        if f["type"] == "joined" {
            assert_eq!(f["last_rev"], 270, "{f}");
            assert!(f.get("changes_truncated").is_none(), "{f}");
            break;
        }
        frames.push(f);
    }
    assert_each_changed_once_by_rev(&frames, 1..=40);
    for f in &frames {
        let seq = f["seq"].as_i64().unwrap_or(-1);
        if seq > 20 {
            assert_eq!(f["type"], "message_deleted", "{f}");
        } else {
            assert_eq!(f["type"], "message_updated", "{f}");
            assert_eq!(f["body"], "edit 2", "{f}");
            assert_eq!(
                counts(&f["reactions"]),
                seen(&[("👍", 2, true), ("🎉", 1, false), ("❤️", 1, true)]),
                "{f}"
            );
        }
    }
}

#[tokio::test]
async fn toggles_sent_without_waiting_are_applied_in_the_order_sent() {
    let (app, alice, bob, g) = room_with(UNLIMITED_SENDS).await;
    let id = app.said(&alice, &g, "flip me").await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let mut bob_ws = app.ws(&bob.access).await;
    bob_ws.join(&g, None).await;
    let mut alice_ws = app.ws(&alice.access).await;
    // Seven frames at once: on, off, on, ... on. The socket reads on while
    // each waits for the room's edit lock, so they are applied together, and
    // in the order sent.
    for i in 0..7 {
        alice_ws
            .send_json(json!({ "type": "react", "conversation": g, "message": id, "emoji": "🎉", "on": i % 2 == 0 }))
            .await;
    }
    let mut last_rev = 0;
    for i in 0..7 {
        let delta = bob_ws.expect("reaction").await;
        assert_eq!(delta["on"], i % 2 == 0, "toggle {i}: {delta}");
        assert_eq!(delta["count"], if i % 2 == 0 { 1 } else { 0 }, "{delta}");
        let rev = delta["rev"].as_i64().expect("rev");
        assert!(rev > last_rev, "revs ascend: {delta}");
        last_rev = rev;
    }
    assert_eq!(
        reactions_seen(&app, &alice, &g, 1).await,
        seen(&[("🎉", 1, true)])
    );
}

/// The stored `blocks_rev` of a conversation once it reaches `at_least` (the
/// write-behind has written every block changed up to it).
async fn blocks_rev_at_least(app: &TestApp, conversation: &str, at_least: i64) -> i64 {
    let conversations = app
        .state
        .store
        .db
        .collection::<mongodb::bson::Document>("conversations");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let doc = conversations
            .find_one(mongodb::bson::doc! { "_id": conversation })
            .await
            .expect("read the conversation")
            .expect("the conversation");
        if let Ok(rev) = doc.get_i64("blocks_rev")
            && rev >= at_least
        {
            return rev;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "blocks_rev never reached {at_least}: {doc}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// "Acked means stored" for changes across a crash: history blocks are written
/// behind, and a crash before they were written, with far more changes after
/// it than a load once looked at (the latest 256), loses none of them: a load
/// replays every change since the stored `blocks_rev`.
#[tokio::test]
async fn a_crash_before_the_blocks_were_written_loses_no_change_however_many_came_after() {
    let (app, alice, bob, room) = room_with(UNLIMITED_SENDS).await;
    for i in 1..=3 {
        assert_eq!(
            app.say(&alice, &room, &format!("m{i}")).await.status(),
            StatusCode::CREATED
        );
    }
    let blocks = app
        .state
        .store
        .db
        .collection::<mongodb::bson::Document>("message_blocks");
    let block = format!("{room}#0");
    // One change, written behind: the block holds it, and the conversation says so.
    reacted(&app, &bob, &format!("{room}-3"), "🎉", true).await;
    let written = blocks_rev_at_least(&app, &room, 1).await;
    let before = blocks
        .find_one(mongodb::bson::doc! { "_id": &block })
        .await
        .expect("read the block")
        .expect("the block");
    // A change of message 1, then 301 of message 2 after it.
    reacted(&app, &bob, &format!("{room}-1"), "👍", true).await;
    for i in 0..301 {
        reacted(&app, &alice, &format!("{room}-2"), "❤️", i % 2 == 0).await;
    }
    blocks_rev_at_least(&app, &room, written + 302).await;
    // A crash before the write-behind wrote any of them: the block, and the
    // conversation's `blocks_rev`, as they were.
    blocks
        .replace_one(mongodb::bson::doc! { "_id": &block }, before)
        .await
        .expect("put the old block back");
    app.state
        .store
        .db
        .collection::<mongodb::bson::Document>("conversations")
        .update_one(
            mongodb::bson::doc! { "_id": &room },
            mongodb::bson::doc! { "$set": { "blocks_rev": written } },
        )
        .await
        .expect("put the old blocks_rev back");

    let restarted = app.another_node().await;
    assert_eq!(
        reactions_seen(&restarted, &bob, &room, 1).await,
        seen(&[("👍", 1, true)]),
        "the change 302 changes before the crash"
    );
    assert_eq!(
        reactions_seen(&restarted, &bob, &room, 2).await,
        seen(&[("❤️", 1, false)])
    );
    assert_eq!(
        reactions_seen(&restarted, &bob, &room, 3).await,
        seen(&[("🎉", 1, true)])
    );
}
