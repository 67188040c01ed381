//! A thin client for the parts of confab's REST API and WebSocket gateway that
//! the scenarios use. Every call goes over real HTTP or WebSocket; errors carry
//! the status and body so a failed run says why.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures_util::{StreamExt, TryStreamExt, stream};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

/// One client WebSocket connection to the gateway.
pub type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// Which history page to read.
#[derive(Clone, Copy, Debug)]
pub enum Window {
    Latest,
    Before(u64),
    After(u64),
}

/// What a history page held.
pub struct Page {
    pub items: usize,
    pub max_seq: Option<u64>,
}

/// What a search page held.
pub struct SearchPage {
    pub items: usize,
    /// A `next_cursor` came with it.
    pub more: bool,
}

/// REST client bound to one server base URL (e.g. `http://127.0.0.1:8000`).
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    pub fn new(base: &str) -> Result<Self> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(512)
            .timeout(Duration::from_secs(60))
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_string(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    /// Turns a non-2xx answer into an error that names the call, status and body.
    async fn check(resp: reqwest::Response, what: &str) -> Result<Value> {
        let status = resp.status();
        if status.is_success() {
            if status == reqwest::StatusCode::NO_CONTENT {
                return Ok(Value::Null);
            }
            return resp
                .json()
                .await
                .with_context(|| format!("{what}: reading the JSON body"));
        }
        let body = resp.text().await.unwrap_or_default();
        bail!("{what}: HTTP {status}: {body}")
    }

    /// Registers a user through the API (one argon2id hash on the server).
    pub async fn register(&self, username: &str, password: &str) -> Result<()> {
        let resp = self
            .http
            .post(self.url("/auth/register"))
            .json(&json!({ "username": username, "password": password }))
            .send()
            .await
            .context("register: sending")?;
        Self::check(resp, "register").await.map(|_| ())
    }

    /// Logs in and returns the access token.
    pub async fn login(&self, username: &str, password: &str) -> Result<String> {
        let resp = self
            .http
            .post(self.url("/auth/login"))
            .json(&json!({ "username": username, "password": password }))
            .send()
            .await
            .context("login: sending")?;
        let body = Self::check(resp, "login").await?;
        body["access_token"]
            .as_str()
            .map(str::to_string)
            .context("login: no access_token in the answer")
    }

    /// Creates a public group and returns its id (which is also its conversation id).
    pub async fn create_group(&self, token: &str, name: &str) -> Result<String> {
        let resp = self
            .http
            .post(self.url("/groups"))
            .bearer_auth(token)
            .json(&json!({ "name": name, "visibility": "public" }))
            .send()
            .await
            .context("createGroup: sending")?;
        let body = Self::check(resp, "createGroup").await?;
        body["id"]
            .as_str()
            .map(str::to_string)
            .context("createGroup: no id in the answer")
    }

    pub async fn join_group(&self, token: &str, group: &str) -> Result<()> {
        let resp = self
            .http
            .post(self.url(&format!("/groups/{group}/join")))
            .bearer_auth(token)
            .send()
            .await
            .context("joinGroup: sending")?;
        Self::check(resp, "joinGroup").await.map(|_| ())
    }

    /// Reads one history page: how many messages it held and the highest seq.
    pub async fn history_page(
        &self,
        token: &str,
        conversation: &str,
        window: Window,
        limit: u32,
    ) -> Result<Page> {
        let mut req = self
            .http
            .get(self.url(&format!("/conversations/{conversation}/messages")))
            .bearer_auth(token)
            .query(&[("limit", limit.to_string())]);
        match window {
            Window::Latest => {}
            Window::Before(seq) => req = req.query(&[("before", seq.to_string())]),
            Window::After(seq) => req = req.query(&[("after", seq.to_string())]),
        }
        let resp = req.send().await.context("listMessages: sending")?;
        let body = Self::check(resp, "listMessages").await?;
        let items = body["items"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        Ok(Page {
            items: items.len(),
            max_seq: items.iter().filter_map(|m| m["seq"].as_u64()).max(),
        })
    }

    /// The latest `limit` messages of a conversation, as the server sent them.
    pub async fn latest_messages(
        &self,
        token: &str,
        conversation: &str,
        limit: u32,
    ) -> Result<Vec<Value>> {
        let resp = self
            .http
            .get(self.url(&format!("/conversations/{conversation}/messages")))
            .bearer_auth(token)
            .query(&[("limit", limit.to_string())])
            .send()
            .await
            .context("listMessages: sending")?;
        let mut body = Self::check(resp, "listMessages").await?;
        Ok(body["items"]
            .as_array_mut()
            .map(std::mem::take)
            .unwrap_or_default())
    }

    /// Sends a message over REST (`POST /conversations/{id}/messages`); only a
    /// 201 (stored now) counts.
    pub async fn send_message(&self, token: &str, conversation: &str, body: &str) -> Result<()> {
        let resp = self
            .http
            .post(self.url(&format!("/conversations/{conversation}/messages")))
            .bearer_auth(token)
            .json(&json!({ "body": body }))
            .send()
            .await
            .context("sendMessage: sending")?;
        let status = resp.status();
        Self::check(resp, "sendMessage").await?;
        if status != reqwest::StatusCode::CREATED {
            bail!("sendMessage: HTTP {status}, not 201");
        }
        Ok(())
    }

    /// One page of `GET /search/messages?q=&limit=`.
    pub async fn search(&self, token: &str, q: &str, limit: u32) -> Result<SearchPage> {
        let resp = self
            .http
            .get(self.url("/search/messages"))
            .bearer_auth(token)
            .query(&[("q", q), ("limit", &limit.to_string())])
            .send()
            .await
            .context("searchMessages: sending")?;
        let body = Self::check(resp, "searchMessages").await?;
        let items = body["items"]
            .as_array()
            .context("searchMessages: no items in the answer")?;
        Ok(SearchPage {
            items: items.len(),
            more: body["next_cursor"].is_string(),
        })
    }

    /// Opens a WebSocket to the gateway, authenticated with a bearer header.
    pub async fn ws_connect(&self, token: &str) -> Result<Ws> {
        let ws_base = if let Some(rest) = self.base.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = self.base.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            self.base.clone()
        };
        let mut req = format!("{ws_base}/api/v1/ws")
            .into_client_request()
            .context("building the WebSocket request")?;
        let auth = HeaderValue::from_str(&format!("Bearer {token}"))
            .context("the token is not a valid header value")?;
        req.headers_mut().insert("authorization", auth);
        let (ws, _) = connect_async(req).await.context("WebSocket upgrade")?;
        Ok(ws)
    }
}

/// Logs every username in (with `concurrency` logins in flight) and returns the
/// access tokens in the same order.
pub async fn login_all(
    api: &Api,
    usernames: &[String],
    password: &str,
    concurrency: usize,
) -> Result<Vec<String>> {
    stream::iter(usernames.iter())
        .map(|u| api.login(u, password))
        .buffered(concurrency.max(1))
        .try_collect()
        .await
}

/// Sends a JSON frame.
pub fn frame(value: &Value) -> Message {
    Message::text(value.to_string())
}

/// Sends `join` for `conversation` and waits (up to 10 s) for its `joined`.
pub async fn ws_join(ws: &mut Ws, conversation: &str) -> Result<()> {
    use futures_util::SinkExt;
    ws.send(frame(
        &json!({ "type": "join", "conversation": conversation }),
    ))
    .await
    .context("sending join")?;
    wait_for_type(ws, "joined").await
}

/// Reads frames until one of type `ty` arrives (up to 10 s); other frames are skipped.
pub async fn wait_for_type(ws: &mut Ws, ty: &str) -> Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let next = tokio::time::timeout_at(deadline, ws.next())
            .await
            .with_context(|| format!("no `{ty}` frame within 10 s"))?;
        match next {
            Some(Ok(Message::Text(text))) => {
                let v: Value = serde_json::from_str(text.as_str()).context("a non-JSON frame")?;
                if v["type"] == ty {
                    return Ok(());
                }
                if v["type"] == "error" {
                    bail!("the server answered with an error while waiting for `{ty}`: {v}");
                }
            }
            Some(Ok(Message::Close(close))) => bail!("closed while waiting for `{ty}`: {close:?}"),
            Some(Ok(_)) => {}
            Some(Err(err)) => return Err(err).context("reading a frame"),
            None => bail!("the connection ended while waiting for `{ty}`"),
        }
    }
}
