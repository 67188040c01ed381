//! Operator payloads and odd values in every string field.

use super::*;

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
