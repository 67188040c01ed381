//! Cluster mode: which node writes a conversation.
//!
//! One node at a time hands out a conversation's seqs: the node holding its lease,
//! `<namespace>:owner:<conversation>` in Redis (value: the node id, expiring after
//! `LEASE`). A node takes the lease when it is free, the first time it needs to
//! write the conversation, and renews every lease it holds every `RENEW_EVERY`. The
//! other nodes forward their sends to the owner (`cluster::Cluster::submit`), so
//! every message of a conversation is stored, and its event published, by one node
//! in seq order: every node hears a conversation's messages in seq order.
//!
//! **One writer** (docs/architecture.md §11). A node trusts its own lease only
//! until `LEASE - MARGIN` after the last renewal Redis confirmed (`holds`); past
//! that it asks Redis again, and when Redis does not answer, nobody writes the
//! conversation (503 `server_busy`): a node cannot tell a Redis outage from a
//! partition in which the other nodes still reach Redis and take the lease once
//! it expires. The lease is taken only when free, and a free lease means every
//! earlier holder's trust has ended, with one exception: a Redis that restarts
//! empty (or is flushed) loses leases that are still trusted. So leases belong
//! to a *generation* of Redis (`<namespace>:generation`): the first node to find
//! Redis without one starts it, and when the database says the namespace had
//! one before (`store::cluster`), it starts with a quiet period (`QUIET`) in
//! which no free lease is taken; a node that finds a generation other than the
//! one it knew drops every lease it held (they were confirmed by a Redis that is
//! gone). The unique message `_id` (`<conversation>-<seq>`) still refuses a seq
//! stored twice, should a node paused between its check and its insert write
//! after all.
//!
//! A lease is released when the conversation leaves memory, and lost leases make
//! the conversation reload before this node writes it again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use redis::aio::MultiplexedConnection;

use crate::chat::writer::Writers;
use crate::chat::{HeldLock, NotLocked};
use crate::cluster::{REDIS_PAUSE, REDIS_TIMEOUT};
use crate::ids::ConversationId;
use crate::store;

/// How long a lease lives without renewal: a dead owner's conversations move to
/// another node within this time.
pub const LEASE: Duration = Duration::from_secs(5);
/// How often the owner renews its leases.
const RENEW_EVERY: Duration = Duration::from_millis(1500);
/// A lease is trusted locally until this long before it would expire.
const MARGIN: Duration = Duration::from_millis(1500);
/// How long another node's ownership is believed without asking Redis again.
const OTHER_TTL: Duration = Duration::from_secs(2);

/// How long, after Redis was found empty in a namespace that had leases before, no
/// free lease is taken: longer than any lease confirmed by the lost Redis is
/// trusted (`LEASE - MARGIN` after its confirmation, which came before the loss).
pub const QUIET: Duration = LEASE;

/// Every lease script begins here: `KEYS[1]` is the generation, `ARGV[1]` the one
/// this node knows. On a mismatch nothing is done and the current one (or `''`)
/// is returned, for the node to adopt (`Ownership::adopt`).
macro_rules! generation_check {
    () => {
        r"
local generation = redis.call('HGET', KEYS[1], 'id')
if generation ~= ARGV[1] then
  return {'generation', generation or ''}
end
"
    };
}

/// Takes the lease (`KEYS[2]`) when free and the generation is not quiet, renews
/// it when already ours; returns `{'holder', holder}` or `{'quiet', ''}`.
const ACQUIRE: &str = concat!(
    generation_check!(),
    r"
local holder = redis.call('GET', KEYS[2])
if not holder then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  if now < tonumber(redis.call('HGET', KEYS[1], 'quiet_until') or '0') then
    return {'quiet', ''}
  end
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
  return {'holder', ARGV[2]}
end
if holder == ARGV[2] then
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
return {'holder', holder}
"
);

/// Renews every lease (`KEYS[2..]`) still ours; returns `{'lost', i, …}` with the
/// 1-based indexes (among the leases) of those lost.
const RENEW: &str = concat!(
    generation_check!(),
    r"
local lost = {'lost'}
for i = 2, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[2] then
    redis.call('PEXPIRE', KEYS[i], ARGV[3])
  else
    lost[#lost + 1] = tostring(i - 1)
  end
end
return lost
"
);

/// Starts a generation (`ARGV[1]`) unless one exists, quiet for `ARGV[2]` ms
/// (0: not quiet); returns the generation now in place.
const ESTABLISH: &str = r"
local current = redis.call('HGET', KEYS[1], 'id')
if current then
  return current
end
local quiet_until = 0
if tonumber(ARGV[2]) > 0 then
  local t = redis.call('TIME')
  quiet_until = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[2])
end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'quiet_until', tostring(quiet_until))
return ARGV[1]
";

/// Deletes each lease that is still ours; returns how many.
const RELEASE: &str = r"
local released = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    released = released + redis.call('DEL', key)
  end
end
return released
";

/// Who writes a conversation, as far as this node knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// This node.
    Here,
    /// This node, which just took the lease (at the instant given): its copy of
    /// the conversation may be behind what the previous owner stored. The caller
    /// brings it up to date, then `confirm`s; until then `holds` is false, so
    /// nothing is written from the stale copy.
    Taken(Instant),
    /// Another node, by id.
    There(String),
    /// Nobody may write it now: Redis did not answer, or the lease is free but its
    /// generation is still quiet. The send is refused (503) and sent again.
    Unknown,
}

pub struct Ownership {
    node: String,
    prefix: String,
    /// `<namespace>:lock:`, for `lock`.
    locks: String,
    client: redis::Client,
    /// The connection for leases and locks, dialled on first use and dropped on
    /// any failure, so the next call dials afresh. (A `ConnectionManager` kept
    /// across a Redis restart was seen, by `scripts/chaos`, to time out every call
    /// for minutes while its reconnect backed off: leases went unrenewed and two
    /// nodes wrote one conversation.)
    conn: std::sync::Mutex<Option<MultiplexedConnection>>,
    /// Leases this node holds, with when they were last confirmed.
    held: DashMap<ConversationId, Instant>,
    /// Other nodes' leases, with when this node learned of them.
    others: DashMap<ConversationId, (String, Instant)>,
    acquire: redis::Script,
    renew: redis::Script,
    release: redis::Script,
    lock: redis::Script,
    establish: redis::Script,
    /// `<namespace>:generation`.
    generation_key: String,
    namespace: String,
    /// The Redis generation this node's leases belong to (`""` until known). Lost
    /// with a crash: a restarted node holds no lease and adopts the current one.
    generation: std::sync::Mutex<String>,
    /// The database, for whether the namespace had a generation before
    /// (`store::cluster`); set by `attach`. Without it a new generation is
    /// always quiet.
    db: std::sync::OnceLock<mongodb::Database>,
    /// When a Redis call last failed: for `REDIS_PAUSE` after it, owners are
    /// `Unknown` without asking (a send never waits on a Redis that is away).
    failed_at: std::sync::Mutex<Option<Instant>>,
}

impl Ownership {
    pub fn new(client: redis::Client, node: &str, namespace: &str) -> Arc<Self> {
        Arc::new(Self {
            node: node.to_owned(),
            prefix: format!("{namespace}:owner:"),
            locks: format!("{namespace}:lock:"),
            client,
            conn: std::sync::Mutex::new(None),
            held: DashMap::new(),
            others: DashMap::new(),
            acquire: redis::Script::new(ACQUIRE),
            renew: redis::Script::new(RENEW),
            release: redis::Script::new(RELEASE),
            lock: redis::Script::new(LOCK),
            establish: redis::Script::new(ESTABLISH),
            generation_key: format!("{namespace}:generation"),
            namespace: namespace.to_owned(),
            generation: std::sync::Mutex::new(String::new()),
            db: std::sync::OnceLock::new(),
            failed_at: std::sync::Mutex::new(None),
        })
    }

    /// Gives the ownership the database (for `store::cluster`).
    pub fn attach(&self, db: mongodb::Database) {
        let _ = self.db.set(db);
    }

    fn known_generation(&self) -> String {
        self.generation
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Redis has a generation other than the one this node knew (`found`, or
    /// none: `""`). With none, this node starts one (`ESTABLISH`), quiet when the
    /// database says the namespace had one before. Every lease this node held was
    /// confirmed by a Redis that is gone: they are dropped (their conversations
    /// are taken anew, and so reloaded, before this node writes them again).
    /// Returns whether the generation is known now.
    async fn adopt(&self, conn: &mut MultiplexedConnection, found: &str) -> bool {
        let current = if found.is_empty() {
            let had = match self.db.get() {
                // Unsure (the database did not answer): quiet is the safe answer.
                Some(db) => store::cluster::had_generation(db, &self.namespace)
                    .await
                    .unwrap_or(true),
                None => true,
            };
            if !had && let Some(db) = self.db.get() {
                // Recorded before Redis has it, so that whoever finds Redis empty
                // next knows the namespace had a generation.
                if let Err(err) = store::cluster::record_generation(db, &self.namespace).await {
                    tracing::warn!(error = %err, "Redis generation not recorded; the next one will be quiet anyway");
                }
            }
            let quiet = if had { QUIET.as_millis() as u64 } else { 0 };
            let started = tokio::time::timeout(
                REDIS_TIMEOUT,
                self.establish
                    .key(&self.generation_key)
                    .arg(uuid::Uuid::new_v4().simple().to_string())
                    .arg(quiet)
                    .invoke_async::<String>(conn),
            )
            .await;
            match started {
                Ok(Ok(current)) => {
                    if had {
                        tracing::warn!(
                            quiet_ms = quiet,
                            "Redis has no lease generation (restarted empty or flushed): a new one begins, and no free lease is taken while leases of the old one may still be trusted"
                        );
                    }
                    current
                }
                _ => {
                    self.failed();
                    return false;
                }
            }
        } else {
            found.to_owned()
        };
        let mut known = self
            .generation
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if *known != current {
            if !known.is_empty() {
                metrics::counter!("confab_cluster_redis_generations_total").increment(1);
                tracing::warn!(
                    leases = self.held.len(),
                    "Redis lost its leases (a new generation): this node's leases are dropped and its conversations reload before it writes them again"
                );
            }
            self.held.clear();
            self.others.clear();
            *known = current;
        }
        true
    }

    fn key(&self, conversation: &ConversationId) -> String {
        format!("{}{}", self.prefix, conversation)
    }

    fn failed(&self) {
        *self
            .failed_at
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Instant::now());
        // Whatever state the connection is in, the next call starts a new one.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
    }

    fn paused(&self) -> bool {
        self.failed_at
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .is_some_and(|at| at.elapsed() < REDIS_PAUSE)
    }

    async fn conn(&self) -> Option<MultiplexedConnection> {
        let cached = self
            .conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        if let Some(conn) = cached {
            return Some(conn);
        }
        let dialled = tokio::time::timeout(
            REDIS_TIMEOUT,
            self.client.get_multiplexed_async_connection(),
        )
        .await;
        match dialled {
            Ok(Ok(conn)) => {
                *self
                    .conn
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(conn.clone());
                Some(conn)
            }
            _ => {
                self.failed();
                None
            }
        }
    }

    /// Learns Redis' lease generation now, starting one if Redis has none.
    async fn learn_generation(&self) {
        let Some(mut conn) = self.conn().await else {
            return;
        };
        let found = tokio::time::timeout(
            REDIS_TIMEOUT,
            redis::cmd("HGET")
                .arg(&self.generation_key)
                .arg("id")
                .query_async::<Option<String>>(&mut conn),
        )
        .await;
        match found {
            Ok(Ok(found)) => {
                self.adopt(&mut conn, found.as_deref().unwrap_or_default())
                    .await;
            }
            _ => self.failed(),
        }
    }

    /// Whether this node holds the conversation's lease (checked locally): it was
    /// confirmed less than `LEASE - MARGIN` ago. Past that, even with Redis away,
    /// this node does not write the conversation (another node may have taken the
    /// expired lease); `scripts/chaos` found two writers, and readers missing
    /// messages, while the last owner went on writing through a Redis outage.
    pub fn holds(&self, conversation: &ConversationId) -> bool {
        self.held
            .get(conversation)
            .is_some_and(|confirmed| confirmed.elapsed() < LEASE - MARGIN)
    }

    /// Who writes the conversation: from memory while that is fresh, else from
    /// Redis, taking the lease when it is free.
    pub async fn owner(&self, conversation: &ConversationId) -> Owner {
        if self.holds(conversation) {
            return Owner::Here;
        }
        if let Some(other) = self.others.get(conversation)
            && other.1.elapsed() < OTHER_TTL
        {
            return Owner::There(other.0.clone());
        }
        if self.paused() {
            return Owner::Unknown;
        }
        let Some(mut conn) = self.conn().await else {
            return Owner::Unknown;
        };
        // Twice at most: once more after adopting a new generation.
        for _ in 0..2 {
            let asked = Instant::now();
            let answer = tokio::time::timeout(
                REDIS_TIMEOUT,
                self.acquire
                    .key(&self.generation_key)
                    .key(self.key(conversation))
                    .arg(self.known_generation())
                    .arg(&self.node)
                    .arg(LEASE.as_millis() as u64)
                    .invoke_async::<Vec<String>>(&mut conn),
            )
            .await;
            let reply = match answer {
                Ok(Ok(reply)) => reply,
                Ok(Err(err)) => {
                    self.failed();
                    tracing::warn!(error = %err, "owner lease: Redis refused; the conversation is not written meanwhile");
                    return Owner::Unknown;
                }
                Err(_) => {
                    self.failed();
                    tracing::warn!(
                        "owner lease: Redis did not answer; the conversation is not written meanwhile"
                    );
                    return Owner::Unknown;
                }
            };
            match reply.as_slice() {
                [tag, holder] if tag == "holder" && *holder == self.node => {
                    // Not held here, or held but not confirmed lately (Redis was
                    // away: others may have written meanwhile): taken anew, so the
                    // copy is brought up to date before this node writes.
                    self.others.remove(conversation);
                    self.held.remove(conversation);
                    return Owner::Taken(asked);
                }
                [tag, holder] if tag == "holder" => {
                    self.held.remove(conversation);
                    self.others
                        .insert(conversation.clone(), (holder.clone(), Instant::now()));
                    return Owner::There(holder.clone());
                }
                [tag, _] if tag == "quiet" => {
                    metrics::counter!("confab_cluster_quiet_refusals_total").increment(1);
                    return Owner::Unknown;
                }
                [tag, found] if tag == "generation" => {
                    if !self.adopt(&mut conn, found).await {
                        return Owner::Unknown;
                    }
                }
                other => {
                    tracing::warn!(reply = ?other, "owner lease: unexpected answer from Redis");
                    return Owner::Unknown;
                }
            }
        }
        Owner::Unknown
    }

    /// The lease taken at `asked` is in use: this node's copy is up to date.
    pub fn confirm(&self, conversation: &ConversationId, asked: Instant) {
        metrics::counter!("confab_cluster_leases_taken_total").increment(1);
        self.held.insert(conversation.clone(), asked);
    }

    /// Forgets what this node believed about another node's lease (it did not
    /// answer, or says it no longer owns the conversation).
    pub fn forget_other(&self, conversation: &ConversationId) {
        self.others.remove(conversation);
    }

    /// Renews the held leases for as long as the process runs. A lease lost (taken
    /// by another node after it expired) or whose conversation left memory is
    /// dropped; a lost one marks the conversation for reloading.
    pub async fn renew_forever(self: Arc<Self>, writers: std::sync::Weak<Writers>) {
        // The generation first, before this node takes any lease: a node that
        // starts while the cluster does begins it without a quiet period.
        self.learn_generation().await;
        let mut tick = tokio::time::interval(RENEW_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(writers) = writers.upgrade() else {
                return;
            };
            // Leases of conversations no longer in memory (not even loading)
            // are released; beliefs about other nodes' leases age out.
            let (keep, gone): (Vec<ConversationId>, Vec<ConversationId>) = self
                .held
                .iter()
                .map(|e| e.key().clone())
                .partition(|id| writers.has(id));
            for id in &gone {
                self.held.remove(id);
            }
            self.release_leases(&gone).await;
            self.others
                .retain(|_, (_, learned)| learned.elapsed() < OTHER_TTL);
            if keep.is_empty() {
                continue;
            }
            let Some(mut conn) = self.conn().await else {
                continue;
            };
            let asked = Instant::now();
            let mut invocation = self.renew.prepare_invoke();
            invocation.key(&self.generation_key);
            for id in &keep {
                invocation.key(self.key(id));
            }
            invocation
                .arg(self.known_generation())
                .arg(&self.node)
                .arg(LEASE.as_millis() as u64);
            let answer = tokio::time::timeout(
                REDIS_TIMEOUT,
                invocation.invoke_async::<Vec<String>>(&mut conn),
            )
            .await;
            match answer {
                Ok(Ok(reply)) => match reply.split_first() {
                    Some((tag, lost)) if tag == "lost" => {
                        let lost: Vec<usize> = lost.iter().filter_map(|i| i.parse().ok()).collect();
                        for i in &lost {
                            if let Some(id) = i.checked_sub(1).and_then(|i| keep.get(i)) {
                                tracing::warn!(conversation = %id, "owner lease lost; the conversation reloads before this node writes it again");
                                metrics::counter!("confab_cluster_leases_lost_total").increment(1);
                                self.held.remove(id);
                                writers.resync(id);
                            }
                        }
                        for (i, id) in keep.iter().enumerate() {
                            if !lost.contains(&(i + 1))
                                && let Some(mut confirmed) = self.held.get_mut(id)
                            {
                                *confirmed = asked;
                            }
                        }
                    }
                    Some((tag, found)) if tag == "generation" => {
                        // Every lease was lost with the old generation.
                        let found = found.first().map(String::as_str).unwrap_or_default();
                        self.adopt(&mut conn, found).await;
                        metrics::counter!("confab_cluster_leases_lost_total")
                            .increment(keep.len() as u64);
                        for id in &keep {
                            writers.resync(id);
                        }
                    }
                    other => {
                        tracing::warn!(reply = ?other, "owner leases: unexpected answer from Redis");
                    }
                },
                Ok(Err(err)) => {
                    self.failed();
                    tracing::warn!(error = %err, "owner leases not renewed");
                }
                Err(_) => {
                    self.failed();
                    tracing::warn!("owner leases not renewed: Redis did not answer");
                }
            }
        }
    }

    /// Gives leases back, in one script call (an unanswered one expires).
    async fn release_leases(&self, conversations: &[ConversationId]) {
        if conversations.is_empty() {
            return;
        }
        if let Some(mut conn) = self.conn().await {
            let mut invocation = self.release.prepare_invoke();
            for id in conversations {
                invocation.key(self.key(id));
            }
            invocation.arg(&self.node);
            let released =
                tokio::time::timeout(REDIS_TIMEOUT, invocation.invoke_async::<i64>(&mut conn))
                    .await;
            if !matches!(released, Ok(Ok(_))) {
                tracing::debug!(
                    leases = conversations.len(),
                    "owner leases not released; they expire"
                );
            }
        }
    }

    /// Forgets every lease believed held by `node` (it left).
    pub fn forget_node(&self, node: &str) {
        self.others.retain(|_, (holder, _)| holder != node);
    }

    /// Gives every held lease back (shutdown), so other nodes take the
    /// conversations over at once instead of after `LEASE`.
    pub async fn release_all(&self) {
        let held: Vec<ConversationId> = self.held.iter().map(|e| e.key().clone()).collect();
        self.held.clear();
        self.release_leases(&held).await;
    }

    /// Drops every belief about other nodes' leases (the subscription was lost:
    /// they may have moved). This node's own leases stay held only as long as
    /// their renewals keep being confirmed (`holds`), and its copies reload
    /// before their next write (`Writers::resync_all`), so a short blip does not
    /// move conversations.
    pub fn forget_others(&self) {
        self.others.clear();
    }
}

/// How long a cluster-wide lock lives if its holder never releases it (a
/// node dying inside a membership change or an edit).
const LOCK_TTL: Duration = Duration::from_secs(5);
/// How long a caller waits for a cluster-wide lock before giving up (503).
const LOCK_WAIT: Duration = Duration::from_secs(3);

/// Takes a lock (`KEYS[2]`) if free and the generation is not quiet: `SET NX
/// PX`, as a script so that the generation check, taking and the holder's token
/// go together. Returns `{'locked', ''}`, `{'held', ''}` or `{'quiet', ''}` (or
/// the generation check's answer).
const LOCK: &str = concat!(
    generation_check!(),
    r"
if redis.call('EXISTS', KEYS[2]) == 1 then
  return {'held', ''}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now < tonumber(redis.call('HGET', KEYS[1], 'quiet_until') or '0') then
  return {'quiet', ''}
end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return {'locked', ''}
"
);

/// A cluster-wide lock held by this node; released when dropped.
///
/// **Bounded trust**, as for leases: the lock is trusted only until
/// `LOCK_TTL - MARGIN` after the request that took it was sent (`trusted`).
/// Each write it guards checks that first, so a node that stalled (SIGSTOP, a
/// hung database, a long pause) past the lock's expiry, when another node may
/// hold it, writes nothing. What is left is a stall of more than `MARGIN`
/// between that check and the write reaching the database
/// (docs/architecture.md §11 says what it can and cannot break).
pub struct ClusterLock {
    ownership: Arc<Ownership>,
    key: String,
    token: String,
    asked: Instant,
}

impl HeldLock for ClusterLock {
    /// Whether this node may still act on the lock (see the type's doc).
    fn trusted(&self) -> bool {
        self.asked.elapsed() < LOCK_TTL - MARGIN
    }
}

impl Drop for ClusterLock {
    fn drop(&mut self) {
        let ownership = Arc::clone(&self.ownership);
        let key = std::mem::take(&mut self.key);
        let token = std::mem::take(&mut self.token);
        tokio::spawn(async move {
            if let Some(mut conn) = ownership.conn().await {
                let released = tokio::time::timeout(
                    REDIS_TIMEOUT,
                    ownership
                        .release
                        .key(&key)
                        .arg(&token)
                        .invoke_async::<i64>(&mut conn),
                )
                .await;
                if !matches!(released, Ok(Ok(_))) {
                    tracing::debug!(%key, "cluster lock not released; it expires");
                }
            }
        });
    }
}

impl Ownership {
    /// Takes the cluster-wide lock `<namespace>:lock:<name>`, waiting for it
    /// (with short sleeps) up to `LOCK_WAIT`.
    pub async fn lock(self: &Arc<Self>, name: &str) -> Result<ClusterLock, NotLocked> {
        if self.paused() {
            return Err(NotLocked::Unreachable);
        }
        let key = format!("{}{name}", self.locks);
        let token = uuid::Uuid::new_v4().simple().to_string();
        let started = Instant::now();
        let mut wait = Duration::from_millis(2);
        loop {
            let Some(mut conn) = self.conn().await else {
                return Err(NotLocked::Unreachable);
            };
            let asked = Instant::now();
            let taken = tokio::time::timeout(
                REDIS_TIMEOUT,
                self.lock
                    .key(&self.generation_key)
                    .key(&key)
                    .arg(self.known_generation())
                    .arg(&token)
                    .arg(LOCK_TTL.as_millis() as u64)
                    .invoke_async::<Vec<String>>(&mut conn),
            )
            .await;
            let reply = match taken {
                Ok(Ok(reply)) => reply,
                Ok(Err(_)) | Err(_) => {
                    self.failed();
                    return Err(NotLocked::Unreachable);
                }
            };
            match reply.first().map(String::as_str) {
                Some("locked") => {
                    return Ok(ClusterLock {
                        ownership: Arc::clone(self),
                        key,
                        token,
                        asked,
                    });
                }
                Some("held") => {}
                Some("quiet") => {
                    metrics::counter!("confab_cluster_quiet_refusals_total").increment(1);
                }
                Some("generation") => {
                    let found = reply.get(1).map(String::as_str).unwrap_or_default();
                    if !self.adopt(&mut conn, found).await {
                        return Err(NotLocked::Unreachable);
                    }
                }
                _ => {
                    tracing::warn!(reply = ?reply, "cluster lock: unexpected answer from Redis");
                    return Err(NotLocked::Unreachable);
                }
            }
            if started.elapsed() >= LOCK_WAIT {
                return Err(NotLocked::Busy);
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_millis(50));
        }
    }
}
