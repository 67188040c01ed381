//! `spawn_app()` and one-line helpers so tests read like a client's story.

use std::collections::HashMap;
use std::time::Duration;

use confab::{AppState, Config};
use poem::listener::{Acceptor, Listener, TcpListener};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

/// The HS256 secret every test app signs with, so tests can forge tokens.
pub const TEST_SECRET: &str = "test-only-jwt-key-0123456789-abcdefghijklmnopqrstuvwxyz";
pub const PASSWORD: &str = "orbit lantern cobalt meadow 51";

pub fn mongo_base() -> String {
    std::env::var("CONFAB_TEST_MONGO_URI")
        .or_else(|_| std::env::var("MONGO_URI"))
        .unwrap_or_else(|_| "mongodb://127.0.0.1:27117".to_owned())
}

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub state: AppState,
    pub db_name: String,
    /// Whether dropping this app drops its database (not for a second node on it).
    pub owns_db: bool,
    /// Starts the server's real shutdown (`confab::serve`'s drain).
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// The server task: ends when the drain is done.
    pub served: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if !self.owns_db {
            return;
        }
        // Drop the test's database from a separate runtime and client so the test's
        // own runtime (which is ending) is not needed.
        let db_name = self.db_name.clone();
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(client) = mongodb::Client::with_uri_str(mongo_base()).await {
                    let _ = client.database(&db_name).drop().await;
                }
            });
        })
        .join();
    }
}

pub fn test_config(overrides: &[(&str, &str)]) -> (Config, String) {
    let db_name = format!("t_{}", &uuid::Uuid::new_v4().simple().to_string()[..20]);
    let mut vars: HashMap<String, String> = HashMap::from([
        ("CONFAB_ENV".into(), "dev".into()),
        ("JWT_SECRET".into(), TEST_SECRET.into()),
        (
            "MONGO_URI".into(),
            format!("{}/{db_name}", mongo_base().trim_end_matches('/')),
        ),
        ("DB_TIMEOUT_MS".into(), "2000".into()),
    ]);
    for (k, v) in overrides {
        vars.insert((*k).into(), (*v).into());
    }
    let config = Config::from_lookup(|k| vars.get(k).cloned()).expect("test config is valid");
    (config, db_name)
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts the app with some environment variables overridden.
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    capture_logs();
    let (config, db_name) = test_config(overrides);
    let state = AppState::new(config).await.expect("state");
    state
        .init()
        .await
        .expect("database reachable: run scripts/db or set CONFAB_TEST_MONGO_URI");
    serve(state, db_name).await
}

/// Serves the app on a random port.
async fn serve(state: AppState, db_name: String) -> TestApp {
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .expect("bind");
    let port = acceptor.local_addr()[0]
        .as_socket_addr()
        .expect("tcp")
        .port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        let _ = stopped.await;
    };
    let served = tokio::spawn(confab::serve(
        acceptor,
        state.clone(),
        shutdown,
        Duration::from_secs(5),
    ));
    TestApp {
        base: format!("http://127.0.0.1:{port}"),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client"),
        state,
        db_name,
        owns_db: true,
        stop: Some(stop),
        served: Some(served),
    }
}

/// A registered, logged-in user.
#[derive(Clone, Debug)]
pub struct Session {
    pub id: String,
    pub access: String,
    pub refresh: String,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        let mut req = self.http.post(self.url(path)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request")
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut req = self.http.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request")
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("request")
    }

    pub async fn register(&self, username: &str) -> Response {
        self.post(
            "/api/v1/auth/register",
            None,
            json!({ "username": username, "password": PASSWORD }),
        )
        .await
    }

    /// Exchanges a refresh token (any JSON value, to try odd ones too).
    pub async fn refresh(&self, token: impl serde::Serialize) -> Response {
        self.post(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": token }),
        )
        .await
    }

    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.post(
            "/api/v1/auth/login",
            None,
            json!({ "username": username, "password": password }),
        )
        .await
    }

    /// Registers and logs in `username`.
    pub async fn user(&self, username: &str) -> Session {
        let created = expect_json(self.register(username).await, StatusCode::CREATED).await;
        let pair = expect_json(self.login(username, PASSWORD).await, StatusCode::OK).await;
        Session {
            id: created["id"].as_str().expect("id").to_owned(),
            access: pair["access_token"].as_str().expect("access").to_owned(),
            refresh: pair["refresh_token"].as_str().expect("refresh").to_owned(),
        }
    }

    /// Registers `username`, makes them a global admin directly in the database, and
    /// logs in (as the bootstrap admin would be).
    pub async fn admin(&self, username: &str) -> Session {
        let user = self.user(username).await;
        self.state
            .store
            .users
            .set_role(
                &confab::ids::UserId::from_trusted(user.id.clone()),
                confab::domain::Role::Admin,
            )
            .await
            .expect("promote");
        let pair = expect_json(self.login(username, PASSWORD).await, StatusCode::OK).await;
        Session {
            access: pair["access_token"].as_str().expect("access").to_owned(),
            ..user
        }
    }
}

/// Asserts the status and returns the JSON body.
pub async fn expect_json(resp: Response, status: StatusCode) -> Value {
    let got = resp.status();
    let text = resp.text().await.unwrap_or_default();
    assert_eq!(got, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Asserts the status and the error shape, and returns the error code.
pub async fn expect_error(resp: Response, status: StatusCode) -> String {
    let body = expect_json(resp, status).await;
    let error = body
        .get("error")
        .unwrap_or_else(|| panic!("no error envelope: {body}"));
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "message: {body}"
    );
    error["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no code: {body}"))
        .to_owned()
}

/// An app whose database does not exist (nothing listens on port 1).
pub async fn spawn_unready_app() -> TestApp {
    spawn_unready_app_with(&[("DB_TIMEOUT_MS", "500")]).await
}

pub async fn spawn_unready_app_with(overrides: &[(&str, &str)]) -> TestApp {
    let (mut config, db_name) = test_config(overrides);
    config.mongo_uri = "mongodb://127.0.0.1:1/unready".into();
    serve(AppState::new(config).await.expect("state"), db_name).await
}

/// Per-user send limits out of the way, for tests that send in volume.
pub const UNLIMITED_SENDS: &[(&str, &str)] =
    &[("WS_MAX_MSGS_PER_SEC", "1000000"), ("WS_BURST", "1000000")];

/// Alice owns a public group that Bob has joined.
pub async fn room() -> (TestApp, Session, Session, String) {
    room_with(&[]).await
}

/// `room()` on an app with some settings overridden.
pub async fn room_with(overrides: &[(&str, &str)]) -> (TestApp, Session, Session, String) {
    let app = spawn_app_with(overrides).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let group = app.group(&alice, "General", "public").await;
    let joined = app
        .post(
            &format!("/api/v1/groups/{group}/join"),
            Some(&bob.access),
            json!({}),
        )
        .await;
    assert_eq!(joined.status(), StatusCode::OK);
    (app, alice, bob, group)
}

impl TestApp {
    /// Runs the server's shutdown as `main` does on SIGTERM and waits for the
    /// drain to finish.
    pub async fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(served) = self.served.take() {
            let done = tokio::time::timeout(Duration::from_secs(15), served).await;
            assert!(done.is_ok(), "the drain finished within 15 s");
        }
    }

    /// A second server on this app's database, with nothing in memory: what a
    /// restarted (or crashed and restarted) node sees.
    pub async fn another_node(&self) -> TestApp {
        self.another_node_with(&[]).await
    }

    /// `another_node` with some environment variables overridden.
    pub async fn another_node_with(&self, overrides: &[(&str, &str)]) -> TestApp {
        let (mut config, _) = test_config(overrides);
        config.mongo_uri = self.state.config.mongo_uri.clone();
        config.database = self.state.config.database.clone();
        let state = AppState::new(config).await.expect("state");
        state.init().await.expect("database reachable");
        let mut node = serve(state, self.db_name.clone()).await;
        node.owns_db = false;
        node
    }

    /// Creates a group owned by `owner`; returns its id.
    pub async fn group(&self, owner: &Session, name: &str, visibility: &str) -> String {
        let body = json!({ "name": name, "visibility": visibility });
        let group = expect_json(
            self.post("/api/v1/groups", Some(&owner.access), body).await,
            StatusCode::CREATED,
        )
        .await;
        group["id"].as_str().expect("group id").to_owned()
    }

    pub async fn set_member(
        &self,
        actor: &Session,
        group: &str,
        user: &Session,
        role: &str,
    ) -> Response {
        let path = format!("/api/v1/groups/{group}/members/{}", user.id);
        self.send(
            reqwest::Method::PUT,
            &path,
            Some(&actor.access),
            Some(json!({ "role": role })),
        )
        .await
    }

    /// Sends a message over REST.
    pub async fn say(&self, who: &Session, conversation: &str, body: &str) -> Response {
        self.post(
            &format!("/api/v1/conversations/{conversation}/messages"),
            Some(&who.access),
            json!({ "body": body }),
        )
        .await
    }

    /// Sends and expects success; returns the message.
    pub async fn said(&self, who: &Session, conversation: &str, body: &str) -> Value {
        expect_json(self.say(who, conversation, body).await, StatusCode::CREATED).await
    }

    pub async fn history(&self, who: &Session, conversation: &str, query: &str) -> Response {
        self.get(
            &format!("/api/v1/conversations/{conversation}/messages{query}"),
            Some(&who.access),
        )
        .await
    }

    /// Opens the DM between `a` and `b`; returns its conversation id.
    pub async fn dm(&self, a: &Session, b: &Session) -> String {
        let resp = self
            .post("/api/v1/dms", Some(&a.access), json!({ "user_id": b.id }))
            .await;
        let status = resp.status();
        assert!(
            status == StatusCode::CREATED || status == StatusCode::OK,
            "{status}"
        );
        expect_json(resp, status).await["id"]
            .as_str()
            .expect("conversation id")
            .to_owned()
    }
}

/// The bodies of a history page, in order.
pub fn bodies(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|m| m["body"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Every log line of this test process, as JSON, for tests about what is logged.
static LOGS: std::sync::OnceLock<std::sync::Arc<std::sync::Mutex<Vec<u8>>>> =
    std::sync::OnceLock::new();

#[derive(Clone)]
struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut logs) = self.0.lock() {
            logs.extend_from_slice(buf);
        }
        if std::env::var_os("TEST_LOG").is_some() {
            std::io::stderr().write_all(buf)?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the capturing subscriber once (JSON, like `LOG_FORMAT=json`); with
/// `TEST_LOG` set, the lines also go to stderr (filter with `RUST_LOG`).
pub fn capture_logs() {
    LOGS.get_or_init(|| {
        let buffer = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let writer = Capture(buffer.clone());
        let _ = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_env_filter(match std::env::var("TEST_LOG") {
                // TEST_LOG=debug (or any filter) widens what is printed; the
                // logging tests need at least confab=info.
                Ok(filter) if filter.contains('=') || filter == "debug" || filter == "trace" => {
                    tracing_subscriber::EnvFilter::new(filter)
                }
                _ => tracing_subscriber::EnvFilter::new("confab=info"),
            })
            .with_writer(move || writer.clone())
            .try_init();
        buffer
    });
}

/// The captured log lines.
pub fn logged() -> Vec<Value> {
    let text = LOGS
        .get()
        .and_then(|b| {
            b.lock()
                .ok()
                .map(|l| String::from_utf8_lossy(&l).into_owned())
        })
        .unwrap_or_default();
    text.lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}
