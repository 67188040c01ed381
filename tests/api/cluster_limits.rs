//! Issue 13: in cluster mode the login, sign-up and per-user limits are counted
//! across nodes, so a client that spreads its attempts over two nodes gets the
//! quota of one; with Redis unreachable, each node counts on its own.
//!
//! Two real nodes on one database and one Redis namespace (`two_nodes_with`).
//! Each test sets quotas small enough that per-node counting would let through
//! clearly more than the cluster-wide limit.

use std::time::{Duration, Instant};

use confab::cluster::counters::RedisCounters;
use confab::rate_limits::Verdict;
use futures_util::future::join_all;
use reqwest::{Response, StatusCode};
use serde_json::json;

use crate::cluster::{joined, redis_url, two_nodes_with};
use crate::helpers::*;

const QUIET: Duration = Duration::from_millis(600);

/// A 429 in the one error shape, with `Retry-After` equal to
/// `retry_after_secs`; returns the seconds.
async fn retry_after(resp: Response) -> u64 {
    if resp.status() != StatusCode::TOO_MANY_REQUESTS {
        expect_json(resp, StatusCode::TOO_MANY_REQUESTS).await;
        unreachable!("expect_json panics on another status");
    }
    let header = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .expect("a Retry-After header in seconds");
    let body = expect_json(resp, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    assert_eq!(
        body["error"]["details"]["retry_after_secs"], header,
        "{body}"
    );
    assert!(header >= 1, "{body}");
    header
}

#[tokio::test]
async fn login_failures_spread_over_two_nodes_lock_the_username_after_the_total() {
    const MAX: usize = 4;
    let (a, b) = two_nodes_with(&[
        ("LOGIN_MAX_FAILURES_PER_USER", "4"),
        ("LOGIN_FAILURE_WINDOW_SECS", "600"),
    ])
    .await;
    a.user("alice").await;
    let mut refused_on = [0, 0];
    for attempt in 0..12 {
        let node = if attempt % 2 == 0 { &a } else { &b };
        let resp = node.login("alice", "wrong guess number one").await;
        if attempt < MAX {
            assert_eq!(
                expect_error(resp, StatusCode::UNAUTHORIZED).await,
                "invalid_credentials",
                "attempt {attempt}"
            );
        } else {
            let secs = retry_after(resp).await;
            assert!(secs <= 600, "within the window: {secs}");
            refused_on[attempt % 2] += 1;
        }
    }
    // Per node, each would have allowed 4 (8 in all); both refuse after 4 in all.
    assert_eq!(refused_on, [4, 4]);
    // Locked on either node, even with the right password.
    for node in [&a, &b] {
        retry_after(node.login("alice", PASSWORD).await).await;
    }
    // Another username is not locked.
    b.user("bob").await;
}

#[tokio::test]
async fn a_success_on_one_node_clears_the_failures_counted_on_the_other() {
    let (a, b) = two_nodes_with(&[("LOGIN_MAX_FAILURES_PER_USER", "3")]).await;
    a.user("carol").await;
    for node in [&a, &b] {
        let resp = node.login("carol", "not her password at all").await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    expect_json(b.login("carol", PASSWORD).await, StatusCode::OK).await;
    // The cleared window takes three more failures before it refuses.
    for node in [&a, &b, &a] {
        let resp = node.login("carol", "not her password at all").await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    retry_after(b.login("carol", "not her password at all").await).await;
}

#[tokio::test]
async fn sign_ups_from_one_address_are_counted_across_nodes() {
    let (a, b) = two_nodes_with(&[
        ("REGISTER_MAX_PER_IP", "5"),
        ("REGISTER_WINDOW_SECS", "600"),
    ])
    .await;
    let mut created = 0;
    for i in 0..12 {
        let node = if i % 2 == 0 { &a } else { &b };
        let resp = node.register(&format!("newcomer{i}")).await;
        if resp.status() == StatusCode::CREATED {
            created += 1;
        } else {
            retry_after(resp).await;
        }
    }
    // Per node: 5 each, 10 in all.
    assert_eq!(created, 5);
}

/// Sends one message over REST on `node`; true when stored.
async fn rest_send(node: &TestApp, who: &Session, g: &str, i: usize) -> bool {
    let resp = node.say(who, g, &format!("rest {i}")).await;
    if resp.status() == StatusCode::CREATED {
        return true;
    }
    retry_after(resp).await;
    false
}

#[tokio::test]
async fn sends_over_rest_and_websocket_on_two_nodes_share_one_burst() {
    const RATE: usize = 1;
    const BURST: usize = 6;
    let (a, b) = two_nodes_with(&[("WS_MAX_MSGS_PER_SEC", "1"), ("WS_BURST", "6")]).await;
    let alice = a.user("alice").await;
    // One room per node: the limit is the user's, and two nodes writing one
    // room at once may answer 409 (docs/architecture.md §6a).
    let on_a = a.group(&alice, "Sends on a", "public").await;
    let on_b = a.group(&alice, "Sends on b", "public").await;
    let mut ws_on_b = b.ws(&alice.access).await;
    let started = Instant::now();
    let (mut stored, mut refused_on_b) = (0, 0);
    // 14 alternating sends: per node, 6 + 6 would pass. Over the socket at most
    // 4 in a row are refused (5 would close it with 4008).
    for i in 0..14 {
        if i % 2 == 0 {
            stored += usize::from(rest_send(&a, &alice, &on_a, i).await);
        } else {
            ws_on_b
                .say(&on_b, &format!("ws {i}"), &format!("c{i}"))
                .await;
            let answer = loop {
                let frame = ws_on_b.next_json().await;
                if matches!(frame["type"].as_str(), Some("ack" | "error")) {
                    break frame;
                }
            };
            match answer["type"].as_str() {
                Some("ack") => stored += 1,
                _ => {
                    assert_eq!(answer["code"], "rate_limited", "{answer}");
                    refused_on_b += 1;
                }
            }
        }
    }
    let elapsed = started.elapsed();
    let allowed = BURST + RATE * (elapsed.as_secs() as usize + 1);
    assert!(
        (BURST..=allowed).contains(&stored),
        "{stored} stored in {elapsed:?}; between {BURST} and {allowed}"
    );
    assert!(
        refused_on_b > 0,
        "node b refuses while its own bucket has room"
    );
    let mut in_history = 0;
    for g in [&on_a, &on_b] {
        let page = expect_json(b.history(&alice, g, "?limit=100").await, StatusCode::OK).await;
        in_history += bodies(&page).len();
    }
    assert_eq!(in_history, stored);
}

#[tokio::test]
async fn concurrent_sends_on_two_nodes_never_exceed_the_cluster_burst() {
    const BURST: usize = 10;
    let (a, b) = two_nodes_with(&[("WS_MAX_MSGS_PER_SEC", "1"), ("WS_BURST", "10")]).await;
    let alice = a.user("alice").await;
    let rooms = [
        a.group(&alice, "Flood a", "public").await,
        a.group(&alice, "Flood b", "public").await,
    ];
    let started = Instant::now();
    let statuses: Vec<u16> = join_all((0..40).map(|i| {
        let node = if i % 2 == 0 { &a } else { &b };
        let (alice, g) = (&alice, &rooms[i % 2]);
        async move {
            node.say(alice, g, &format!("burst {i}"))
                .await
                .status()
                .as_u16()
        }
    }))
    .await;
    let elapsed = started.elapsed();
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 429),
        "{statuses:?}"
    );
    let created = statuses.iter().filter(|s| **s == 201).count();
    let allowed = BURST + elapsed.as_secs() as usize + 1;
    assert!(
        (BURST..=allowed).contains(&created),
        "{created} created in {elapsed:?}; per node it would be 20: {statuses:?}"
    );
}

#[tokio::test]
async fn typing_on_two_nodes_draws_on_one_budget() {
    const RATE: usize = 1;
    const BURST: usize = 4;
    const ROOMS: usize = 12;
    let (a, b) = two_nodes_with(&[("TYPING_MAX_PER_SEC", "1"), ("TYPING_BURST", "4")]).await;
    let alice = a.user("alice").await;
    let bob = a.user("bob").await;
    let mut rooms = Vec::new();
    for i in 0..ROOMS {
        let g = a.group(&alice, &format!("Room {i}"), "public").await;
        joined(&a, &bob, &g).await;
        rooms.push(g);
    }
    let mut bob_ws = a.ws(&bob.access).await;
    for g in &rooms {
        bob_ws.join(g, None).await;
    }
    let mut alice_a = a.ws(&alice.access).await;
    let mut alice_b = b.ws(&alice.access).await;
    let started = Instant::now();
    // One notice per room (a room's own throttle never applies), alternating
    // nodes: per node, 4 + 4 would go out.
    for (i, g) in rooms.iter().enumerate() {
        let ws = if i % 2 == 0 {
            &mut alice_a
        } else {
            &mut alice_b
        };
        ws.send_json(json!({ "type": "typing", "conversation": g }))
            .await;
    }
    // A ping on each socket: every typing frame before it has been handled.
    for ws in [&mut alice_a, &mut alice_b] {
        ws.send_json(json!({ "type": "ping" })).await;
        ws.expect("pong").await;
    }
    let elapsed = started.elapsed();
    let frames = bob_ws.drain(QUIET).await;
    let typing = frames.iter().filter(|f| f["type"] == "typing").count();
    let allowed = BURST + RATE * (elapsed.as_secs() as usize + 1);
    assert!(
        (BURST..=allowed).contains(&typing),
        "{typing} typing notices in {elapsed:?}; between {BURST} and {allowed}: {frames:?}"
    );
}

#[tokio::test]
async fn with_redis_unreachable_a_node_limits_on_its_own_and_never_fails_or_hangs() {
    const METRICS_TOKEN: &str = "m3trics-T0ken-for-cluster-limits-0a1b2c";
    // The group is made before Redis goes away (creating one needs the
    // cluster-wide lock of its owner's list of groups).
    let before = spawn_app().await;
    let alice = before.user("alice").await;
    let g = before.group(&alice, "Alone", "public").await;
    let app = before
        .another_node_with(&[
            ("REDIS_URL", "redis://127.0.0.1:1"),
            ("REDIS_NAMESPACE", "unreachable"),
            ("WS_MAX_MSGS_PER_SEC", "1"),
            ("WS_BURST", "3"),
            ("LOGIN_MAX_FAILURES_PER_USER", "2"),
            ("METRICS_TOKEN", METRICS_TOKEN),
        ])
        .await;
    let started = Instant::now();
    let mut statuses = Vec::new();
    for i in 0..5 {
        let sent = Instant::now();
        let resp = app.say(&alice, &g, &format!("m {i}")).await;
        assert!(
            sent.elapsed() < Duration::from_secs(2),
            "{:?}",
            sent.elapsed()
        );
        statuses.push(resp.status().as_u16());
    }
    // The node's own bucket: 3, then refusals (each with Retry-After). The 3 are
    // charged, then refused with 503: without Redis, a node that never owned the
    // conversation does not write it (one writer; docs/architecture.md §11).
    assert_eq!(&statuses[..3], [503, 503, 503], "{statuses:?}");
    retry_after(app.say(&alice, &g, "over").await).await;
    let mut ws = app.ws(&alice.access).await;
    ws.say(&g, "over ws", "w1").await;
    assert_eq!(ws.expect("error").await["code"], "rate_limited");

    for _ in 0..2 {
        let resp = app.login("alice", "a wrong password here").await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    retry_after(app.login("alice", "a wrong password here").await).await;
    app.user("bob").await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );

    let metrics = app.get("/metrics", Some(METRICS_TOKEN)).await;
    assert_eq!(metrics.status(), StatusCode::OK);
    let text = metrics.text().await.unwrap_or_default();
    let fallbacks: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("confab_cluster_limits_fallback_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("the fallback is counted:\n{text}"));
    assert!(fallbacks >= 1.0, "{fallbacks}");
}

#[tokio::test]
async fn with_a_redis_that_never_answers_requests_wait_at_most_the_timeout() {
    // Accepts connections and never says a word: a hung Redis.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let url = format!("redis://127.0.0.1:{port}");
    // The group is made before Redis hangs (creating one needs the cluster-wide
    // lock of its owner's list of groups).
    let before = spawn_app().await;
    let alice = before.user("alice").await;
    let g = before.group(&alice, "Hung", "public").await;
    let app = before
        .another_node_with(&[
            ("REDIS_URL", url.as_str()),
            ("REDIS_NAMESPACE", "silent"),
            ("WS_MAX_MSGS_PER_SEC", "1"),
            ("WS_BURST", "3"),
        ])
        .await;
    // Past the node's pause after a failure: the first send dials Redis again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut statuses = Vec::new();
    for i in 0..5 {
        let sent = Instant::now();
        let resp = app.say(&alice, &g, &format!("m {i}")).await;
        // Each Redis step gives up after 250 ms (the rate check, the owner
        // lookup, the publish before the ack); a hung Redis without those
        // bounds holds a send for good. 2.5 s leaves room for a loaded machine.
        assert!(
            sent.elapsed() < Duration::from_millis(2500),
            "send {i} took {:?}",
            sent.elapsed()
        );
        statuses.push(resp.status().as_u16());
    }
    // The node's own bucket (3, then 429); the 3 it let through are refused with
    // 503 because no owner can be known without Redis.
    assert_eq!(statuses, [503, 503, 503, 429, 429], "the node's own bucket");
    holder.abort();
}

fn shared_limits() -> RedisCounters {
    let namespace = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    RedisCounters::new(&redis_url().into(), &namespace).expect("a valid Redis URL")
}

#[tokio::test]
async fn the_redis_bucket_allows_the_burst_then_says_how_long_to_wait() {
    let limits = shared_limits();
    for _ in 0..3 {
        assert_eq!(
            limits.take("send", "u1", 1_000_000, 3).await,
            Some(Verdict::Allowed)
        );
    }
    match limits.take("send", "u1", 1_000_000, 3).await {
        Some(Verdict::Refused(wait)) => {
            assert!(
                wait > Duration::ZERO && wait <= Duration::from_secs(1),
                "{wait:?}"
            );
        }
        other => panic!("over the burst: {other:?}"),
    }
    assert_eq!(
        limits.take("send", "u2", 1_000_000, 3).await,
        Some(Verdict::Allowed),
        "another key"
    );
    assert_eq!(
        limits.take("typing", "u1", 1_000_000, 3).await,
        Some(Verdict::Allowed),
        "another limit"
    );
}

#[tokio::test]
async fn concurrent_redis_checks_never_exceed_the_burst_and_stay_cheap() {
    const BURST: u32 = 500;
    const CHECKS: usize = 2000;
    let limits = shared_limits();
    // Warm: the connection is dialled and the script loaded.
    limits.take("warm", "w", 1_000_000, 1).await;
    let started = Instant::now();
    let verdicts =
        join_all((0..CHECKS).map(|_| limits.take("send", "hot", 1_000_000, BURST))).await;
    let elapsed = started.elapsed();
    let allowed = verdicts
        .iter()
        .filter(|v| **v == Some(Verdict::Allowed))
        .count();
    // On a loaded machine some checks may miss the 250 ms timeout (the caller
    // then counts per node): they are neither allowed nor refused by Redis.
    let unanswered = verdicts.iter().filter(|v| v.is_none()).count();
    assert!(
        unanswered < CHECKS / 2,
        "{unanswered} of {CHECKS} unanswered"
    );
    let most = BURST as usize + elapsed.as_secs() as usize + 1;
    assert!(
        allowed <= most && allowed + unanswered >= BURST as usize,
        "{allowed} allowed, {unanswered} unanswered; at most {most}, at least {BURST} in all"
    );
    let sequential = Instant::now();
    for _ in 0..200 {
        limits.take("send", "seq", 1_000_000, 1000).await;
    }
    eprintln!(
        "shared limits: {CHECKS} concurrent checks in {elapsed:?} ({:?} each, {unanswered} unanswered); 200 sequential in {:?} ({:?} each)",
        elapsed / CHECKS as u32,
        sequential.elapsed(),
        sequential.elapsed() / 200
    );
}

#[tokio::test]
async fn the_redis_window_charges_refunds_and_clears() {
    let limits = shared_limits();
    let window = Duration::from_secs(60);
    let first = limits
        .charge("login_per_user", "dora", 2, window)
        .await
        .expect("Redis answers")
        .expect("room in the window");
    limits
        .charge("login_per_user", "dora", 2, window)
        .await
        .expect("Redis answers")
        .expect("room for a second");
    let wait = limits
        .charge("login_per_user", "dora", 2, window)
        .await
        .expect("Redis answers")
        .expect_err("two events fill it");
    assert!(wait > Duration::from_secs(59) && wait <= window, "{wait:?}");
    limits.refund("login_per_user", "dora", &first).await;
    assert!(matches!(
        limits.charge("login_per_user", "dora", 2, window).await,
        Some(Ok(_))
    ));
    limits.clear("login_per_user", "dora").await;
    limits.record("login_per_user", "dora", 2, window).await;
    limits.record("login_per_user", "dora", 2, window).await;
    limits.record("login_per_user", "dora", 2, window).await;
    assert!(
        matches!(
            limits.charge("login_per_user", "dora", 2, window).await,
            Some(Err(_))
        ),
        "recorded events count"
    );
    limits.clear("login_per_user", "dora").await;
    assert!(matches!(
        limits.charge("login_per_user", "dora", 2, window).await,
        Some(Ok(_))
    ));
}
