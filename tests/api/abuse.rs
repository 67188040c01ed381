//! Abuse cases that the other suites do not cover: confusable names, operator
//! payloads in every string field, odd ids on every id route, reconnect storms,
//! cross-group access by id, hostile WebSocket frames and oversized bodies.
//! The full catalogue, with the test proving each row, is `docs/security.md`.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::SinkExt;
use futures_util::future::join_all;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;
use crate::ws_client::*;

const QUIET: Duration = Duration::from_millis(400);

fn refused(upgrade: Upgrade) -> u16 {
    match upgrade {
        Upgrade::Refused(status) => status,
        Upgrade::Open(_) => panic!("the upgrade was accepted"),
        Upgrade::Unreachable(why) => panic!("no HTTP answer: {why}"),
    }
}

/// Polls `check` every 50 ms for up to 10 s.
async fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn patch(app: &TestApp, path: &str, who: &Session, body: Value) -> reqwest::Response {
    app.send(Method::PATCH, path, Some(&who.access), Some(body))
        .await
}

async fn search(app: &TestApp, who: &Session, q: &str) -> Vec<String> {
    let resp = app
        .http
        .get(app.url("/api/v1/users"))
        .query(&[("q", q)])
        .bearer_auth(&who.access)
        .send()
        .await
        .unwrap();
    let page = expect_json(resp, StatusCode::OK).await;
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_owned())
        .collect()
}

fn raw_json(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: String,
) -> reqwest::RequestBuilder {
    app.http
        .request(method, app.url(path))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
}

// ---------------------------------------------------------------- names

#[tokio::test]
async fn confusable_invisible_and_control_characters_in_usernames_are_refused_with_422() {
    let app = spawn_app().await;
    app.user("alice").await;
    for name in [
        "\u{0430}lice",  // Cyrillic а
        "\u{FF41}lice",  // fullwidth ａ
        "al\u{0131}ce",  // dotless ı
        "AL\u{0130}CE",  // dotted İ
        "alice\u{0301}", // combining accent
        "ali\u{200D}ce", // zero-width joiner
        "ali\u{200B}ce", // zero-width space
        "\u{202E}ecila", // right-to-left override
        "alice\u{FEFF}", // byte order mark
        "ali\u{0000}ce", // NUL
        "alice\n",
        "ali ce",
    ] {
        let code = expect_error(app.register(name).await, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(code, "validation_failed", "{name:?}");
        let login = app.login(name, PASSWORD).await;
        assert!(
            login.status() == StatusCode::UNAUTHORIZED
                || login.status() == StatusCode::UNPROCESSABLE_ENTITY,
            "{name:?} logged in as alice? {}",
            login.status()
        );
    }
}

#[tokio::test]
async fn invisible_and_control_characters_in_display_names_group_names_and_bodies_are_refused() {
    let (app, alice, _bob, g) = room().await;
    for text in [
        "\u{202E}nimda",
        "ad\u{200B}min",
        "ad\u{200D}min",
        "\u{2066}admin\u{2069}",
        "\u{FEFF}",
        "nul\u{0000}byte",
        "bell\u{0007}",
        "esc\u{001B}[31m",
    ] {
        let resp = patch(
            &app,
            "/api/v1/users/me",
            &alice,
            json!({ "display_name": text }),
        )
        .await;
        assert_eq!(
            expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY).await,
            "validation_failed",
            "display name {text:?}"
        );
        let resp = app
            .post(
                "/api/v1/groups",
                Some(&alice.access),
                json!({ "name": text }),
            )
            .await;
        assert_eq!(
            expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY).await,
            "validation_failed",
            "group name {text:?}"
        );
        assert_eq!(
            expect_error(
                app.say(&alice, &g, text).await,
                StatusCode::UNPROCESSABLE_ENTITY
            )
            .await,
            "validation_failed",
            "body {text:?}"
        );
    }
    let page = expect_json(app.history(&alice, &g, "").await, StatusCode::OK).await;
    assert!(bodies(&page).is_empty());
}

// ---------------------------------------------------------------- injection

#[tokio::test]
async fn operator_objects_in_every_string_field_are_refused_with_400_and_change_nothing() {
    let (app, alice, bob, g) = room().await;
    let dm = app.dm(&alice, &bob).await;
    let msg = app.said(&alice, &g, "original").await;
    let m = msg["id"].as_str().unwrap().to_owned();
    let bob_id = bob.id.clone();
    let cases: Vec<(Method, String, Option<&str>, Value)> = vec![
        (
            Method::POST,
            "/api/v1/auth/register".into(),
            None,
            json!({ "username": "mallory", "password": PASSWORD, "display_name": "M" }),
        ),
        (
            Method::POST,
            "/api/v1/auth/login".into(),
            None,
            json!({ "username": "alice", "password": PASSWORD }),
        ),
        (
            Method::POST,
            "/api/v1/auth/refresh".into(),
            None,
            json!({ "refresh_token": alice.refresh }),
        ),
        (
            Method::POST,
            "/api/v1/auth/logout".into(),
            Some(&alice.access),
            json!({ "refresh_token": alice.refresh }),
        ),
        (
            Method::PUT,
            "/api/v1/auth/password".into(),
            Some(&alice.access),
            json!({ "current_password": PASSWORD, "new_password": "violet harbour quantum 88" }),
        ),
        (
            Method::PATCH,
            "/api/v1/users/me".into(),
            Some(&alice.access),
            json!({ "display_name": "Alice" }),
        ),
        (
            Method::POST,
            "/api/v1/groups".into(),
            Some(&alice.access),
            json!({ "name": "n", "description": "d", "visibility": "public" }),
        ),
        (
            Method::PATCH,
            format!("/api/v1/groups/{g}"),
            Some(&alice.access),
            json!({ "name": "n", "description": "d", "visibility": "private" }),
        ),
        (
            Method::PUT,
            format!("/api/v1/groups/{g}/members/{bob_id}"),
            Some(&alice.access),
            json!({ "role": "admin" }),
        ),
        (
            Method::POST,
            format!("/api/v1/groups/{g}/transfer"),
            Some(&alice.access),
            json!({ "user_id": bob_id }),
        ),
        (
            Method::POST,
            "/api/v1/dms".into(),
            Some(&alice.access),
            json!({ "user_id": bob_id }),
        ),
        (
            Method::POST,
            format!("/api/v1/conversations/{g}/messages"),
            Some(&alice.access),
            json!({ "body": "b", "client_id": "c1" }),
        ),
        (
            Method::POST,
            format!("/api/v1/conversations/{dm}/messages"),
            Some(&alice.access),
            json!({ "body": "b", "client_id": "c2" }),
        ),
        (
            Method::PATCH,
            format!("/api/v1/messages/{m}"),
            Some(&alice.access),
            json!({ "body": "b" }),
        ),
        (
            Method::POST,
            format!("/api/v1/conversations/{g}/read"),
            Some(&alice.access),
            json!({ "seq": 1 }),
        ),
    ];
    for (method, path, token, body) in cases {
        for field in body.as_object().unwrap().keys() {
            for payload in [
                json!({ "$gt": "" }),
                json!({ "$ne": null }),
                json!({ "$regex": ".*" }),
                json!(["alice"]),
                json!(true),
            ] {
                let mut hostile = body.clone();
                hostile[field] = payload.clone();
                let resp = app.send(method.clone(), &path, token, Some(hostile)).await;
                let code = expect_error(resp, StatusCode::BAD_REQUEST).await;
                assert_eq!(code, "bad_request", "{method} {path} {field}={payload}");
            }
        }
    }
    // Nothing moved: the owner, the roles, the names, the messages, the tokens.
    let group = expect_json(
        app.get(&format!("/api/v1/groups/{g}"), Some(&alice.access))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(group["owner_id"], alice.id.as_str());
    assert_eq!(group["name"], "General");
    let page = expect_json(app.history(&alice, &g, "").await, StatusCode::OK).await;
    assert_eq!(bodies(&page), ["original"]);
    let page = expect_json(app.history(&alice, &dm, "").await, StatusCode::OK).await;
    assert!(bodies(&page).is_empty());
    expect_json(app.login("alice", PASSWORD).await, StatusCode::OK).await;
    assert_eq!(
        expect_error(
            app.login("mallory", PASSWORD).await,
            StatusCode::UNAUTHORIZED
        )
        .await,
        "invalid_credentials"
    );
}

#[tokio::test]
async fn dollar_prefixed_keys_in_bodies_are_ignored_and_grant_nothing() {
    let (app, alice, _bob, g) = room().await;
    let resp = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({
                "username": "mallory", "password": PASSWORD,
                "$set": { "role": "admin" }, "$where": "sleep(5000)", "role": "admin",
            }),
        )
        .await;
    let status = resp.status();
    let body = expect_json(resp, status).await;
    assert!(
        status == StatusCode::CREATED || status == StatusCode::BAD_REQUEST,
        "{status}"
    );
    if status == StatusCode::BAD_REQUEST {
        app.user("mallory").await;
    } else {
        assert_eq!(body["role"], "user");
    }
    let pair = expect_json(app.login("mallory", PASSWORD).await, StatusCode::OK).await;
    let mallory = pair["access_token"].as_str().unwrap().to_owned();

    let resp = app
        .send(
            Method::PATCH,
            "/api/v1/users/me",
            Some(&mallory),
            Some(json!({ "display_name": "M", "$set": { "role": "admin" }, "role": "admin" })),
        )
        .await;
    let status = resp.status();
    assert!(
        status == StatusCode::OK || status == StatusCode::BAD_REQUEST,
        "{status}"
    );
    let me = expect_json(
        app.get("/api/v1/users/me", Some(&mallory)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["role"], "user");

    let resp = app
        .post(
            "/api/v1/groups",
            Some(&mallory),
            json!({ "name": "Mine", "$set": { "owner_id": alice.id }, "owner_id": alice.id }),
        )
        .await;
    let status = resp.status();
    let group = expect_json(resp, status).await;
    if status == StatusCode::CREATED {
        assert_ne!(group["owner_id"], alice.id.as_str());
    } else {
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    let resp = app
        .post(
            &format!("/api/v1/conversations/{g}/messages"),
            Some(&alice.access),
            json!({ "body": "hi", "$inc": { "seq": 1000 }, "seq": 1000, "sender_id": "x" }),
        )
        .await;
    let status = resp.status();
    let message = expect_json(resp, status).await;
    if status == StatusCode::CREATED {
        assert_eq!(message["seq"], 1);
        assert_eq!(message["sender"]["id"], alice.id.as_str());
    } else {
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn operator_looking_strings_are_taken_literally_and_match_nobody() {
    let (app, alice, _bob, g) = room().await;
    for id in ["{\"$ne\":null}", "{\"$gt\":\"\"}", "$where", ".*"] {
        let resp = app
            .post("/api/v1/dms", Some(&alice.access), json!({ "user_id": id }))
            .await;
        assert_eq!(
            expect_error(resp, StatusCode::NOT_FOUND).await,
            "not_found",
            "{id}"
        );
        let resp = app
            .post(
                &format!("/api/v1/groups/{g}/transfer"),
                Some(&alice.access),
                json!({ "user_id": id }),
            )
            .await;
        assert_eq!(
            expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY).await,
            "validation_failed",
            "{id}"
        );
    }
    for q in ["{\"$gt\":\"\"}", "$", "$where", "{\"$ne\":null}"] {
        assert!(search(&app, &alice, q).await.is_empty(), "{q}");
    }
    let resp = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": "{\"$ne\":null}" }),
        )
        .await;
    assert_eq!(
        expect_error(resp, StatusCode::UNAUTHORIZED).await,
        "invalid_token"
    );
}

#[tokio::test]
async fn search_with_regex_and_wildcard_metacharacters_matches_literal_prefixes_only() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    for name in ["albert", "a.b", "a-z", "bob", "carol_1"] {
        app.user(name).await;
    }
    let mut all_a = search(&app, &alice, "A").await;
    all_a.sort();
    assert_eq!(all_a, ["a-z", "a.b", "albert", "alice"]);
    assert_eq!(search(&app, &alice, "a.").await, ["a.b"]);
    assert_eq!(search(&app, &alice, "carol_").await, ["carol_1"]);
    for q in [
        ".", ".*", "a.*", "^a", "[a-z]", "a|b", "(", ")", "\\", "+", "?", "*", "a{1}", "%", "a%",
        "_", "a_", "~", "a~", "\u{0}", "a\u{0}",
    ] {
        assert!(search(&app, &alice, q).await.is_empty(), "{q:?}");
    }
}

// ---------------------------------------------------------------- odd ids

#[tokio::test]
async fn odd_ids_are_404_on_every_id_route_never_500() {
    let (app, alice, bob, g) = room().await;
    let admin = app.admin("root").await;
    let long = "7".repeat(2000);
    let ids = [
        "..%2F..%2Fusers%2Fme",
        "..%5C..%5C",
        "%00",
        "a%00b",
        "%24where",
        "%7B%22%24ne%22%3Anull%7D",
        "-1",
        "0",
        "ffffffffffffffffffffffff",
        "000000000000000000000000%20",
        "ObjectId(%22000000000000000000000000%22)",
        "%E2%80%AE",
        long.as_str(),
    ];
    let b = bob.id.as_str();
    for id in ids {
        let routes: Vec<(Method, String, &Session, Option<Value>)> = vec![
            (Method::GET, format!("/api/v1/groups/{id}"), &alice, None),
            (
                Method::PATCH,
                format!("/api/v1/groups/{id}"),
                &alice,
                Some(json!({ "description": "x" })),
            ),
            (Method::DELETE, format!("/api/v1/groups/{id}"), &alice, None),
            (
                Method::POST,
                format!("/api/v1/groups/{id}/join"),
                &alice,
                Some(json!({})),
            ),
            (
                Method::POST,
                format!("/api/v1/groups/{id}/leave"),
                &alice,
                Some(json!({})),
            ),
            (
                Method::POST,
                format!("/api/v1/groups/{id}/transfer"),
                &alice,
                Some(json!({ "user_id": b })),
            ),
            (
                Method::GET,
                format!("/api/v1/groups/{id}/members"),
                &alice,
                None,
            ),
            (
                Method::PUT,
                format!("/api/v1/groups/{id}/members/{b}"),
                &alice,
                Some(json!({ "role": "member" })),
            ),
            (
                Method::DELETE,
                format!("/api/v1/groups/{id}/members/{b}"),
                &alice,
                None,
            ),
            (
                Method::PUT,
                format!("/api/v1/groups/{g}/members/{id}"),
                &alice,
                Some(json!({ "role": "member" })),
            ),
            (
                Method::DELETE,
                format!("/api/v1/groups/{g}/members/{id}"),
                &alice,
                None,
            ),
            (
                Method::GET,
                format!("/api/v1/conversations/{id}/messages"),
                &alice,
                None,
            ),
            (
                Method::POST,
                format!("/api/v1/conversations/{id}/messages"),
                &alice,
                Some(json!({ "body": "x" })),
            ),
            (
                Method::POST,
                format!("/api/v1/conversations/{id}/read"),
                &alice,
                Some(json!({ "seq": 1 })),
            ),
            (
                Method::GET,
                format!("/api/v1/conversations/{id}/presence"),
                &alice,
                None,
            ),
            (
                Method::PATCH,
                format!("/api/v1/messages/{id}"),
                &alice,
                Some(json!({ "body": "x" })),
            ),
            (
                Method::DELETE,
                format!("/api/v1/messages/{id}"),
                &alice,
                None,
            ),
            (Method::GET, format!("/api/v1/users/{id}"), &alice, None),
            (
                Method::PATCH,
                format!("/api/v1/users/{id}/role"),
                &admin,
                Some(json!({ "role": "user" })),
            ),
            (
                Method::POST,
                format!("/api/v1/users/{id}/disable"),
                &admin,
                Some(json!({})),
            ),
            (
                Method::POST,
                format!("/api/v1/users/{id}/enable"),
                &admin,
                Some(json!({})),
            ),
        ];
        for (method, path, who, body) in routes {
            let resp = app
                .send(method.clone(), &path, Some(&who.access), body)
                .await;
            let short: String = path.chars().take(80).collect();
            assert_eq!(
                expect_error(resp, StatusCode::NOT_FOUND).await,
                "not_found",
                "{method} {short}"
            );
        }
    }
    // A path segment that is not UTF-8 is refused, not a crash.
    for path in ["/api/v1/groups/%FF%FE", "/api/v1/users/%C0%AF"] {
        let resp = app.get(path, Some(&alice.access)).await;
        let status = resp.status();
        expect_error(resp, status).await;
        assert!(
            status == StatusCode::NOT_FOUND || status == StatusCode::BAD_REQUEST,
            "{path}: {status}"
        );
    }
    // The real data is intact.
    let group = expect_json(
        app.get(&format!("/api/v1/groups/{g}"), Some(&alice.access))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(group["owner_id"], alice.id.as_str());
    expect_json(
        app.get("/api/v1/users/me", Some(&bob.access)).await,
        StatusCode::OK,
    )
    .await;
}

// ---------------------------------------------------------------- cross-tenant

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
    let status = resp.status();
    assert!(
        status == StatusCode::OK || status == StatusCode::BAD_REQUEST,
        "{status}"
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

// ---------------------------------------------------------------- bodies

#[tokio::test]
async fn a_deeply_nested_json_body_gets_400_and_the_server_keeps_serving() {
    let (app, alice, _bob, g) = room().await;
    let depth = 10_000;
    let objects = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
    let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let in_field = format!("{{\"body\":{}{}}}", "[".repeat(depth), "]".repeat(depth));
    for path in [
        "/api/v1/auth/register".to_owned(),
        "/api/v1/groups".to_owned(),
        format!("/api/v1/conversations/{g}/messages"),
    ] {
        for body in [&objects, &arrays, &in_field] {
            let resp = raw_json(&app, Method::POST, &path, &alice.access, body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(
                expect_error(resp, StatusCode::BAD_REQUEST).await,
                "bad_request",
                "{path}"
            );
        }
    }
    let health = app.get("/healthz", None).await;
    assert_eq!(health.status(), StatusCode::OK);
    app.said(&alice, &g, "still here").await;
}

#[tokio::test]
async fn duplicate_json_keys_cannot_smuggle_a_second_value() {
    let (app, alice, _bob, g) = room().await;
    let resp = app
        .http
        .post(app.url("/api/v1/auth/register"))
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"username":"dupe","password":"{PASSWORD}","role":"user","role":"admin","username":"dupe"}}"#
        ))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let user = expect_json(resp, status).await;
    assert!(
        status == StatusCode::CREATED || status == StatusCode::BAD_REQUEST,
        "{status}"
    );
    if status == StatusCode::CREATED {
        assert_eq!(user["role"], "user");
    }

    let resp = raw_json(
        &app,
        Method::POST,
        &format!("/api/v1/conversations/{g}/messages"),
        &alice.access,
        r#"{"body":"first","body":"second","client_id":"d1","client_id":"d2"}"#.to_owned(),
    )
    .send()
    .await
    .unwrap();
    let status = resp.status();
    let sent = expect_json(resp, status).await;
    let page = expect_json(app.history(&alice, &g, "").await, StatusCode::OK).await;
    if status == StatusCode::CREATED {
        // Whichever value won, what was answered is what was stored.
        assert_eq!(bodies(&page), [sent["body"].as_str().unwrap()]);
        assert_eq!(page["items"][0]["client_id"], sent["client_id"]);
    } else {
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(bodies(&page).is_empty());
    }

    // A duplicated login username never checks one name's password against another.
    app.user("victim").await;
    let resp = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(r#"{"username":"alice","username":"victim","password":"wrong password 1"}"#)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    expect_error(resp, status).await;
    assert!(
        status == StatusCode::UNAUTHORIZED || status == StatusCode::BAD_REQUEST,
        "{status}"
    );
}

#[tokio::test]
async fn a_one_megabyte_body_gets_413_with_or_without_a_content_length() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let big = json!({ "name": "x".repeat(1024 * 1024) });
    let resp = app.post("/api/v1/groups", Some(&alice.access), big).await;
    assert_eq!(
        expect_error(resp, StatusCode::PAYLOAD_TOO_LARGE).await,
        "payload_too_large"
    );

    // Chunked: no Content-Length, so the limit has to hold while reading.
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/v1/groups HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        alice.access
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let chunk = "x".repeat(16 * 1024);
    let mut sent = 0;
    let _ = tcp.write_all(b"4000\r\n{\"name\":\"").await;
    let _ = tcp.write_all(&chunk.as_bytes()[9..]).await;
    let _ = tcp.write_all(b"\r\n").await;
    // Up to 1 MB more, stopping as soon as the server stops reading.
    while sent < 1024 * 1024 {
        let frame = format!("4000\r\n{chunk}\r\n");
        let wrote =
            tokio::time::timeout(Duration::from_secs(2), tcp.write_all(frame.as_bytes())).await;
        if !matches!(wrote, Ok(Ok(()))) {
            break;
        }
        sent += chunk.len();
        if sent >= 128 * 1024 {
            break;
        }
    }
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut answer))
        .await
        .expect("the server answers a chunked flood")
        .unwrap_or(0);
    let text = String::from_utf8_lossy(&answer[..n]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("payload_too_large"), "{text}");
    let list = expect_json(
        app.get("/api/v1/groups", Some(&alice.access)).await,
        StatusCode::OK,
    )
    .await;
    assert!(list["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn nul_bytes_in_values_are_refused_or_match_nothing() {
    let (app, alice, _bob, g) = room().await;
    assert_eq!(
        expect_error(
            app.say(&alice, &g, "a\u{0}b").await,
            StatusCode::UNPROCESSABLE_ENTITY
        )
        .await,
        "validation_failed"
    );
    let resp = app
        .post(
            &format!("/api/v1/conversations/{g}/messages"),
            Some(&alice.access),
            json!({ "body": "ok", "client_id": "c\u{0}1" }),
        )
        .await;
    assert_eq!(
        expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY).await,
        "validation_failed"
    );
    for (username, password) in [
        ("alice\u{0}", PASSWORD),
        ("alice", "orbit lantern cobalt meadow 51\u{0}"),
    ] {
        let resp = app.login(username, password).await;
        let status = resp.status();
        expect_error(resp, status).await;
        assert!(
            status == StatusCode::UNAUTHORIZED || status == StatusCode::UNPROCESSABLE_ENTITY,
            "{username:?}: {status}"
        );
    }
    let page = expect_json(app.history(&alice, &g, "").await, StatusCode::OK).await;
    assert!(bodies(&page).is_empty());
}

// ---------------------------------------------------------------- WebSocket

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
    let alice_id = alice.id.clone();
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
    assert!(app.state.hub.user_connections(&alice.id) <= 4);
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
