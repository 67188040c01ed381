//! The node's search engine (issue 22): the chat core's `SearchIndex` port
//! implemented with tantivy (`index`), fed off the hot path (`Engine::learn`
//! only queues), and caught up from the database (`catch_up`).
//!
//! How the index becomes true again (docs/architecture.md §11):
//! - **Every message version this node learns** (stored here, edited or deleted
//!   here, heard from another node) is queued by the writers and applied by one
//!   task, which commits every `SEARCH_COMMIT_INTERVAL` (the lag).
//! - **A start** (a crash, a deleted directory): every conversation is read
//!   again from its history blocks and the messages after them, all by `_id`,
//!   in the background; what the index holds at an older version is replaced.
//! - **A lost event**: a change the full queue refused marks its conversation,
//!   which is read again; a cluster gap (`SearchIndex::resync`) reads every
//!   conversation again.
//! - **What a reread cannot undo**: versions order the changes of a message (a
//!   deletion is final, a later edit wins, `index::version_of`), so a reread that
//!   saw the database before a change this index already applied keeps the
//!   newer one.
//!
//! Nothing here decides what a caller may see: the chat core gives every
//! search its scope and checks every candidate against the database.

pub mod catch_up;
pub mod index;
mod scope;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{Notify, mpsc};

use crate::chat::search::{Candidate, Find, SearchIndex};
use crate::ids::{ConversationId, UserId};
use crate::limits::{SEARCH_COMMIT_INTERVAL, SEARCH_QUEUE};
use crate::store::Store;
use crate::store::conversations::ConversationKind;
use crate::store::messages::MessageDoc;

pub use index::TantivyIndex;

/// What the applier task is given.
enum Change {
    /// A message as it now is, heard live.
    Learn(MessageDoc),
    /// A conversation as the database holds it (a catch-up): applied where it
    /// is newer than what the index holds.
    Reread {
        conversation: ConversationId,
        messages: Vec<MessageDoc>,
    },
}

/// What the catch-up task should read again.
#[derive(Default)]
struct Wanted {
    all: bool,
    conversations: HashSet<ConversationId>,
}

pub struct Engine {
    index: Arc<TantivyIndex>,
    tx: mpsc::Sender<Change>,
    rx: Mutex<Option<mpsc::Receiver<Change>>>,
    store: Store,
    /// Conversations (or everything) to read again, and the catch-up's wake-up.
    wanted: Mutex<Wanted>,
    wake: Notify,
    tasks: crate::telemetry::Tasks,
}

impl Engine {
    /// The engine over the index in `dir` (in memory when `None`), reading the
    /// database through `store`. Nothing runs before `start`.
    pub fn open(store: Store, dir: Option<&Path>) -> tantivy::Result<Arc<Self>> {
        let index = Arc::new(TantivyIndex::open(dir)?);
        let (tx, rx) = mpsc::channel(SEARCH_QUEUE);
        Ok(Arc::new(Self {
            index,
            tx,
            rx: Mutex::new(Some(rx)),
            store,
            wanted: Mutex::new(Wanted {
                all: true,
                conversations: HashSet::new(),
            }),
            wake: Notify::new(),
            tasks: crate::telemetry::Tasks::default(),
        }))
    }

    /// Starts the applier and the catch-up (which reads everything once now).
    pub fn start(self: &Arc<Self>) {
        let rx = self
            .rx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(rx) = rx {
            self.tasks.keep(vec![
                tokio::spawn(Arc::clone(self).apply(rx)),
                tokio::spawn(Arc::clone(self).catch_up()),
            ]);
            self.wake.notify_one();
        }
    }

    /// Resolves when a task of the engine ends (they never should).
    pub async fn supervise(self: Arc<Self>) {
        self.tasks.supervise("search index").await;
    }

    fn want(&self, conversation: Option<&ConversationId>) {
        {
            let mut wanted = self.wanted.lock().unwrap_or_else(PoisonError::into_inner);
            match conversation {
                Some(id) => _ = wanted.conversations.insert(id.clone()),
                None => wanted.all = true,
            }
        }
        self.wake.notify_one();
    }

    /// The applier: one task, so that the changes of a message are applied in
    /// the order they were learned.
    async fn apply(self: Arc<Self>, mut rx: mpsc::Receiver<Change>) {
        let mut readers = Readers::default();
        // Versions put since the last commit (a reread compares with them too).
        let mut uncommitted: HashMap<String, i64> = HashMap::new();
        let mut tick = tokio::time::interval(SEARCH_COMMIT_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                change = rx.recv() => match change {
                    Some(change) => self.apply_one(change, &mut readers, &mut uncommitted).await,
                    None => return,
                },
                _ = tick.tick() => {
                    if !uncommitted.is_empty() {
                        self.commit().await;
                        uncommitted.clear();
                    }
                }
            }
        }
    }

    async fn apply_one(
        &self,
        change: Change,
        readers: &mut Readers,
        uncommitted: &mut HashMap<String, i64>,
    ) {
        match change {
            Change::Learn(message) => {
                let Some(who) = readers.of(&self.store, &message.conversation_id).await else {
                    self.want(Some(&message.conversation_id));
                    return;
                };
                self.put(&message, &who, uncommitted);
            }
            Change::Reread {
                conversation,
                messages,
            } => {
                let Some(who) = readers.of(&self.store, &conversation).await else {
                    self.want(Some(&conversation));
                    return;
                };
                let held = if self.index.is_empty() {
                    HashMap::new()
                } else {
                    match self.index.versions(conversation.as_str()) {
                        Ok(held) => held,
                        Err(err) => {
                            tracing::warn!(error = %err, %conversation, "search index unreadable; read again later");
                            self.want(Some(&conversation));
                            return;
                        }
                    }
                };
                for message in messages {
                    let version = index::version_of(&message);
                    let id = message.id.as_str();
                    let newer = uncommitted
                        .get(id)
                        .or_else(|| held.get(id))
                        .is_none_or(|&have| have < version);
                    if newer {
                        self.put(&message, &who, uncommitted);
                    }
                }
            }
        }
    }

    fn put(
        &self,
        message: &MessageDoc,
        readers: &[UserId],
        uncommitted: &mut HashMap<String, i64>,
    ) {
        match self.index.put(message, readers) {
            Ok(()) => {
                uncommitted.insert(message.id.as_str().to_owned(), index::version_of(message));
            }
            Err(err) => {
                tracing::warn!(error = %err, message = %message.id, "search index refused a message; its conversation is read again");
                self.want(Some(&message.conversation_id));
            }
        }
    }

    async fn commit(&self) {
        let index = Arc::clone(&self.index);
        let started = std::time::Instant::now();
        match tokio::task::spawn_blocking(move || index.commit()).await {
            Ok(Ok(())) => {
                metrics::histogram!("confab_search_commit_seconds")
                    .record(started.elapsed().as_secs_f64());
            }
            Ok(Err(err)) => {
                tracing::error!(error = %err, "search index commit failed; everything is read again");
                self.want(None);
            }
            Err(_) => tracing::error!("search index commit panicked"),
        }
    }
}

/// Who may find a conversation's messages besides its group's members: a DM's
/// two participants (they never change). Learned by an `_id` lookup, once per
/// conversation.
#[derive(Default)]
struct Readers(HashMap<ConversationId, Arc<[UserId]>>);

/// Conversations whose readers are remembered; beyond it the map starts over.
const READERS_CAPACITY: usize = 1_000_000;

impl Readers {
    /// `None`: the database could not say (read it again later).
    async fn of(&mut self, store: &Store, id: &ConversationId) -> Option<Arc<[UserId]>> {
        if let Some(known) = self.0.get(id) {
            return Some(Arc::clone(known));
        }
        let readers: Arc<[UserId]> = match store.conversations.by_id(id).await {
            Ok(Some(doc)) if doc.kind == ConversationKind::Direct => doc.participants.into(),
            Ok(_) => Arc::from(Vec::new()),
            Err(err) => {
                tracing::warn!(error = %err, conversation = %id, "search index could not read a conversation");
                return None;
            }
        };
        if self.0.len() >= READERS_CAPACITY {
            self.0.clear();
        }
        self.0.insert(id.clone(), Arc::clone(&readers));
        Some(readers)
    }
}

impl SearchIndex for Engine {
    fn learn(&self, message: &MessageDoc) {
        if self.tx.try_send(Change::Learn(message.clone())).is_err() {
            metrics::counter!("confab_search_dropped_total").increment(1);
            self.want(Some(&message.conversation_id));
        }
    }

    fn resync(&self) {
        self.want(None);
    }

    fn find(&self, find: &Find) -> Result<Vec<Candidate>, String> {
        self.index.find(find).map_err(|err| err.to_string())
    }
}
