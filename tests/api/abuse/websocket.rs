//! Hostile WebSocket frames, reconnect storms and upgrades.

use super::*;

#[tokio::test]
async fn a_reconnect_storm_leaks_no_connections_and_leaves_the_user_offline() {
    let (app, alice, bob, g) = room().await;
    let mut bob_ws = app.ws(&bob.access).await;
    bob_ws.join(&g, None).await;
    for i in 0..30 {
        let mut ws = loop {
            match app.try_ws(Some(&alice.access), "", None).await {
                Upgrade::Open(ws) => break ws,
                Upgrade::Refused(429) => tokio::time::sleep(Duration::from_millis(20)).await,
                Upgrade::Refused(status) => panic!("cycle {i}: refused with {status}"),
                Upgrade::Unreachable(why) => panic!("cycle {i}: {why}"),
            }
        };
        if i % 3 != 0 {
            ws.join(&g, None).await;
        }
        if i % 2 == 0 {
            let _ = ws.stream.close(None).await;
        }
        drop(ws);
    }
    let hub = app.state.hub.clone();
    let alice_id = confab::ids::UserId::from_trusted(alice.id.clone());
    eventually("alice's sockets are all gone", || {
        hub.user_connections(&alice_id) == 0 && !hub.is_online(&alice_id)
    })
    .await;
    assert_eq!(app.state.hub.connection_count(), 1, "only bob is left");
    let presence = expect_json(
        app.get(
            &format!("/api/v1/conversations/{g}/presence"),
            Some(&bob.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let online: Vec<&str> = presence["online"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert_eq!(online, [bob.id.as_str()]);
    let profile = expect_json(
        app.get(&format!("/api/v1/users/{}", alice.id), Some(&bob.access))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(profile["online"], false);
    // Bob saw alice come and go, and ends with her offline.
    let frames = bob_ws.drain(QUIET).await;
    let last = frames
        .iter()
        .rev()
        .find(|f| f["type"] == "presence" && f["user"]["id"] == alice.id.as_str());
    if let Some(last) = last {
        assert_eq!(last["status"], "offline", "{last}");
    }
    drop(bob_ws);
    let hub = app.state.hub.clone();
    eventually("every socket is gone", || hub.connection_count() == 0).await;
}

#[tokio::test]
async fn after_a_storm_the_per_user_cap_still_counts_from_zero() {
    let app = spawn_app_with(&[("WS_MAX_CONNECTIONS_PER_USER", "3")]).await;
    let alice = app.user("alice").await;
    for _ in 0..20 {
        let ws = loop {
            match app.try_ws(Some(&alice.access), "", None).await {
                Upgrade::Open(ws) => break ws,
                Upgrade::Refused(429) => tokio::time::sleep(Duration::from_millis(20)).await,
                Upgrade::Refused(status) => panic!("refused with {status}"),
                Upgrade::Unreachable(why) => panic!("{why}"),
            }
        };
        drop(ws);
    }
    let hub = app.state.hub.clone();
    eventually("the storm's sockets are gone", || {
        hub.connection_count() == 0
    })
    .await;
    let _one = app.ws(&alice.access).await;
    let _two = app.ws(&alice.access).await;
    let _three = app.ws(&alice.access).await;
    assert_eq!(
        refused(app.try_ws(Some(&alice.access), "", None).await),
        429
    );
}

#[tokio::test]
async fn a_burst_of_parallel_upgrades_never_exceeds_the_per_user_cap() {
    let app = spawn_app_with(&[("WS_MAX_CONNECTIONS_PER_USER", "4")]).await;
    let alice = app.user("alice").await;
    let attempts = (0..24).map(|_| app.try_ws(Some(&alice.access), "", None));
    let results = join_all(attempts).await;
    let mut open = Vec::new();
    for result in results {
        match result {
            Upgrade::Open(ws) => open.push(ws),
            Upgrade::Refused(status) => assert_eq!(status, 429),
            Upgrade::Unreachable(why) => panic!("{why}"),
        }
    }
    assert!(
        !open.is_empty() && open.len() <= 4,
        "{} sockets opened",
        open.len()
    );
    assert!(
        app.state
            .hub
            .user_connections(&confab::ids::UserId::from_trusted(alice.id.clone()))
            <= 4
    );
    drop(open);
    let hub = app.state.hub.clone();
    eventually("the burst's sockets are gone", || {
        hub.connection_count() == 0
    })
    .await;
}

#[tokio::test]
async fn hostile_ws_frames_get_error_frames_and_reach_no_room() {
    let (app, alice, bob, g) = room().await;
    let carol = app.user("carol").await;
    let dm = app.dm(&alice, &bob).await;
    let mut bob_ws = app.ws(&bob.access).await;
    bob_ws.join(&g, None).await;
    let mut carol_ws = app.ws(&carol.access).await;
    let long = "x".repeat(5000);
    let hostile = [
        json!({ "type": "join", "conversation": { "$ne": null } }),
        json!({ "type": "send", "conversation": { "$gt": "" }, "body": "x" }),
        json!({ "type": "send", "conversation": g, "body": { "$gt": "" } }),
        json!({ "type": "join", "conversation": "../../users" }),
        json!({ "type": "join", "conversation": "a\u{0}b" }),
        json!({ "type": "join", "conversation": long }),
        json!({ "type": "join", "conversation": dm }),
        json!({ "type": "send", "conversation": dm, "body": "carol in a dm", "client_id": "x1" }),
        json!({ "type": "typing", "conversation": dm }),
        json!({ "$where": "1", "type": { "$ne": "ping" } }),
    ];
    for frame in hostile {
        carol_ws.send_json(frame.clone()).await;
        let err = carol_ws.expect("error").await;
        let code = err["code"].as_str().unwrap_or_default().to_owned();
        assert!(
            ["bad_request", "not_found", "forbidden", "validation_failed"].contains(&code.as_str()),
            "{frame}: {err}"
        );
    }
    // Still open, and nobody else heard a thing.
    carol_ws.send_json(json!({ "type": "ping" })).await;
    carol_ws.expect("pong").await;
    let frames = bob_ws.drain(QUIET).await;
    assert!(
        frames
            .iter()
            .all(|f| f["type"] != "message" && f["type"] != "typing"),
        "{frames:?}"
    );
    let page = expect_json(app.history(&alice, &dm, "").await, StatusCode::OK).await;
    assert!(bodies(&page).is_empty());
}

fn forge(user_id: &str, tweak: impl FnOnce(&mut Value)) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "sub": user_id, "role": "user", "iat": now, "exp": now + 600,
        "iss": "confab", "aud": "confab-api", "jti": "x", "tv": 0, "typ": "access"
    });
    tweak(&mut claims);
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(TEST_SECRET.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn forged_tokens_are_refused_at_the_websocket_upgrade_too() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    // The untouched forgery works, so the refusals below are about the tweak.
    let Upgrade::Open(_ws) = app.try_ws(Some(&forge(&alice.id, |_| {})), "", None).await else {
        panic!("a correctly signed token is refused")
    };
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let good = forge(&alice.id, |_| {});
    let payload = good.split('.').nth(1).unwrap();
    let tampered = {
        let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
        let mut claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
        claims["role"] = "admin".into();
        parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
        parts.join(".")
    };
    let forgeries = [
        ("alg none", format!("{none_header}.{payload}.")),
        ("tampered", tampered),
        (
            "audience",
            forge(&alice.id, |c| c["aud"] = "another-api".into()),
        ),
        ("issuer", forge(&alice.id, |c| c["iss"] = "evil".into())),
        ("type", forge(&alice.id, |c| c["typ"] = "refresh".into())),
        (
            "expired",
            forge(&alice.id, |c| {
                c["exp"] = (chrono::Utc::now().timestamp() - 5).into()
            }),
        ),
        ("version", forge(&alice.id, |c| c["tv"] = 7.into())),
        ("ghost", forge("000000000000000000000000", |_| {})),
    ];
    for (what, token) in forgeries {
        assert_eq!(
            refused(app.try_ws(Some(&token), "", None).await),
            401,
            "{what}"
        );
        let query = format!("?ticket={token}");
        assert_eq!(
            refused(app.try_ws(None, &query, None).await),
            401,
            "{what} as a ticket"
        );
    }
}

#[tokio::test]
async fn reauth_as_someone_else_or_with_a_forgery_closes_the_socket() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let mut ws = app.ws(&alice.access).await;
    ws.send_json(json!({ "type": "reauth", "token": bob.access }))
        .await;
    assert_eq!(ws.closed_with().await, Some(4003));

    let mut ws = app.ws(&alice.access).await;
    let forged = forge(&alice.id, |c| c["iss"] = "evil".into());
    ws.send_json(json!({ "type": "reauth", "token": forged }))
        .await;
    assert_eq!(ws.closed_with().await, Some(4001));
}

#[tokio::test]
async fn changing_the_password_closes_live_sockets_with_4001() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let mut ws = app.ws(&alice.access).await;
    let resp = app
        .send(
            Method::PUT,
            "/api/v1/auth/password",
            Some(&alice.access),
            Some(json!({ "current_password": PASSWORD, "new_password": "violet harbour quantum 88" })),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(ws.closed_with().await, Some(4001));
    assert_eq!(
        refused(app.try_ws(Some(&alice.access), "", None).await),
        401
    );
}

async fn ws_ticket(app: &TestApp, who: &Session) -> String {
    let t = expect_json(
        app.post("/api/v1/auth/ws-ticket", Some(&who.access), json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    format!("?ticket={}", t["ticket"].as_str().unwrap())
}

#[tokio::test]
async fn a_ticket_of_a_user_disabled_after_it_was_issued_opens_nothing() {
    let app = spawn_app().await;
    let admin = app.admin("root").await;
    let kim = app.user("kim").await;
    let query = ws_ticket(&app, &kim).await;
    expect_json(
        app.post(
            &format!("/api/v1/users/{}/disable", kim.id),
            Some(&admin.access),
            json!({}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(refused(app.try_ws(None, &query, None).await), 401);
}

/// A stolen access token can mint a ticket; logging out everywhere (or changing
/// the password) must kill that ticket too, not leave a 30 s window.
#[tokio::test]
async fn a_ticket_issued_before_logout_all_or_a_password_change_opens_nothing() {
    let app = spawn_app().await;
    let lee = app.user("lee").await;
    let query = ws_ticket(&app, &lee).await;
    let resp = app
        .post("/api/v1/auth/logout-all", Some(&lee.access), json!({}))
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        refused(app.try_ws(None, &query, None).await),
        401,
        "after logout-all"
    );

    let max = app.user("max").await;
    let query = ws_ticket(&app, &max).await;
    let resp = app
        .send(
            Method::PUT,
            "/api/v1/auth/password",
            Some(&max.access),
            Some(json!({ "current_password": PASSWORD, "new_password": "violet harbour quantum 88" })),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        refused(app.try_ws(None, &query, None).await),
        401,
        "after a password change"
    );
}

#[tokio::test]
async fn binary_and_control_frames_do_not_count_as_messages_or_crash_the_session() {
    use tokio_tungstenite::tungstenite::Message;
    let (app, _alice, bob, g) = room().await;
    let mut ws = app.ws(&bob.access).await;
    ws.join(&g, None).await;
    ws.send_raw(Message::binary(vec![0u8, 159, 146, 150])).await;
    assert_eq!(ws.expect("error").await["code"], "bad_request");
    ws.send_raw(Message::Ping(vec![1u8; 125].into())).await;
    ws.send_raw(Message::Pong(vec![2u8; 10].into())).await;
    ws.send_raw(Message::text("")).await;
    assert_eq!(ws.expect("error").await["code"], "bad_request");
    ws.send_raw(Message::text("\u{0}")).await;
    assert_eq!(ws.expect("error").await["code"], "bad_request");
    ws.send_json(json!({ "type": "ping" })).await;
    ws.expect("pong").await;
    let page = expect_json(app.history(&bob, &g, "").await, StatusCode::OK).await;
    assert!(bodies(&page).is_empty());
    let _ = ws
        .stream
        .send(tokio_tungstenite::tungstenite::Message::Close(None))
        .await;
}
