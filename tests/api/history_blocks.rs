//! History that does not depend on volume: messages are addressed by
//! `<conversation>-<seq>`, older pages come from blocks of 128 seqs, and a node with
//! nothing in memory recovers `last_seq` from what is stored.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{UNLIMITED_SENDS, expect_error, expect_json, room, room_with};

/// Sends `n` messages "m1".."mn" from `who`, in order.
async fn fill(app: &crate::helpers::TestApp, who: &crate::helpers::Session, room: &str, n: usize) {
    for i in 1..=n {
        let resp = app.say(who, room, &format!("m{i}")).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
    }
}

fn seqs(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|m| m["seq"].as_i64().expect("seq"))
        .collect()
}

/// Pages backwards from the latest page to the first; returns every seq seen.
async fn page_back(
    app: &crate::helpers::TestApp,
    who: &crate::helpers::Session,
    room: &str,
) -> Vec<i64> {
    let mut all = Vec::new();
    let mut query = "?limit=100".to_owned();
    loop {
        let page = expect_json(app.history(who, room, &query).await, StatusCode::OK).await;
        let mut got = seqs(&page);
        let oldest = *got.first().expect("a non-empty page");
        got.extend(all);
        all = got;
        if page["has_more"] != true {
            return all;
        }
        query = format!("?limit=100&before={oldest}");
    }
}

#[tokio::test]
async fn history_pages_back_and_forth_through_many_blocks_in_order() {
    let (app, alice, bob, room) = room_with(UNLIMITED_SENDS).await;
    fill(&app, &alice, &room, 300).await;
    let every: Vec<i64> = (1..=300).collect();
    assert_eq!(page_back(&app, &bob, &room).await, every);

    // Forwards with after=, across block boundaries (128, 256).
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let page = expect_json(
            app.history(&bob, &room, &format!("?limit=77&after={after}"))
                .await,
            StatusCode::OK,
        )
        .await;
        let got = seqs(&page);
        after = *got.last().expect("a non-empty page");
        seen.extend(got);
        if page["has_more"] != true {
            break;
        }
    }
    assert_eq!(seen, every);

    // A page deep in the past has the right bodies.
    let page = expect_json(
        app.history(&bob, &room, "?limit=3&before=130").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(crate::helpers::bodies(&page), ["m127", "m128", "m129"]);
}

#[tokio::test]
async fn a_node_with_nothing_in_memory_serves_the_same_history_and_continues_the_seqs() {
    let (app, alice, bob, room) = room_with(UNLIMITED_SENDS).await;
    fill(&app, &alice, &room, 140).await;
    // No waiting for the write-behind: the new node must recover from the stored
    // messages alone (blocks that were not written yet are rebuilt).
    let restarted = app.another_node().await;
    let every: Vec<i64> = (1..=140).collect();
    assert_eq!(page_back(&restarted, &bob, &room).await, every);
    let next = restarted.said(&bob, &room, "after the restart").await;
    assert_eq!(next["seq"], 141);
    assert_eq!(next["id"], format!("{room}-141"));
}

#[tokio::test]
async fn a_client_id_repeated_on_a_restarted_node_answers_the_first_message() {
    let (app, alice, _bob, room) = room().await;
    let path = format!("/api/v1/conversations/{room}/messages");
    let body = json!({ "body": "once", "client_id": "retry-me" });
    let first = expect_json(
        app.post(&path, Some(&alice.access), body.clone()).await,
        StatusCode::CREATED,
    )
    .await;
    let restarted = app.another_node().await;
    let again = expect_json(
        restarted.post(&path, Some(&alice.access), body).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["seq"], first["seq"]);
}

#[tokio::test]
async fn malformed_and_unknown_message_ids_are_404() {
    let (app, alice, _bob, room) = room().await;
    app.said(&alice, &room, "hello").await;
    for id in [
        format!("{room}-2"),
        format!("{room}-0"),
        format!("{room}-01"),
        format!("{room}--1"),
        "000000000000000000000000-1".to_owned(),
        "not-an-id".to_owned(),
        "%24ne".to_owned(),
    ] {
        let resp = app
            .send(
                reqwest::Method::PATCH,
                &format!("/api/v1/messages/{id}"),
                Some(&alice.access),
                Some(json!({ "body": "edited" })),
            )
            .await;
        assert_eq!(
            expect_error(resp, StatusCode::NOT_FOUND).await,
            "not_found",
            "{id}"
        );
    }
}

#[tokio::test]
async fn a_client_id_older_than_the_writers_memory_still_answers_the_first_message() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let (app, alice, _bob, room) = crate::helpers::room_with(crate::helpers::UNLIMITED_SENDS).await;
    // More sends with client ids than a conversation writer remembers
    // (`DEDUPE_KEYS` = 4,096), pipelined over one socket.
    const SENDS: usize = 4_200;
    let ws = app.ws(&alice.access).await;
    let (mut tx, mut rx) = ws.stream.split();
    let writer = async {
        for i in 0..SENDS {
            let frame = json!({ "type": "send", "conversation": room, "body": format!("m{i}"), "client_id": format!("k{i}") });
            tx.send(Message::text(frame.to_string()))
                .await
                .expect("send");
        }
    };
    let reader = async {
        let mut acks = 0;
        while acks < SENDS {
            match tokio::time::timeout(std::time::Duration::from_secs(30), rx.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => {
                    let frame: Value = serde_json::from_str(&text).expect("json");
                    assert_ne!(frame["type"], "error", "{frame}");
                    if frame["type"] == "ack" {
                        acks += 1;
                    }
                }
                Ok(Some(Ok(_))) => {}
                other => panic!("socket ended after {acks} acks: {other:?}"),
            }
        }
    };
    tokio::join!(writer, reader);

    // The writer no longer remembers k0: the unique index refuses the repeat and
    // the first message is answered; nothing new is stored.
    let path = format!("/api/v1/conversations/{room}/messages");
    let again = expect_json(
        app.post(
            &path,
            Some(&alice.access),
            json!({ "body": "again", "client_id": "k0" }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(again["seq"], 1);
    assert_eq!(again["body"], "m0");
    // The seq the refused insert took is not left as a gap: the writer reloads.
    let next = app.said(&alice, &room, "after the repeat").await;
    assert_eq!(next["seq"], SENDS as i64 + 1);
}

/// The stored history block `<room>#<block>` (raw), once one of its messages
/// says `want` (waits for the write-behind, with a deadline).
async fn stored_block_with(
    app: &crate::helpers::TestApp,
    id: &str,
    want: &str,
) -> mongodb::bson::Document {
    let blocks = app
        .state
        .store
        .db
        .collection::<mongodb::bson::Document>("message_blocks");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Some(found) = blocks
            .find_one(mongodb::bson::doc! { "_id": id })
            .await
            .expect("read the block")
        {
            let block: confab::store::messages::BlockDoc =
                mongodb::bson::from_document(found.clone()).expect("a history block");
            let (messages, _) = block.messages().expect("a readable history block");
            if messages.iter().any(|m| m.body == want) {
                return found;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "block {id} never held {want:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_old_block_left_behind_its_edited_message_by_a_crash_is_rewritten_at_load() {
    let (app, alice, bob, room) = room_with(UNLIMITED_SENDS).await;
    fill(&app, &alice, &room, 300).await;
    let block = format!("{room}#0");
    // Seqs 1-128, all written behind.
    let before = stored_block_with(&app, &block, "m128").await;
    // A node that loads the room now holds only its last two blocks: seq 5 is
    // older, so its edit writes `messages`, then the block (by compare-and-set).
    let editor = app.another_node().await;
    crate::changes::edit(&editor, &alice, &format!("{room}-5"), "edited five").await;
    stored_block_with(&app, &block, "edited five").await;
    // A crash between the message's write and its block's: the block as it was.
    app.state
        .store
        .db
        .collection::<mongodb::bson::Document>("message_blocks")
        .replace_one(mongodb::bson::doc! { "_id": &block }, before)
        .await
        .expect("put the old block back");

    let restarted = app.another_node().await;
    let page = expect_json(
        restarted.history(&bob, &room, "?limit=3&before=7").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        crate::helpers::bodies(&page),
        ["m4", "edited five", "m6"],
        "history after the restart shows the edit"
    );
    // And the block itself was rewritten, for every node.
    stored_block_with(&restarted, &block, "edited five").await;
}
