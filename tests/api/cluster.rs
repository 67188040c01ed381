//! Cluster mode (`REDIS_URL`): two nodes sharing one database and one Redis,
//! clients split across them. Each test uses its own Redis namespace.
//!
//! Needs a Redis: `scripts/test` starts one with `scripts/redis` and passes it as
//! `CONFAB_TEST_REDIS_URL` (default `redis://127.0.0.1:6390`, what `scripts/redis`
//! starts). `two_nodes`, `joined` and `redis_url` are shared with the other
//! cluster suites.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

pub fn redis_url() -> String {
    std::env::var("CONFAB_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6390".to_owned())
}

/// `who` joins the public group `g` over REST on `node`.
pub async fn joined(node: &TestApp, who: &Session, g: &str) {
    let path = format!("/api/v1/groups/{g}/join");
    expect_json(
        node.post(&path, Some(&who.access), json!({})).await,
        StatusCode::OK,
    )
    .await;
}

pub(crate) async fn redis_command(url: &str, args: &[&str]) -> redis::Value {
    let client = redis::Client::open(url).expect("redis URL");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis connection");
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query_async(&mut conn).await.expect("redis command")
}

/// How many connections are subscribed to `channel`.
async fn subscribers(url: &str, channel: &str) -> i64 {
    match redis_command(url, &["PUBSUB", "NUMSUB", channel]).await {
        redis::Value::Array(items) => match items.get(1) {
            Some(redis::Value::Int(n)) => *n,
            other => panic!("PUBSUB NUMSUB answered {other:?}"),
        },
        other => panic!("PUBSUB NUMSUB answered {other:?}"),
    }
}

pub(crate) async fn until_subscribers(url: &str, channel: &str, want: i64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while subscribers(url, channel).await != want {
        assert!(
            std::time::Instant::now() < deadline,
            "{channel} never had {want} subscribers"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `nodes` nodes of `namespace` are subscribed to its events (a
/// deadline, not a sleep).
pub(crate) async fn until_subscribed(url: &str, namespace: &str, nodes: i64) {
    until_subscribers(url, &format!("{namespace}:events"), nodes).await;
}

/// Whether a send was stored (201). Anything else must be 503 `server_busy`:
/// nothing stored, send it again (Redis cannot name the owner right now).
pub(crate) async fn stored_or_busy(sent: reqwest::Response) -> bool {
    if sent.status() == StatusCode::CREATED {
        return true;
    }
    assert_eq!(
        expect_error(sent, StatusCode::SERVICE_UNAVAILABLE).await,
        "server_busy"
    );
    false
}

/// Two nodes on one database and one Redis namespace.
pub async fn two_nodes() -> (TestApp, TestApp) {
    two_nodes_with(&[]).await
}

/// `two_nodes`, both with some environment variables overridden.
pub async fn two_nodes_with(overrides: &[(&str, &str)]) -> (TestApp, TestApp) {
    let url = redis_url();
    let namespace = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let mut cluster = overrides.to_vec();
    cluster.extend([
        ("REDIS_URL", url.as_str()),
        ("REDIS_NAMESPACE", namespace.as_str()),
    ]);
    let a = spawn_app_with(&cluster).await;
    let b = a.another_node_with(&cluster).await;
    // Both subscriptions are up before anything is published.
    until_subscribed(&url, &namespace, 2).await;
    (a, b)
}

#[tokio::test]
async fn messages_sent_on_one_node_reach_members_on_the_other_exactly_once() {
    let (a, b) = two_nodes().await;
    let alice = a.user("alice").await;
    let bob = a.user("bob").await;
    let g = a.group(&alice, "Split", "public").await;
    joined(&b, &bob, &g).await;
    let mut bob_ws = b.ws(&bob.access).await;
    bob_ws.join(&g, None).await;

    for i in 0..5 {
        a.said(&alice, &g, &format!("hello {i}")).await;
    }
    let frames = bob_ws.drain(Duration::from_millis(800)).await;
    let seqs: Vec<i64> = frames
        .iter()
        .filter(|f| f["type"] == "message")
        .map(|f| f["seq"].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5], "in seq order, once each: {frames:?}");

    // A DM: its audience is the two participants, wherever they are connected.
    let dm_id = a.dm(&alice, &bob).await;
    a.said(&alice, &dm_id, "psst").await;
    let dm_frame = bob_ws.expect("message").await;
    assert_eq!(dm_frame["body"], "psst");
    assert_eq!(dm_frame["conversation"], dm_id.as_str());
}

#[tokio::test]
async fn logout_all_on_one_node_closes_the_sockets_on_the_other() {
    let (a, b) = two_nodes().await;
    let carol = a.user("carol").await;
    let mut on_b = b.ws(&carol.access).await;
    let mut on_a = a.ws(&carol.access).await;
    let resp = a
        .post("/api/v1/auth/logout-all", Some(&carol.access), json!({}))
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(on_a.closed_with().await, Some(4001));
    assert_eq!(on_b.closed_with().await, Some(4001));
}

#[tokio::test]
async fn a_member_removed_on_one_node_stops_receiving_on_the_other() {
    let (a, b) = two_nodes().await;
    let owner = a.user("owner").await;
    let kicked = a.user("kicked").await;
    let g = a.group(&owner, "Club", "public").await;
    joined(&a, &kicked, &g).await;
    let mut kicked_ws = b.ws(&kicked.access).await;
    kicked_ws.join(&g, None).await;
    let resp = a
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/groups/{g}/members/{}", kicked.id),
            Some(&owner.access),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let removed = kicked_ws.expect("membership").await;
    assert_eq!(removed["status"], "removed");
    a.said(&owner, &g, "after the kick").await;
    let after = kicked_ws.drain(Duration::from_millis(600)).await;
    assert!(
        after.iter().all(|f| f["type"] != "message"),
        "a removed member hears nothing more: {after:?}"
    );
}

/// Sends `body-<i>` with client id `<who>-<i>` for each i in `range`, over whichever
/// node answers (the first in `nodes` that accepts a socket), resending what was
/// not acked. Returns the acked client ids in order.
async fn send_through(
    nodes: &[&TestApp],
    token: &str,
    group: &str,
    who: &str,
    range: std::ops::Range<usize>,
    mut after_ack: impl FnMut(usize),
) -> Vec<String> {
    use crate::ws_client::Upgrade;
    let mut acked = Vec::new();
    let mut ws: Option<crate::ws_client::Ws> = None;
    for i in range {
        let client_id = format!("{who}-{i}");
        let mut attempts = 0;
        loop {
            attempts += 1;
            assert!(attempts < 100, "{client_id} never acked");
            if ws.is_none() {
                for node in nodes {
                    if let Upgrade::Open(mut socket) = node.try_ws(Some(token), "", None).await {
                        socket
                            .send_json(json!({ "type": "join", "conversation": group }))
                            .await;
                        if socket
                            .next_within(Duration::from_secs(2))
                            .await
                            .is_some_and(|f| f["type"] == "joined")
                        {
                            ws = Some(*socket);
                            break;
                        }
                    }
                }
                if ws.is_none() {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            }
            let Some(socket) = ws.as_mut() else { continue };
            let frame = json!({ "type": "send", "conversation": group, "body": format!("body of {client_id}"), "client_id": client_id });
            let mut got_ack = false;
            if matches!(
                tokio::time::timeout(Duration::from_secs(2), socket.stream_send(frame)).await,
                Ok(true)
            ) {
                let deadline = std::time::Instant::now() + Duration::from_secs(3);
                while let Some(f) = socket
                    .next_within(deadline.saturating_duration_since(std::time::Instant::now()))
                    .await
                {
                    if f["type"] == "ack" && f["client_id"] == client_id.as_str() {
                        got_ack = true;
                        break;
                    }
                    if f["type"] == "error" && f["ref"] == client_id.as_str() {
                        break; // e.g. 409 while the other node's state reloads: resend
                    }
                }
            }
            if got_ack {
                acked.push(client_id);
                after_ack(acked.len());
                break;
            }
            ws = None;
        }
    }
    acked
}

/// Node A as a real confab process (to kill or stop), node B in this process,
/// on one database and one Redis namespace. Returns A's process, a handle to
/// reach A over HTTP, B, and the namespace.
pub async fn process_and_node(
    tag: &str,
) -> (crate::faults::ServerProcess, TestApp, TestApp, String) {
    let db_name = format!(
        "t_{tag}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let mongo_uri = format!("{}/{db_name}", mongo_base().trim_end_matches('/'));
    let url = redis_url();
    let namespace = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let cluster = [
        ("REDIS_URL", url.as_str()),
        ("REDIS_NAMESPACE", namespace.as_str()),
    ];
    let port = crate::faults::free_port();
    let a_process = crate::faults::ServerProcess::start_with(port, &mongo_uri, &cluster).await;
    let b = spawn_app_with(&[("MONGO_URI", mongo_uri.as_str()), cluster[0], cluster[1]]).await;
    let a = crate::faults::app_for_process(port, &mongo_uri, &db_name).await;
    until_subscribed(&url, &namespace, 2).await;
    (a_process, a, b, namespace)
}

#[tokio::test]
async fn a_node_killed_with_sigkill_loses_nothing_acked_and_its_clients_carry_on_at_the_other() {
    // Node A: a real process, to be killed. Node B: in this process.
    let (mut a_process, a, b, _) = process_and_node("kill").await;

    let owner = b.user("owner").await;
    let ann = b.user("ann").await;
    let bob = b.user("bob").await;
    let g = b.group(&owner, "Failover", "public").await;
    for who in [&ann, &bob] {
        joined(&b, who, &g).await;
    }
    let mut bob_ws = b.ws(&bob.access).await;
    bob_ws.join(&g, None).await;

    // Ann sends through A; after 10 acks, A dies mid-traffic; she carries on at B.
    const TOTAL: usize = 30;
    let mut killed = false;
    let mut kill = |acked: usize| {
        if acked == 10 && !killed {
            killed = true;
            let _ = a_process.child.start_kill();
        }
    };
    let acked = send_through(&[&a, &b], &ann.access, &g, "ann", 0..TOTAL, &mut kill).await;
    assert!(killed, "node A was killed mid-traffic");
    assert_eq!(acked.len(), TOTAL);

    // Everything acked is stored exactly once, in seq order, and B serves it.
    let page = expect_json(b.history(&bob, &g, "?limit=100").await, StatusCode::OK).await;
    let items = page["items"].as_array().expect("items");
    let ids: Vec<&str> = items
        .iter()
        .filter_map(|m| m["client_id"].as_str())
        .collect();
    assert_eq!(ids, acked, "every acked message, once, in order");
    let seqs: Vec<i64> = items.iter().filter_map(|m| m["seq"].as_i64()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");

    // Bob, on B all along, heard every acked message live, once, in order: A
    // acked only after Redis took the message's event, and what A stored without
    // acking it, B announced when it took the conversation over.
    let live = bob_ws.drain(Duration::from_millis(800)).await;
    let heard: Vec<String> = live
        .iter()
        .filter(|f| f["type"] == "message")
        .filter_map(|f| {
            f["body"]
                .as_str()?
                .strip_prefix("body of ")
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(heard, acked, "heard live, once each, in seq order");
}

#[tokio::test]
async fn a_join_on_another_node_replays_what_was_written_elsewhere_with_no_gap() {
    let (a, b) = two_nodes().await;
    let alice = a.user("alice").await;
    let bob = a.user("bob").await;
    let g = a.group(&alice, "Mirror", "public").await;
    joined(&b, &bob, &g).await;
    // B holds the conversation from here on (a join loads it), and A writes.
    let mut first = b.ws(&bob.access).await;
    first.join(&g, None).await;
    let mut alice_ws = a.ws(&alice.access).await;
    alice_ws.join(&g, None).await;
    for i in 1..=5 {
        alice_ws.say(&g, &format!("m{i}"), &format!("k{i}")).await;
        alice_ws.expect("ack").await;
    }
    // The copy on B follows A's writes (one Redis hop behind): a join with `since`
    // replays up to some seq and hears everything after it live, so together the
    // connection gets 3..=6 in order, each once, with no gap.
    let mut second = b.ws(&bob.access).await;
    second
        .send_json(json!({ "type": "join", "conversation": g, "since": 2 }))
        .await;
    let mut seqs = Vec::new();
    loop {
        let f = second.next_json().await;
        if f["type"] == "joined" {
            break;
        }
        if f["type"] == "message" {
            seqs.push(f["seq"].as_i64().unwrap_or(-1));
        }
    }
    alice_ws.say(&g, "m6", "k6").await;
    while seqs.last() != Some(&6) {
        let f = second.next_json().await;
        if f["type"] == "message" {
            seqs.push(f["seq"].as_i64().unwrap_or(-1));
        }
    }
    assert_eq!(seqs, [3, 4, 5, 6]);
    let extra = second.drain(Duration::from_millis(400)).await;
    assert!(
        extra.iter().all(|f| f["type"] != "message"),
        "nothing twice: {extra:?}"
    );
    // B's history is current too, with the client ids.
    let page = expect_json(b.history(&bob, &g, "?after=0").await, StatusCode::OK).await;
    let ids: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|m| m["client_id"].as_str())
        .collect();
    assert_eq!(ids, ["k1", "k2", "k3", "k4", "k5", "k6"]);
    drop(first);
}

#[tokio::test]
async fn senders_on_both_nodes_at_once_store_everything_once_with_increasing_seqs() {
    let (a, b) = two_nodes().await;
    let owner = a.user("owner").await;
    let ann = a.user("ann").await;
    let cat = a.user("cat").await;
    let bob = a.user("bob").await;
    let dan = a.user("dan").await;
    let g = a.group(&owner, "Busy", "public").await;
    for who in [&ann, &cat, &bob, &dan] {
        joined(&a, who, &g).await;
    }
    let mut bob_ws = a.ws(&bob.access).await;
    bob_ws.join(&g, None).await;
    let mut dan_ws = b.ws(&dan.access).await;
    dan_ws.join(&g, None).await;

    const EACH: usize = 20;
    let (only_a, only_b) = ([&a], [&b]);
    let (on_a, on_b) = tokio::join!(
        send_through(&only_a, &ann.access, &g, "ann", 0..EACH, |_| {}),
        send_through(&only_b, &cat.access, &g, "cat", 0..EACH, |_| {}),
    );
    assert_eq!(on_a.len() + on_b.len(), 2 * EACH);

    // A's copy hears B's last messages one Redis hop after B acked them.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let page = loop {
        let page = expect_json(a.history(&bob, &g, "?limit=100").await, StatusCode::OK).await;
        let count = page["items"].as_array().map_or(0, Vec::len);
        if count >= 2 * EACH || std::time::Instant::now() > deadline {
            break page;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let items = page["items"].as_array().expect("items");
    let mut stored: Vec<String> = items
        .iter()
        .filter_map(|m| m["client_id"].as_str().map(str::to_owned))
        .collect();
    let seqs: Vec<i64> = items.iter().filter_map(|m| m["seq"].as_i64()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    stored.sort();
    let mut expected: Vec<String> = on_a.iter().chain(&on_b).cloned().collect();
    expected.sort();
    assert_eq!(stored, expected, "each acked message stored once");

    // Each receiver, on either node, hears every message once.
    for ws in [&mut bob_ws, &mut dan_ws] {
        let frames = ws.drain(Duration::from_millis(800)).await;
        let mut heard: Vec<String> = frames
            .iter()
            .filter(|f| f["type"] == "message")
            .filter_map(|f| {
                f["body"]
                    .as_str()?
                    .strip_prefix("body of ")
                    .map(str::to_owned)
            })
            .collect();
        heard.sort();
        assert_eq!(heard, expected);
    }
}

/// A Redis of this test's own, to stop and start again.
pub(crate) struct PrivateRedis {
    port: u16,
    child: Option<tokio::process::Child>,
}

impl PrivateRedis {
    pub(crate) async fn start() -> Self {
        let mut redis = Self {
            port: crate::faults::free_port(),
            child: None,
        };
        redis.restart().await;
        redis
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub(crate) async fn restart(&mut self) {
        let child = tokio::process::Command::new("redis-server")
            .args([
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--port",
            ])
            .arg(self.port.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server (scripts/redis installs it)");
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(crate) async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }
}

#[tokio::test]
async fn nodes_recover_from_a_redis_restart_and_clients_catch_up_with_since() {
    let mut redis = PrivateRedis::start().await;
    let url = redis.url();
    let cluster = [("REDIS_URL", url.as_str()), ("REDIS_NAMESPACE", "restart")];
    let a = spawn_app_with(&cluster).await;
    let b = a.another_node_with(&cluster).await;
    until_subscribed(&url, "restart", 2).await;
    let alice = a.user("alice").await;
    let bob = a.user("bob").await;
    let g = a.group(&alice, "Weather", "public").await;
    joined(&b, &bob, &g).await;
    let mut bob_ws = b.ws(&bob.access).await;
    bob_ws.join(&g, None).await;
    let path = format!("/api/v1/conversations/{g}/messages");
    let post = |body: &'static str| a.post(&path, Some(&alice.access), json!({ "body": body }));
    expect_json(post("before").await, StatusCode::CREATED).await;
    assert_eq!(bob_ws.expect("message").await["body"], "before");

    // Redis goes away: the owner goes on storing and acking while its lease is
    // still trusted (`LEASE - MARGIN` after its last renewal), then answers 503
    // `server_busy` (nothing stored) until Redis is back.
    redis.kill().await;
    let mut during = Vec::new();
    for body in ["during 1", "during 2"] {
        if stored_or_busy(post(body).await).await {
            during.push(body);
        }
    }
    redis.restart().await;

    // When B's subscription is back, B closes its sockets with 1012 (service
    // restart): the client reconnects and catches up with `since`.
    assert_eq!(bob_ws.closed_with().await, Some(1012));
    let mut again = b.ws(&bob.access).await;
    again
        .send_json(json!({ "type": "join", "conversation": g, "since": 1 }))
        .await;
    let mut bodies = Vec::new();
    loop {
        let f = again.next_json().await;
        if f["type"] == "joined" {
            break;
        }
        if f["type"] == "message" {
            bodies.push(f["body"].as_str().unwrap_or_default().to_owned());
        }
    }
    assert_eq!(
        bodies, during,
        "nothing acked is missed, nothing refused stored"
    );
    // And events flow again between the nodes (sends may be refused with 503
    // for `ownership::QUIET` first: Redis lost the leases).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        stored_or_busy(post("after").await).await;
        let frames = again.drain(Duration::from_millis(500)).await;
        if frames.iter().any(|f| f["body"] == "after") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "events cross nodes again after the restart"
        );
    }
}

/// Sends `n` messages over `ws` without waiting between them, then reads until
/// every one is answered. Returns the frames read, in order.
async fn burst(
    ws: &mut crate::ws_client::Ws,
    g: &str,
    who: &str,
    n: usize,
) -> Vec<serde_json::Value> {
    for i in 0..n {
        ws.say(g, &format!("{who} says {i}"), &format!("{who}-{i}"))
            .await;
    }
    let mut frames = Vec::new();
    let mut answered = 0;
    while answered < n {
        let Some(frame) = ws.next_within(Duration::from_secs(10)).await else {
            panic!("{who}: {answered} of {n} answered; frames: {frames:?}");
        };
        let ours = frame["client_id"]
            .as_str()
            .or(frame["ref"].as_str())
            .is_some_and(|c| c.starts_with(&format!("{who}-")));
        if ours && (frame["type"] == "ack" || frame["type"] == "error") {
            answered += 1;
        }
        frames.push(frame);
    }
    frames
}

/// Seqs of the `message` frames among `frames`.
fn heard_seqs(frames: &[serde_json::Value]) -> Vec<i64> {
    frames
        .iter()
        .filter(|f| f["type"] == "message")
        .filter_map(|f| f["seq"].as_i64())
        .collect()
}

#[tokio::test]
async fn concurrent_senders_on_both_nodes_are_acked_first_time_and_heard_in_one_seq_order_everywhere()
 {
    let (a, b) = two_nodes().await;
    let owner = a.user("owner").await;
    let g = a.group(&owner, "Relay", "public").await;
    let mut senders = Vec::new();
    for (i, node) in [&a, &b, &a, &b].into_iter().enumerate() {
        let who = a.user(&format!("sender{i}")).await;
        joined(node, &who, &g).await;
        let mut ws = node.ws(&who.access).await;
        ws.join(&g, None).await;
        senders.push((format!("s{i}"), ws));
    }
    let mut watchers = Vec::new();
    for (i, node) in [&a, &b].into_iter().enumerate() {
        let who = a.user(&format!("watcher{i}")).await;
        joined(node, &who, &g).await;
        let mut ws = node.ws(&who.access).await;
        ws.join(&g, None).await;
        watchers.push(ws);
    }

    // 36 sends per sender: within the default per-user burst (40).
    const ROUNDS: usize = 3;
    const EACH: usize = 12;
    let mut last = 0;
    for round in 0..ROUNDS {
        // Every sender bursts at once; half of them reach the node that does not
        // own the conversation, so their sends are forwarded.
        let outcomes = futures_util::future::join_all(senders.iter_mut().map(|(who, ws)| {
            let tag = format!("{who}r{round}");
            let g = g.clone();
            async move { (tag.clone(), burst(ws, &g, &tag, EACH).await) }
        }))
        .await;
        let mut acked: Vec<i64> = Vec::new();
        for (tag, frames) in &outcomes {
            let errors: Vec<_> = frames.iter().filter(|f| f["type"] == "error").collect();
            assert!(
                errors.is_empty(),
                "{tag}: every send acked the first time: {errors:?}"
            );
            // The ack of each of its own messages precedes its echo.
            for i in 0..EACH {
                let client_id = format!("{tag}-{i}");
                let ack = frames
                    .iter()
                    .position(|f| f["type"] == "ack" && f["client_id"] == client_id.as_str());
                let echo = frames
                    .iter()
                    .position(|f| f["type"] == "message" && f["client_id"] == client_id.as_str());
                if let (Some(ack), Some(echo)) = (ack, echo) {
                    assert!(ack < echo, "{client_id}: ack at {ack}, echo at {echo}");
                }
                assert!(ack.is_some(), "{client_id} acked");
            }
            acked.extend(
                frames
                    .iter()
                    .filter(|f| f["type"] == "ack")
                    .filter_map(|f| f["seq"].as_i64()),
            );
        }
        acked.sort_unstable();
        let expected: Vec<i64> = (last + 1..=last + (4 * EACH) as i64).collect();
        assert_eq!(
            acked, expected,
            "round {round}: one seq each, no gap, no repeat"
        );
        // Every watcher, on either node, hears all of them once, in seq order.
        for (i, ws) in watchers.iter_mut().enumerate() {
            let mut heard = Vec::new();
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while heard.len() < expected.len() && std::time::Instant::now() < deadline {
                if let Some(frame) = ws.next_within(Duration::from_millis(500)).await {
                    heard.extend(heard_seqs(std::slice::from_ref(&frame)));
                }
            }
            assert_eq!(heard, expected, "round {round}, watcher on node {i}");
        }
        last += (4 * EACH) as i64;
    }
}

#[tokio::test]
async fn a_database_outage_in_cluster_mode_gives_no_acks_on_either_node_then_both_recover() {
    let mut db = crate::faults::PrivateDb::start().await;
    let uri = format!("{}/cluster_outage", db.uri());
    let url = redis_url();
    let namespace = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let config = [
        ("MONGO_URI", uri.as_str()),
        ("DB_TIMEOUT_MS", "1000"),
        ("REDIS_URL", url.as_str()),
        ("REDIS_NAMESPACE", namespace.as_str()),
    ];
    let a = spawn_app_with(&config).await;
    let b = a.another_node_with(&config).await;
    until_subscribed(&url, &namespace, 2).await;
    let alice = a.user("alice").await;
    let bob = a.user("bob").await;
    let g = a.group(&alice, "Ops", "public").await;
    joined(&a, &bob, &g).await;
    let mut alice_ws = a.ws(&alice.access).await;
    alice_ws.join(&g, None).await;
    let mut bob_ws = b.ws(&bob.access).await;
    bob_ws.join(&g, None).await;
    // A writes first, so A owns the conversation and B forwards Bob's sends.
    alice_ws.say(&g, "before", "before").await;
    assert_eq!(alice_ws.expect("ack").await["client_id"], "before");
    assert_eq!(alice_ws.expect("message").await["body"], "before");
    assert_eq!(bob_ws.expect("message").await["body"], "before");
    bob_ws.say(&g, "forwarded", "forwarded").await;
    assert_eq!(bob_ws.expect("ack").await["seq"], 2);
    assert_eq!(bob_ws.expect("message").await["body"], "forwarded");
    assert_eq!(alice_ws.expect("message").await["body"], "forwarded");

    db.kill().await;
    for (ws, who) in [(&mut alice_ws, "alice"), (&mut bob_ws, "bob")] {
        let client_id = format!("{who}-outage");
        ws.say(&g, "lost in the outage?", &client_id).await;
        let reply = ws.expect("error").await;
        assert_eq!(reply["code"], "database_unavailable", "{who}: {reply}");
        assert_eq!(reply["ref"], client_id.as_str());
    }
    for ws in [&mut alice_ws, &mut bob_ws] {
        let frames = ws.drain(Duration::from_millis(500)).await;
        assert!(
            frames.iter().all(|f| f["type"] != "message"),
            "nothing fanned out: {frames:?}"
        );
    }

    db.restart().await;
    for node in [&a, &b] {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while node.get("/readyz", None).await.status() != StatusCode::OK {
            assert!(std::time::Instant::now() < deadline, "did not recover");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // Both nodes write again; each message reaches both, once.
    bob_ws.say(&g, "back from b", "back-b").await;
    assert_eq!(bob_ws.expect("ack").await["client_id"], "back-b");
    assert_eq!(bob_ws.expect("message").await["body"], "back from b");
    assert_eq!(alice_ws.expect("message").await["body"], "back from b");
    alice_ws.say(&g, "back from a", "back-a").await;
    assert_eq!(alice_ws.expect("ack").await["client_id"], "back-a");
    assert_eq!(alice_ws.expect("message").await["body"], "back from a");
    assert_eq!(bob_ws.expect("message").await["body"], "back from a");
    for node in [&a, &b] {
        let page = expect_json(node.history(&bob, &g, "").await, StatusCode::OK).await;
        assert_eq!(
            bodies(&page),
            ["before", "forwarded", "back from b", "back from a"],
            "the refused sends were not stored"
        );
        let seqs: Vec<i64> = page["items"]
            .as_array()
            .map(|items| items.iter().filter_map(|m| m["seq"].as_i64()).collect())
            .unwrap_or_default();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    }
}

#[tokio::test]
async fn an_owner_shutting_down_hands_its_conversations_over_at_once() {
    // Node A: a real process, stopped with SIGTERM. Node B: in this process.
    let (mut a_process, a, b, _) = process_and_node("handover").await;
    let alice = b.user("alice").await;
    let bob = b.user("bob").await;
    let g = b.group(&alice, "Handover", "public").await;
    joined(&b, &bob, &g).await;
    let mut bob_ws = b.ws(&bob.access).await;
    bob_ws.join(&g, None).await;
    // A owns the conversation: it wrote first. B forwards Bob's sends to it.
    a.said(&alice, &g, "from a").await;
    assert_eq!(bob_ws.expect("message").await["body"], "from a");
    bob_ws.say(&g, "forwarded to a", "via-a").await;
    assert_eq!(bob_ws.expect("ack").await["seq"], 2);

    // A drains, gives its lease back and exits: B writes at once, not after the
    // lease would have expired (5 s) and a forward timed out (5 s).
    let pid = a_process.child.id().expect("pid");
    let term = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(term.success());
    let exited = tokio::time::timeout(Duration::from_secs(15), a_process.child.wait()).await;
    assert!(exited.is_ok(), "A drained and exited");
    let started = std::time::Instant::now();
    bob_ws.say(&g, "after a left", "after").await;
    let ack = bob_ws.expect("ack").await;
    assert_eq!(ack["client_id"], "after");
    assert_eq!(ack["seq"], 3, "the seqs go on from what A stored");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "acked in {:?}",
        started.elapsed()
    );
}

/// The frames of `kind` among `frames`.
fn of_kind<'f>(frames: &'f [serde_json::Value], kind: &str) -> Vec<&'f serde_json::Value> {
    frames.iter().filter(|f| f["type"] == kind).collect()
}

#[tokio::test]
async fn edits_deletes_typing_read_markers_membership_and_disables_cross_nodes_exactly_once() {
    let (a, b) = two_nodes().await;
    let admin = a.admin("boss").await;
    let alice = a.user("alice").await;
    let bob = a.user("bob").await;
    let carol = a.user("carol").await;
    let dave = a.user("dave").await;
    let g = a.group(&alice, "Everything", "private").await;
    for who in [&bob, &carol] {
        assert_eq!(
            a.set_member(&alice, &g, who, "member").await.status(),
            StatusCode::OK
        );
    }
    // Alice writes on A; Bob watches on B, Carol on A.
    let mut alice_ws = a.ws(&alice.access).await;
    alice_ws.join(&g, None).await;
    let mut bob_ws = b.ws(&bob.access).await;
    bob_ws.join(&g, None).await;
    let mut carol_ws = a.ws(&carol.access).await;
    carol_ws.join(&g, None).await;
    let mut dave_ws = b.ws(&dave.access).await;

    alice_ws.say(&g, "first draft", "m1").await;
    let ack = alice_ws.expect("ack").await;
    let id = ack["id"].as_str().expect("id").to_owned();
    // Edited through B, deleted through A.
    let edited = b
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/messages/{id}"),
            Some(&alice.access),
            Some(json!({ "body": "final draft" })),
        )
        .await;
    assert_eq!(edited.status(), StatusCode::OK);
    alice_ws
        .send_json(json!({ "type": "typing", "conversation": g }))
        .await;
    let read = b
        .post(
            &format!("/api/v1/conversations/{g}/read"),
            Some(&bob.access),
            json!({ "seq": 1 }),
        )
        .await;
    assert_eq!(read.status(), StatusCode::NO_CONTENT);
    let deleted = a
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/messages/{id}"),
            Some(&alice.access),
            None,
        )
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        a.set_member(&alice, &g, &dave, "member").await.status(),
        StatusCode::OK
    );

    for (who, ws, typing) in [
        ("bob, on B", &mut bob_ws, 1),
        ("carol, on A", &mut carol_ws, 1),
    ] {
        let frames = ws.drain(Duration::from_millis(800)).await;
        assert_eq!(of_kind(&frames, "message").len(), 1, "{who}: {frames:?}");
        let updated = of_kind(&frames, "message_updated");
        assert_eq!(updated.len(), 1, "{who}: {frames:?}");
        assert_eq!(updated[0]["body"], "final draft");
        assert_eq!(
            of_kind(&frames, "message_deleted").len(),
            1,
            "{who}: {frames:?}"
        );
        assert_eq!(
            of_kind(&frames, "typing").len(),
            typing,
            "{who}: {frames:?}"
        );
        let reads = of_kind(&frames, "read");
        assert_eq!(reads.len(), 1, "{who}: {frames:?}");
        assert_eq!(reads[0]["user"]["id"], bob.id.as_str());
    }
    let frames = dave_ws.drain(Duration::from_millis(500)).await;
    let added = of_kind(&frames, "membership");
    assert_eq!(added.len(), 1, "dave, on B: {frames:?}");
    assert_eq!(added[0]["status"], "added");

    // Disabled through A: Dave's socket on B closes.
    let disabled = a
        .post(
            &format!("/api/v1/users/{}/disable", dave.id),
            Some(&admin.access),
            json!({}),
        )
        .await;
    assert!(disabled.status().is_success(), "{}", disabled.status());
    assert_eq!(dave_ws.closed_with().await, Some(4001));
}

/// Polls `path` on `node` until it answers `want` (panics after 5 s; without
/// the cross-node events it never would). A change on another node reaches this
/// one's caches one Redis hop later.
async fn answers_eventually(
    node: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<serde_json::Value>,
    want: StatusCode,
) {
    let started = std::time::Instant::now();
    loop {
        let status = node
            .send(method.clone(), path, Some(token), body.clone())
            .await
            .status();
        if status == want {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{method} {path}: still {status}, not {want}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn revocations_and_membership_changes_on_one_node_hold_on_the_other_at_once() {
    use reqwest::Method;
    let (a, b) = two_nodes().await;
    let chief = a.admin("chief").await;
    let alice = a.user("alice").await;
    let bob = a.user("bob").await;
    let carol = a.user("carol").await;
    let dave = a.user("dave").await;
    let erin = a.user("erin").await;
    let g = a.group(&alice, "Guarded", "private").await;
    for (who, role) in [(&bob, "member"), (&carol, "admin"), (&dave, "member")] {
        assert_eq!(
            a.set_member(&alice, &g, who, role).await.status(),
            StatusCode::OK
        );
    }
    let send = format!("/api/v1/conversations/{g}/messages");
    let me = "/api/v1/users/me";
    // B learns everyone's auth facts and memberships (its caches fill).
    for who in [&bob, &carol, &erin] {
        assert_eq!(b.get(me, Some(&who.access)).await.status(), StatusCode::OK);
    }
    for who in [&bob, &carol] {
        let sent = b
            .post(&send, Some(&who.access), json!({ "body": "hi" }))
            .await;
        assert_eq!(sent.status(), StatusCode::CREATED);
    }

    // Removed on A: Bob can no longer send (or read) through B.
    let removed = a
        .send(
            Method::DELETE,
            &format!("/api/v1/groups/{g}/members/{}", bob.id),
            Some(&alice.access),
            None,
        )
        .await;
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    answers_eventually(
        &b,
        Method::POST,
        &send,
        &bob.access,
        Some(json!({ "body": "still here?" })),
        StatusCode::NOT_FOUND,
    )
    .await;

    // Demoted on A: Carol can no longer remove members through B.
    assert_eq!(
        a.set_member(&alice, &g, &carol, "member").await.status(),
        StatusCode::OK
    );
    let kick_dave = format!("/api/v1/groups/{g}/members/{}", dave.id);
    answers_eventually(
        &b,
        Method::DELETE,
        &kick_dave,
        &carol.access,
        None,
        StatusCode::FORBIDDEN,
    )
    .await;

    // Logged out everywhere on A: Erin's access token dies on B too.
    let out = a
        .post("/api/v1/auth/logout-all", Some(&erin.access), json!({}))
        .await;
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    answers_eventually(
        &b,
        Method::GET,
        me,
        &erin.access,
        None,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    // Disabled on A: Carol's token dies on B.
    let disabled = a
        .post(
            &format!("/api/v1/users/{}/disable", carol.id),
            Some(&chief.access),
            json!({}),
        )
        .await;
    assert!(disabled.status().is_success(), "{}", disabled.status());
    answers_eventually(
        &b,
        Method::GET,
        me,
        &carol.access,
        None,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    // Deleted on A: the group is gone on B.
    let group = format!("/api/v1/groups/{g}");
    assert_eq!(
        b.get(&group, Some(&dave.access)).await.status(),
        StatusCode::OK
    );
    let deleted = a
        .send(Method::DELETE, &group, Some(&alice.access), None)
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    answers_eventually(
        &b,
        Method::GET,
        &group,
        &dave.access,
        None,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn an_old_message_edited_or_deleted_on_one_node_reads_so_in_the_others_history() {
    use reqwest::Method;
    let unlimited = [("WS_MAX_MSGS_PER_SEC", "100000"), ("WS_BURST", "100000")];
    let (a, b) = two_nodes_with(&unlimited).await;
    let alice = a.user("alice").await;
    let bob = a.user("bob").await;
    let g = a.group(&alice, "Archive", "public").await;
    joined(&a, &bob, &g).await;
    // Three history blocks (128 each) and a bit: block 0 falls outside the
    // window B keeps in memory, so B reads it as a stored (and cached) block.
    let sent: Vec<serde_json::Value> = futures_util::stream::iter(0..300)
        .map(|i| {
            let (a, alice, g) = (&a, &alice, &g);
            async move { a.said(alice, g, &format!("old {i}")).await }
        })
        .buffered(16)
        .collect()
        .await;
    let id_of = |seq: i64| {
        sent.iter()
            .find(|m| m["seq"] == seq)
            .and_then(|m| m["id"].as_str())
            .map(str::to_owned)
            .expect("sent")
    };
    // Block 0 is written behind once full, and the conversation's last seq once
    // it goes quiet; only then does B load it, keeping the newest two blocks in
    // memory, so B reads block 0 from the database (and caches it).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let early = "?before=11&limit=10";
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let page = expect_json(b.history(&bob, &g, early).await, StatusCode::OK).await;
        if page["items"]
            .as_array()
            .is_some_and(|items| items.len() == 10)
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "history on B: {page}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Edited and deleted through A.
    let edited = a
        .send(
            Method::PATCH,
            &format!("/api/v1/messages/{}", id_of(3)),
            Some(&alice.access),
            Some(json!({ "body": "rewritten" })),
        )
        .await;
    assert_eq!(edited.status(), StatusCode::OK);
    let deleted = a
        .send(
            Method::DELETE,
            &format!("/api/v1/messages/{}", id_of(5)),
            Some(&alice.access),
            None,
        )
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let page = expect_json(b.history(&bob, &g, early).await, StatusCode::OK).await;
        let items = page["items"].as_array().expect("items");
        let third = items.iter().find(|m| m["seq"] == 3).expect("seq 3");
        let fifth = items.iter().find(|m| m["seq"] == 5).expect("seq 5");
        if third["body"] == "rewritten" && fifth["deleted"] == true {
            assert!(fifth["body"].is_null() || fifth["body"] == "", "{fifth}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "B still serves the old block: {third} {fifth}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn concurrent_transfers_on_two_nodes_leave_exactly_one_owner() {
    use reqwest::Method;
    let (a, b) = two_nodes().await;
    for round in 0..6 {
        let owner = a.user(&format!("owner{round}")).await;
        let x = a.user(&format!("xavier{round}")).await;
        let y = a.user(&format!("yvonne{round}")).await;
        let g = a.group(&owner, &format!("Crown {round}"), "public").await;
        for who in [&x, &y] {
            joined(&a, who, &g).await;
        }
        // B has the owner's membership and the group in its caches.
        assert_eq!(
            b.get(&format!("/api/v1/groups/{g}"), Some(&owner.access))
                .await
                .status(),
            StatusCode::OK
        );
        let path = format!("/api/v1/groups/{g}/transfer");
        let (to_x, to_y) = tokio::join!(
            a.post(&path, Some(&owner.access), json!({ "user_id": x.id })),
            b.post(&path, Some(&owner.access), json!({ "user_id": y.id })),
        );
        let statuses = [to_x.status(), to_y.status()];
        assert_eq!(
            statuses.iter().filter(|s| **s == StatusCode::OK).count(),
            1,
            "round {round}: exactly one transfer wins: {statuses:?}"
        );
        let members = expect_json(
            a.send(
                Method::GET,
                &format!("/api/v1/groups/{g}/members?limit=10"),
                Some(&owner.access),
                None,
            )
            .await,
            StatusCode::OK,
        )
        .await;
        let owners: Vec<&serde_json::Value> = members["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|m| m["role"] == "owner")
            .collect();
        assert_eq!(owners.len(), 1, "round {round}: {members}");
        let group = expect_json(
            b.get(&format!("/api/v1/groups/{g}"), Some(&owner.access))
                .await,
            StatusCode::OK,
        )
        .await;
        let owner_id = owners[0]["user"]["id"]
            .as_str()
            .or(owners[0]["user_id"].as_str());
        assert_eq!(
            group["owner_id"].as_str(),
            owner_id,
            "round {round}: {group} {members}"
        );
    }
}

#[tokio::test]
async fn an_edit_and_a_delete_racing_on_two_nodes_never_resurrect_the_message() {
    use reqwest::Method;
    let unlimited = [("WS_MAX_MSGS_PER_SEC", "100000"), ("WS_BURST", "100000")];
    let (a, b) = two_nodes_with(&unlimited).await;
    let alice = a.user("alice").await;
    let g = a.group(&alice, "Racy", "public").await;
    for round in 0..10 {
        let sent = a.said(&alice, &g, &format!("round {round}")).await;
        let path = format!("/api/v1/messages/{}", sent["id"].as_str().expect("id"));
        let (edited, deleted) = tokio::join!(
            b.send(
                Method::PATCH,
                &path,
                Some(&alice.access),
                Some(json!({ "body": "edited" }))
            ),
            a.send(Method::DELETE, &path, Some(&alice.access), None),
        );
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT, "round {round}");
        assert!(
            [StatusCode::OK, StatusCode::CONFLICT].contains(&edited.status()),
            "round {round}: {}",
            edited.status()
        );
        let seq = sent["seq"].as_i64().expect("seq");
        for node in [&a, &b] {
            let deadline = std::time::Instant::now() + Duration::from_secs(3);
            loop {
                let page = expect_json(
                    node.history(&alice, &g, &format!("?after={}&limit=1", seq - 1))
                        .await,
                    StatusCode::OK,
                )
                .await;
                let message = &page["items"][0];
                if message["deleted"] == true {
                    assert!(
                        message["body"].is_null() || message["body"] == "",
                        "round {round}: deleted but readable: {message}"
                    );
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "round {round}: the delete was undone: {message}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        // And in the database itself (what a reload reads).
        let stored = a
            .state
            .store
            .messages
            .by_seq(&confab::ids::ConversationId::from_trusted(g.clone()), seq)
            .await
            .expect("read")
            .expect("stored");
        assert!(stored.deleted, "round {round}: {stored:?}");
    }
}

#[tokio::test]
async fn a_read_marker_never_moves_back_when_it_is_moved_through_two_nodes() {
    let (a, b) = two_nodes().await;
    let alice = a.user("alice").await;
    let bob = a.user("bob").await;
    let g = a.group(&alice, "Readers", "public").await;
    joined(&a, &bob, &g).await;
    let mut alice_ws = a.ws(&alice.access).await;
    alice_ws.join(&g, None).await;
    for i in 0..10 {
        alice_ws.say(&g, &format!("m{i}"), &format!("m{i}")).await;
        alice_ws.expect("ack").await;
    }
    let read = format!("/api/v1/conversations/{g}/read");
    let mark = |node: &TestApp, seq: i64| {
        let (path, token) = (read.clone(), bob.access.clone());
        let node = node.base.clone();
        let http = a.http.clone();
        async move {
            let status = http
                .post(format!("{node}{path}"))
                .bearer_auth(token)
                .json(&json!({ "seq": seq }))
                .send()
                .await
                .expect("request")
                .status();
            assert_eq!(status, StatusCode::NO_CONTENT);
        }
    };
    // Bob's own socket on B: a `read` event from A reaches it only after B
    // has taken the marker in (`observe_read`, then the delivery).
    let mut bob_ws = b.ws(&bob.access).await;
    bob_ws.join(&g, None).await;
    let read_seq = |frame: serde_json::Value| frame["seq"].as_i64().expect("seq");
    // B learns Bob's marker at 3 (and A announces it: events of two nodes
    // are not ordered with each other, so each is awaited before the next).
    mark(&b, 3).await;
    assert_eq!(read_seq(alice_ws.expect("read").await), 3);
    // A moves it to 10; once B has heard that, B is asked for 7.
    mark(&a, 10).await;
    assert_eq!(read_seq(alice_ws.expect("read").await), 10);
    while read_seq(bob_ws.expect("read").await) != 10 {}
    mark(&b, 7).await;
    let frames = alice_ws.drain(Duration::from_millis(500)).await;
    assert!(
        frames.iter().all(|f| f["type"] != "read"),
        "never announced going back: {frames:?}"
    );
    // Both nodes write their markers behind; the stored one stays at 10.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stored = a
        .state
        .store
        .conversations
        .marker(
            &confab::ids::ConversationId::from_trusted(g.clone()),
            &confab::ids::UserId::from_trusted(bob.id.clone()),
        )
        .await
        .expect("read");
    assert_eq!(stored, 10);
    // The database keeps the higher one whatever a node writes behind.
    let (conversation, user) = (
        confab::ids::ConversationId::from_trusted(g.clone()),
        confab::ids::UserId::from_trusted(bob.id.clone()),
    );
    let markers = &a.state.store.conversations;
    markers
        .write_marker(&conversation, &user, 4)
        .await
        .expect("write");
    assert_eq!(
        markers.marker(&conversation, &user).await.expect("read"),
        10
    );
    markers
        .write_marker(&conversation, &user, 11)
        .await
        .expect("write");
    assert_eq!(
        markers.marker(&conversation, &user).await.expect("read"),
        11
    );
}

#[tokio::test]
async fn with_redis_unreachable_a_node_that_never_owned_a_conversation_refuses_its_sends() {
    // Nothing listens there: every Redis step (owner lease, lock, publish) gives
    // up. Without Redis nobody can tell which node writes a conversation, and this
    // node never owned it: a send is refused (503, send again) rather than risk a
    // second writer (issue 20: readers missed messages written by two nodes).
    // Membership changes are refused too: nobody can tell whether another node
    // is inside the same change (they need the cluster-wide lock), and that
    // includes creating a group and joining one (the user's groups document is
    // written under the user's lock).
    let before = spawn_app().await;
    let alice = before.user("alice").await;
    let bob = before.user("bob").await;
    let g = before.group(&alice, "Alone", "public").await;
    let app = before
        .another_node_with(&[
            ("REDIS_URL", "redis://127.0.0.1:1"),
            ("REDIS_NAMESPACE", "alone"),
        ])
        .await;
    let refused = app
        .post(
            "/api/v1/groups",
            Some(&alice.access),
            json!({ "name": "Another" }),
        )
        .await;
    assert_eq!(
        expect_error(refused, StatusCode::SERVICE_UNAVAILABLE).await,
        "server_busy"
    );
    let refused = app
        .post(
            &format!("/api/v1/groups/{g}/join"),
            Some(&bob.access),
            json!({}),
        )
        .await;
    assert_eq!(
        expect_error(refused, StatusCode::SERVICE_UNAVAILABLE).await,
        "server_busy"
    );
    assert_eq!(
        expect_error(
            app.set_member(&alice, &g, &bob, "admin").await,
            StatusCode::SERVICE_UNAVAILABLE
        )
        .await,
        "server_busy"
    );
    let started = std::time::Instant::now();
    let code = expect_error(
        app.say(&alice, &g, "first").await,
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    assert_eq!(code, "server_busy");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "refused without hanging"
    );
    let page = expect_json(app.history(&alice, &g, "").await, StatusCode::OK).await;
    assert_eq!(
        page["items"].as_array().map(Vec::len),
        Some(0),
        "nothing stored"
    );
    let moved = app
        .post(
            &format!("/api/v1/groups/{g}/transfer"),
            Some(&alice.access),
            json!({ "user_id": bob.id }),
        )
        .await;
    assert_eq!(
        expect_error(moved, StatusCode::SERVICE_UNAVAILABLE).await,
        "server_busy"
    );
    let group = expect_json(
        app.get(&format!("/api/v1/groups/{g}"), Some(&alice.access))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(group["owner_id"], alice.id.as_str(), "nothing changed");
}
