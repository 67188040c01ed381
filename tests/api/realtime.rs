//! The WebSocket gateway over real frames.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

use crate::helpers::*;
use crate::ws_client::*;

const QUIET: Duration = Duration::from_millis(400);

fn refused(upgrade: Upgrade) -> u16 {
    match upgrade {
        Upgrade::Open(_) => panic!("the upgrade should have been refused"),
        Upgrade::Unreachable(why) => panic!("no answer: {why}"),
        Upgrade::Refused(status) => status,
    }
}

#[tokio::test]
async fn an_upgrade_without_a_valid_credential_is_refused_with_401() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    assert_eq!(refused(app.try_ws(None, "", None).await), 401);
    assert_eq!(refused(app.try_ws(Some("not-a-jwt"), "", None).await), 401);
    assert_eq!(
        refused(app.try_ws(Some(&alice.refresh), "", None).await),
        401
    );
    assert_eq!(
        refused(app.try_ws(None, "?ticket=made-up", None).await),
        401
    );
    assert!(matches!(
        app.try_ws(Some(&alice.access), "", None).await,
        Upgrade::Open(_)
    ));
}

#[tokio::test]
async fn a_ticket_opens_exactly_one_socket() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let ticket = expect_json(
        app.post("/api/v1/auth/ws-ticket", Some(&alice.access), json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    let query = format!("?ticket={}", ticket["ticket"].as_str().unwrap());
    let Upgrade::Open(mut ws) = app.try_ws(None, &query, None).await else {
        panic!("ticket refused")
    };
    ws.send_json(json!({ "type": "ping" })).await;
    assert_eq!(ws.expect("pong").await["type"], "pong");
    assert_eq!(
        refused(app.try_ws(None, &query, None).await),
        401,
        "replayed ticket"
    );
}

#[tokio::test]
async fn a_foreign_browser_origin_is_refused_with_403() {
    let app = spawn_app_with(&[("ALLOWED_ORIGINS", "https://chat.example")]).await;
    let alice = app.user("alice").await;
    assert_eq!(
        refused(
            app.try_ws(Some(&alice.access), "", Some("https://evil.example"))
                .await
        ),
        403
    );
    assert!(matches!(
        app.try_ws(Some(&alice.access), "", Some("https://chat.example"))
            .await,
        Upgrade::Open(_)
    ));
}

#[tokio::test]
async fn the_servers_own_origin_may_connect() {
    // The web client served at `/` connects from the server's own origin, with no
    // ALLOWED_ORIGINS configured.
    let app = spawn_app_with(&[]).await;
    let alice = app.user("alice").await;
    assert!(matches!(
        app.try_ws(Some(&alice.access), "", Some(&app.base)).await,
        Upgrade::Open(_)
    ));
    assert_eq!(
        refused(
            app.try_ws(Some(&alice.access), "", Some("http://evil.example"))
                .await
        ),
        403
    );
}

#[tokio::test]
async fn only_members_may_join_and_messages_reach_members_only() {
    let (app, alice, bob, g) = room().await;
    let carol = app.user("carol").await;
    let private = app.group(&alice, "Inner circle", "private").await;
    let mut carol_ws = app.ws(&carol.access).await;
    carol_ws
        .send_json(json!({ "type": "join", "conversation": g }))
        .await;
    let err = carol_ws.expect("error").await;
    assert_eq!(err["code"], "forbidden");
    assert_eq!(err["ref"], g.as_str());
    carol_ws
        .send_json(json!({ "type": "join", "conversation": private }))
        .await;
    assert_eq!(carol_ws.expect("error").await["code"], "not_found");
    carol_ws.say(&g, "let me in", "c1").await;
    assert_eq!(carol_ws.expect("error").await["code"], "forbidden");

    let mut bob_ws = app.ws(&bob.access).await;
    bob_ws.join(&g, None).await;
    app.said(&alice, &g, "members only").await;
    let got = bob_ws.expect("message").await;
    assert_eq!(got["body"], "members only");
    assert_eq!(got["conversation"], g.as_str());
    assert_eq!(got["sender"]["username"], "alice");
    assert!(
        carol_ws
            .drain(QUIET)
            .await
            .iter()
            .all(|f| f["type"] != "message"),
        "carol saw a message"
    );
}

#[tokio::test]
async fn the_sender_gets_the_ack_before_the_fan_out_and_history_has_the_message() {
    let (app, alice, bob, g) = room().await;
    let mut alice_ws = app.ws(&alice.access).await;
    let mut bob_ws = app.ws(&bob.access).await;
    alice_ws.join(&g, None).await;
    bob_ws.join(&g, None).await;
    alice_ws.drain(QUIET).await;
    alice_ws.say(&g, "hello room", "k-1").await;
    let first = alice_ws.next_json().await;
    assert_eq!(first["type"], "ack", "{first}");
    assert_eq!(first["client_id"], "k-1");
    let second = alice_ws.next_json().await;
    assert_eq!(second["type"], "message");
    assert_eq!(second["id"], first["id"]);
    let at_bob = bob_ws.expect("message").await;
    assert_eq!(
        (at_bob["seq"].clone(), at_bob["body"].clone()),
        (first["seq"].clone(), json!("hello room"))
    );
    let page = expect_json(app.history(&bob, &g, "").await, StatusCode::OK).await;
    assert_eq!(bodies(&page), ["hello room"]);
}

#[tokio::test]
async fn a_repeated_client_id_gets_the_first_ack_and_no_second_message() {
    let (app, alice, bob, g) = room().await;
    let mut alice_ws = app.ws(&alice.access).await;
    let mut bob_ws = app.ws(&bob.access).await;
    alice_ws.join(&g, None).await;
    bob_ws.join(&g, None).await;
    alice_ws.say(&g, "once", "same-id").await;
    let ack1 = alice_ws.expect("ack").await;
    alice_ws.say(&g, "once", "same-id").await;
    let ack2 = alice_ws.expect("ack").await;
    assert_eq!(ack1, ack2);
    let messages: Vec<Value> = bob_ws
        .drain(QUIET)
        .await
        .into_iter()
        .filter(|f| f["type"] == "message")
        .collect();
    assert_eq!(messages.len(), 1);
    let page = expect_json(app.history(&alice, &g, "").await, StatusCode::OK).await;
    assert_eq!(bodies(&page), ["once"]);
}

#[tokio::test]
async fn presence_goes_online_and_offline_once_per_user_not_per_tab() {
    let (app, alice, bob, g) = room().await;
    let mut watcher = app.ws(&alice.access).await;
    watcher.join(&g, None).await;
    let mut tab1 = app.ws(&bob.access).await;
    let joined = tab1.join(&g, None).await;
    let online: Vec<&str> = joined["online"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert!(
        online.contains(&"alice") && online.contains(&"bob"),
        "{online:?}"
    );
    let mut tab2 = app.ws(&bob.access).await;
    tab2.join(&g, None).await;
    let frames = watcher.drain(QUIET).await;
    let presence: Vec<&Value> = frames.iter().filter(|f| f["type"] == "presence").collect();
    assert_eq!(presence.len(), 1, "{frames:?}");
    assert_eq!(presence[0]["user"]["username"], "bob");
    assert_eq!(presence[0]["status"], "online");

    let rest = expect_json(
        app.get(
            &format!("/api/v1/conversations/{g}/presence"),
            Some(&alice.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(rest["online"].as_array().unwrap().len(), 2);
    let profile = expect_json(
        app.get(&format!("/api/v1/users/{}", bob.id), Some(&alice.access))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(profile["online"], true);

    tab1.send_json(json!({ "type": "leave", "conversation": g }))
        .await;
    assert!(
        watcher
            .drain(QUIET)
            .await
            .iter()
            .all(|f| f["type"] != "presence"),
        "one tab left: still online"
    );
    drop(tab2);
    let offline = watcher.expect("presence").await;
    assert_eq!(
        (
            offline["user"]["username"].clone(),
            offline["status"].clone()
        ),
        (json!("bob"), json!("offline"))
    );
    let members = expect_json(
        app.get(&format!("/api/v1/groups/{g}/members"), Some(&alice.access))
            .await,
        StatusCode::OK,
    )
    .await;
    let bob_member = members["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user"]["username"] == "bob")
        .unwrap()
        .clone();
    assert_eq!(bob_member["online"], true, "bob still has tab1 connected");
}

#[tokio::test]
async fn a_dm_reaches_every_connection_of_both_users_without_a_join() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let dm = app.dm(&alice, &bob).await;
    let mut phone = app.ws(&bob.access).await;
    let mut laptop = app.ws(&bob.access).await;
    let mut alice_ws = app.ws(&alice.access).await;
    alice_ws.say(&dm, "psst", "dm-1").await;
    assert_eq!(alice_ws.expect("ack").await["client_id"], "dm-1");
    for ws in [&mut phone, &mut laptop] {
        let got = ws.expect("message").await;
        assert_eq!(
            (got["conversation"].clone(), got["body"].clone()),
            (json!(dm), json!("psst"))
        );
    }
}

#[tokio::test]
async fn a_reconnecting_client_catches_up_with_since_without_loss_or_duplicates() {
    let (app, alice, bob, g) = room().await;
    for i in 1..=3 {
        app.said(&alice, &g, &format!("m{i}")).await;
    }
    let mut ws = app.ws(&bob.access).await;
    ws.join(&g, Some(1)).await;
    // Bob had seen seq 1; the join replays 2 and 3 before `joined`.
    let mut ws2 = app.ws(&bob.access).await;
    ws2.send_json(json!({ "type": "join", "conversation": g, "since": 1 }))
        .await;
    let mut frames = Vec::new();
    loop {
        let frame = ws2.next_json().await;
        let done = frame["type"] == "joined";
        frames.push(frame);
        if done {
            break;
        }
    }
    let replayed: Vec<i64> = frames
        .iter()
        .filter(|f| f["type"] == "message")
        .map(|f| f["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(replayed, [2, 3]);
    assert_eq!(frames.last().unwrap()["last_seq"], 3);
    app.said(&alice, &g, "m4").await;
    let live: Vec<i64> = ws2
        .drain(QUIET)
        .await
        .iter()
        .filter(|f| f["type"] == "message")
        .map(|f| f["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(live, [4]);
    drop(ws);
}

#[tokio::test]
async fn a_join_replays_at_most_the_cap_and_says_truncated() {
    let (app, alice, bob, g) = room_with(UNLIMITED_SENDS).await;
    for i in 0..105 {
        app.said(&alice, &g, &format!("m{i}")).await;
    }
    let mut ws = app.ws(&bob.access).await;
    ws.send_json(json!({ "type": "join", "conversation": g, "since": 0 }))
        .await;
    let mut count = 0;
    let joined = loop {
        let frame = ws.next_json().await;
        if frame["type"] == "joined" {
            break frame;
        }
        count += 1;
    };
    assert_eq!(count, 100);
    assert_eq!(joined["truncated"], true);
    assert_eq!(joined["last_seq"], 105);
}

#[tokio::test]
async fn a_removed_member_stops_receiving_at_once_and_is_told() {
    let (app, alice, bob, g) = room().await;
    let mut bob_ws = app.ws(&bob.access).await;
    bob_ws.join(&g, None).await;
    let resp = app
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/groups/{g}/members/{}", bob.id),
            Some(&alice.access),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let note = bob_ws.expect("membership").await;
    assert_eq!(
        (note["conversation"].clone(), note["status"].clone()),
        (json!(g), json!("removed"))
    );
    app.said(&alice, &g, "after the kick").await;
    assert!(
        bob_ws
            .drain(QUIET)
            .await
            .iter()
            .all(|f| f["type"] != "message")
    );
    // The group is public, so it stays visible: the refusal is 403, not 404.
    bob_ws.say(&g, "still here?", "k").await;
    assert_eq!(bob_ws.expect("error").await["code"], "forbidden");
}

#[tokio::test]
async fn an_added_member_is_told_without_joining() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let g = app.group(&alice, "Club", "private").await;
    let mut bob_ws = app.ws(&bob.access).await;
    expect_json(
        app.set_member(&alice, &g, &bob, "member").await,
        StatusCode::OK,
    )
    .await;
    let note = bob_ws.expect("membership").await;
    assert_eq!(
        (note["status"].clone(), note["role"].clone()),
        (json!("added"), json!("member"))
    );
}

#[tokio::test]
async fn rest_edits_and_deletes_fan_out_to_the_room() {
    let (app, alice, bob, g) = room().await;
    let mut bob_ws = app.ws(&bob.access).await;
    bob_ws.join(&g, None).await;
    let msg = app.said(&alice, &g, "draft").await;
    bob_ws.expect("message").await;
    let path = format!("/api/v1/messages/{}", msg["id"].as_str().unwrap());
    app.send(
        reqwest::Method::PATCH,
        &path,
        Some(&alice.access),
        Some(json!({ "body": "final" })),
    )
    .await;
    let updated = bob_ws.expect("message_updated").await;
    assert_eq!(updated["body"], "final");
    assert!(updated["edited_at"].is_string());
    app.send(reqwest::Method::DELETE, &path, Some(&alice.access), None)
        .await;
    let deleted = bob_ws.expect("message_deleted").await;
    assert_eq!(
        (deleted["id"].clone(), deleted["seq"].clone()),
        (msg["id"].clone(), msg["seq"].clone())
    );
}

#[tokio::test]
async fn typing_and_read_reach_the_others_and_typing_is_throttled() {
    let (app, alice, bob, g) = room().await;
    let mut alice_ws = app.ws(&alice.access).await;
    let mut bob_ws = app.ws(&bob.access).await;
    alice_ws.join(&g, None).await;
    bob_ws.join(&g, None).await;
    alice_ws.drain(QUIET).await;
    for _ in 0..5 {
        bob_ws
            .send_json(json!({ "type": "typing", "conversation": g }))
            .await;
    }
    let frames = alice_ws.drain(QUIET).await;
    let typing: Vec<&Value> = frames.iter().filter(|f| f["type"] == "typing").collect();
    assert_eq!(typing.len(), 1, "{frames:?}");
    assert_eq!(typing[0]["user"]["username"], "bob");
    assert!(
        bob_ws
            .drain(QUIET)
            .await
            .iter()
            .all(|f| f["type"] != "typing"),
        "not echoed to the typist"
    );
    app.said(&alice, &g, "read me").await;
    bob_ws
        .send_json(json!({ "type": "read", "conversation": g, "seq": 1 }))
        .await;
    let read = alice_ws.expect("read").await;
    assert_eq!(
        (read["user"]["username"].clone(), read["seq"].clone()),
        (json!("bob"), json!(1))
    );
}

#[tokio::test]
async fn junk_frames_get_errors_and_a_stream_of_them_closes_with_1008() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let mut ws = app.ws(&alice.access).await;
    ws.send_raw(Message::text("{not json")).await;
    assert_eq!(ws.expect("error").await["code"], "bad_request");
    ws.send_json(json!({ "type": "explode" })).await;
    assert_eq!(ws.expect("error").await["code"], "bad_request");
    ws.send_json(json!({ "type": "ping" })).await;
    ws.expect("pong").await;
    for _ in 0..20 {
        ws.send_raw(Message::text("[]")).await;
    }
    assert_eq!(ws.closed_with().await, Some(1008));
}

#[tokio::test]
async fn an_oversized_frame_closes_with_1009() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let mut ws = app.ws(&alice.access).await;
    let body = "x".repeat(17 * 1024);
    ws.send_raw(Message::text(
        json!({ "type": "send", "conversation": "c", "body": body }).to_string(),
    ))
    .await;
    assert_eq!(ws.closed_with().await, Some(1009));
}

#[tokio::test]
async fn invalid_utf8_closes_with_1007() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let mut ws = app.ws(&alice.access).await;
    let frame = Frame::message(vec![0x7b, 0xff, 0xfe, 0x7d], OpCode::Data(Data::Text), true);
    ws.send_raw(Message::Frame(frame)).await;
    assert_eq!(ws.closed_with().await, Some(1007));
}

#[tokio::test]
async fn a_send_flood_gets_errors_then_closes_with_4008() {
    let app = spawn_app_with(&[("WS_MAX_MSGS_PER_SEC", "1"), ("WS_BURST", "2")]).await;
    let alice = app.user("alice").await;
    let g = app.group(&alice, "Floodgate", "public").await;
    let mut ws = app.ws(&alice.access).await;
    ws.join(&g, None).await;
    for i in 0..10 {
        ws.say(&g, &format!("spam {i}"), &format!("s{i}")).await;
    }
    let mut saw_rate_error = false;
    let code = loop {
        match tokio::time::timeout(WAIT, futures_util::StreamExt::next(&mut ws.stream)).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                let frame: Value = serde_json::from_str(&text).unwrap();
                saw_rate_error |= frame["type"] == "error" && frame["code"] == "rate_limited";
            }
            Ok(Some(Ok(Message::Close(frame)))) => break frame.map(|f| u16::from(f.code)),
            Ok(Some(Ok(_))) => {}
            other => panic!("no close: {other:?}"),
        }
    };
    assert!(saw_rate_error);
    assert_eq!(code, Some(4008));
    let page = expect_json(app.history(&alice, &g, "").await, StatusCode::OK).await;
    assert!(bodies(&page).len() <= 3, "{:?}", bodies(&page));
}

#[tokio::test]
async fn an_expired_access_token_closes_the_socket_with_4001() {
    let app = spawn_app_with(&[("ACCESS_TOKEN_TTL_SECS", "2")]).await;
    let alice = app.user("alice").await;
    let mut ws = app.ws(&alice.access).await;
    assert_eq!(ws.closed_with().await, Some(4001));
}

#[tokio::test]
async fn reauth_with_a_fresh_token_keeps_the_socket_open() {
    // A first token of 6 s leaves the refresh and the reauth plenty of time on
    // a loaded machine; the ping goes after that token has expired.
    let app = spawn_app_with(&[("ACCESS_TOKEN_TTL_SECS", "6")]).await;
    let alice = app.user("alice").await;
    let first_expires = std::time::Instant::now() + Duration::from_secs(6);
    let mut ws = app.ws(&alice.access).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let fresh = expect_json(app.refresh(&alice.refresh).await, StatusCode::OK).await;
    ws.send_json(json!({ "type": "reauth", "token": fresh["access_token"] }))
        .await;
    tokio::time::sleep_until((first_expires + Duration::from_millis(1500)).into()).await;
    ws.send_json(json!({ "type": "ping" })).await;
    assert_eq!(
        ws.expect("pong").await["type"],
        "pong",
        "still open past the first token's expiry"
    );
}

#[tokio::test]
async fn logging_out_everywhere_closes_live_sockets_with_4001() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let mut ws = app.ws(&alice.access).await;
    let resp = app
        .post("/api/v1/auth/logout-all", Some(&alice.access), json!({}))
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(ws.closed_with().await, Some(4001));
}

#[tokio::test]
async fn disabling_a_user_closes_their_sockets_with_4001() {
    let app = spawn_app().await;
    let admin = app.admin("root").await;
    let bob = app.user("bob").await;
    let mut ws = app.ws(&bob.access).await;
    expect_json(
        app.post(
            &format!("/api/v1/users/{}/disable", bob.id),
            Some(&admin.access),
            json!({}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(ws.closed_with().await, Some(4001));
}

#[tokio::test]
async fn a_client_that_does_not_read_is_closed_while_others_keep_receiving() {
    let (app, alice, bob, g) = room_with(UNLIMITED_SENDS).await;
    let carol = app.user("carol").await;
    app.post(
        &format!("/api/v1/groups/{g}/join"),
        Some(&carol.access),
        json!({}),
    )
    .await;
    // Bob's socket reads nothing; carol reads everything.
    let mut slow = app.ws_small_buffer(&bob.access).await;
    slow.join(&g, None).await;
    let mut fast = app.ws(&carol.access).await;
    fast.join(&g, None).await;
    let big = "z".repeat(3900);
    let mut sent = 0;
    let mut received = 0;
    let started = std::time::Instant::now();
    // The event is the server dropping the socket that reads nothing (its queue
    // fills, 4009, unregistered): send until it happens, within a deadline that
    // only a server which never drops it can reach.
    let deadline = started + Duration::from_secs(120);
    while app.state.hub.connection_count() > 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the slow consumer was still connected after {sent} messages and {:?}",
            started.elapsed()
        );
        let mut batch = Vec::new();
        for _ in 0..20 {
            batch.push(app.said(&alice, &g, &big));
            sent += 1;
        }
        futures_util::future::join_all(batch).await;
        while let Some(frame) = fast.next_within(Duration::from_millis(1)).await {
            received += usize::from(frame["type"] == "message");
        }
    }
    eprintln!(
        "slow consumer dropped after {sent} messages, {:?}",
        started.elapsed()
    );
    while received < sent {
        let frame = fast.next_json().await;
        received += usize::from(frame["type"] == "message");
    }
    assert_eq!(received, sent, "the reading client got every message");
    // What reaches the slow client ends with 4009 (or the connection simply ends
    // when even the close frame could not be written to its full buffer).
    eprintln!("fast client caught up, {:?}", started.elapsed());
    let code = slow.closed_with().await;
    eprintln!("slow client closed with {code:?}, {:?}", started.elapsed());
    assert!(code.is_none() || code == Some(4009), "{code:?}");
}

#[tokio::test]
async fn shutdown_closes_every_socket_with_1001() {
    let (app, alice, bob, g) = room().await;
    let mut a = app.ws(&alice.access).await;
    let mut b = app.ws(&bob.access).await;
    a.join(&g, None).await;
    // What main() does on SIGINT/SIGTERM before the server drains.
    app.state.hub.close_all(1001);
    assert_eq!(a.closed_with().await, Some(1001));
    assert_eq!(b.closed_with().await, Some(1001));
}

#[tokio::test]
async fn a_user_may_hold_only_so_many_sockets_at_once() {
    let app = spawn_app_with(&[("WS_MAX_CONNECTIONS_PER_USER", "2")]).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let _one = app.ws(&alice.access).await;
    let _two = app.ws(&alice.access).await;
    assert_eq!(
        refused(app.try_ws(Some(&alice.access), "", None).await),
        429
    );
    assert!(
        matches!(
            app.try_ws(Some(&bob.access), "", None).await,
            Upgrade::Open(_)
        ),
        "others are unaffected"
    );
}
