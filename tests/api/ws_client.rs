//! A small WebSocket test client over real frames.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::helpers::TestApp;

pub const WAIT: Duration = Duration::from_secs(10);

pub struct Ws {
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// How an upgrade attempt ended.
pub enum Upgrade {
    Open(Box<Ws>),
    Refused(u16),
    /// No HTTP answer at all (connection refused or reset).
    Unreachable(String),
}

impl TestApp {
    pub fn ws_url(&self, query: &str) -> String {
        format!("{}/api/v1/ws{query}", self.base.replacen("http", "ws", 1))
    }

    /// Attempts an upgrade with optional bearer token, query and Origin.
    pub async fn try_ws(&self, token: Option<&str>, query: &str, origin: Option<&str>) -> Upgrade {
        let mut request = self.ws_url(query).into_client_request().expect("request");
        if let Some(token) = token {
            request.headers_mut().insert(
                "authorization",
                HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
            );
        }
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("origin", HeaderValue::from_str(origin).unwrap());
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((stream, _)) => Upgrade::Open(Box::new(Ws { stream })),
            Err(WsError::Http(response)) => Upgrade::Refused(response.status().as_u16()),
            Err(other) => Upgrade::Unreachable(other.to_string()),
        }
    }

    /// Connects with a bearer token through a socket with a tiny receive buffer, so
    /// that a client that stops reading backs up the server quickly.
    pub async fn ws_small_buffer(&self, token: &str) -> Ws {
        let mut request = self.ws_url("").into_client_request().expect("request");
        request.headers_mut().insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        let addr: std::net::SocketAddr = self
            .base
            .trim_start_matches("http://")
            .parse()
            .expect("addr");
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("rcvbuf");
        let tcp = socket.connect(addr).await.expect("connect");
        let (stream, _) = tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(tcp))
            .await
            .expect("upgrade");
        Ws { stream }
    }

    /// Connects with a bearer token.
    pub async fn ws(&self, token: &str) -> Ws {
        match self.try_ws(Some(token), "", None).await {
            Upgrade::Open(ws) => *ws,
            Upgrade::Refused(status) => panic!("upgrade refused with {status}"),
            Upgrade::Unreachable(why) => panic!("upgrade failed: {why}"),
        }
    }
}

impl Ws {
    pub async fn send_json(&mut self, frame: Value) {
        self.stream
            .send(Message::text(frame.to_string()))
            .await
            .expect("send frame");
    }

    pub async fn send_raw(&mut self, message: Message) {
        self.stream.send(message).await.expect("send raw");
    }

    /// The next JSON frame, or `None` if the socket closed or nothing came in `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let next = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .ok()??;
            match next {
                Ok(Message::Text(text)) => {
                    return Some(serde_json::from_str(&text).expect("JSON frame"));
                }
                Ok(Message::Ping(_) | Message::Pong(_)) => continue,
                _ => return None,
            }
        }
    }

    pub async fn next_json(&mut self) -> Value {
        self.next_within(WAIT).await.expect("a frame")
    }

    /// Reads until a frame of `kind` arrives, returning it; other frames are skipped.
    pub async fn expect(&mut self, kind: &str) -> Value {
        loop {
            let frame = self
                .next_within(WAIT)
                .await
                .unwrap_or_else(|| panic!("no {kind} frame"));
            if frame["type"] == kind {
                return frame;
            }
        }
    }

    /// Every frame that arrives within `wait`.
    pub async fn drain(&mut self, wait: Duration) -> Vec<Value> {
        let mut frames = Vec::new();
        while let Some(frame) = self.next_within(wait).await {
            frames.push(frame);
        }
        frames
    }

    /// Reads until the server closes; returns the close code (None: no close frame).
    pub async fn closed_with(&mut self) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => panic!("the server did not close the socket"),
                Ok(None) | Ok(Some(Err(_))) => return None,
                Ok(Some(Ok(Message::Close(frame)))) => {
                    return frame.map(|f: CloseFrame| u16::from(f.code));
                }
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    pub async fn join(&mut self, conversation: &str, since: Option<i64>) -> Value {
        let mut frame = json!({ "type": "join", "conversation": conversation });
        if let Some(since) = since {
            frame["since"] = since.into();
        }
        self.send_json(frame).await;
        self.expect("joined").await
    }

    pub async fn say(&mut self, conversation: &str, body: &str, client_id: &str) {
        self.send_json(json!({ "type": "send", "conversation": conversation, "body": body, "client_id": client_id })).await;
    }
}

impl Ws {
    /// Sends a frame; `false` when the socket is broken (no panic: faults expected).
    pub async fn stream_send(&mut self, frame: Value) -> bool {
        self.stream
            .send(Message::text(frame.to_string()))
            .await
            .is_ok()
    }
}
