//! Hostile input: forged tokens, injection payloads, malformed and oversized bodies,
//! brute force, and privilege escalation.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

fn claims_for(user_id: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "sub": user_id, "role": "admin", "iat": now, "exp": now + 600,
        "iss": "confab", "aud": "confab-api", "jti": "x", "tv": 0, "typ": "access"
    })
}

fn sign(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

async fn me_code(app: &TestApp, token: &str) -> String {
    expect_error(
        app.get("/api/v1/users/me", Some(token)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await
}

#[tokio::test]
async fn a_correctly_signed_token_is_accepted_so_the_forgeries_below_are_meaningful() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let mut claims = claims_for(&alice.id);
    claims["role"] = "user".into();
    expect_json(
        app.get("/api/v1/users/me", Some(&sign(&claims, TEST_SECRET)))
            .await,
        StatusCode::OK,
    )
    .await;
}

#[tokio::test]
async fn forged_tokens_are_refused() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let claims = claims_for(&alice.id);

    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    assert_eq!(
        me_code(&app, &format!("{none_header}.{payload}.")).await,
        "invalid_token",
        "alg none"
    );

    let wrong_key = sign(&claims, "an-attacker-guess-at-the-secret-key-000");
    assert_eq!(
        me_code(&app, &wrong_key).await,
        "invalid_token",
        "wrong key"
    );

    let good = sign(&claims, TEST_SECRET);
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let mut tampered = claims.clone();
    tampered["sub"] = "someone-else".into();
    parts[1] = URL_SAFE_NO_PAD.encode(tampered.to_string());
    assert_eq!(
        me_code(&app, &parts.join(".")).await,
        "invalid_token",
        "tampered payload"
    );

    let hs512 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS512),
        &claims,
        &EncodingKey::from_secret(TEST_SECRET.as_bytes()),
    )
    .unwrap();
    assert_eq!(
        me_code(&app, &hs512).await,
        "invalid_token",
        "algorithm switch"
    );

    for (field, value) in [
        ("aud", json!("another-api")),
        ("iss", json!("evil")),
        ("typ", json!("refresh")),
    ] {
        let mut c = claims.clone();
        c[field] = value;
        assert_eq!(
            me_code(&app, &sign(&c, TEST_SECRET)).await,
            "invalid_token",
            "{field}"
        );
    }
    let mut expired = claims.clone();
    expired["exp"] = (chrono::Utc::now().timestamp() - 5).into();
    assert_eq!(
        me_code(&app, &sign(&expired, TEST_SECRET)).await,
        "token_expired"
    );

    let mut stale = claims.clone();
    stale["tv"] = 5.into();
    assert_eq!(
        me_code(&app, &sign(&stale, TEST_SECRET)).await,
        "invalid_token",
        "old token version"
    );

    let mut ghost = claims.clone();
    ghost["sub"] = "000000000000000000000000".into();
    assert_eq!(
        me_code(&app, &sign(&ghost, TEST_SECRET)).await,
        "invalid_token",
        "deleted user"
    );

    assert_eq!(
        me_code(&app, &alice.refresh).await,
        "invalid_token",
        "refresh token as access token"
    );
    assert_eq!(me_code(&app, "garbage").await, "invalid_token");
}

#[tokio::test]
async fn an_access_token_is_not_a_refresh_token() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let resp = app.refresh(&alice.access).await;
    assert_eq!(
        expect_error(resp, StatusCode::UNAUTHORIZED).await,
        "invalid_token"
    );
}

#[tokio::test]
async fn missing_or_non_bearer_authorization_is_401() {
    let app = spawn_app().await;
    assert_eq!(
        expect_error(
            app.get("/api/v1/users/me", None).await,
            StatusCode::UNAUTHORIZED
        )
        .await,
        "unauthenticated"
    );
    let resp = app
        .http
        .get(app.url("/api/v1/users/me"))
        .header("authorization", "Basic YWxpY2U6cHc=")
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect_error(resp, StatusCode::UNAUTHORIZED).await,
        "unauthenticated"
    );
}

#[tokio::test]
async fn operator_injection_payloads_are_refused_not_executed() {
    let app = spawn_app().await;
    app.user("alice").await;
    let payloads = [
        json!({ "username": { "$gt": "" }, "password": { "$gt": "" } }),
        json!({ "username": "alice", "password": { "$ne": null } }),
        json!({ "username": ["alice"], "password": PASSWORD }),
        json!({ "username": { "$regex": ".*" }, "password": PASSWORD }),
    ];
    for payload in payloads {
        let resp = app.post("/api/v1/auth/login", None, payload.clone()).await;
        let status = resp.status();
        let code = expect_error(resp, status).await;
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY,
            "{payload}: {status} {code}"
        );
    }
    let as_string = app.login("{\"$gt\": \"\"}", PASSWORD).await;
    assert_eq!(
        expect_error(as_string, StatusCode::UNAUTHORIZED).await,
        "invalid_credentials"
    );
    let resp = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({ "username": { "$gt": "" }, "password": PASSWORD }),
        )
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn unknown_fields_are_refused_so_nobody_registers_as_admin() {
    let app = spawn_app().await;
    for extra in [
        json!({ "role": "admin" }),
        json!({ "disabled": false }),
        json!({ "_id": "x" }),
    ] {
        let mut body = json!({ "username": "mallory", "password": PASSWORD });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let resp = app.post("/api/v1/auth/register", None, body).await;
        assert_eq!(
            expect_error(resp, StatusCode::BAD_REQUEST).await,
            "bad_request",
            "{extra}"
        );
    }
    let user = expect_json(
        app.post(
            "/api/v1/auth/register",
            None,
            json!({ "username": "mallory", "password": PASSWORD }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(user["role"], "user");
}

#[tokio::test]
async fn malformed_json_wrong_content_type_and_oversized_bodies_get_the_error_shape() {
    let app = spawn_app().await;
    let url = app.url("/api/v1/auth/login");
    let resp = app
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body("{\"username\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect_error(resp, StatusCode::BAD_REQUEST).await,
        "bad_request"
    );
    let resp = app
        .http
        .post(&url)
        .header("content-type", "text/plain")
        .body("username=alice")
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect_error(resp, StatusCode::UNSUPPORTED_MEDIA_TYPE).await,
        "unsupported_media_type"
    );
    let resp = app.http.post(&url).body("{}").send().await.unwrap();
    assert_eq!(
        expect_error(resp, StatusCode::UNSUPPORTED_MEDIA_TYPE).await,
        "unsupported_media_type"
    );
    let big = json!({ "username": "alice", "password": "x".repeat(70 * 1024) });
    assert_eq!(
        expect_error(
            app.post("/api/v1/auth/login", None, big).await,
            StatusCode::PAYLOAD_TOO_LARGE
        )
        .await,
        "payload_too_large"
    );
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let resp = app
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body(deep)
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::BAD_REQUEST).await;
    let resp = app
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body(vec![0xff, 0xfe, 0x7b])
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::BAD_REQUEST).await;
    let resp = app
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body("null")
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn unknown_routes_and_methods_get_the_error_shape() {
    let app = spawn_app().await;
    assert_eq!(
        expect_error(app.get("/api/v1/nope", None).await, StatusCode::NOT_FOUND).await,
        "not_found"
    );
    let resp = app
        .send(Method::DELETE, "/api/v1/auth/login", None, None)
        .await;
    assert_eq!(
        expect_error(resp, StatusCode::METHOD_NOT_ALLOWED).await,
        "method_not_allowed"
    );
    let resp = app.get("/api/v1/users?limit=lots", Some("x")).await;
    let status = resp.status();
    assert!(
        status == StatusCode::BAD_REQUEST || status == StatusCode::UNAUTHORIZED,
        "{status}"
    );
    expect_error(resp, status).await;
}

#[tokio::test]
async fn login_failures_are_rate_limited_per_username_with_retry_after() {
    let app = spawn_app_with(&[("LOGIN_MAX_FAILURES_PER_USER", "3")]).await;
    app.user("victim").await;
    for _ in 0..3 {
        expect_error(
            app.login("victim", "wrong guess number one").await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    let resp = app.login("victim", PASSWORD).await;
    let retry_after: u64 = resp
        .headers()
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after > 0 && retry_after <= 900, "{retry_after}");
    assert_eq!(
        expect_error(resp, StatusCode::TOO_MANY_REQUESTS).await,
        "rate_limited"
    );
    // Another account from the same address is unaffected.
    app.user("bystander").await;
}

#[tokio::test]
async fn login_failures_are_rate_limited_per_address() {
    let app = spawn_app_with(&[("LOGIN_MAX_FAILURES_PER_IP", "4")]).await;
    for i in 0..4 {
        expect_error(
            app.login(&format!("ghost{i}"), "some wrong password").await,
            StatusCode::UNAUTHORIZED,
        )
        .await;
    }
    assert_eq!(
        expect_error(
            app.login("ghost9", "some wrong password").await,
            StatusCode::TOO_MANY_REQUESTS
        )
        .await,
        "rate_limited"
    );
}

#[tokio::test]
async fn a_successful_login_clears_the_username_failures() {
    let app = spawn_app_with(&[("LOGIN_MAX_FAILURES_PER_USER", "2")]).await;
    app.user("walt").await;
    expect_error(
        app.login("walt", "wrong password here").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    expect_json(app.login("walt", PASSWORD).await, StatusCode::OK).await;
    expect_error(
        app.login("walt", "wrong password here").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    expect_json(app.login("walt", PASSWORD).await, StatusCode::OK).await;
}

#[tokio::test]
async fn sign_ups_are_rate_limited_per_address() {
    let app = spawn_app_with(&[("REGISTER_MAX_PER_IP", "2")]).await;
    app.register("first").await;
    app.register("second").await;
    let resp = app.register("third").await;
    assert!(resp.headers().contains_key("retry-after"));
    assert_eq!(
        expect_error(resp, StatusCode::TOO_MANY_REQUESTS).await,
        "rate_limited"
    );
}

#[tokio::test]
async fn only_admins_change_roles_or_disable_users() {
    let app = spawn_app().await;
    let admin = app.admin("root").await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let role_path = format!("/api/v1/users/{}/role", bob.id);

    let resp = app
        .send(
            Method::PATCH,
            &role_path,
            Some(&alice.access),
            Some(json!({ "role": "admin" })),
        )
        .await;
    assert_eq!(expect_error(resp, StatusCode::FORBIDDEN).await, "forbidden");
    let own = format!("/api/v1/users/{}/role", alice.id);
    let resp = app
        .send(
            Method::PATCH,
            &own,
            Some(&alice.access),
            Some(json!({ "role": "admin" })),
        )
        .await;
    assert_eq!(
        expect_error(resp, StatusCode::FORBIDDEN).await,
        "forbidden",
        "no self-promotion"
    );
    let resp = app
        .post(
            &format!("/api/v1/users/{}/disable", bob.id),
            Some(&alice.access),
            json!({}),
        )
        .await;
    assert_eq!(expect_error(resp, StatusCode::FORBIDDEN).await, "forbidden");
    expect_json(
        app.get("/api/v1/users/me", Some(&bob.access)).await,
        StatusCode::OK,
    )
    .await;

    let resp = app
        .send(
            Method::PATCH,
            &role_path,
            Some(&admin.access),
            Some(json!({ "role": "superuser" })),
        )
        .await;
    expect_error(resp, StatusCode::BAD_REQUEST).await;
    let updated = expect_json(
        app.send(
            Method::PATCH,
            &role_path,
            Some(&admin.access),
            Some(json!({ "role": "admin" })),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(updated["role"], "admin");
    // A role change revokes the tokens issued under the old role.
    assert_eq!(me_code(&app, &bob.access).await, "invalid_token");
    let resp = app
        .send(
            Method::PATCH,
            "/api/v1/users/000000000000000000000000/role",
            Some(&admin.access),
            Some(json!({ "role": "user" })),
        )
        .await;
    assert_eq!(expect_error(resp, StatusCode::NOT_FOUND).await, "not_found");
    let resp = app
        .post(
            &format!("/api/v1/users/{}/disable", admin.id),
            Some(&admin.access),
            json!({}),
        )
        .await;
    assert_eq!(
        expect_error(resp, StatusCode::FORBIDDEN).await,
        "forbidden",
        "an admin cannot disable themselves"
    );
}

#[tokio::test]
async fn errors_never_leak_internals() {
    let app = spawn_app().await;
    let resp = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({ "username": "x".repeat(10_000), "password": "y" }),
        )
        .await;
    let body = resp.text().await.unwrap();
    for leak in ["panicked", "mongodb", "src/", "backtrace"] {
        assert!(!body.to_lowercase().contains(leak), "{leak} in {body}");
    }
}

#[tokio::test]
async fn numbers_booleans_and_nulls_are_not_strings() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let cases = [
        (
            "/api/v1/auth/register",
            json!({ "username": 12345, "password": PASSWORD }),
        ),
        (
            "/api/v1/auth/login",
            json!({ "username": true, "password": PASSWORD }),
        ),
        ("/api/v1/groups", json!({ "name": false })),
        (
            "/api/v1/groups",
            json!({ "name": "ok", "description": null }),
        ),
        ("/api/v1/dms", json!({ "user_id": 7 })),
    ];
    for (path, body) in cases {
        let resp = app.post(path, Some(&alice.access), body.clone()).await;
        assert_eq!(
            expect_error(resp, StatusCode::BAD_REQUEST).await,
            "bad_request",
            "{path} {body}"
        );
    }
    let resp = app
        .send(
            Method::PATCH,
            "/api/v1/users/me",
            Some(&alice.access),
            Some(json!({ "display_name": null })),
        )
        .await;
    assert_eq!(
        expect_error(resp, StatusCode::BAD_REQUEST).await,
        "bad_request"
    );
}

#[tokio::test]
async fn the_body_limit_is_configurable() {
    let app = spawn_app_with(&[("MAX_BODY_BYTES", "1024")]).await;
    let body = json!({ "username": "alice", "password": "x".repeat(2000) });
    let resp = app.post("/api/v1/auth/login", None, body).await;
    assert_eq!(
        expect_error(resp, StatusCode::PAYLOAD_TOO_LARGE).await,
        "payload_too_large"
    );
    let small = app.login("alice", "short but not too short").await;
    assert_eq!(small.status(), StatusCode::UNAUTHORIZED);
}
