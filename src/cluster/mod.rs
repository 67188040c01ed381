//! Cluster mode: several confab nodes sharing one Redis (`REDIS_URL`).
//!
//! What crosses nodes, through one Redis pub/sub channel
//! (`<REDIS_NAMESPACE>:events`):
//! - every hub event (`Hub::publish`): each node delivers it to its own
//!   connections, so a member connected to another node gets the message, edit,
//!   delete, typing, read marker, presence change or membership change;
//! - revocation: `Hub::close_user` (logout-all, password or role change, disable)
//!   closes the user's sockets on every node;
//! - removal from a group: the member's sockets leave the room on every node;
//! - sends to a conversation another node owns (`crate::cluster::ownership`): forwarded to
//!   that node (`Submit`), which stores them and answers (`Answer`) before it
//!   publishes the message's event, so the forwarding node acks before it echoes.
//!
//! One publisher task per node sends events in the order the hub published them
//! (one connection: Redis keeps that order for every subscriber). One subscriber
//! task receives the other nodes' events. Either task reconnects by itself when
//! Redis goes away. Events published while Redis is unreachable are lost to the
//! other nodes, so when the subscription comes back after a loss, the node closes
//! its sockets with 1012 (service restart): clients reconnect and catch up with
//! `since`, losing nothing that was acked.
//!
//! Per-user rate limits and the login and sign-up windows are counted in Redis
//! too (`limits`).
//!
//! Presence is merged across nodes (`realtime::presence`): each node publishes
//! its presence transitions and a heartbeat every `HEARTBEAT`; a node not heard
//! from for `PRESENCE_TTL` is dropped, and its users go offline where no other
//! node has them. A node that (re)subscribes publishes its whole presence and
//! asks the others for theirs.
//!
//! Here, `Cluster` (what needs no layer above it) and `start`, which gives the
//! hub, the writers and the store to the tasks that need them. The rest, one
//! concept a file: `wire` (the events' format), `bus` (publisher, subscriber,
//! gaps and resyncs, what a received event does), `forward` (sends forwarded to
//! the owner, `ClusterRouter`), `serve` (forwarded sends, on the owner),
//! `presence`, `backplane` (the hub's side), `locks`, `connection` (Redis
//! timings) and `limits`.

mod backplane;
mod bus;
mod connection;
pub mod counters;
mod forward;
mod locks;
pub mod ownership;
mod presence;
mod serve;
mod wire;

pub use connection::{REDIS_PAUSE, REDIS_TIMEOUT};
pub use forward::{ClusterRouter, FORWARD_TIMEOUT};

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{mpsc, oneshot};

use crate::chat::writer::{Draft, Writers};
use crate::ids::ConversationId;
use crate::realtime::hub::Hub;
use crate::store::Store;
use ownership::Ownership;

use bus::{EVENTS, OUTBOX_CAPACITY, Outgoing};
use forward::Call;
use wire::Event;

/// This node's link to the others.
pub struct Cluster {
    node: String,
    /// `<namespace>:events`
    channel: String,
    client: redis::Client,
    /// Events waiting for Redis, at most `OUTBOX_CAPACITY`: a slow but alive
    /// Redis cannot grow it without limit. An event that does not fit is dropped
    /// and counted; its number is spent, so the other nodes see a gap and resync
    /// (forget their caches, reload, close sockets with 1012).
    outbox: mpsc::Sender<Outgoing>,
    outbox_rx: std::sync::Mutex<Option<mpsc::Receiver<Outgoing>>>,
    /// The publisher, subscriber, lease renewer and heartbeat, for `supervise`.
    tasks: crate::telemetry::Tasks,
    /// Which node writes which conversation.
    ownership: Arc<Ownership>,
    /// Forwarded sends waiting for their answers, by call id.
    calls: std::sync::Mutex<HashMap<u64, Call>>,
    next_call: AtomicU64,
    /// Per conversation, held while this node asks for its lease and, when it
    /// gets it, brings its copy up to date.
    taking: dashmap::DashMap<ConversationId, Arc<tokio::sync::Mutex<()>>>,
    /// Forwarded sends waiting, in arrival order, for a take-over to finish.
    deferred: dashmap::DashMap<ConversationId, Vec<(String, u64, Draft)>>,
    /// `REDIS_NAMESPACE` (for `<namespace>:presence:<node>`).
    namespace: String,
    /// Whether the subscription is up: other nodes expire only while this node
    /// can hear them.
    subscribed: AtomicBool,
    /// How many events this node has numbered (`Envelope::n`).
    sent: std::sync::Mutex<u64>,
    /// The last number heard from each other node.
    heard: std::sync::Mutex<HashMap<String, u64>>,
    /// Shutting down: forwarded sends are refused (`NotOwner`) so they go to the
    /// next owner.
    leaving: AtomicBool,
}

/// What the other nodes' events act on, on this node: the layers above the
/// cluster. `Cluster::start` builds it and moves it into the subscriber, which
/// holds it for as long as it runs. `Cluster` never holds it: the hub (through
/// its backplane) and the writers (through the hub) hold the cluster.
struct Handler {
    cluster: Arc<Cluster>,
    hub: Arc<Hub>,
    writers: Arc<Writers>,
    /// For the other nodes' cache changes (`Event::Forget`).
    store: Store,
}

impl Cluster {
    /// Where the store's cache changes go: to the other nodes, which forget those
    /// facts (`Event::Forget`). Holds the cluster weakly (the store lives in it).
    pub fn peers(self: &Arc<Self>) -> crate::store::cache::Peers {
        let cluster = Arc::downgrade(self);
        crate::store::cache::Peers::to(move |changed| {
            if let Some(cluster) = cluster.upgrade() {
                cluster.send(Event::Forget(changed), "");
            }
        })
    }

    /// The cluster-wide counters (rate limits, throttles) in the same Redis,
    /// through the same client (nothing is dialled until the first count).
    pub fn counters(&self, namespace: &str) -> counters::RedisCounters {
        counters::RedisCounters::with_client(self.client.clone(), namespace)
    }

    /// Parses the URL; nothing is dialled until `start`.
    /// `db` is for the ownership's record of Redis generations.
    pub fn new(
        url: &SecretString,
        namespace: &str,
        db: mongodb::Database,
    ) -> redis::RedisResult<Arc<Self>> {
        let client = redis::Client::open(url.expose_secret())?;
        let (outbox, outbox_rx) = mpsc::channel(OUTBOX_CAPACITY);
        let node = uuid::Uuid::new_v4().simple().to_string();
        Ok(Arc::new(Self {
            ownership: Ownership::new(client.clone(), &node, namespace, db),
            node,
            channel: format!("{namespace}:{EVENTS}"),
            client,
            outbox,
            outbox_rx: std::sync::Mutex::new(Some(outbox_rx)),
            tasks: crate::telemetry::Tasks::default(),
            calls: std::sync::Mutex::new(HashMap::new()),
            next_call: AtomicU64::new(1),
            taking: dashmap::DashMap::new(),
            deferred: dashmap::DashMap::new(),
            namespace: namespace.to_owned(),
            subscribed: AtomicBool::new(false),
            sent: std::sync::Mutex::new(0),
            heard: std::sync::Mutex::new(HashMap::new()),
            leaving: AtomicBool::new(false),
        }))
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// Starts the publisher, the subscriber, the lease renewer and the heartbeat
    /// (once), delivering the other nodes' events to `hub`, their messages to
    /// `writers` and their cache changes to `store`. The tasks hold these, not
    /// `Cluster`; they run until the process (the runtime) ends.
    pub fn start(self: &Arc<Self>, hub: &Arc<Hub>, writers: &Arc<Writers>, store: &Store) {
        let outbox = self
            .outbox_rx
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        let Some(outbox) = outbox else {
            return; // started already
        };
        let handler = Handler {
            cluster: Arc::clone(self),
            hub: Arc::clone(hub),
            writers: Arc::clone(writers),
            store: store.clone(),
        };
        let tasks = vec![
            tokio::spawn(handler.subscribe_forever()),
            tokio::spawn(Arc::clone(&self.ownership).renew_forever(Arc::downgrade(writers))),
            tokio::spawn(Arc::clone(self).heartbeat_forever(Arc::clone(hub))),
            tokio::spawn(Arc::clone(self).publish_forever(outbox)),
        ];
        self.tasks.keep(tasks);
        tracing::info!(node = %self.node, "cluster mode: events cross nodes through Redis");
    }

    /// Resolves when one of the cluster's tasks ends (they never should: a node
    /// whose subscriber panicked would serve on, deaf to the other nodes), so
    /// `main` can stop the process.
    pub async fn supervise(self: Arc<Self>) {
        self.tasks.supervise("cluster").await;
    }

    /// At shutdown, after the writers flushed: this node's leases go back, and
    /// the other nodes hear that it is leaving (so they stop forwarding to it).
    pub async fn shutdown(&self, writers: &Writers) {
        // Forwarded sends from now on go elsewhere; those in flight are stored
        // and answered before the leases go.
        self.leaving.store(true, Ordering::Release);
        writers.drained(FORWARD_TIMEOUT).await;
        self.ownership.release_all().await;
        self.send(Event::Leaving, "");
        let (done, published) = oneshot::channel();
        if self.outbox.try_send(Outgoing::Barrier(done)).is_ok() {
            let _ = tokio::time::timeout(REDIS_TIMEOUT * 2, published).await;
        }
    }
}
