//! Security hardening (issue 10): throttles that hold under concurrency, client
//! addresses behind proxies, the bootstrap admin, and what is exposed to whom.

use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

const WRONG: &str = "definitely not the password 1";

async fn login_from(app: &TestApp, forwarded_for: &str, username: &str) -> StatusCode {
    app.http
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({ "username": username, "password": WRONG }))
        .send()
        .await
        .expect("request")
        .status()
}

// ---- 1. login throttles ---------------------------------------------------

#[tokio::test]
async fn parallel_wrong_password_logins_get_at_most_the_per_user_limit_through() {
    let app = spawn_app_with(&[("LOGIN_MAX_FAILURES_PER_USER", "10")]).await;
    for round in 0..3 {
        let name = format!("victim{round}");
        app.user(&name).await;
        let attempts = (0..60).map(|_| app.login(&name, WRONG));
        let statuses: Vec<StatusCode> = join_all(attempts)
            .await
            .iter()
            .map(|r| r.status())
            .collect();
        let through = statuses
            .iter()
            .filter(|s| **s != StatusCode::TOO_MANY_REQUESTS)
            .count();
        assert!(
            through <= 10,
            "round {round}: {through} got through: {statuses:?}"
        );
        assert!(
            statuses
                .iter()
                .all(|s| *s == StatusCode::UNAUTHORIZED || *s == StatusCode::TOO_MANY_REQUESTS),
            "{statuses:?}"
        );
        // The limit is reached: even the right password waits now.
        assert_eq!(
            app.login(&name, PASSWORD).await.status(),
            StatusCode::TOO_MANY_REQUESTS
        );
    }
}

#[tokio::test]
async fn parallel_wrong_current_passwords_get_at_most_the_limit_through() {
    let app = spawn_app_with(&[("LOGIN_MAX_FAILURES_PER_USER", "5")]).await;
    for round in 0..3 {
        let user = app.user(&format!("changer{round}")).await;
        let attempts = (0..40).map(|_| {
            app.send(
                Method::PUT,
                "/api/v1/auth/password",
                Some(&user.access),
                Some(json!({ "current_password": WRONG, "new_password": "violet harbour quantum 88" })),
            )
        });
        let statuses: Vec<StatusCode> = join_all(attempts)
            .await
            .iter()
            .map(|r| r.status())
            .collect();
        let through = statuses
            .iter()
            .filter(|s| **s != StatusCode::TOO_MANY_REQUESTS)
            .count();
        assert!(
            through <= 5,
            "round {round}: {through} got through: {statuses:?}"
        );
    }
}

#[tokio::test]
async fn a_login_lockout_leaves_the_victims_open_sessions_working() {
    let app = spawn_app_with(&[("LOGIN_MAX_FAILURES_PER_USER", "3")]).await;
    let victim = app.user("victim").await;
    for _ in 0..5 {
        app.login("victim", WRONG).await;
    }
    assert_eq!(
        expect_error(
            app.login("victim", PASSWORD).await,
            StatusCode::TOO_MANY_REQUESTS
        )
        .await,
        "rate_limited"
    );
    // The access token still works, the refresh token still refreshes ...
    let me = expect_json(
        app.get("/api/v1/users/me", Some(&victim.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["username"], "victim");
    let pair = expect_json(app.refresh(&victim.refresh).await, StatusCode::OK).await;
    let access = pair["access_token"].as_str().expect("access");
    expect_json(
        app.get("/api/v1/users/me", Some(access)).await,
        StatusCode::OK,
    )
    .await;
    // ... and the owner can still change their password.
    let changed = app
        .send(
            Method::PUT,
            "/api/v1/auth/password",
            Some(access),
            Some(json!({ "current_password": PASSWORD, "new_password": "violet harbour quantum 88" })),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn forwarded_for_is_ignored_without_trusted_proxies() {
    let app = spawn_app_with(&[("LOGIN_MAX_FAILURES_PER_IP", "3")]).await;
    for i in 0..3 {
        let status = login_from(&app, &format!("198.51.100.{i}"), &format!("ghost{i}")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // A fresh forged address does not buy a fresh budget.
    assert_eq!(
        login_from(&app, "203.0.113.77", "ghost9").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_right_most_untrusted_hop_is_the_client() {
    let app = spawn_app_with(&[
        ("LOGIN_MAX_FAILURES_PER_IP", "3"),
        ("TRUSTED_PROXIES", "127.0.0.0/8, 10.0.0.0/8"),
    ])
    .await;
    // The client forges the left part; the proxies appended the real address.
    for i in 0..3 {
        let chain = format!("6.6.6.{i}, 198.51.100.7, 10.0.0.{i}");
        assert_eq!(
            login_from(&app, &chain, &format!("ghost{i}")).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login_from(&app, "9.9.9.9, 198.51.100.7", "ghost9").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another client behind the same proxy has its own budget.
    assert_eq!(
        login_from(&app, "198.51.100.8", "ghost9").await,
        StatusCode::UNAUTHORIZED
    );
}

/// Issue 20: one byte that is not text in the client-written part of
/// `X-Forwarded-For` made the whole header unreadable, so the client was limited
/// as the proxy (every client behind it shared one budget).
#[tokio::test]
async fn a_byte_that_is_not_text_in_forwarded_for_spoils_only_its_own_hop() {
    let app = spawn_app_with(&[
        ("LOGIN_MAX_FAILURES_PER_IP", "3"),
        ("TRUSTED_PROXIES", "127.0.0.0/8"),
    ])
    .await;
    let login = |forwarded: &'static [u8], username: &'static str| {
        app.http
            .post(app.url("/api/v1/auth/login"))
            .header(
                "x-forwarded-for",
                reqwest::header::HeaderValue::from_bytes(forwarded).expect("header"),
            )
            .json(&json!({ "username": username, "password": WRONG }))
            .send()
    };
    for name in ["ghost1", "ghost2", "ghost3"] {
        let resp = login(b"6.6.6.\xff\xfe, 198.51.100.7", name)
            .await
            .expect("request");
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    // The client's own budget is spent, not the proxy's.
    let resp = login(b"198.51.100.7", "ghost4").await.expect("request");
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let resp = login(b"198.51.100.8", "ghost5").await.expect("request");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn ipv6_clients_are_throttled_by_their_slash_64() {
    let app = spawn_app_with(&[
        ("LOGIN_MAX_FAILURES_PER_IP", "3"),
        ("TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    for i in 1..=3 {
        let ip = format!("2001:db8:1:2::{i:x}");
        assert_eq!(
            login_from(&app, &ip, &format!("ghost{i}")).await,
            StatusCode::UNAUTHORIZED
        );
    }
    // Any other address in the same /64 shares the exhausted budget ...
    assert_eq!(
        login_from(&app, "2001:db8:1:2:ffff:1234:5678:9abc", "ghost9").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // ... while the next /64 does not.
    assert_eq!(
        login_from(&app, "2001:db8:1:3::1", "ghost9").await,
        StatusCode::UNAUTHORIZED
    );
}

// ---- 2. bootstrap admin ---------------------------------------------------

const ADMIN_PASSWORD: &str = "sapphire kettle orchard 88";

#[tokio::test]
async fn the_bootstrap_admin_name_never_promotes_an_account_with_another_password() {
    let app = spawn_app().await;
    // Someone registered the name before it was configured.
    let squatter = app.user("root").await;
    let node = app
        .another_node_with(&[
            ("CONFAB_ADMIN_USERNAME", "Root"),
            ("CONFAB_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ])
        .await;
    let me = expect_json(
        node.get("/api/v1/users/me", Some(&squatter.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["role"], "user");
    let fresh = expect_json(node.login("root", PASSWORD).await, StatusCode::OK).await;
    let me = expect_json(
        node.get("/api/v1/users/me", fresh["access_token"].as_str())
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["role"], "user", "the squatter is not an admin");
    assert_eq!(
        node.login("root", ADMIN_PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert!(
        logged().iter().any(
            |l| l["event"] == "admin_bootstrap_refused" && l["user_id"] == squatter.id.as_str()
        ),
        "a warning event is logged"
    );
}

#[tokio::test]
async fn an_existing_account_with_the_admin_password_is_still_promoted() {
    let app = spawn_app().await;
    let body = json!({ "username": "boss", "password": ADMIN_PASSWORD });
    expect_json(
        app.post("/api/v1/auth/register", None, body).await,
        StatusCode::CREATED,
    )
    .await;
    let node = app
        .another_node_with(&[
            ("CONFAB_ADMIN_USERNAME", "boss"),
            ("CONFAB_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ])
        .await;
    let pair = expect_json(node.login("boss", ADMIN_PASSWORD).await, StatusCode::OK).await;
    let me = expect_json(
        node.get("/api/v1/users/me", pair["access_token"].as_str())
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(me["role"], "admin");
}

#[tokio::test]
async fn registration_refuses_the_configured_admin_username() {
    let app = spawn_app_with(&[
        ("CONFAB_ADMIN_USERNAME", "root"),
        ("CONFAB_ADMIN_PASSWORD", ADMIN_PASSWORD),
    ])
    .await;
    // Even while the account does not exist (say, before another node created it).
    let db = &app.state.store.db;
    for (collection, filter) in [
        ("users", mongodb::bson::doc! { "username": "root" }),
        ("usernames", mongodb::bson::doc! { "_id": "root" }),
    ] {
        let deleted = db
            .collection::<mongodb::bson::Document>(collection)
            .delete_many(filter)
            .await
            .expect("delete");
        assert_eq!(deleted.deleted_count, 1, "{collection}");
    }
    for name in ["root", "ROOT", "Root"] {
        assert_eq!(
            expect_error(app.register(name).await, StatusCode::CONFLICT).await,
            "username_taken",
            "{name}"
        );
    }
    app.user("rooted").await;
}

// ---- 3. exposure ------------------------------------------------------------

const METRICS_TOKEN: &str = "m3trics-T0ken-for-tests-9f8e7d6c5b4a";

#[tokio::test]
async fn metrics_are_404_without_a_configured_token() {
    let app = spawn_app().await;
    assert_eq!(
        expect_error(app.get("/metrics", None).await, StatusCode::NOT_FOUND).await,
        "not_found"
    );
    assert_eq!(
        expect_error(
            app.get("/metrics", Some("anything")).await,
            StatusCode::NOT_FOUND
        )
        .await,
        "not_found"
    );
}

#[tokio::test]
async fn metrics_need_the_metrics_token() {
    let app = spawn_app_with(&[("METRICS_TOKEN", METRICS_TOKEN)]).await;
    let user = app.user("alice").await;
    for token in [None, Some("wrong"), Some(user.access.as_str())] {
        assert_eq!(
            expect_error(app.get("/metrics", token).await, StatusCode::NOT_FOUND).await,
            "not_found",
            "{token:?}"
        );
    }
    let text = app
        .get("/metrics", Some(METRICS_TOKEN))
        .await
        .text()
        .await
        .expect("text");
    assert!(text.contains("confab_http_requests_total"), "{text}");
}

async fn profile(app: &TestApp, viewer: &Session, target: &Session) -> Value {
    expect_json(
        app.get(
            &format!("/api/v1/users/{}", target.id),
            Some(&viewer.access),
        )
        .await,
        StatusCode::OK,
    )
    .await
}

#[tokio::test]
async fn online_status_is_shown_only_to_people_who_share_a_conversation() {
    let app = spawn_app().await;
    let bob = app.user("bob").await;
    let stranger = app.user("stranger").await;
    let groupmate = app.user("groupmate").await;
    let dm_peer = app.user("dmpeer").await;
    let admin = app.admin("admin").await;
    let _socket = app.ws(&bob.access).await;

    let group = app.group(&bob, "Team", "public").await;
    let joined = app
        .post(
            &format!("/api/v1/groups/{group}/join"),
            Some(&groupmate.access),
            json!({}),
        )
        .await;
    assert_eq!(joined.status(), StatusCode::OK);
    let dm = app.dm(&dm_peer, &bob).await;
    // A DM shows `online` once the viewed user has written in it (issue 20).
    app.said(&bob, &dm, "hello").await;

    assert_eq!(profile(&app, &bob, &bob).await["online"], true);
    assert_eq!(profile(&app, &groupmate, &bob).await["online"], true);
    assert_eq!(profile(&app, &dm_peer, &bob).await["online"], true);
    for outsider in [&stranger, &admin] {
        let seen = profile(&app, outsider, &bob).await;
        assert_eq!(seen["username"], "bob");
        assert!(seen.get("online").is_none(), "{seen}");
    }

    // A global admin may list the members of a group they are not in, but sees no
    // presence there, neither in the member list nor in the room's presence.
    let members = expect_json(
        app.get(
            &format!("/api/v1/groups/{group}/members"),
            Some(&admin.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let items = members["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|m| m.get("online").is_none()), "{members}");
    let mine = expect_json(
        app.get(
            &format!("/api/v1/groups/{group}/members"),
            Some(&groupmate.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert!(
        mine["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|m| m["user"]["username"] == "bob" && m["online"] == true),
        "{mine}"
    );
}

#[tokio::test]
async fn an_empty_user_search_lists_nobody() {
    let app = spawn_app().await;
    let me = app.user("alice").await;
    app.user("bob").await;
    assert_eq!(
        expect_error(
            app.get("/api/v1/users?q=", Some(&me.access)).await,
            StatusCode::UNPROCESSABLE_ENTITY
        )
        .await,
        "validation_failed"
    );
    let missing = app.get("/api/v1/users?limit=100", Some(&me.access)).await;
    assert!(
        missing.status() == StatusCode::BAD_REQUEST
            || missing.status() == StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        missing.status()
    );
    let body = missing.text().await.unwrap_or_default();
    assert!(!body.contains("bob"), "{body}");
    let found = expect_json(
        app.get("/api/v1/users?q=b", Some(&me.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(found["items"][0]["username"], "bob");
}
