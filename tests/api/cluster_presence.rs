//! Presence merged across nodes (cluster mode): watchers on both nodes, users
//! with tabs on one node or both, a node killed with SIGKILL, a node started
//! late. Real WebSocket frames, real nodes, one Redis.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::cluster::{joined, redis_url, two_nodes};
use crate::helpers::*;
use crate::ws_client::Ws;

/// Long enough for an event to cross Redis and be delivered (milliseconds in
/// practice).
const QUIET: Duration = Duration::from_millis(700);

/// The presence statuses announced for `username` among `frames`, in order.
fn presence_of(frames: &[Value], username: &str) -> Vec<String> {
    frames
        .iter()
        .filter(|f| f["type"] == "presence" && f["user"]["username"] == username)
        .map(|f| f["status"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn usernames(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|users| {
            users
                .iter()
                .filter_map(|u| u["username"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Who `viewer` sees online in the room, asking `node`.
async fn rest_presence(node: &TestApp, viewer: &Session, g: &str) -> Vec<String> {
    let body = expect_json(
        node.get(
            &format!("/api/v1/conversations/{g}/presence"),
            Some(&viewer.access),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    usernames(&body["online"])
}

/// `GET /users/{id}`'s `online` as `viewer` sees it on `node`.
async fn profile_online(node: &TestApp, viewer: &Session, user: &Session) -> Value {
    let profile = expect_json(
        node.get(&format!("/api/v1/users/{}", user.id), Some(&viewer.access))
            .await,
        StatusCode::OK,
    )
    .await;
    profile["online"].clone()
}

/// Polls `check` until it holds, for at most `within`; returns how long it took.
async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(start.elapsed() < within, "{what} within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A socket of `who` on `node`, joined to `g`.
async fn in_room(node: &TestApp, who: &Session, g: &str) -> Ws {
    let mut ws = node.ws(&who.access).await;
    ws.join(g, None).await;
    ws
}

#[tokio::test]
async fn a_user_with_tabs_on_both_nodes_is_announced_online_once_and_offline_once_on_each() {
    let (a, b) = two_nodes().await;
    let alice = a.user("alice").await;
    let carol = a.user("carol").await;
    let bob = a.user("bob").await;
    let g = a.group(&alice, "Split", "public").await;
    joined(&a, &carol, &g).await;
    joined(&a, &bob, &g).await;
    let mut on_a = in_room(&a, &alice, &g).await;
    let mut on_b = in_room(&b, &carol, &g).await;
    on_a.drain(QUIET).await;
    on_b.drain(QUIET).await;

    // Round 0: A's tab first; round 1: B's first; round 2: both at once.
    for round in 0..3 {
        let (tab_a, tab_b) = match round {
            0 => {
                let tab_a = in_room(&a, &bob, &g).await;
                (tab_a, in_room(&b, &bob, &g).await)
            }
            1 => {
                let tab_b = in_room(&b, &bob, &g).await;
                (in_room(&a, &bob, &g).await, tab_b)
            }
            _ => tokio::join!(in_room(&a, &bob, &g), in_room(&b, &bob, &g)),
        };
        for (node, watcher) in [("A", &mut on_a), ("B", &mut on_b)] {
            let frames = watcher.drain(QUIET).await;
            assert_eq!(
                presence_of(&frames, "bob"),
                ["online"],
                "round {round}, watcher on {node}: {frames:?}"
            );
        }
        if round < 2 {
            // One tab leaves (the first one to have joined): still online.
            let (first, second) = if round == 0 {
                (tab_a, tab_b)
            } else {
                (tab_b, tab_a)
            };
            drop(first);
            for (node, watcher) in [("A", &mut on_a), ("B", &mut on_b)] {
                let frames = watcher.drain(QUIET).await;
                assert!(
                    presence_of(&frames, "bob").is_empty(),
                    "round {round}, watcher on {node}: one tab left, still online: {frames:?}"
                );
            }
            drop(second);
        } else {
            drop(tab_a);
            drop(tab_b);
        }
        for (node, watcher) in [("A", &mut on_a), ("B", &mut on_b)] {
            let frames = watcher.drain(QUIET).await;
            assert_eq!(
                presence_of(&frames, "bob"),
                ["offline"],
                "round {round}, watcher on {node}: {frames:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_user_connected_only_on_one_node_is_online_in_joins_rest_and_profiles_on_the_other() {
    let (a, b) = two_nodes().await;
    let alice = a.user("alice").await;
    let carol = a.user("carol").await;
    let bob = a.user("bob").await;
    let g = a.group(&alice, "Split", "public").await;
    joined(&a, &carol, &g).await;
    joined(&a, &bob, &g).await;
    let mut watcher = in_room(&b, &alice, &g).await;
    assert_eq!(
        profile_online(&b, &carol, &bob).await,
        json!(false),
        "bob is not connected yet"
    );

    let bob_ws = in_room(&a, &bob, &g).await;
    let online = watcher.expect("presence").await;
    assert_eq!(
        (online["user"]["username"].clone(), online["status"].clone()),
        (json!("bob"), json!("online"))
    );
    // The news has reached B: a join there, the REST presence and the profile
    // all count bob, who has no connection on B.
    let mut carol_ws = b.ws(&carol.access).await;
    let reply = carol_ws.join(&g, None).await;
    let mut in_join = usernames(&reply["online"]);
    in_join.sort();
    assert_eq!(in_join, ["alice", "bob", "carol"], "{reply}");
    let mut in_rest = rest_presence(&b, &carol, &g).await;
    in_rest.sort();
    assert_eq!(in_rest, ["alice", "bob", "carol"]);
    assert_eq!(profile_online(&b, &carol, &bob).await, json!(true));

    drop(bob_ws);
    eventually(Duration::from_secs(5), "bob offline on B", || async {
        profile_online(&b, &carol, &bob).await == json!(false)
    })
    .await;
    let mut in_rest = rest_presence(&b, &carol, &g).await;
    in_rest.sort();
    assert_eq!(in_rest, ["alice", "carol"]);

    // Connected without joining any room: online in the profile all the same.
    let _bare = a.ws(&bob.access).await;
    eventually(Duration::from_secs(5), "bob online on B again", || async {
        profile_online(&b, &carol, &bob).await == json!(true)
    })
    .await;
    assert!(
        !rest_presence(&b, &carol, &g)
            .await
            .contains(&"bob".to_owned()),
        "connected but not in the room"
    );
}

#[tokio::test]
async fn a_node_killed_with_sigkill_takes_its_users_offline_on_the_survivor_once_within_the_ttl() {
    // Node A: a real process, to be killed. Node B: in this process.
    let (mut a_process, a, b, namespace) = crate::cluster::process_and_node("pkill").await;
    let url = redis_url();

    let carol = b.user("carol").await;
    let bob = b.user("bob").await;
    let dave = b.user("dave").await;
    let g = b.group(&carol, "Doomed", "public").await;
    joined(&b, &bob, &g).await;
    joined(&b, &dave, &g).await;
    let mut watcher = in_room(&b, &carol, &g).await;
    // Bob only on A; Dave on both.
    let _bob_on_a = in_room(&a, &bob, &g).await;
    let _dave_on_a = in_room(&a, &dave, &g).await;
    let _dave_on_b = in_room(&b, &dave, &g).await;
    let frames = watcher.drain(QUIET).await;
    assert_eq!(presence_of(&frames, "bob"), ["online"], "{frames:?}");
    assert_eq!(presence_of(&frames, "dave"), ["online"], "{frames:?}");

    // Each node's presence is visible in Redis, under a key with a TTL, from
    // its first heartbeat on.
    eventually(Duration::from_secs(5), "a key per node", || async {
        presence_keys(&url, &namespace).await.len() == 2
    })
    .await;
    let keys = presence_keys(&url, &namespace).await;
    assert_eq!(keys.len(), 2, "one key per node: {keys:?}");
    for (key, ttl_ms) in &keys {
        assert!(
            (1..=6_000).contains(ttl_ms),
            "{key} expires within the TTL: {ttl_ms} ms"
        );
    }

    let killed = Instant::now();
    a_process.child.start_kill().expect("SIGKILL node A");
    let offline = loop {
        let frame = watcher
            .next_within(Duration::from_secs(15).saturating_sub(killed.elapsed()))
            .await
            .expect("bob announced offline on B within 15 s of A's death");
        if frame["type"] == "presence" {
            break frame;
        }
    };
    let took = killed.elapsed();
    assert_eq!(
        (
            offline["user"]["username"].clone(),
            offline["status"].clone()
        ),
        (json!("bob"), json!("offline")),
        "bob (only on A) goes offline first and alone: {offline}"
    );
    eprintln!("node killed: its user announced offline after {took:?}");
    assert!(took < Duration::from_secs(15), "{took:?}");

    // Once: nothing more for bob, and dave (still on B) is not offline, through
    // more than another TTL of sweeps.
    let after = watcher.drain(Duration::from_secs(3)).await;
    let later = watcher.drain(Duration::from_secs(5)).await;
    let rest: Vec<Value> = after.into_iter().chain(later).collect();
    assert!(presence_of(&rest, "bob").is_empty(), "{rest:?}");
    assert!(presence_of(&rest, "dave").is_empty(), "{rest:?}");
    let mut here = rest_presence(&b, &carol, &g).await;
    here.sort();
    assert_eq!(here, ["carol", "dave"]);
    assert_eq!(profile_online(&b, &carol, &bob).await, json!(false));
    assert_eq!(profile_online(&b, &carol, &dave).await, json!(true));
    let left: Vec<String> = presence_keys(&url, &namespace)
        .await
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    assert_eq!(left.len(), 1, "the dead node's key expired: {left:?}");
    assert!(keys.iter().any(|(key, _)| key == &left[0]), "{left:?}");
}

/// The `<namespace>:presence:<node>` keys in Redis, with their TTLs (ms).
async fn presence_keys(url: &str, namespace: &str) -> Vec<(String, i64)> {
    let client = redis::Client::open(url).expect("redis URL");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis reachable");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{namespace}:presence:*"))
        .query_async(&mut conn)
        .await
        .expect("KEYS");
    let mut out = Vec::new();
    for key in keys {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .expect("PTTL");
        out.push((key, ttl));
    }
    out
}

#[tokio::test]
async fn a_node_started_later_sees_who_is_already_present_and_announces_nothing_spurious() {
    let url = redis_url();
    let namespace = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let cluster = [
        ("REDIS_URL", url.as_str()),
        ("REDIS_NAMESPACE", namespace.as_str()),
    ];
    let a = spawn_app_with(&cluster).await;
    crate::cluster::until_subscribed(&url, &namespace, 1).await;
    let alice = a.user("alice").await;
    let bob = a.user("bob").await;
    let carol = a.user("carol").await;
    let g = a.group(&alice, "Early", "public").await;
    joined(&a, &bob, &g).await;
    joined(&a, &carol, &g).await;
    let mut alice_ws = in_room(&a, &alice, &g).await;
    let _bob_ws = in_room(&a, &bob, &g).await;
    alice_ws.drain(QUIET).await;

    // B starts after alice and bob are present on A.
    let b = a.another_node_with(&cluster).await;
    let took = eventually(Duration::from_secs(5), "B learns A's presence", || async {
        profile_online(&b, &carol, &bob).await == json!(true)
    })
    .await;
    eprintln!("late node synced after {took:?}");
    let mut carol_ws = b.ws(&carol.access).await;
    let reply = carol_ws.join(&g, None).await;
    let mut in_join = usernames(&reply["online"]);
    in_join.sort();
    assert_eq!(in_join, ["alice", "bob", "carol"], "{reply}");

    // Nothing changed: through more than one heartbeat (each may bring a
    // re-sync), nobody is announced on either node except carol's arrival on A.
    let on_b = carol_ws.drain(Duration::from_secs(3)).await;
    assert!(
        on_b.iter().all(|f| f["type"] != "presence"),
        "nothing spurious on B: {on_b:?}"
    );
    let on_a = alice_ws.drain(QUIET).await;
    assert_eq!(presence_of(&on_a, "carol"), ["online"], "{on_a:?}");
    assert!(presence_of(&on_a, "bob").is_empty(), "{on_a:?}");
    assert!(presence_of(&on_a, "alice").is_empty(), "{on_a:?}");
}

#[tokio::test]
async fn a_redis_outage_longer_than_the_ttl_announces_no_one_offline_and_presence_converges_after()
{
    let mut redis = crate::cluster::PrivateRedis::start().await;
    let url = redis.url();
    let cluster = [("REDIS_URL", url.as_str()), ("REDIS_NAMESPACE", "outage")];
    let a = spawn_app_with(&cluster).await;
    let b = a.another_node_with(&cluster).await;
    crate::cluster::until_subscribed(&url, "outage", 2).await;
    let alice = a.user("alice").await;
    let bob = a.user("bob").await;
    let carol = a.user("carol").await;
    let g = a.group(&alice, "Weather", "public").await;
    joined(&a, &bob, &g).await;
    joined(&a, &carol, &g).await;
    let mut watcher = in_room(&b, &carol, &g).await;
    let mut bob_ws = in_room(&a, &bob, &g).await;
    let frames = watcher.drain(QUIET).await;
    assert_eq!(presence_of(&frames, "bob"), ["online"], "{frames:?}");

    // Neither node hears the other for longer than the TTL: that is Redis's
    // outage, not a node's death, so nobody is announced offline.
    redis.kill().await;
    let during = watcher.drain(Duration::from_secs(9)).await;
    assert!(
        during.iter().all(|f| f["type"] != "presence"),
        "no presence news during the outage: {during:?}"
    );
    redis.restart().await;
    // Back: each node closes its sockets with 1012 (it may have missed events);
    // the clients reconnect, and presence is whole again on both nodes.
    assert_eq!(watcher.closed_with().await, Some(1012));
    assert_eq!(bob_ws.closed_with().await, Some(1012));
    // Those closes are real leaves: once both nodes have heard them, the room
    // is empty.
    for node in [&a, &b] {
        eventually(
            Duration::from_secs(10),
            "the closed sockets gone",
            || async { rest_presence(node, &carol, &g).await.is_empty() },
        )
        .await;
    }
    bob_ws = in_room(&a, &bob, &g).await;
    eventually(
        Duration::from_secs(10),
        "bob present on B again",
        || async { rest_presence(&b, &carol, &g).await == ["bob"] },
    )
    .await;
    let mut carol_ws = b.ws(&carol.access).await;
    let reply = carol_ws.join(&g, None).await;
    let mut in_join = usernames(&reply["online"]);
    in_join.sort();
    assert_eq!(in_join, ["bob", "carol"], "{reply}");
    let frames = bob_ws.drain(QUIET).await;
    assert_eq!(presence_of(&frames, "carol"), ["online"], "{frames:?}");
    drop(bob_ws);
    let frames = carol_ws.drain(QUIET).await;
    assert_eq!(presence_of(&frames, "bob"), ["offline"], "{frames:?}");
}
