//! Faults: the database going away and coming back, and the server killed with
//! SIGKILL mid-conversation. Real processes, real sockets.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use tokio::process::{Child, Command};

use crate::helpers::*;
use crate::ws_client::*;

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A private FerretDB (or mongod) process that a test may stop and restart.
pub(crate) struct PrivateDb {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl PrivateDb {
    pub(crate) async fn start() -> Self {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("confab-faults-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("data dir");
        let mut db = Self {
            port,
            dir,
            child: None,
        };
        db.restart().await;
        db
    }

    pub(crate) fn uri(&self) -> String {
        format!("mongodb://127.0.0.1:{}", self.port)
    }

    pub(crate) async fn restart(&mut self) {
        // `scripts/test` names the binary (`scripts/db binary`); by hand, the one
        // `scripts/db` built in this checkout, else a mongod on PATH.
        let ferretdb = std::env::var_os("CONFAB_TEST_DB_BINARY")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".tools/bin/ferretdb")
            });
        let is_mongod = ferretdb.file_name().is_some_and(|name| name == "mongod");
        let mut command = if ferretdb.exists() && !is_mongod {
            let mut c = Command::new(ferretdb);
            c.arg("--handler=sqlite")
                .arg(format!("--sqlite-url=file:{}/", self.dir.display()))
                .arg(format!("--state-dir={}", self.dir.display()))
                .arg(format!("--listen-addr=127.0.0.1:{}", self.port))
                .args([
                    "--debug-addr=127.0.0.1:0",
                    "--telemetry=disable",
                    "--log-level=error",
                ]);
            c
        } else {
            // scripts/db prefers a mongod on PATH; this test does too.
            let mut c = Command::new(if is_mongod {
                ferretdb.as_os_str()
            } else {
                "mongod".as_ref()
            });
            c.arg("--dbpath")
                .arg(&self.dir)
                .args(["--bind_ip", "127.0.0.1", "--port"])
                .arg(self.port.to_string());
            c
        };
        let child = command.stdout(Stdio::null()).stderr(Stdio::null()).kill_on_drop(true).spawn().expect(
            "this test runs its own database process: set CONFAB_TEST_DB_BINARY=\"$(scripts/db binary)\" (scripts/test does) or put mongod on PATH",
        );
        self.child = Some(child);
        let client = mongodb::Client::with_uri_str(self.uri())
            .await
            .expect("client");
        let deadline = Instant::now() + Duration::from_secs(30);
        while client
            .database("admin")
            .run_command(mongodb::bson::doc! { "ping": 1 })
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "private database did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub(crate) async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Sends the database process a signal (`STOP` freezes it: connections stay
    /// open and nothing is answered; `CONT` thaws it).
    pub(crate) fn signal(&self, signal: &str) {
        let pid = self
            .child
            .as_ref()
            .and_then(Child::id)
            .expect("the database runs");
        let status = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{signal} {pid}");
    }
}

impl Drop for PrivateDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn a_database_outage_gives_fast_503s_and_no_acks_then_recovers_without_a_restart() {
    let mut db = PrivateDb::start().await;
    let uri = format!("{}/outage", db.uri());
    let app = spawn_app_with(&[("MONGO_URI", uri.as_str()), ("DB_TIMEOUT_MS", "1000")]).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let g = app.group(&alice, "Ops", "public").await;
    app.post(
        &format!("/api/v1/groups/{g}/join"),
        Some(&bob.access),
        json!({}),
    )
    .await;
    let mut alice_ws = app.ws(&alice.access).await;
    let mut bob_ws = app.ws(&bob.access).await;
    alice_ws.join(&g, None).await;
    bob_ws.join(&g, None).await;

    db.kill().await;
    let started = Instant::now();
    assert_eq!(
        expect_error(
            app.get("/readyz", None).await,
            StatusCode::SERVICE_UNAVAILABLE
        )
        .await,
        "database_unavailable"
    );
    assert_eq!(
        expect_error(
            app.login("alice", PASSWORD).await,
            StatusCode::SERVICE_UNAVAILABLE
        )
        .await,
        "database_unavailable"
    );
    // The failed step is logged under its own name, with the error.
    let failed_steps: Vec<serde_json::Value> = logged()
        .into_iter()
        .filter(|l| l["level"] == "ERROR" && l["span"]["name"] == "store.users.by_username")
        .collect();
    assert!(
        failed_steps.iter().any(|l| l["error"].is_string()),
        "the login's failed store step names itself: {failed_steps:?}"
    );
    // The room is in use, so its latest page (and the caller's identity) are in
    // memory: reading it goes on through the outage.
    let page = expect_json(app.history(&alice, &g, "").await, StatusCode::OK).await;
    assert_eq!(page["items"], json!([]));
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "503s are fast: {:?}",
        started.elapsed()
    );

    alice_ws.say(&g, "lost in the outage?", "outage-1").await;
    let reply = alice_ws.expect("error").await;
    assert_eq!(reply["code"], "database_unavailable");
    assert_eq!(reply["ref"], "outage-1");
    let at_bob = bob_ws.drain(Duration::from_millis(500)).await;
    assert!(
        at_bob.iter().all(|f| f["type"] != "message"),
        "nothing fanned out: {at_bob:?}"
    );

    db.restart().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.get("/readyz", None).await.status() != StatusCode::OK {
        assert!(Instant::now() < deadline, "did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    alice_ws.say(&g, "back again", "outage-2").await;
    assert_eq!(alice_ws.expect("ack").await["client_id"], "outage-2");
    assert_eq!(bob_ws.expect("message").await["body"], "back again");
    let page = expect_json(app.history(&bob, &g, "").await, StatusCode::OK).await;
    assert_eq!(
        bodies(&page),
        ["back again"],
        "the refused send was not stored"
    );
    expect_json(app.login("alice", PASSWORD).await, StatusCode::OK).await;
}

/// The confab binary as a child process on a fixed port.
pub(crate) struct ServerProcess {
    pub(crate) child: Child,
}

impl ServerProcess {
    pub(crate) async fn start(port: u16, mongo_uri: &str) -> Self {
        Self::start_with(port, mongo_uri, &[]).await
    }

    /// `start` with more environment variables (e.g. cluster mode).
    pub(crate) async fn start_with(port: u16, mongo_uri: &str, env: &[(&str, &str)]) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_confab"))
            .envs(env.iter().copied())
            .env("CONFAB_ENV", "dev")
            .env("JWT_SECRET", TEST_SECRET)
            .env("MONGO_URI", mongo_uri)
            .env("CONFAB_BIND", format!("127.0.0.1:{port}"))
            .env("WS_MAX_MSGS_PER_SEC", "1000")
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start confab");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = http
                .get(format!("http://127.0.0.1:{port}/readyz"))
                .send()
                .await;
            if ready.is_ok_and(|r| r.status() == StatusCode::OK) {
                break;
            }
            assert!(Instant::now() < deadline, "confab did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self { child }
    }
}

/// A `TestApp` for the confab process on `port` (its HTTP and WebSocket helpers),
/// owning the database `db_name` (dropped at the end).
pub(crate) async fn app_for_process(port: u16, mongo_uri: &str, db_name: &str) -> TestApp {
    let (config, _) = test_config(&[("MONGO_URI", mongo_uri)]);
    TestApp {
        base: format!("http://127.0.0.1:{port}"),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client"),
        state: confab::AppState::new(config).await.expect("state"),
        db_name: db_name.to_owned(),
        owns_db: true,
        stop: None,
        served: None,
    }
}

/// Sends `count` messages with client ids, one at a time, reconnecting and resending
/// whatever was not acked. Returns how many sends had to be repeated.
async fn persistent_sender(
    app: Arc<TestApp>,
    token: String,
    group: String,
    who: String,
    count: usize,
    acks: Arc<AtomicUsize>,
) -> usize {
    let mut resent = 0;
    let mut ws: Option<Ws> = None;
    for i in 0..count {
        let client_id = format!("{who}-{i}");
        let mut attempts = 0;
        loop {
            attempts += 1;
            assert!(attempts < 200, "{client_id} never acked");
            if ws.is_none() {
                match app.try_ws(Some(&token), "", None).await {
                    Upgrade::Open(mut socket) => {
                        socket
                            .send_json(json!({ "type": "join", "conversation": group }))
                            .await;
                        if socket
                            .next_within(Duration::from_secs(2))
                            .await
                            .is_some_and(|f| f["type"] == "joined")
                        {
                            ws = Some(*socket);
                        }
                    }
                    Upgrade::Refused(_) | Upgrade::Unreachable(_) => {}
                }
                if ws.is_none() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            }
            let Some(socket) = ws.as_mut() else { continue };
            if attempts > 1 {
                resent += 1;
            }
            let frame = json!({ "type": "send", "conversation": group, "body": format!("body of {client_id}"), "client_id": client_id });
            let sent =
                tokio::time::timeout(Duration::from_secs(2), socket.stream_send(frame)).await;
            let mut acked = false;
            if matches!(sent, Ok(true)) {
                let deadline = Instant::now() + Duration::from_secs(3);
                while let Some(f) = socket
                    .next_within(deadline.saturating_duration_since(Instant::now()))
                    .await
                {
                    if f["type"] == "ack" && f["client_id"] == client_id.as_str() {
                        acked = true;
                        break;
                    }
                }
            }
            if acked {
                acks.fetch_add(1, Ordering::SeqCst);
                break;
            }
            ws = None;
        }
    }
    resent
}

#[tokio::test]
async fn a_server_killed_with_sigkill_loses_no_acked_message_and_stores_none_twice() {
    let db_name = format!(
        "t_crash_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let mongo_uri = format!("{}/{db_name}", mongo_base().trim_end_matches('/'));
    let port = free_port();
    let mut server = ServerProcess::start(port, &mongo_uri).await;
    let app = Arc::new(app_for_process(port, &mongo_uri, &db_name).await);
    let owner = app.user("owner").await;
    let g = app.group(&owner, "Durable", "public").await;
    let mut senders = Vec::new();
    let acks = Arc::new(AtomicUsize::new(0));
    const PER_SENDER: usize = 40;
    for name in ["ann", "ben", "cat"] {
        let user = app.user(name).await;
        app.post(
            &format!("/api/v1/groups/{g}/join"),
            Some(&user.access),
            json!({}),
        )
        .await;
        senders.push(tokio::spawn(persistent_sender(
            app.clone(),
            user.access,
            g.clone(),
            name.to_owned(),
            PER_SENDER,
            acks.clone(),
        )));
    }
    // Kill the server mid-stream, then bring it back on the same port.
    while acks.load(Ordering::SeqCst) < PER_SENDER {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let acked_before_crash = acks.load(Ordering::SeqCst);
    server.child.start_kill().expect("SIGKILL");
    let _ = server.child.wait().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _server = ServerProcess::start(port, &mongo_uri).await;
    let mut resent = 0;
    for sender in senders {
        resent += sender.await.expect("sender");
    }

    let mut stored = Vec::new();
    let mut after = 0;
    loop {
        let page = expect_json(
            app.history(&owner, &g, &format!("?after={after}&limit=100"))
                .await,
            StatusCode::OK,
        )
        .await;
        let items = page["items"].as_array().expect("items").clone();
        if let Some(last) = items.last() {
            after = last["seq"].as_i64().expect("seq");
        }
        stored.extend(items);
        if page["has_more"] == false {
            break;
        }
    }
    let total = 3 * PER_SENDER;
    let mut ids: Vec<String> = stored
        .iter()
        .map(|m| m["client_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    ids.sort();
    let unique = ids.windows(2).filter(|w| w[0] == w[1]).count();
    eprintln!(
        "crash test: {total} messages sent, {acked_before_crash} acked before SIGKILL, {resent} resends after it, {} stored, {unique} stored twice",
        stored.len()
    );
    assert_eq!(unique, 0, "no message stored twice");
    assert_eq!(stored.len(), total, "every message stored exactly once");
    assert_eq!(
        acks.load(Ordering::SeqCst),
        total,
        "every message acked in the end"
    );
    let seqs: Vec<i64> = stored
        .iter()
        .map(|m| m["seq"].as_i64().unwrap_or_default())
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "seqs strictly increase"
    );
}
