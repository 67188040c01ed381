//! One writer per conversation, committing in groups.
//!
//! Every conversation that is in use has a `Live` in memory: its document, the next
//! `seq`, a window of its newest messages, the `client_id`s recently seen, read
//! markers and what still has to be written behind. A send takes the conversation's
//! (synchronous, never awaited-under) lock just long enough to dedupe and to take
//! the next `seq`, and hands the message to the one store batcher. The batcher takes
//! whatever has queued, from every conversation, stores it with one `insert_many`,
//! and then, per message and in `seq` order, commits it to its `Live`, reports
//! "stored" through the sender's hook (the gateway builds the `ack` there), fans it
//! out, and wakes the sender. The next batch starts when this one is stored, so
//! batches grow with the load instead of queueing round trips.
//!
//! Acked means stored: nothing is reported or fanned out before `insert_many`
//! returned. The conversation document (`last_seq`, `last_message`), the history
//! blocks and read markers are written behind by a flusher (`FLUSH_INTERVAL`) and
//! on shutdown.
//!
//! Seqs after a crash: before a message is acked, its seq is covered by the
//! conversation's durable reservation (`seq_reserved`, raised with `$max` by
//! `SEQ_RESERVE` at a time, concurrently with the insert, so it costs one write
//! per `SEQ_RESERVE` messages and no round trip of its own). `load` looks up every
//! seq up to the reservation by `_id` (message `_id`s are `<conversation>-<seq>`),
//! so it finds every acked message however many seqs before it were burned (a
//! refused duplicate burns one), and starts after the last stored one. A seq
//! handed out but never stored may be handed out again; one stored but never
//! acked is found, or, if some writer stores it later, refused by the unique
//! `_id` (`refused` then makes the reload start beyond it).
//!
//! Reads on the hot path are memory: access checks read the `Live`'s document, the
//! latest page and `since` catch-up come from the window, older pages are one or
//! two block lookups by `_id` (`store::messages`).
//!
//! Several nodes (cluster mode): the node holding a conversation's lease
//! (`ownership`) writes it; the others forward their sends there
//! (`cluster::Cluster::dispatch`, `enqueue_forwarded` here) and keep a follower copy
//! (`observe_remote`). The owner announces a stored batch to the other nodes,
//! waits until Redis has taken the events, and only then acks and delivers here.
//! The unique message `_id` stays the arbiter if a lease is ever lost (the insert
//! fails, the `Live` reloads from storage). See docs/architecture.md §6a.
//!
//! The parts: `live` (a conversation in memory), `ticket` (the types of a send),
//! `enqueue` (taking a send), `batcher` (storing and committing), `load` (loading
//! and recovery), `reads` (history, joins), `updates` (edits, deletes, read
//! markers), `flusher` (the write-behind), `follow` (cluster mode: following the
//! other nodes); this file holds the registry of `Live`s, what they share, and
//! the unit tests.

mod batcher;
mod enqueue;
mod flusher;
mod follow;
mod live;
mod load;
mod reads;
mod ticket;
mod updates;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use dashmap::DashMap;
use tokio::sync::{OnceCell, mpsc};

use crate::chat::fanout::Fanout;
use crate::chat::search::port::SearchIndex;
use crate::error::ApiError;
use crate::ids::ConversationId;
use crate::store::Store;
use crate::store::conversations::LastMessage;
use crate::store::messages::MessageDoc;

pub use live::Live;
pub use reads::{Joined, Since};
pub use ticket::{Draft, Forwarded, OnStored, Ticket};

use batcher::Pending;
use flusher::Flush;

/// How often the write-behind runs: full history blocks are written at this pace.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(250);
/// The conversation document, read markers and the partly filled block of a busy
/// conversation are written at most this often (and whenever it goes quiet, on
/// demand, and at shutdown): each is a read-modify-write on FerretDB, and writing
/// them every `FLUSH_INTERVAL` for 50 busy rooms took more of the database's CPU
/// than storing the messages (docs/benchmarks.md).
pub const LAZY_INTERVAL: Duration = Duration::from_secs(2);
/// The most messages one `insert_many` carries.
pub const MAX_BATCH: usize = 1000;
/// Sends accepted and not yet stored, on this node: beyond this, 503.
pub const MAX_IN_FLIGHT: usize = 100_000;
/// `client_id`s remembered per conversation (older repeats are still refused by
/// the unique index; answering them then costs a scan).
pub const DEDUPE_KEYS: usize = 4096;
/// A `Live` unused this long, with nothing to write, is dropped from memory.
pub const IDLE_AFTER: Duration = Duration::from_secs(300);
/// How far ahead of the seqs in use the durable reservation is raised: one `$max`
/// write per this many messages of a conversation, and at most this many extra
/// `_id` lookups when it is loaded.
pub const SEQ_RESERVE: i64 = 32;

/// Every `Live` on this node, the batcher that stores their messages and the
/// flusher that writes behind.
pub struct Writers {
    live: DashMap<ConversationId, Arc<OnceCell<Arc<Live>>>>,
    store: Store,
    fanout: Arc<dyn Fanout>,
    /// Told of every message version this node learns (stored here, changed
    /// here, heard from another node): the search index follows.
    index: Arc<dyn SearchIndex>,
    tx: mpsc::UnboundedSender<Pending>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<Pending>>>,
    /// The batcher and the flusher, for `supervise`.
    tasks: crate::telemetry::Tasks,
    /// Sends accepted and not yet stored or failed, on this node. In memory only:
    /// after a crash nothing is in flight (clients retry with their `client_id`).
    in_flight: std::sync::atomic::AtomicUsize,
    /// Woken when `in_flight` comes back to zero (`drained`).
    drained: tokio::sync::Notify,
    /// Cluster mode: other nodes' messages that arrived while their conversation
    /// was loading here, applied once it is loaded (`observe_remote`).
    arrived_while_loading: DashMap<ConversationId, Vec<MessageDoc>>,
    /// Seqs the database refused as taken (a writer this node did not know of
    /// stored there): the next load of the conversation starts beyond them. Kept
    /// until that load; memory only (after a crash `load` finds the message).
    taken: DashMap<ConversationId, i64>,
    /// Bumped whenever copies are marked unsure (`resync_all`, `resync`): a
    /// load that began before the bump may have read the database before
    /// changes this node never heard of, so its copy starts unsure too and
    /// reloads at its first use (`load`). Memory only, like the copies.
    resyncs: std::sync::atomic::AtomicU64,
}

/// A send refused because its conversation's copy reloads first
/// (`Live::needs_reload`): nothing was stored; the client sends it again.
fn reloading() -> ApiError {
    ApiError::new(
        crate::error::ErrorCode::ServerBusy,
        "the conversation is recovering from a failure; send it again shortly",
    )
}

impl Writers {
    pub fn new(store: Store, fanout: Arc<dyn Fanout>, index: Arc<dyn SearchIndex>) -> Arc<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        Arc::new(Self {
            live: DashMap::new(),
            arrived_while_loading: DashMap::new(),
            taken: DashMap::new(),
            resyncs: std::sync::atomic::AtomicU64::new(0),
            store,
            fanout,
            index,
            tx,
            rx: Mutex::new(Some(rx)),
            tasks: crate::telemetry::Tasks::default(),
            in_flight: std::sync::atomic::AtomicUsize::new(0),
            drained: tokio::sync::Notify::new(),
        })
    }

    /// Starts the batcher and the flusher (once).
    pub fn start(self: &Arc<Self>) {
        let rx = self
            .rx
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(rx) = rx {
            let tasks = vec![
                tokio::spawn(Arc::clone(self).run_batcher(rx)),
                tokio::spawn(Arc::clone(self).run_flusher()),
            ];
            self.tasks.keep(tasks);
        }
    }

    /// Resolves when the batcher or the flusher ends (they never should: a panic
    /// in one would stop storing messages), so `main` can stop the process.
    pub async fn supervise(self: Arc<Self>) {
        self.tasks.supervise("conversation writer").await;
    }

    /// The conversation's `Live`, loading it on first use; 404 if it does not exist.
    pub async fn get(&self, id: &ConversationId) -> Result<Arc<Live>, ApiError> {
        // The unsure copy this call replaced, if any.
        let mut replaced: Option<Arc<Live>> = None;
        loop {
            let cell = self.live.entry(id.clone()).or_default().clone();
            let loaded = cell.get_or_try_init(|| self.load(id)).await;
            let live = match loaded {
                Ok(live) => {
                    self.apply_arrived(live);
                    if let Some(before) = replaced.take() {
                        self.announce_found(&before, live);
                    }
                    Arc::clone(live)
                }
                Err(err) => {
                    // Nothing to keep for an id that does not resolve (what
                    // arrived meanwhile is in the database, for the next load).
                    self.live
                        .remove_if(id, |_, c| Arc::ptr_eq(c, &cell) && c.get().is_none());
                    self.arrived_while_loading.remove(id);
                    return Err(err);
                }
            };
            let reload = {
                let st = live.lock();
                if st.deleted {
                    return Err(ApiError::not_found("conversation"));
                }
                st.reloads()
            };
            if !reload {
                return Ok(live);
            }
            // A store failure left the state unsure: write what is known, then
            // reload from storage (which is the authority for seqs).
            self.flush(&live, Flush::All).await?;
            self.live.remove_if(id, |_, c| Arc::ptr_eq(c, &cell));
            replaced = Some(live);
        }
    }

    /// After `current` replaced the unsure copy `before`: what the reload found
    /// that `before` had not committed is announced now, to this node's
    /// connections and the other nodes (which skip what they hold already). A
    /// previous owner may have stored it without announcing it (it died), or a
    /// batch reported failed was stored after all (the database was paused with
    /// the insert in hand, `scripts/chaos` seed 25): nobody was told of it, and
    /// since nothing after it was stored meanwhile (`store_batch` stores nothing
    /// for an unsure copy), it comes in seq order.
    fn announce_found(&self, before: &Live, current: &Live) {
        let before = before.lock();
        let st = current.lock();
        for message in st
            .window
            .iter()
            .filter(|m| m.seq >= before.covered_from && before.committed(m.seq).is_none())
        {
            tracing::info!(conversation = %current.id, seq = message.seq, "announcing a message found on reload");
            self.fanout.replayed(&st.doc, message);
            self.index.learn(message);
        }
    }

    /// Forgets a conversation (deleted): in-flight and later sends fail with 404.
    pub fn forget(&self, id: &ConversationId) {
        if let Some((_, cell)) = self.live.remove(id)
            && let Some(live) = cell.get()
        {
            let mut st = live.lock();
            st.deleted = true;
            st.membership_epoch += 1;
        }
    }

    /// Runs `unsubscribe` (the hub's update for a member who left or was removed)
    /// under the conversation's lock, after the membership is gone from storage: a
    /// `join` racing with it either fails its access check or sees the epoch move
    /// and checks again.
    pub fn member_removed(&self, id: &ConversationId, unsubscribe: impl FnOnce()) {
        match self.loaded(id) {
            Some(live) => {
                let mut st = live.lock();
                st.membership_epoch += 1;
                unsubscribe();
            }
            None => unsubscribe(),
        }
    }

    /// Sends accepted and not yet stored, on this node.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(std::sync::atomic::Ordering::Acquire)
    }

    /// One send in flight is settled (stored or failed).
    pub(super) fn settled_one(&self) {
        if self
            .in_flight
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel)
            == 1
        {
            self.drained.notify_waiters();
        }
    }

    /// Waits until no send is in flight on this node, for at most `within`;
    /// `true` when none is left (shutdown: what was accepted is stored before
    /// the node's leases go).
    pub async fn drained(&self, within: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let woken = self.drained.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if self.in_flight() == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, woken).await.is_err() {
                return self.in_flight() == 0;
            }
        }
    }

    /// Whether the conversation is in memory or loading.
    pub fn has(&self, id: &ConversationId) -> bool {
        self.live.contains_key(id)
    }

    /// The `Live` if it is in memory (no loading).
    pub fn loaded(&self, id: &ConversationId) -> Option<Arc<Live>> {
        self.live.get(id).and_then(|c| c.get().cloned())
    }
}

/// The conversation document's summary of `message` (`last_message`).
fn last_message(message: &MessageDoc) -> LastMessage {
    LastMessage {
        id: message.id.clone(),
        seq: message.seq,
        sender_id: message.sender_id.clone(),
        sender_username: message.sender_username.clone(),
        body: message.visible_body().to_owned(),
        created_at: message.created_at,
    }
}

/// Unit tests of the conversation writer: the window's trimming, dedupe keys,
/// a failed send, and joins and other nodes' messages against a `Live` in memory
/// (inline, so that `scripts/layers` leaves their test-only imports out).
#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tokio::sync::{OnceCell, oneshot};

    use super::live::{CHANGE_LOG, Live, LiveState};
    use super::{DEDUPE_KEYS, Writers};
    use crate::error::ApiError;
    use crate::store::Store;
    use crate::store::messages::{BLOCK_SIZE, MessageDoc, block_start};

    pub(super) fn message(seq: i64) -> MessageDoc {
        let mut message = MessageDoc::sample(
            "c",
            seq,
            crate::store::now().timestamp_millis(),
            &format!("m{seq}"),
        );
        message.sender_id = "u".into();
        message.sender_username = "u".into();
        message
    }

    pub(super) fn state(last: i64) -> LiveState {
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
    fn the_change_log_never_claims_a_rev_it_has_not_seen() {
        let mut st = state(10);
        st.note_change(1, 4);
        st.note_change(2, 5);
        st.note_change(2, 5); // heard twice
        assert_eq!(st.recent_changes_after(0, 2), (vec![4, 5], 1));
        // Rev 3 not heard of: the log starts again at 4.
        st.note_change(4, 7);
        assert_eq!(st.last_rev, 4);
        assert_eq!(st.recent_changes_after(0, 4), (vec![7], 4));
        // Rev 3 arriving late is below the log: read from storage instead.
        st.note_change(3, 6);
        assert_eq!(st.recent_changes_after(2, 4), (vec![7], 4));
        assert_eq!(st.last_rev, 4);
        for rev in 5..5 + CHANGE_LOG as i64 {
            st.note_change(rev, 1);
        }
        let (seqs, from) = st.recent_changes_after(0, i64::MAX);
        assert_eq!(seqs.len(), CHANGE_LOG);
        assert_eq!(from, 5, "the oldest went first");
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

    /// A read marker never moves back; the call answers with the marker as it
    /// stands, and announces only a move.
    #[tokio::test]
    async fn a_read_marker_moves_forward_only_and_answers_where_it_stands() {
        let mut st = state(10);
        st.doc.last_seq = 10;
        st.marks.insert("u".into(), 5);
        let (writers, live) = writers_with(st).await;
        let user = "u".into();
        let mut announced = Vec::new();
        let back = writers
            .mark_read(&live, &user, 3, |_, seq| announced.push(seq))
            .await;
        assert_eq!(back.ok(), Some(5));
        let forward = writers
            .mark_read(&live, &user, 99, |_, seq| announced.push(seq))
            .await;
        assert_eq!(forward.ok(), Some(10), "clamped to the last seq");
        assert_eq!(announced, [10]);
    }

    pub(super) fn live_of(st: LiveState) -> Arc<Live> {
        Arc::new(Live {
            id: "c".into(),
            state: Mutex::new(st),
            flushing: tokio::sync::Mutex::new(()),
            advanced: tokio::sync::Notify::new(),
        })
    }

    pub(super) async fn writers_with(live: LiveState) -> (Arc<Writers>, Arc<Live>) {
        // The client connects lazily: these tests never reach the database.
        let client = mongodb::Client::with_uri_str("mongodb://127.0.0.1:1")
            .await
            .expect("client");
        let writers = Writers::new(
            Store::new(client.database("unused"), Default::default()),
            Arc::new(crate::realtime::hub::Hub::default()),
            Arc::new(crate::chat::search::port::NoIndex),
        );
        let live = live_of(live);
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
            .join(&live, epoch, super::Since::default(), 100, |_, _| {
                registered = true
            })
            .await
            .expect("join");
        assert!(joined.is_none(), "the caller must check access again");
        assert!(!registered);
        // With the current epoch it registers.
        let joined = writers
            .join(
                &live,
                live.membership_epoch(),
                super::Since::default(),
                100,
                |_, _| registered = true,
            )
            .await
            .expect("join");
        assert!(joined.is_some_and(|j| j.last_seq == 0));
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
        let joined = writers
            .join(&live, epoch, super::Since::default(), 100, |_, _| ())
            .await;
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
}
