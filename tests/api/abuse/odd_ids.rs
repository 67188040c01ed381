//! Odd ids on every id route.

use super::*;

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
