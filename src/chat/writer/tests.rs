//! Unit tests of the conversation writer: the window's trimming, dedupe keys,
//! a failed send, and joins and other nodes' messages against a `Live` in memory.

use std::sync::{Arc, Mutex};

use tokio::sync::{OnceCell, oneshot};

use super::live::{Live, LiveState};
use super::{DEDUPE_KEYS, Writers};
use crate::error::ApiError;
use crate::ids::MessageId;
use crate::store::Store;
use crate::store::messages::{BLOCK_SIZE, MessageDoc, block_start};

fn message(seq: i64) -> MessageDoc {
    MessageDoc {
        id: MessageId::new(&"c".into(), seq),
        conversation_id: "c".into(),
        seq,
        sender_id: "u".into(),
        sender_username: "u".into(),
        body: format!("m{seq}"),
        client_id: None,
        dedupe_key: format!("auto:{seq}"),
        created_at: crate::store::now(),
        edited_at: None,
        deleted: false,
    }
}

fn state(last: i64) -> LiveState {
    let doc = crate::store::ConversationStore::new_doc(
        "c".into(),
        crate::store::conversations::ConversationKind::Group,
        "group:c".into(),
        Vec::new(),
    );
    let mut st = LiveState::new(doc, last + 1, 1);
    st.window = (1..=last).map(message).collect();
    st
}

#[test]
fn trim_keeps_the_previous_block_and_anything_unwritten() {
    let last = 3 * BLOCK_SIZE + 5;
    let mut st = state(last);
    st.doc.last_seq = last;
    st.dirty_blocks.insert(1);
    st.trim();
    // Block 0 is written and old: dropped. Block 1 is dirty: kept.
    assert_eq!(st.covered_from, block_start(1));
    assert_eq!(st.window.front().map(|m| m.seq), Some(block_start(1)));
    st.dirty_blocks.clear();
    st.trim();
    // Blocks 2 and 3 stay: the current one and the one before.
    assert_eq!(st.covered_from, block_start(2));
    assert_eq!(
        st.committed(block_start(2)).map(|m| m.seq),
        Some(block_start(2))
    );
    assert!(st.committed(block_start(2) - 1).is_none());
}

async fn writers_with(live: LiveState) -> (Arc<Writers>, Arc<Live>) {
    // The client connects lazily: these tests never reach the database.
    let client = mongodb::Client::with_uri_str("mongodb://127.0.0.1:1")
        .await
        .expect("client");
    let writers = Writers::new(
        Store::new(client.database("unused")),
        Arc::new(crate::realtime::hub::Hub::default()),
    );
    let live = Arc::new(Live {
        id: "c".into(),
        state: Mutex::new(live),
        edits: tokio::sync::Mutex::new(()),
        members: tokio::sync::Mutex::new(()),
        flushing: tokio::sync::Mutex::new(()),
        advanced: tokio::sync::Notify::new(),
    });
    let cell = OnceCell::new_with(Some(Arc::clone(&live)));
    writers.live.insert("c".into(), Arc::new(cell));
    (writers, live)
}

#[tokio::test]
async fn a_join_authorized_before_a_removal_does_not_register_after_it() {
    let (writers, live) = writers_with(state(3)).await;
    let epoch = live.membership_epoch();
    // The removal lands between the join's access check and its registration.
    let mut unsubscribed = false;
    writers.member_removed(&"c".into(), || unsubscribed = true);
    assert!(unsubscribed);
    let mut registered = false;
    let joined = writers
        .join(&live, epoch, None, 100, |_| registered = true)
        .await
        .expect("join");
    assert!(joined.is_none(), "the caller must check access again");
    assert!(!registered);
    // With the current epoch it registers.
    let joined = writers
        .join(&live, live.membership_epoch(), None, 100, |_| {
            registered = true
        })
        .await
        .expect("join");
    assert!(joined.is_some_and(|(_, _, last, _)| last == 0));
    assert!(registered);
}

#[tokio::test]
async fn another_nodes_messages_bring_this_copy_up_to_date_under_its_lock() {
    let (writers, live) = writers_with(state(3)).await;
    let mut remote = message(5);
    remote.client_id = Some("k5".into());
    let mut delivered = false;
    writers.observe_remote(remote.clone(), false, || delivered = true);
    assert!(delivered);
    {
        let st = live.lock();
        assert_eq!(st.next_seq, 6, "the next seq handed out here follows it");
        assert_eq!(st.doc.last_seq, 5);
        assert!(st.committed(5).is_some());
        assert_eq!(st.keys.get(&("u".into(), "k5".to_owned())), Some(&5));
        assert!(
            st.dirty_blocks.is_empty(),
            "the other node writes it behind"
        );
    }
    // An edit of a message this copy holds replaces it; an older seq arriving
    // late takes its place in order.
    let mut edited = message(2);
    edited.body = "edited".into();
    writers.observe_remote(edited, false, || ());
    writers.observe_remote(message(4), false, || ());
    // A new message this copy already holds (a new owner announcing what its
    // predecessor stored) is not delivered twice; an edit of it is.
    let mut again = false;
    writers.observe_remote(remote.clone(), true, || again = true);
    assert!(!again, "heard once");
    writers.observe_remote(remote, false, || again = true);
    assert!(again, "edits are delivered");
    let st = live.lock();
    let seqs: Vec<i64> = st.window.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    assert_eq!(st.committed(2).map(|m| m.body.as_str()), Some("edited"));
    assert_eq!(st.next_seq, 6);
}

#[tokio::test]
async fn a_join_to_a_forgotten_conversation_is_refused() {
    let (writers, live) = writers_with(state(0)).await;
    let epoch = live.membership_epoch();
    writers.forget(&"c".into());
    let joined = writers.join(&live, epoch, None, 100, |_| ()).await;
    assert!(joined.is_err());
}

#[test]
fn dedupe_keys_are_bounded() {
    let mut st = state(0);
    for i in 0..(DEDUPE_KEYS as i64 + 10) {
        st.remember_key(("u".into(), format!("k{i}")), i + 1);
    }
    assert_eq!(st.keys.len(), DEDUPE_KEYS);
    assert!(!st.keys.contains_key(&("u".into(), "k0".into())));
    assert!(
        st.keys
            .contains_key(&("u".into(), format!("k{}", DEDUPE_KEYS + 9)))
    );
}

#[test]
fn a_failed_send_forgets_its_key_and_marks_the_state_for_reload() {
    let mut st = state(2);
    st.remember_key(("u".into(), "a".into()), 3);
    st.in_flight = 1;
    let (tx, mut rx) = oneshot::channel();
    st.waiters.insert(3, vec![tx]);
    st.fail(3, &ApiError::database_unavailable());
    assert!(st.broken);
    assert_eq!(st.in_flight, 0);
    assert!(st.keys.is_empty());
    assert!(matches!(rx.try_recv(), Ok(Err(_))));
}
