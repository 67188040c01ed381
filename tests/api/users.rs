//! Profiles and user search.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_user_reads_and_updates_their_own_profile() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let me = expect_json(
        app.get("/api/v1/users/me", Some(&alice.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (me["id"].as_str(), me["username"].as_str()),
        (Some(alice.id.as_str()), Some("alice"))
    );
    let refused = app
        .send(
            Method::PATCH,
            "/api/v1/users/me",
            Some(&alice.access),
            Some(json!({ "display_name": "Alice Liddell", "role": "admin" })),
        )
        .await;
    assert_eq!(
        expect_error(refused, StatusCode::BAD_REQUEST).await,
        "bad_request",
        "unknown fields are refused, never applied"
    );
    let patched = expect_json(
        app.send(
            Method::PATCH,
            "/api/v1/users/me",
            Some(&alice.access),
            Some(json!({ "display_name": "  Alice Liddell " })),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(patched["display_name"], "Alice Liddell");
    assert_eq!(patched["role"], "user");
    let resp = app
        .send(
            Method::PATCH,
            "/api/v1/users/me",
            Some(&alice.access),
            Some(json!({ "display_name": "" })),
        )
        .await;
    let body = expect_json(resp, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(body["error"]["details"]["fields"]["display_name"].is_string());
}

#[tokio::test]
async fn users_are_found_by_username_prefix_in_pages() {
    let app = spawn_app().await;
    let me = app.user("zed").await;
    for name in ["anna", "annabel", "anne", "annie", "bob"] {
        app.register(name).await;
    }
    let page = expect_json(
        app.get("/api/v1/users?q=ANN&limit=2", Some(&me.access))
            .await,
        StatusCode::OK,
    )
    .await;
    let names: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["anna", "annabel"]);
    let cursor = page["next_cursor"].as_str().expect("more pages");
    let page = expect_json(
        app.get(
            &format!("/api/v1/users?q=ann&limit=2&cursor={cursor}"),
            Some(&me.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let names: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["anne", "annie"]);
    let last = expect_json(
        app.get(
            &format!(
                "/api/v1/users?q=ann&limit=2&cursor={}",
                page["next_cursor"].as_str().unwrap()
            ),
            Some(&me.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(last["items"].as_array().unwrap().len(), 0);
    assert!(last.get("next_cursor").is_none());

    let capped = expect_json(
        app.get("/api/v1/users?q=ann&limit=1000", Some(&me.access))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(capped["items"].as_array().unwrap().len(), 4);
    expect_error(
        app.get("/api/v1/users?q=a", None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let regexy = expect_json(
        app.get("/api/v1/users?q=.*", Some(&me.access)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        regexy["items"].as_array().unwrap().len(),
        0,
        "the prefix is literal, not a pattern"
    );
}

#[tokio::test]
async fn a_public_profile_shows_no_private_fields_and_unknown_ids_are_404() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let profile = expect_json(
        app.get(&format!("/api/v1/users/{}", bob.id), Some(&alice.access))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(profile["username"], "bob");
    // They share no conversation, so bob's presence is not alice's business.
    assert!(profile.get("online").is_none(), "{profile}");
    for private in ["password_hash", "token_version", "disabled"] {
        assert!(profile.get(private).is_none(), "{private}");
    }
    for id in ["000000000000000000000000", "not-an-id", "%24ne"] {
        assert_eq!(
            expect_error(
                app.get(&format!("/api/v1/users/{id}"), Some(&alice.access))
                    .await,
                StatusCode::NOT_FOUND
            )
            .await,
            "not_found"
        );
    }
}
