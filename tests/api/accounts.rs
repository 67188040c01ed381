//! Registration, login, refresh rotation, logout, tickets and password change.

use futures_util::TryStreamExt;
use mongodb::bson::{Document, doc};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_new_user_registers_with_a_lowercased_unique_username() {
    let app = spawn_app().await;
    let body =
        json!({ "username": "Alice.Smith", "password": PASSWORD, "display_name": "Alice S." });
    let user = expect_json(
        app.post("/api/v1/auth/register", None, body).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(user["username"], "alice.smith");
    assert_eq!(user["display_name"], "Alice S.");
    assert_eq!(user["role"], "user");
    assert!(user["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert!(user.get("password_hash").is_none() && user.get("password").is_none());

    let again = json!({ "username": "ALICE.smith", "password": PASSWORD });
    let code = expect_error(
        app.post("/api/v1/auth/register", None, again).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(code, "username_taken");
}

#[tokio::test]
async fn the_stored_password_is_an_argon2id_hash_with_owasp_parameters() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let raw = app
        .state
        .store
        .db
        .collection::<Document>("users")
        .find_one(doc! { "_id": &alice.id })
        .await
        .unwrap()
        .unwrap();
    let hash = raw.get_str("password_hash").unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(!format!("{raw:?}").contains(PASSWORD));
}

#[tokio::test]
async fn registration_refuses_bad_usernames_and_weak_passwords_with_field_details() {
    let app = spawn_app().await;
    let resp = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({ "username": "a b", "password": "password1" }),
        )
        .await;
    let body = expect_json(resp, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["error"]["code"], "validation_failed");
    assert!(body["error"]["details"]["fields"]["username"].is_string());
    assert!(body["error"]["details"]["fields"]["password"].is_string());

    for password in ["short", "qwertyuiop", "alice123456", "11111111111"] {
        let resp = app
            .post(
                "/api/v1/auth/register",
                None,
                json!({ "username": "alice", "password": password }),
            )
            .await;
        assert_eq!(
            expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY).await,
            "validation_failed",
            "{password}"
        );
    }
    let huge = "x".repeat(1025);
    let resp = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({ "username": "alice", "password": huge }),
        )
        .await;
    assert_eq!(
        expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY).await,
        "validation_failed"
    );
    let resp = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({ "username": "alice", "password": PASSWORD, "display_name": "bad\u{0007}" }),
        )
        .await;
    assert_eq!(
        expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY).await,
        "validation_failed"
    );
}

#[tokio::test]
async fn login_returns_a_bearer_pair_and_failures_are_generic() {
    let app = spawn_app().await;
    app.user("bob").await;
    let pair = expect_json(app.login("BOB", PASSWORD).await, StatusCode::OK).await;
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], 900);
    assert!(pair["access_token"].as_str().unwrap().split('.').count() == 3);

    let wrong_password = expect_json(
        app.login("bob", "not the password at all").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let unknown_user = expect_json(
        app.login("nobody", "not the password at all").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(wrong_password, unknown_user, "no user enumeration");
    assert_eq!(wrong_password["error"]["code"], "invalid_credentials");
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_whole_family() {
    let app = spawn_app_with(&[("REFRESH_REUSE_GRACE_SECS", "1")]).await;
    let carol = app.user("carol").await;
    let first = expect_json(app.refresh(&carol.refresh).await, StatusCode::OK).await;
    let second_refresh = first["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second_refresh, carol.refresh);
    expect_json(
        app.get(
            "/api/v1/users/me",
            Some(first["access_token"].as_str().unwrap()),
        )
        .await,
        StatusCode::OK,
    )
    .await;

    // The old token is replayed after the retry grace: reuse is detected and the
    // family dies.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let code = expect_error(app.refresh(&carol.refresh).await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(code, "refresh_token_reused");
    let code = expect_error(app.refresh(&second_refresh).await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(code, "invalid_token");
    let code = expect_error(app.refresh(&"made-up").await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(code, "invalid_token");
}

#[tokio::test]
async fn refresh_tokens_are_stored_only_as_sha256_hashes() {
    let app = spawn_app().await;
    let dave = app.user("dave").await;
    let stored: Vec<Document> = app
        .state
        .store
        .db
        .collection::<Document>("refresh_tokens")
        .find(doc! {})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    let id = stored[0].get_str("_id").unwrap();
    assert_eq!(id.len(), 64);
    assert!(!format!("{stored:?}").contains(&dave.refresh));
}

#[tokio::test]
async fn logout_revokes_that_session_only() {
    let app = spawn_app().await;
    let erin = app.user("erin").await;
    let other = expect_json(app.login("erin", PASSWORD).await, StatusCode::OK).await;
    let resp = app
        .post(
            "/api/v1/auth/logout",
            Some(&erin.access),
            json!({ "refresh_token": erin.refresh }),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let code = expect_error(app.refresh(&erin.refresh).await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(code, "invalid_token");
    expect_json(app.refresh(&other["refresh_token"]).await, StatusCode::OK).await;
}

#[tokio::test]
async fn logout_needs_a_bearer_token_and_cannot_revoke_someone_elses_session() {
    let app = spawn_app().await;
    let frank = app.user("frank").await;
    let grace = app.user("grace").await;
    let code = expect_error(
        app.post(
            "/api/v1/auth/logout",
            None,
            json!({ "refresh_token": frank.refresh }),
        )
        .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(code, "unauthenticated");
    let resp = app
        .post(
            "/api/v1/auth/logout",
            Some(&grace.access),
            json!({ "refresh_token": frank.refresh }),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    expect_json(app.refresh(&frank.refresh).await, StatusCode::OK).await;
}

#[tokio::test]
async fn logout_all_revokes_every_access_and_refresh_token() {
    let app = spawn_app().await;
    let hana = app.user("hana").await;
    let second = expect_json(app.login("hana", PASSWORD).await, StatusCode::OK).await;
    let resp = app
        .post("/api/v1/auth/logout-all", Some(&hana.access), json!({}))
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    for token in [&hana.access, second["access_token"].as_str().unwrap()] {
        assert_eq!(
            expect_error(
                app.get("/api/v1/users/me", Some(token)).await,
                StatusCode::UNAUTHORIZED
            )
            .await,
            "invalid_token"
        );
    }
    for refresh in [
        hana.refresh.as_str(),
        second["refresh_token"].as_str().unwrap(),
    ] {
        expect_error(app.refresh(&refresh).await, StatusCode::UNAUTHORIZED).await;
    }
}

#[tokio::test]
async fn changing_the_password_revokes_all_tokens_and_the_old_password() {
    let app = spawn_app().await;
    let ivan = app.user("ivan").await;
    let new_password = "velvet thunder harbor 2049";
    let wrong =
        json!({ "current_password": "not my password at all", "new_password": new_password });
    let body = expect_json(
        app.send(
            Method::PUT,
            "/api/v1/auth/password",
            Some(&ivan.access),
            Some(wrong),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(body["error"]["details"]["fields"]["current_password"].is_string());
    let weak = json!({ "current_password": PASSWORD, "new_password": "ivan1234" });
    expect_error(
        app.send(
            Method::PUT,
            "/api/v1/auth/password",
            Some(&ivan.access),
            Some(weak),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    let change = json!({ "current_password": PASSWORD, "new_password": new_password });
    let resp = app
        .send(
            Method::PUT,
            "/api/v1/auth/password",
            Some(&ivan.access),
            Some(change),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        expect_error(
            app.get("/api/v1/users/me", Some(&ivan.access)).await,
            StatusCode::UNAUTHORIZED
        )
        .await,
        "invalid_token"
    );
    expect_error(app.refresh(&ivan.refresh).await, StatusCode::UNAUTHORIZED).await;
    expect_error(app.login("ivan", PASSWORD).await, StatusCode::UNAUTHORIZED).await;
    expect_json(app.login("ivan", new_password).await, StatusCode::OK).await;
}

#[tokio::test]
async fn a_ws_ticket_is_issued_to_a_user_and_stored_hashed_with_a_30s_expiry() {
    let app = spawn_app().await;
    let judy = app.user("judy").await;
    expect_error(
        app.post("/api/v1/auth/ws-ticket", None, json!({})).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let ticket = expect_json(
        app.post("/api/v1/auth/ws-ticket", Some(&judy.access), json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(ticket["expires_in"], 30);
    let raw = ticket["ticket"].as_str().unwrap();
    let taken = app
        .state
        .store
        .tokens
        .take_ticket(&confab::auth::tokens::hash_opaque(raw))
        .await
        .unwrap();
    assert_eq!(taken.map(|t| t.user_id.into_inner()), Some(judy.id));
    let again = app
        .state
        .store
        .tokens
        .take_ticket(&confab::auth::tokens::hash_opaque(raw))
        .await
        .unwrap();
    assert!(again.is_none(), "a ticket works once");
}

#[tokio::test]
async fn a_disabled_user_cannot_log_in_or_refresh() {
    let app = spawn_app().await;
    let admin = app.admin("root").await;
    let kim = app.user("kim").await;
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
    assert_eq!(
        expect_error(
            app.get("/api/v1/users/me", Some(&kim.access)).await,
            StatusCode::UNAUTHORIZED
        )
        .await,
        "invalid_token"
    );
    assert_eq!(
        expect_error(app.login("kim", PASSWORD).await, StatusCode::FORBIDDEN).await,
        "account_disabled"
    );
    expect_error(app.refresh(&kim.refresh).await, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn the_bootstrap_admin_is_created_once_and_can_moderate() {
    let overrides = [
        ("CONFAB_ADMIN_USERNAME", "Root"),
        ("CONFAB_ADMIN_PASSWORD", "sapphire kettle orchard 88"),
    ];
    let app = spawn_app_with(&overrides).await;
    // Idempotent: a second start changes nothing.
    app.state.init().await.unwrap();
    let count = app
        .state
        .store
        .db
        .collection::<Document>("users")
        .count_documents(doc! { "username": "root" })
        .await
        .unwrap();
    assert_eq!(count, 1);
    let pair = expect_json(
        app.login("root", "sapphire kettle orchard 88").await,
        StatusCode::OK,
    )
    .await;
    let me = expect_json(
        app.get("/api/v1/users/me", pair["access_token"].as_str())
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["role"], "admin");
}

/// Finding 8 of issue 20: parallel retries of one refresh (a client retrying a
/// timed-out refresh) used to log the user out: 10 at once, 0 winners. Within the
/// grace each gets a working pair, and the family lives on.
#[tokio::test]
async fn parallel_retries_of_one_refresh_all_get_working_pairs() {
    let app = spawn_app().await;
    let erin = app.user("erin").await;
    let answers = futures_util::future::join_all((0..10).map(|_| app.refresh(&erin.refresh))).await;
    let mut pairs = Vec::new();
    for resp in answers {
        pairs.push(expect_json(resp, StatusCode::OK).await);
    }
    // One rotation (decided by its document's unique `_id`); the rest are retries,
    // siblings in the same family.
    let rotations = app
        .state
        .store
        .db
        .collection::<Document>("refresh_rotations")
        .count_documents(doc! {})
        .await
        .expect("count");
    assert_eq!(rotations, 1);
    for pair in &pairs {
        let access = pair["access_token"].as_str().expect("access");
        let me = app.get("/api/v1/users/me", Some(access)).await;
        assert_eq!(me.status(), StatusCode::OK, "every access token works");
        let refresh = pair["refresh_token"].as_str().expect("refresh");
        expect_json(app.refresh(refresh).await, StatusCode::OK).await;
    }
}

/// The value of the `confab_refresh` cookie a response sets, with its attributes.
fn set_web_cookie(resp: &reqwest::Response) -> (String, String) {
    let header = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("confab_refresh="))
        .unwrap_or_else(|| panic!("no confab_refresh cookie: {:?}", resp.headers()))
        .to_owned();
    let value = header
        .trim_start_matches("confab_refresh=")
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned();
    (value, header)
}

/// Issue 20: the web client's refresh token lives where no script on the origin
/// can read it. The web-session calls put it in an `HttpOnly`, `Secure`,
/// `SameSite=Strict` cookie scoped to `/api/v1/auth/web`, answer with the access
/// token only, rotate the cookie on refresh and clear it on logout; each needs the
/// `X-Confab-Web` header, which a cross-origin page cannot add without a
/// preflight.
#[tokio::test]
async fn the_web_session_keeps_its_refresh_token_in_an_httponly_cookie() {
    let app = spawn_app().await;
    expect_json(app.register("webby").await, StatusCode::CREATED).await;
    let credentials = json!({ "username": "webby", "password": PASSWORD });
    let login = |marker: bool| {
        let mut req = app
            .http
            .post(app.url("/api/v1/auth/web/login"))
            .json(&credentials);
        if marker {
            req = req.header("X-Confab-Web", "1");
        }
        req.send()
    };
    let code = expect_error(login(false).await.expect("login"), StatusCode::BAD_REQUEST).await;
    assert_eq!(code, "bad_request", "without the header");

    let resp = login(true).await.expect("login");
    assert_eq!(resp.status(), StatusCode::OK);
    let (first, header) = set_web_cookie(&resp);
    for attribute in [
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/api/v1/auth/web",
    ] {
        assert!(header.contains(attribute), "{attribute} in {header}");
    }
    let body = expect_json(resp, StatusCode::OK).await;
    assert!(
        body.get("refresh_token").is_none(),
        "no refresh token in the body: {body}"
    );
    let access = body["access_token"].as_str().expect("access").to_owned();
    assert_eq!(
        expect_json(
            app.get("/api/v1/users/me", Some(&access)).await,
            StatusCode::OK
        )
        .await["username"],
        "webby"
    );

    let refresh = |cookie: Option<&str>| {
        let mut req = app
            .http
            .post(app.url("/api/v1/auth/web/refresh"))
            .header("X-Confab-Web", "1");
        if let Some(cookie) = cookie {
            req = req.header("Cookie", format!("confab_refresh={cookie}"));
        }
        req.send()
    };
    let code = expect_error(
        refresh(None).await.expect("refresh"),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(code, "invalid_token", "no cookie");
    let resp = refresh(Some(&first)).await.expect("refresh");
    assert_eq!(resp.status(), StatusCode::OK);
    let (second, _) = set_web_cookie(&resp);
    assert_ne!(second, first, "rotated");
    let access = expect_json(resp, StatusCode::OK).await["access_token"]
        .as_str()
        .expect("access")
        .to_owned();
    assert_eq!(
        app.get("/api/v1/users/me", Some(&access)).await.status(),
        StatusCode::OK
    );

    // Logging out needs the cookie only (after logout-all no access token is left).
    let resp = app
        .http
        .post(app.url("/api/v1/auth/web/logout"))
        .header("X-Confab-Web", "1")
        .header("Cookie", format!("confab_refresh={second}"))
        .send()
        .await
        .expect("logout");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let (cleared, header) = set_web_cookie(&resp);
    assert!(
        cleared.is_empty() && header.contains("Max-Age=0"),
        "{header}"
    );
    let code = expect_error(
        refresh(Some(&second)).await.expect("refresh"),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(code, "invalid_token", "the session is revoked");
}
