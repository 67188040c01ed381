//! Promises that held only on the happy path (issue 20), one node: seq parameters
//! at the edges of i64, sessions that end badly, and the limits on every write.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

/// Waits until the hub holds `want` connections (a deadline, not a count).
async fn until_connections(app: &TestApp, want: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.state.hub.connection_count() != want {
        assert!(
            std::time::Instant::now() < deadline,
            "the hub still holds {} connections, not {want}",
            app.state.hub.connection_count()
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn seqs_at_the_edges_of_i64_are_refused_clearly_and_the_socket_lives_on() {
    let (app, alice, _bob, g) = room().await;
    let mut ws = app.ws(&alice.access).await;
    for since in [i64::MAX, -1, i64::MIN] {
        ws.send_json(json!({ "type": "join", "conversation": g, "since": since }))
            .await;
        let err = ws.expect("error").await;
        assert_eq!(err["code"], "validation_failed", "since={since}: {err}");
    }
    // The session did not die: it still answers, and a sane join works.
    ws.join(&g, Some(0)).await;
    ws.send_json(json!({ "type": "ping" })).await;
    assert_eq!(ws.expect("pong").await["type"], "pong");
    for query in [
        format!("before={}", i64::MIN),
        format!("before={}", i64::MAX),
        format!("after={}", i64::MAX),
        "after=-1".to_owned(),
    ] {
        let resp = app
            .get(
                &format!("/api/v1/conversations/{g}/messages?{query}"),
                Some(&alice.access),
            )
            .await;
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        let body: serde_json::Value = resp.json().await.expect("json");
        assert_eq!(
            body["error"]["code"], "validation_failed",
            "{query}: {body}"
        );
    }
    let read = app
        .post(
            &format!("/api/v1/conversations/{g}/read"),
            Some(&alice.access),
            json!({ "seq": i64::MAX }),
        )
        .await;
    assert_eq!(read.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Closing gives the slot back: nothing leaked.
    drop(ws);
    until_connections(&app, 0).await;
}

/// Fires `attempts` requests one after another and returns the statuses.
async fn statuses<F, Fut>(attempts: usize, mut request: F) -> Vec<StatusCode>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = reqwest::Response>,
{
    let mut out = Vec::new();
    for i in 0..attempts {
        let resp = request(i).await;
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(
                resp.headers().contains_key("retry-after"),
                "a 429 says when to retry"
            );
        }
        out.push(resp.status());
    }
    out
}

fn limited(statuses: &[StatusCode], what: &str) {
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{what}: never limited: {statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| s.is_success() || *s == StatusCode::TOO_MANY_REQUESTS),
        "{what}: {statuses:?}"
    );
}

/// Every write a client makes, and the REST reads, draw on a per-user budget: the
/// finding was 120 edits of 4,000 characters in 0.6 s, all accepted. With a
/// burst of 3 and a refill of 1/s, 20 requests in a row meet a 429 on any
/// machine that runs them in under 17 s.
#[tokio::test]
async fn edits_deletes_group_changes_dm_opens_and_history_reads_are_rate_limited() {
    let app = spawn_app_with(&[
        ("WS_MAX_MSGS_PER_SEC", "1"),
        ("WS_BURST", "3"),
        ("MEMBERSHIP_MAX_PER_SEC", "1"),
        ("MEMBERSHIP_BURST", "3"),
        ("HISTORY_MAX_PER_SEC", "1"),
        ("HISTORY_BURST", "3"),
    ])
    .await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let g = app.group(&alice, "Limits", "public").await;
    let sent = app
        .post(
            &format!("/api/v1/conversations/{g}/messages"),
            Some(&alice.access),
            json!({ "body": "first" }),
        )
        .await;
    let id = sent.json::<serde_json::Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let big = "e".repeat(4000);
    let message = format!("/api/v1/messages/{id}");
    let edits = statuses(20, |_| {
        app.send(
            reqwest::Method::PATCH,
            &message,
            Some(&alice.access),
            Some(json!({ "body": big })),
        )
    })
    .await;
    limited(&edits, "edits");
    let creates = statuses(20, |i| {
        app.post(
            "/api/v1/groups",
            Some(&bob.access),
            json!({ "name": format!("g{i}") }),
        )
    })
    .await;
    limited(&creates, "group creations");
    let carol = app.user("carol").await;
    let opens = statuses(20, |_| {
        app.post(
            "/api/v1/dms",
            Some(&carol.access),
            json!({ "user_id": alice.id }),
        )
    })
    .await;
    limited(&opens, "DM opens");
    let dave = app.user("dave").await;
    let (join, leave) = (
        format!("/api/v1/groups/{g}/join"),
        format!("/api/v1/groups/{g}/leave"),
    );
    let joins = statuses(20, |i| {
        app.post(
            if i % 2 == 0 { &join } else { &leave },
            Some(&dave.access),
            json!({}),
        )
    })
    .await;
    limited(&joins, "joins and leaves");
    let history = format!("/api/v1/conversations/{g}/messages");
    let reads = statuses(20, |_| app.get(&history, Some(&alice.access))).await;
    limited(&reads, "history reads");
}

/// Finding 2 of issue 20: retried sends older than the writer remembers each burn
/// a seq (the database refuses them as repeats); a new message after them is
/// acked; the process dies (SIGKILL) before writing behind. Recovery used to probe
/// 4 seqs past the stored `last_seq`, stop at the burned ones, lose the acked
/// message and hand its seq range out again.
#[tokio::test]
async fn an_acked_message_after_burned_seqs_survives_a_crash_and_no_seq_is_reused() {
    use crate::faults::{PrivateDb, ServerProcess, app_for_process, free_port};
    let db = PrivateDb::start().await;
    let db_name = "seqs";
    let mongo_uri = format!("{}/{db_name}", db.uri());
    let port = free_port();
    let mut server = ServerProcess::start(port, &mongo_uri).await;
    let app = app_for_process(port, &mongo_uri, db_name).await;
    let owner = app.user("owner").await;
    let g = app.group(&owner, "Durable seqs", "public").await;
    let path = format!("/api/v1/conversations/{g}/messages");
    let send = |client_id: String| {
        app.post(
            &path,
            Some(&owner.access),
            json!({ "body": format!("body {client_id}"), "client_id": client_id }),
        )
    };
    // Three blocks of history, so a restarted writer remembers only the newest two.
    for chunk in 0..15 {
        let sends = (0..20).map(|i| send(format!("c{}", chunk * 20 + i)));
        for resp in futures_util::future::join_all(sends).await {
            assert_eq!(resp.status(), StatusCode::CREATED);
        }
    }
    // A clean stop writes everything behind; the restarted writer remembers the
    // `client_id`s of the newest two blocks only.
    let pid = server.child.id().expect("pid");
    let stopped = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(stopped.success());
    let _ = server.child.wait().await;
    let mut server = ServerProcess::start(port, &mongo_uri).await;

    // The oldest sends are retried, pipelined with a new one on one socket, as a
    // client resending after a reconnect does: each retry is answered with its
    // first message (and burns a seq), the new one is acked. The database is
    // frozen meanwhile, so they are all handed seqs before any is stored.
    let loaded = app.history(&owner, &g, "?limit=1").await;
    assert_eq!(loaded.status(), StatusCode::OK);
    let mut ws = app.ws(&owner.access).await;
    db.signal("STOP");
    for i in 0..8 {
        ws.say(&g, &format!("body c{i}"), &format!("c{i}")).await;
    }
    ws.say(&g, "fresh", "fresh").await;
    // Frames are handled in order: the pong means every send was handed a seq.
    ws.send_json(json!({ "type": "ping" })).await;
    let mut early = Vec::new();
    loop {
        let frame = ws.next_json().await;
        if frame["type"] == "pong" {
            break;
        }
        early.push(frame);
    }
    db.signal("CONT");
    assert!(
        early.is_empty(),
        "answered with the database frozen: {early:?}"
    );
    let mut acked_seq = None;
    let mut repeats = 0;
    while acked_seq.is_none() || repeats < 8 {
        let frame = ws.expect("ack").await;
        if frame["client_id"] == "fresh" {
            acked_seq = frame["seq"].as_i64();
        } else {
            repeats += 1;
            assert!(
                frame["seq"].as_i64().is_some_and(|s| s <= 300),
                "a repeat: {frame}"
            );
        }
    }
    let acked_seq = acked_seq.expect("seq");
    // Killed right after the ack, before the conversation is written behind.
    server.child.start_kill().expect("SIGKILL");
    let _ = server.child.wait().await;
    let _server = ServerProcess::start(port, &mongo_uri).await;

    let page = expect_json(app.history(&owner, &g, "?limit=5").await, StatusCode::OK).await;
    let items = page["items"].as_array().expect("items");
    assert!(
        items
            .iter()
            .any(|m| m["client_id"] == "fresh" && m["seq"] == acked_seq),
        "the acked message is not in history with its seq {acked_seq}; newest seqs: {:?}",
        items.iter().map(|m| m["seq"].clone()).collect::<Vec<_>>()
    );
    let next = send("after-the-crash".to_owned()).await;
    assert_eq!(next.status(), StatusCode::CREATED);
    let next: serde_json::Value = next.json().await.expect("json");
    let next_seq = next["seq"].as_i64().expect("seq");
    assert!(
        next_seq > acked_seq,
        "seq {next_seq} handed out after the acked {acked_seq}"
    );
}

/// Finding 5 of issue 20: opening a DM with someone, alone, showed whether they
/// were online. Now only a DM in which they have written does.
#[tokio::test]
async fn a_dm_shows_online_only_once_the_viewed_user_has_written_in_it() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let _bob_online = app.ws(&bob.access).await;
    let dm = expect_json(
        app.post(
            "/api/v1/dms",
            Some(&alice.access),
            json!({ "user_id": bob.id }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert!(
        dm["peer"].get("online").is_none(),
        "the DM's own answer: {dm}"
    );
    let dm = dm["id"].as_str().expect("id").to_owned();
    // Bob's client joins the DM's room (as the web client joins every DM); alice,
    // joined too, sees only herself present.
    let mut bob_ws = app.ws(&bob.access).await;
    bob_ws.join(&dm, None).await;
    let mut alice_ws = app.ws(&alice.access).await;
    let joined = alice_ws.join(&dm, None).await;
    let present: Vec<&str> = joined["online"]
        .as_array()
        .expect("online")
        .iter()
        .filter_map(|u| u["id"].as_str())
        .collect();
    assert_eq!(present, [alice.id.as_str()], "{joined}");
    let listed = expect_json(
        app.get("/api/v1/dms", Some(&alice.access)).await,
        StatusCode::OK,
    )
    .await;
    assert!(
        listed["items"][0]["peer"].get("online").is_none(),
        "{listed}"
    );
    let profile = format!("/api/v1/users/{}", bob.id);
    let seen = || app.get(&profile, Some(&alice.access));
    let shown = expect_json(seen().await, StatusCode::OK).await;
    assert!(shown.get("online").is_none(), "a DM opened alone: {shown}");
    let path = format!("/api/v1/conversations/{dm}/messages");
    let sent = app
        .post(&path, Some(&alice.access), json!({ "body": "hello?" }))
        .await;
    assert_eq!(sent.status(), StatusCode::CREATED);
    let shown = expect_json(seen().await, StatusCode::OK).await;
    assert!(shown.get("online").is_none(), "only alice wrote: {shown}");
    let sent = app
        .post(&path, Some(&bob.access), json!({ "body": "hi" }))
        .await;
    assert_eq!(sent.status(), StatusCode::CREATED);
    let shown = expect_json(seen().await, StatusCode::OK).await;
    assert_eq!(shown["online"], true, "bob wrote in the DM: {shown}");
    // And his socket, joined before he wrote, is announced present in the DM now.
    let presence = alice_ws.expect("presence").await;
    assert_eq!(presence["user"]["id"], bob.id.as_str(), "{presence}");
    assert_eq!(presence["status"], "online", "{presence}");
}

/// Finding 4 of issue 20: a DM's id is derivable from two user ids, and a
/// stranger's request loaded that conversation into memory (for 300 s) before
/// answering 404. Now a stranger's request is judged from the stored document and
/// loads nothing; an existing DM and a made-up id answer alike.
#[tokio::test]
async fn a_strangers_request_loads_no_conversation_into_memory() {
    use confab::ids::UserId;
    use confab::store::conversations::{ConversationKind, ConversationStore, dm_key};
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let mallory = app.user("mallory").await;
    let (a, b) = (
        UserId::from_trusted(alice.id.clone()),
        UserId::from_trusted(bob.id.clone()),
    );
    let dm = confab::chat::dms::legacy_dm_id(&a, &b);
    // Stored, not in memory: as after a restart, or after 300 s idle.
    let doc = ConversationStore::new_doc(
        dm.clone(),
        ConversationKind::Direct,
        dm_key(&a, &b),
        vec![a.clone(), b.clone()],
    );
    app.state
        .store
        .conversations
        .insert(&doc)
        .await
        .expect("insert");
    assert!(!app.state.writers.has(&dm));
    let made_up = confab::chat::dms::legacy_dm_id(&a, &UserId::from_trusted(mallory.id.clone()));
    for id in [dm.to_string(), made_up.to_string()] {
        for path in [
            format!("/api/v1/conversations/{id}/messages"),
            format!("/api/v1/conversations/{id}/presence"),
        ] {
            let resp = app.get(&path, Some(&mallory.access)).await;
            assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        }
        let sent = app
            .post(
                &format!("/api/v1/conversations/{id}/messages"),
                Some(&mallory.access),
                json!({ "body": "let me in" }),
            )
            .await;
        assert_eq!(sent.status(), StatusCode::NOT_FOUND);
    }
    let mut ws = app.ws(&mallory.access).await;
    ws.send_json(json!({ "type": "join", "conversation": dm.to_string() }))
        .await;
    assert_eq!(ws.expect("error").await["code"], "not_found");
    assert!(
        !app.state.writers.has(&dm),
        "a stranger's requests loaded the DM into memory"
    );
    // Its participants still reach it.
    let page = app
        .get(
            &format!("/api/v1/conversations/{dm}/messages"),
            Some(&alice.access),
        )
        .await;
    assert_eq!(page.status(), StatusCode::OK);
}

/// Finding 4 of issue 20: a DM's id was derivable from the two user ids. Now it is
/// random, the same from both sides and under concurrent first openings.
#[tokio::test]
async fn dm_ids_are_random_and_the_same_from_both_sides() {
    use confab::ids::UserId;
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let (one, two) = tokio::join!(
        app.post(
            "/api/v1/dms",
            Some(&alice.access),
            json!({ "user_id": bob.id })
        ),
        app.post(
            "/api/v1/dms",
            Some(&bob.access),
            json!({ "user_id": alice.id })
        )
    );
    let mut ids = Vec::new();
    for resp in [one, two] {
        assert!(resp.status().is_success(), "{}", resp.status());
        let body: serde_json::Value = resp.json().await.expect("json");
        ids.push(body["id"].as_str().expect("id").to_owned());
    }
    assert_eq!(ids[0], ids[1], "one DM per pair");
    let derived = confab::chat::dms::legacy_dm_id(
        &UserId::from_trusted(alice.id.clone()),
        &UserId::from_trusted(bob.id.clone()),
    );
    assert_ne!(
        ids[0],
        derived.to_string(),
        "the id is not derived from the pair"
    );
    let again = app
        .post(
            "/api/v1/dms",
            Some(&alice.access),
            json!({ "user_id": bob.id }),
        )
        .await;
    let again: serde_json::Value = again.json().await.expect("json");
    assert_eq!(again["id"], ids[0].as_str());
}

/// A send whose batch fails while the database holds it (paused with the insert in
/// hand) may still be stored when the database runs again. Before, the writer went
/// on: the next send got the next seq and was stored and delivered, and the first
/// turned up in history later, never delivered, after readers' cursors had passed
/// it (`scripts/chaos` seed 25). Now nothing more is stored until the copy has
/// reloaded, and a message found stored late is announced: a reader hears every
/// stored message once, in seq order.
#[tokio::test]
async fn a_send_stored_late_after_its_batch_failed_is_heard_in_seq_order_and_nothing_passes_it() {
    use crate::faults::PrivateDb;
    let db = PrivateDb::start().await;
    let uri = format!("{}/late", db.uri());
    let app = spawn_app_with(&[("MONGO_URI", uri.as_str()), ("DB_TIMEOUT_MS", "1000")]).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let g = app.group(&alice, "Late", "public").await;
    assert_eq!(
        app.post(
            &format!("/api/v1/groups/{g}/join"),
            Some(&bob.access),
            json!({})
        )
        .await
        .status(),
        StatusCode::OK
    );
    let mut bob_ws = app.ws(&bob.access).await;
    bob_ws.join(&g, None).await;
    let path = format!("/api/v1/conversations/{g}/messages");
    let send = |body: &'static str| {
        app.post(
            &path,
            Some(&alice.access),
            json!({ "body": body, "client_id": body }),
        )
    };
    expect_json(send("before").await, StatusCode::CREATED).await;

    // The database stops with the first send's insert in hand; the send fails.
    db.signal("STOP");
    let first = send("first").await;
    assert_eq!(first.status(), StatusCode::SERVICE_UNAVAILABLE);
    // Another send while it is unsure whether the first was stored: not stored
    // before the first is settled (refused at once, or failed like the first).
    let second = send("second").await;
    assert_eq!(second.status(), StatusCode::SERVICE_UNAVAILABLE);
    db.signal("CONT");

    // The client sends both again (same `client_id`s) until each is answered as
    // stored.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    for body in ["first", "second"] {
        loop {
            let sent = send(body).await;
            // 201 stored now; 200 stored before (a repeated `client_id`).
            if sent.status() == StatusCode::CREATED || sent.status() == StatusCode::OK {
                break;
            }
            assert_eq!(sent.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert!(std::time::Instant::now() < deadline, "{body} never stored");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    let page = expect_json(app.history(&alice, &g, "").await, StatusCode::OK).await;
    let stored: Vec<(i64, String)> = page["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|m| {
            (
                m["seq"].as_i64().unwrap_or_default(),
                m["body"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        stored.iter().map(|(_, b)| b.as_str()).collect::<Vec<_>>(),
        ["before", "first", "second"],
        "each stored once, in the order sent: {stored:?}"
    );
    let mut heard = Vec::new();
    while heard.len() < stored.len() {
        let frame = bob_ws.expect("message").await;
        heard.push((
            frame["seq"].as_i64().unwrap_or_default(),
            frame["body"].as_str().unwrap_or_default().to_owned(),
        ));
    }
    assert_eq!(
        heard, stored,
        "the reader heard every stored message, in seq order"
    );
}

/// A deletion is final, whatever order the writes land in. A node that stalled
/// past its cluster lock, or had not heard of the delete yet, may still write an
/// edit after it: where the node knows, the edit is refused (409) before it
/// writes; where it lands anyway (the document's text, an event from another
/// node carrying the old version), nobody sees the message back or its text.
#[tokio::test]
async fn a_late_edit_never_brings_a_deleted_message_back() {
    let (app, alice, _bob, g) = room().await;
    let sent = app.said(&alice, &g, "secret").await;
    let id = sent["id"].as_str().unwrap_or_default().to_owned();
    let seq = sent["seq"].as_i64().unwrap_or_default();
    let deleted = app
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/messages/{id}"),
            Some(&alice.access),
            None,
        )
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

    // The edit as a stalled node holds it: the message as it was, new text.
    let conversation = confab::ids::ConversationId::parse(&g).expect("an id");
    let mut late = app
        .state
        .store
        .messages
        .by_seq(&conversation, seq)
        .await
        .expect("readable")
        .expect("stored");
    late.deleted = false;
    late.body = "late edit".to_owned();
    late.edited_at = Some(mongodb::bson::DateTime::now());
    let live = app.state.writers.get(&conversation).await.expect("loaded");
    let refused = app
        .state
        .writers
        .update_message(&live, &late, |_, _| {
            panic!("a refused edit announces nothing")
        })
        .await
        .expect_err("refused");
    assert_eq!(refused.code, confab::error::ErrorCode::Conflict);
    // Landing anyway: in the document, and as another node's event.
    app.state
        .store
        .messages
        .write_edit(&late)
        .await
        .expect("written");
    app.state.writers.observe_remote(late.clone(), false, || ());

    let page = expect_json(app.history(&alice, &g, "").await, StatusCode::OK).await;
    let item = page["items"]
        .as_array()
        .and_then(|items| items.iter().find(|m| m["id"] == id.as_str()))
        .cloned()
        .unwrap_or_default();
    assert_eq!(item["deleted"], true, "{page}");
    assert_eq!(item["body"], "", "{page}");
    let stored = app
        .state
        .store
        .messages
        .by_seq(&conversation, seq)
        .await
        .expect("readable")
        .expect("stored");
    assert!(stored.deleted, "the document stays deleted");
    assert_eq!(stored.visible_body(), "");
}

/// An old history block is rewritten (an edit or delete of a message that left
/// the writer's window) as a read-modify-write of the whole block. A node that
/// stalls between the read and the write must not undo what landed meanwhile
/// (another node deleting a message of the same block): the write is a
/// compare-and-set on the block's version, which fails, and a fresh read sees the
/// deletion. Replayed through the store as the stalled node would write.
#[tokio::test]
async fn an_old_block_rewrite_decided_on_a_stale_block_writes_nothing() {
    use confab::ids::ConversationId;
    use confab::store::messages::block_of;

    let (app, alice, _bob, g) = room().await;
    let conversation = ConversationId::parse(&g).expect("an id");
    let mut messages = Vec::new();
    for body in ["first", "second"] {
        let sent = app.said(&alice, &g, body).await;
        let seq = sent["seq"].as_i64().unwrap_or_default();
        messages.push(
            app.state
                .store
                .messages
                .by_seq(&conversation, seq)
                .await
                .expect("readable")
                .expect("acked means stored"),
        );
    }
    assert_eq!(block_of(messages[0].seq), block_of(messages[1].seq));
    // A block of its own, which no writer's flusher touches while the test runs.
    let scratch = ConversationId::parse(&confab::ids::new_id()).expect("an id");
    let block = block_of(messages[0].seq);
    let store = &app.state.store.messages;
    store
        .write_block(&scratch, block, &messages)
        .await
        .expect("written");

    // The stalled node read the block, then edits "second".
    let (mut stale, version) = store
        .block_for_rewrite(&scratch, block)
        .await
        .expect("read");
    assert_eq!(stale.len(), 2);
    stale[1].body = "late edit".to_owned();
    // Meanwhile another node deletes "first".
    let (mut fresh, _) = store
        .block_for_rewrite(&scratch, block)
        .await
        .expect("read");
    fresh[0].deleted = true;
    store
        .write_block(&scratch, block, &fresh)
        .await
        .expect("written");

    assert!(
        !store
            .write_block_if(&scratch, block, &stale, &version)
            .await
            .expect("write"),
        "a rewrite of a stale block must write nothing"
    );
    let (now, version) = store
        .block_for_rewrite(&scratch, block)
        .await
        .expect("read");
    assert!(now[0].deleted, "the deletion stays");
    assert_eq!(now[1].body, "second");
    // Read again and applied to what is there, the edit lands.
    let mut retried = now.clone();
    retried[1].body = "late edit".to_owned();
    assert!(
        store
            .write_block_if(&scratch, block, &retried, &version)
            .await
            .expect("write")
    );
    let cached = store.block(&scratch, block).await.expect("read");
    assert!(cached[0].deleted);
    assert_eq!(cached[1].body, "late edit");
}
