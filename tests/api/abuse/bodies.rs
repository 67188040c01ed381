//! Oversized, nested and malformed bodies.

use super::*;

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
