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

mod bodies;
mod cross_tenant;
mod injection;
mod names;
mod odd_ids;
mod websocket;
