//! A conversation's change counter (`rev`, issue 23): every edit and delete
//! bumps it; `join` with `since_rev` and `GET /conversations/{id}/changes`
//! bring a client that was away up to date with what changed, not only with
//! what is new.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

pub(crate) async fn edit(app: &TestApp, who: &Session, id: &str, body: &str) -> Value {
    expect_json(
        app.send(
            reqwest::Method::PATCH,
            &format!("/api/v1/messages/{id}"),
            Some(&who.access),
            Some(json!({ "body": body })),
        )
        .await,
        StatusCode::OK,
    )
    .await
}

pub(crate) async fn delete(app: &TestApp, who: &Session, id: &str) {
    let resp = app
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/messages/{id}"),
            Some(&who.access),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
}

/// 100 messages; returns their ids by seq (index 0 unused).
async fn hundred_messages(app: &TestApp, alice: &Session, g: &str) -> Vec<String> {
    let mut ids = vec![String::new()];
    for i in 1..=100 {
        let m = app.said(alice, g, &format!("message {i}")).await;
        ids.push(m["id"].as_str().expect("id").to_owned());
    }
    ids
}

/// While a reader is away: 50 edits (messages 1-30 once, 1-20 a second time),
/// 20 deletions (messages 21-40) and 5 new messages.
async fn change_while_away(app: &TestApp, alice: &Session, g: &str, ids: &[String]) {
    for (i, id) in ids.iter().enumerate().take(31).skip(1) {
        edit(app, alice, id, &format!("edit 1 of {i}")).await;
    }
    for (i, id) in ids.iter().enumerate().take(21).skip(1) {
        edit(app, alice, id, &format!("edit 2 of {i}")).await;
    }
    for id in &ids[21..=40] {
        delete(app, alice, id).await;
    }
    for i in 101..=105 {
        app.said(alice, g, &format!("message {i}")).await;
    }
}

/// `changes` (a join's replay of changes) name each message of `seqs` exactly
/// once, ascending by rev.
pub(crate) fn assert_each_changed_once_by_rev(
    changes: &[Value],
    seqs: std::ops::RangeInclusive<i64>,
) {
    let named: Vec<i64> = changes
        .iter()
        .map(|f| f["seq"].as_i64().unwrap_or(-1))
        .collect();
    let mut unique = named.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        unique,
        seqs.collect::<Vec<_>>(),
        "each changed message: {named:?}"
    );
    assert_eq!(unique.len(), named.len(), "no message twice: {named:?}");
    let revs: Vec<i64> = changes
        .iter()
        .map(|f| f["rev"].as_i64().unwrap_or(-1))
        .collect();
    assert!(
        revs.windows(2).all(|w| w[0] < w[1]),
        "ascending by rev: {revs:?}"
    );
}

/// What each changed message must look like now.
fn expected_now(seq: i64) -> Option<&'static str> {
    match seq {
        1..=20 => Some("edited twice"),
        21..=40 => Some("deleted"),
        _ => None,
    }
}

#[tokio::test]
async fn a_client_away_gets_each_changed_message_once_as_it_is_now() {
    let (app, alice, bob, g) = room_with(UNLIMITED_SENDS).await;
    let ids = hundred_messages(&app, &alice, &g).await;
    let mut ws = app.ws(&bob.access).await;
    let joined = ws.join(&g, None).await;
    assert_eq!(joined["last_rev"], 0, "{joined}");
    assert_eq!(joined["last_seq"], 100);
    drop(ws);

    change_while_away(&app, &alice, &g, &ids).await;

    let mut ws = app.ws(&bob.access).await;
    ws.send_json(json!({ "type": "join", "conversation": g, "since": 100, "since_rev": 0 }))
        .await;
    let mut frames = Vec::new();
    loop {
        let frame = ws
            .next_within(Duration::from_secs(10))
            .await
            .expect("a frame");
        if frame["type"] == "joined" {
            assert_eq!(frame["last_rev"], 70, "{frame}");
            assert_eq!(frame["last_seq"], 105, "{frame}");
            assert!(frame.get("changes_truncated").is_none(), "{frame}");
            break;
        }
        frames.push(frame);
    }
    // First the new messages, then each changed one once, ascending by rev.
    let new: Vec<i64> = frames
        .iter()
        .take_while(|f| f["type"] == "message")
        .map(|f| f["seq"].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(new, (101..=105).collect::<Vec<_>>());
    let changes = &frames[new.len()..];
    assert_each_changed_once_by_rev(changes, 1..=40);
    for frame in changes {
        let seq = frame["seq"].as_i64().unwrap_or(-1);
        match expected_now(seq) {
            Some("edited twice") => {
                assert_eq!(frame["type"], "message_updated", "{frame}");
                assert_eq!(frame["body"], format!("edit 2 of {seq}"), "{frame}");
            }
            Some("deleted") => assert_eq!(frame["type"], "message_deleted", "{frame}"),
            _ => panic!("{seq} did not change: {frame}"),
        }
    }
    // With nothing missed, a join replays nothing.
    drop(ws);
    let mut ws = app.ws(&bob.access).await;
    ws.send_json(json!({ "type": "join", "conversation": g, "since": 105, "since_rev": 70 }))
        .await;
    let first = ws
        .next_within(Duration::from_secs(10))
        .await
        .expect("a frame");
    assert_eq!(first["type"], "joined", "{first}");
}

#[tokio::test]
async fn changes_page_over_rest_and_history_carries_each_rev() {
    let (app, alice, bob, g) = room_with(UNLIMITED_SENDS).await;
    let ids = hundred_messages(&app, &alice, &g).await;
    change_while_away(&app, &alice, &g, &ids).await;

    // Page the changes 30 at a time; keep the highest rev of each message.
    let mut now: HashMap<i64, Value> = HashMap::new();
    let mut since_rev = 0;
    for page in 0.. {
        assert!(page < 10, "the changes never ended");
        let resp = app
            .get(
                &format!("/api/v1/conversations/{g}/changes?since_rev={since_rev}&limit=30"),
                Some(&bob.access),
            )
            .await;
        let body = expect_json(resp, StatusCode::OK).await;
        for m in body["items"].as_array().expect("items") {
            let seq = m["seq"].as_i64().unwrap_or(-1);
            let newer = now
                .get(&seq)
                .is_none_or(|held| held["rev"].as_i64() < m["rev"].as_i64());
            if newer {
                now.insert(seq, m.clone());
            }
        }
        since_rev = body["last_rev"].as_i64().expect("last_rev");
        if body["has_more"] == false {
            break;
        }
    }
    assert_eq!(since_rev, 70);
    let mut seqs: Vec<i64> = now.keys().copied().collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=40).collect::<Vec<_>>());
    for (seq, m) in &now {
        match expected_now(*seq) {
            Some("edited twice") => assert_eq!(m["body"], format!("edit 2 of {seq}")),
            _ => assert_eq!(m["deleted"], true, "{m}"),
        }
    }

    // History pages carry each message's rev: 0 for one never changed.
    let page = expect_json(
        app.history(&bob, &g, "?after=0&limit=100").await,
        StatusCode::OK,
    )
    .await;
    for m in page["items"].as_array().expect("items") {
        let seq = m["seq"].as_i64().unwrap_or(-1);
        let rev = m["rev"].as_i64().expect("rev");
        if seq > 40 {
            assert_eq!(rev, 0, "{m}");
        } else {
            assert_eq!(rev, now[&seq]["rev"].as_i64().expect("rev"), "{m}");
        }
    }

    // Bad revs are clean 4xx; strangers get the 404 of every other read.
    for bad in ["-1", "9007199254740992", "9223372036854775807"] {
        let resp = app
            .get(
                &format!("/api/v1/conversations/{g}/changes?since_rev={bad}"),
                Some(&bob.access),
            )
            .await;
        assert_eq!(
            expect_error(resp, StatusCode::UNPROCESSABLE_ENTITY).await,
            "validation_failed"
        );
    }
    let resp = app
        .get(
            &format!("/api/v1/conversations/{g}/changes?since_rev=99999999999999999999999"),
            Some(&bob.access),
        )
        .await;
    assert_eq!(
        expect_error(resp, StatusCode::BAD_REQUEST).await,
        "bad_request"
    );
    let stranger = app.user("stranger").await;
    let private = app.group(&alice, "Private", "private").await;
    let resp = app
        .get(
            &format!("/api/v1/conversations/{private}/changes?since_rev=0"),
            Some(&stranger.access),
        )
        .await;
    assert_eq!(expect_error(resp, StatusCode::NOT_FOUND).await, "not_found");
    let mut ws = app.ws(&bob.access).await;
    ws.send_json(json!({ "type": "join", "conversation": g, "since_rev": -1 }))
        .await;
    let err = ws.expect("error").await;
    assert_eq!(err["code"], "validation_failed", "{err}");
}

#[tokio::test]
async fn a_rev_is_never_handed_out_twice_across_restarts() {
    let (app, alice, _bob, g) = room().await;
    let m = app.said(&alice, &g, "first").await;
    let id = m["id"].as_str().expect("id").to_owned();
    assert_eq!(edit(&app, &alice, &id, "second").await["rev"], 1);
    // A change recorded by a node that crashed before raising the counter.
    let conversation = confab::ids::ConversationId::from_trusted(g.clone());
    let recorded = app
        .state
        .store
        .changes
        .record_many(&conversation, 2, &[m["seq"].as_i64().expect("seq")])
        .await
        .expect("recorded");
    assert!(recorded);
    // A restarted node (nothing in memory) skips both.
    let node = app.another_node().await;
    assert_eq!(edit(&node, &alice, &id, "third").await["rev"], 3);
    assert_eq!(edit(&app, &alice, &id, "fourth").await["rev"], 4);
    let mut ws = app.ws(&alice.access).await;
    let joined = ws.join(&g, None).await;
    assert_eq!(joined["last_rev"], 4, "{joined}");
    // And a node started after all of it starts from the stored counter.
    let later = app.another_node().await;
    let mut ws = later.ws(&alice.access).await;
    let joined = ws.join(&g, None).await;
    assert_eq!(joined["last_rev"], 4, "{joined}");
}

#[tokio::test]
async fn more_changes_than_a_join_replays_are_flagged_not_sent() {
    let (app, alice, bob, g) = room_with(UNLIMITED_SENDS).await;
    // 101 messages changed: more than a join replays (each once).
    let mut ids = Vec::new();
    for i in 0..101 {
        let m = app.said(&alice, &g, &format!("message {i}")).await;
        ids.push(m["id"].as_str().expect("id").to_owned());
    }
    for (i, id) in ids.iter().enumerate() {
        edit(&app, &alice, id, &format!("edit {i}")).await;
    }
    let mut ws = app.ws(&bob.access).await;
    ws.send_json(json!({ "type": "join", "conversation": g, "since": 101, "since_rev": 0 }))
        .await;
    let first = ws
        .next_within(Duration::from_secs(10))
        .await
        .expect("a frame");
    assert_eq!(first["type"], "joined", "nothing replayed: {first}");
    assert_eq!(first["changes_truncated"], true, "{first}");
    assert_eq!(first["last_rev"], 101, "{first}");
}

#[tokio::test]
async fn many_changes_of_few_messages_are_replayed_once_each_also_after_a_restart() {
    let (mut app, alice, bob, g) = room_with(UNLIMITED_SENDS).await;
    let m = app.said(&alice, &g, "edited often").await;
    let id = m["id"].as_str().expect("id").to_owned();
    for i in 0..150 {
        edit(&app, &alice, &id, &format!("edit {i}")).await;
    }
    let replayed = |frames: &[Value]| -> Vec<String> {
        frames
            .iter()
            .filter(|f| f["type"] == "message_updated")
            .map(|f| f["body"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    let mut ws = app.ws(&bob.access).await;
    ws.send_json(json!({ "type": "join", "conversation": g, "since": 1, "since_rev": 0 }))
        .await;
    let mut frames = Vec::new();
    loop {
        let f = ws
            .next_within(Duration::from_secs(10))
            .await
            .expect("a frame");
        if f["type"] == "joined" {
            assert_eq!(f["last_rev"], 150, "{f}");
            assert!(
                f.get("changes_truncated").is_none(),
                "150 changes of one message: {f}"
            );
            break;
        }
        frames.push(f);
    }
    assert_eq!(replayed(&frames), ["edit 149"], "{frames:?}");
    drop(ws);

    // After a restart the latest changes are no longer in memory: a join that
    // goes back further than a replay reads is flagged, a recent one is served
    // from `message_changes`.
    app.shut_down().await;
    let app = app.another_node().await;
    edit(&app, &alice, &id, "after the restart").await;
    let mut ws = app.ws(&bob.access).await;
    ws.send_json(json!({ "type": "join", "conversation": g, "since": 1, "since_rev": 0 }))
        .await;
    let f = ws
        .next_within(Duration::from_secs(10))
        .await
        .expect("a frame");
    assert_eq!(f["type"], "joined", "{f}");
    assert_eq!(f["changes_truncated"], true, "{f}");
    assert_eq!(f["last_rev"], 151, "{f}");
    ws.send_json(json!({ "type": "join", "conversation": g, "since": 1, "since_rev": 140 }))
        .await;
    let f = ws
        .next_within(Duration::from_secs(10))
        .await
        .expect("a frame");
    assert_eq!(f["type"], "message_updated", "{f}");
    assert_eq!(f["body"], "after the restart");
    assert_eq!(f["rev"], 151);
    let f = ws
        .next_within(Duration::from_secs(10))
        .await
        .expect("a frame");
    assert_eq!(f["type"], "joined", "{f}");
    assert!(f.get("changes_truncated").is_none(), "{f}");
}

#[tokio::test]
async fn a_change_its_block_never_got_survives_a_restart() {
    // A block written from a copy that had not heard of a change (or a crash
    // before the flush): the block holds the old text and no reaction, the
    // message's document the new ones. A restarted node shows the document's.
    let (mut app, alice, bob, g) = room_with(UNLIMITED_SENDS).await;
    let m = app.said(&alice, &g, "before").await;
    let id = m["id"].as_str().expect("id").to_owned();
    app.shut_down().await; // the block is written, with "before"
    let app = app.another_node().await;
    let conversation = confab::ids::ConversationId::parse(&g).expect("a conversation id");
    let (stale, version) = app
        .state
        .store
        .messages
        .block_for_rewrite(&conversation, 0)
        .await
        .expect("the block");
    edit(&app, &alice, &id, "after").await;
    let resp = app
        .send(
            reqwest::Method::PUT,
            &format!("/api/v1/messages/{id}/reactions/👍"),
            Some(&bob.access),
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let mut app = app;
    app.shut_down().await;
    // Put the old block back, as a stale flush would have left it.
    let (_, current) = app
        .state
        .store
        .messages
        .block_for_rewrite(&conversation, 0)
        .await
        .expect("the block");
    assert!(
        app.state
            .store
            .messages
            .write_block_if(&conversation, 0, &stale, &current)
            .await
            .expect("written"),
        "the stale block went back ({version:?} before)"
    );
    let app = app.another_node().await;
    let page = expect_json(app.history(&alice, &g, "").await, StatusCode::OK).await;
    let now = &page["items"][0];
    assert_eq!(now["body"], "after", "{page}");
    assert_eq!(now["reactions"][0]["count"], 1, "{page}");
}
