//! Issue 10: conversation ids are bounded before they cost anything, per-user
//! rate limits are shared by REST and WebSocket, and a revocation reaches a
//! socket that was still upgrading.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::*;
use crate::ws_client::*;

const QUIET: Duration = Duration::from_millis(400);

/// Ids of the right length and alphabet that name nothing, and ids of every
/// wrong shape.
const UNKNOWN_ID: &str = "0123456789abcdef01234567";

fn malformed_ids(real: &str) -> Vec<String> {
    vec![
        real.to_uppercase(),
        format!("{real}0"),
        real[1..].to_owned(),
        format!("{}g", &real[1..]),
        "x".repeat(8 * 1024),
        "a.b".to_owned(),
        format!("{}\u{e9}", &real[2..]),
    ]
}

#[tokio::test]
async fn malformed_conversation_ids_in_rest_paths_are_404_before_anything_else() {
    let (app, alice, _bob, g) = room().await;
    for id in malformed_ids(&g) {
        let enc = urlencoding(&id);
        for resp in [
            app.get(
                &format!("/api/v1/conversations/{enc}/messages"),
                Some(&alice.access),
            )
            .await,
            app.get(
                &format!("/api/v1/conversations/{enc}/presence"),
                Some(&alice.access),
            )
            .await,
            // The id is judged before the body: a bad body and a bad id is 404.
            app.post(
                &format!("/api/v1/conversations/{enc}/messages"),
                Some(&alice.access),
                json!({ "body": "" }),
            )
            .await,
            app.post(
                &format!("/api/v1/conversations/{enc}/read"),
                Some(&alice.access),
                json!({ "seq": -1 }),
            )
            .await,
        ] {
            let status = resp.status();
            let url = resp.url().path().chars().take(80).collect::<String>();
            assert_eq!(
                expect_error(resp, StatusCode::NOT_FOUND).await,
                "not_found",
                "{status} {url}"
            );
        }
    }
    // The real id still works.
    app.said(&alice, &g, "still here").await;
}

fn urlencoding(raw: &str) -> String {
    raw.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'.' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn malformed_conversation_ids_in_every_frame_get_not_found() {
    let (app, alice, _bob, g) = room().await;
    let mut ws = app.ws(&alice.access).await;
    for id in malformed_ids(&g) {
        for frame in [
            json!({ "type": "join", "conversation": id }),
            json!({ "type": "leave", "conversation": id }),
            json!({ "type": "send", "conversation": id, "body": "hi", "client_id": "c1" }),
            json!({ "type": "typing", "conversation": id }),
            json!({ "type": "read", "conversation": id, "seq": 1 }),
        ] {
            ws.send_json(frame.clone()).await;
            let reply = ws.next_json().await;
            assert_eq!(
                (reply["type"].as_str(), reply["code"].as_str()),
                (Some("error"), Some("not_found")),
                "{} {reply}",
                frame["type"]
            );
        }
    }
    ws.join(&g, None).await;
}

#[tokio::test]
async fn typing_for_rooms_that_are_not_yours_is_never_throttled_nor_remembered() {
    let app = spawn_app_with(&[("TYPING_MAX_PER_SEC", "100000"), ("TYPING_BURST", "100000")]).await;
    let alice = app.user("alice").await;
    let g = app.group(&alice, "Mine", "public").await;
    let ws = app.ws(&alice.access).await;
    let (mut tx, mut rx) = ws.stream.split();
    // The same unknown room twice: both answered (an unauthorized room takes no
    // throttle slot), then thousands of distinct ids, half of them malformed.
    const FRAMES: usize = 2000;
    let writer = tokio::spawn(async move {
        for _ in 0..2 {
            let frame = json!({ "type": "typing", "conversation": UNKNOWN_ID });
            tx.send(Message::text(frame.to_string())).await.ok()?;
        }
        for i in 0..FRAMES {
            let id = if i % 2 == 0 {
                format!("{i:024x}")
            } else {
                format!("{i}{}", "z".repeat(8 * 1024))
            };
            let frame = json!({ "type": "typing", "conversation": id });
            tx.send(Message::text(frame.to_string())).await.ok()?;
        }
        tx.send(Message::text(json!({ "type": "ping" }).to_string()))
            .await
            .ok()?;
        Some(tx)
    });
    let mut errors = 0;
    loop {
        let next = tokio::time::timeout(Duration::from_secs(60), rx.next())
            .await
            .expect("the server keeps answering");
        let Some(Ok(Message::Text(text))) = next else {
            panic!("socket closed: {next:?}");
        };
        let frame: Value = serde_json::from_str(&text).expect("json");
        match frame["type"].as_str() {
            Some("error") => {
                assert_eq!(frame["code"], "not_found", "{frame}");
                errors += 1;
            }
            Some("pong") => break,
            _ => panic!("unexpected {frame}"),
        }
    }
    assert_eq!(errors, FRAMES + 2);
    let mut tx = writer.await.expect("writer").expect("socket open");
    // Typing in an own room still works and is throttled there.
    let mut ws = app.ws(&alice.access).await;
    ws.join(&g, None).await;
    for _ in 0..3 {
        let frame = json!({ "type": "typing", "conversation": g });
        tx.send(Message::text(frame.to_string()))
            .await
            .expect("send");
    }
    let frames = ws.drain(QUIET).await;
    assert_eq!(
        frames.iter().filter(|f| f["type"] == "typing").count(),
        1,
        "{frames:?}"
    );
}

/// Sends `n` messages over REST at once; returns how many were stored (201).
async fn rest_burst(app: &TestApp, who: &Session, conversation: &str, n: usize) -> Vec<u16> {
    join_all((0..n).map(|i| async move {
        let resp = app.say(who, conversation, &format!("rest {i}")).await;
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(resp.headers().contains_key("retry-after"));
        }
        resp.status().as_u16()
    }))
    .await
}

#[tokio::test]
async fn sends_over_rest_and_websocket_share_one_per_user_limit() {
    const RATE: usize = 5;
    const BURST: usize = 5;
    let app = spawn_app_with(&[("WS_MAX_MSGS_PER_SEC", "5"), ("WS_BURST", "5")]).await;
    let alice = app.user("alice").await;
    let g = app.group(&alice, "Shared", "public").await;
    let ws = app.ws(&alice.access).await;
    let (mut tx, mut rx) = ws.stream.split();
    let started = Instant::now();
    let over_ws = async {
        for i in 0..30 {
            let frame = json!({ "type": "send", "conversation": g, "body": format!("ws {i}"), "client_id": format!("w{i}") });
            if tx.send(Message::text(frame.to_string())).await.is_err() {
                break;
            }
        }
        let (mut acks, mut refused) = (0, 0);
        while acks + refused < 30 {
            match tokio::time::timeout(WAIT, rx.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => {
                    let frame: Value = serde_json::from_str(&text).expect("json");
                    match frame["type"].as_str() {
                        Some("ack") => acks += 1,
                        Some("error") => {
                            assert_eq!(frame["code"], "rate_limited", "{frame}");
                            refused += 1;
                        }
                        _ => {}
                    }
                }
                Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => break,
                Ok(Some(Ok(_))) => {}
                Err(_) => panic!("no answer over the socket"),
            }
        }
        acks
    };
    let (acks, statuses) = tokio::join!(over_ws, rest_burst(&app, &alice, &g, 30));
    let elapsed = started.elapsed();
    let created = statuses.iter().filter(|s| **s == 201).count();
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 429),
        "{statuses:?}"
    );
    let allowed = BURST + RATE * (elapsed.as_secs() as usize + 1);
    assert!(
        acks + created <= allowed,
        "{acks} acked + {created} created in {elapsed:?}; at most {allowed}"
    );
    assert!(statuses.contains(&429), "REST is limited too");
    let page = expect_json(app.history(&alice, &g, "?limit=100").await, StatusCode::OK).await;
    assert_eq!(
        bodies(&page).len(),
        acks + created,
        "{:?} {statuses:?}",
        bodies(&page)
    );
}

#[tokio::test]
async fn read_markers_and_tickets_are_rate_limited_with_retry_after() {
    let app = spawn_app_with(&[
        ("READ_MAX_PER_SEC", "1"),
        ("READ_BURST", "2"),
        ("WS_TICKET_MAX_PER_SEC", "1"),
        ("WS_TICKET_BURST", "2"),
    ])
    .await;
    let alice = app.user("alice").await;
    let g = app.group(&alice, "Reads", "public").await;
    app.said(&alice, &g, "one").await;
    let path = format!("/api/v1/conversations/{g}/read");
    let read = |seq: i64| app.post(&path, Some(&alice.access), json!({ "seq": seq }));
    assert_eq!(read(1).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(read(1).await.status(), StatusCode::NO_CONTENT);
    let limited = read(1).await;
    assert!(limited.headers().contains_key("retry-after"));
    assert_eq!(
        expect_error(limited, StatusCode::TOO_MANY_REQUESTS).await,
        "rate_limited"
    );
    // The same bucket over the socket.
    let mut ws = app.ws(&alice.access).await;
    ws.send_json(json!({ "type": "read", "conversation": g, "seq": 1 }))
        .await;
    assert_eq!(ws.expect("error").await["code"], "rate_limited");

    for _ in 0..2 {
        let ticket = app
            .post("/api/v1/auth/ws-ticket", Some(&alice.access), json!({}))
            .await;
        assert_eq!(ticket.status(), StatusCode::OK);
    }
    let limited = app
        .post("/api/v1/auth/ws-ticket", Some(&alice.access), json!({}))
        .await;
    assert!(limited.headers().contains_key("retry-after"));
    assert_eq!(
        expect_error(limited, StatusCode::TOO_MANY_REQUESTS).await,
        "rate_limited"
    );
}

#[tokio::test]
async fn joins_and_leaves_over_the_limit_get_an_error_frame() {
    let app = spawn_app_with(&[("JOIN_MAX_PER_SEC", "1"), ("JOIN_BURST", "3")]).await;
    let alice = app.user("alice").await;
    let g = app.group(&alice, "Doors", "public").await;
    let mut ws = app.ws(&alice.access).await;
    ws.join(&g, None).await;
    ws.send_json(json!({ "type": "leave", "conversation": g }))
        .await;
    ws.join(&g, None).await;
    ws.drain(QUIET).await;
    ws.send_json(json!({ "type": "leave", "conversation": g }))
        .await;
    let error = ws.expect("error").await;
    assert_eq!(
        (error["code"].as_str(), error["ref"].as_str()),
        (Some("rate_limited"), Some(g.as_str()))
    );
    ws.send_json(json!({ "type": "join", "conversation": g }))
        .await;
    assert_eq!(ws.expect("error").await["code"], "rate_limited");
}

#[tokio::test]
async fn a_read_event_goes_out_only_when_the_marker_moves() {
    let (app, alice, bob, g) = room().await;
    let mut alice_ws = app.ws(&alice.access).await;
    alice_ws.join(&g, None).await;
    app.said(&alice, &g, "one").await;
    app.said(&alice, &g, "two").await;
    alice_ws.drain(QUIET).await;
    let path = format!("/api/v1/conversations/{g}/read");
    let read = |seq: i64| app.post(&path, Some(&bob.access), json!({ "seq": seq }));
    assert_eq!(read(2).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(alice_ws.expect("read").await["seq"], 2);
    // The same seq, an older one and one beyond the end (clamped to 2): no move.
    for seq in [2, 1, 99] {
        assert_eq!(read(seq).await.status(), StatusCode::NO_CONTENT);
    }
    let frames = alice_ws.drain(QUIET).await;
    assert!(frames.iter().all(|f| f["type"] != "read"), "{frames:?}");
    app.said(&alice, &g, "three").await;
    assert_eq!(read(3).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(alice_ws.expect("read").await["seq"], 3);
}

#[tokio::test]
async fn flooding_a_dm_rate_limits_the_sender_and_leaves_the_recipient_connected() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let dm = app.dm(&alice, &bob).await;
    // Bob does not read while the flood runs, through a tiny receive buffer.
    let mut bob_ws = app.ws_small_buffer(&bob.access).await;
    let until = Instant::now() + Duration::from_secs(2);
    let statuses: Vec<u16> = join_all((0..16).map(|worker| {
        let (app, alice, dm) = (&app, &alice, &dm);
        async move {
            let mut seen = Vec::new();
            let mut i = 0;
            while Instant::now() < until {
                let resp = app.say(alice, dm, &format!("flood {worker}-{i}")).await;
                seen.push(resp.status().as_u16());
                i += 1;
            }
            seen
        }
    }))
    .await
    .into_iter()
    .flatten()
    .collect();
    let created = statuses.iter().filter(|s| **s == 201).count();
    assert!(statuses.contains(&429), "the sender is rate limited");
    assert!(created > 0);
    // Bob's socket is still open and gets every stored message, then a pong.
    let mut messages = 0;
    let mut pinged = false;
    loop {
        let Some(frame) = bob_ws.next_within(WAIT).await else {
            panic!("bob's socket closed or went quiet after {messages} messages");
        };
        match frame["type"].as_str() {
            Some("message") => messages += 1,
            Some("pong") => break,
            _ => {}
        }
        if messages == created && !pinged {
            bob_ws.send_json(json!({ "type": "ping" })).await;
            pinged = true;
        }
    }
    assert_eq!(messages, created);
}

#[tokio::test]
async fn logout_all_racing_an_upgrade_leaves_no_socket_open() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    for trial in 0..20 {
        let pair = expect_json(app.login("alice", PASSWORD).await, StatusCode::OK).await;
        let access = pair["access_token"].as_str().expect("access").to_owned();
        let upgrades = join_all((0..4).map(|_| app.try_ws(Some(&access), "", None)));
        let logout = async {
            tokio::time::sleep(Duration::from_millis(trial % 5)).await;
            let resp = app
                .post("/api/v1/auth/logout-all", Some(&access), json!({}))
                .await;
            assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        };
        let (upgrades, ()) = tokio::join!(upgrades, logout);
        for upgrade in upgrades {
            match upgrade {
                Upgrade::Refused(status) => assert_eq!(status, 401, "trial {trial}"),
                Upgrade::Open(mut ws) => {
                    let closed = tokio::time::timeout(Duration::from_secs(5), ws.closed_with())
                        .await
                        .unwrap_or_else(|_| panic!("trial {trial}: a socket stayed open"));
                    assert_eq!(closed, Some(4001), "trial {trial}");
                }
                Upgrade::Unreachable(why) => panic!("trial {trial}: {why}"),
            }
        }
    }
    let _ = alice;
}
