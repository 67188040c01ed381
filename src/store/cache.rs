//! Small bounded in-memory caches for hot-path reads (single node).
//!
//! A cache fill races with updates: a reader may fetch a document, an update may
//! then change it and refresh the cache, and the reader would overwrite the fresh
//! entry with its stale copy. So every change bumps an epoch, and a fill is kept
//! only when no change happened since the reader started (`epoch` then `fill`).
//! When the map reaches its capacity it is cleared: input a client controls can
//! cost memory only up to the cap.
//!
//! How a cached fact becomes true again after a lost event or a crash:
//! - a crash: caches are memory only; a restarted node starts empty;
//! - a lost `Forget` from another node (Redis dropped it, or this node was not
//!   subscribed): every entry expires `CACHE_TTL` after it was read from the
//!   database, whatever happens, so a missed change is served for at most that
//!   long (the documented bound after a Redis fault);
//! - a detected loss (the subscription dropped, or a gap in a node's event
//!   numbers): the cluster calls `Store::forget_all`, which clears every cache at
//!   once, and clears them again when the subscription is back.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::ids::{GroupId, UserId};
use crate::limits::CACHE_TTL;

/// A cached fact this node changed, for the other nodes of a cluster to forget
/// (their caches would otherwise keep serving it: a revoked token, a removed
/// member).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cache", content = "key", rename_all = "snake_case")]
pub enum Changed {
    /// A user's auth facts (token version, role, disabled, username).
    User(UserId),
    /// A group's details.
    Group(GroupId),
    /// One membership, by `<group>:<user>`.
    Membership(String),
    /// A deleted group: its details and every membership of it.
    GroupDeleted(GroupId),
    /// A history block, by `<conversation>#<block>` (rewritten after an edit or
    /// a delete of one of its messages, or when it filled up).
    Block(String),
}

/// Where a node's cache changes go: nowhere on one node (`default`), to the
/// other nodes in cluster mode (`to`, given when the store is built). Shared by
/// every store of the node.
#[derive(Clone, Default)]
pub struct Peers(Option<Arc<Tell>>);

type Tell = dyn Fn(Changed) + Send + Sync;

impl Peers {
    /// Sends every change to `tell`.
    pub fn to(tell: impl Fn(Changed) + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(tell)))
    }

    /// Whether other nodes write to the same database (cluster mode).
    pub fn others(&self) -> bool {
        self.0.is_some()
    }

    pub fn tell(&self, changed: Changed) {
        if let Some(tell) = &self.0 {
            tell(changed);
        }
    }
}

struct Inner<K, V> {
    /// Each value with the moment it was cached.
    map: HashMap<K, (V, Instant)>,
    epoch: u64,
}

pub struct BoundedCache<K, V> {
    inner: Arc<Mutex<Inner<K, V>>>,
    capacity: usize,
    /// How long an entry is served after it was cached (`CACHE_TTL`).
    ttl: Duration,
}

impl<K, V> Clone for BoundedCache<K, V> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            capacity: self.capacity,
            ttl: self.ttl,
        }
    }
}

impl<K: Eq + Hash, V: Clone> BoundedCache<K, V> {
    pub fn new(capacity: usize) -> Self {
        Self::with_ttl(capacity, CACHE_TTL)
    }

    pub fn with_ttl(capacity: usize, ttl: Duration) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                map: HashMap::new(),
                epoch: 0,
            })),
            capacity: capacity.max(1),
            ttl,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<K, V>> {
        // A panic while holding this lock cannot leave the map inconsistent.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The cached value, unless it is older than the expiry.
    pub fn get(&self, key: &K) -> Option<V> {
        let mut inner = self.lock();
        match inner.map.get(key) {
            Some((value, at)) if at.elapsed() < self.ttl => Some(value.clone()),
            Some(_) => {
                inner.map.remove(key);
                None
            }
            None => None,
        }
    }

    /// Read before fetching from the database; pass it to `fill`.
    pub fn epoch(&self) -> u64 {
        self.lock().epoch
    }

    /// Stores a value fetched from the database, unless something changed since
    /// `epoch` (then the value may be stale and the next read fetches again).
    pub fn fill(&self, epoch: u64, key: K, value: V) {
        let mut inner = self.lock();
        if inner.epoch != epoch {
            return;
        }
        Self::insert_capped(&mut inner, self.capacity, key, value);
    }

    /// Records a change made by this node: the new value.
    pub fn set(&self, key: K, value: V) {
        let mut inner = self.lock();
        inner.epoch = inner.epoch.wrapping_add(1);
        Self::insert_capped(&mut inner, self.capacity, key, value);
    }

    /// Records a change made by this node: forget the key.
    pub fn invalidate(&self, key: &K) {
        let mut inner = self.lock();
        inner.epoch = inner.epoch.wrapping_add(1);
        inner.map.remove(key);
    }

    /// Forgets everything (an event may have been lost).
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.epoch = inner.epoch.wrapping_add(1);
        inner.map.clear();
    }

    /// Forgets every key for which `drop` holds.
    pub fn invalidate_where(&self, drop: impl Fn(&K) -> bool) {
        let mut inner = self.lock();
        inner.epoch = inner.epoch.wrapping_add(1);
        inner.map.retain(|k, _| !drop(k));
    }

    fn insert_capped(inner: &mut Inner<K, V>, capacity: usize, key: K, value: V) {
        if inner.map.len() >= capacity && !inner.map.contains_key(&key) {
            inner.map.clear();
        }
        inner.map.insert(key, (value, Instant::now()));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fill_after_a_change_is_dropped() {
        let cache = BoundedCache::new(10);
        let epoch = cache.epoch();
        cache.set("a", 2);
        cache.fill(epoch, "a", 1);
        assert_eq!(cache.get(&"a"), Some(2));
        let epoch = cache.epoch();
        cache.invalidate(&"a");
        cache.fill(epoch, "a", 1);
        assert_eq!(cache.get(&"a"), None);
        let epoch = cache.epoch();
        cache.fill(epoch, "a", 3);
        assert_eq!(cache.get(&"a"), Some(3));
    }

    #[test]
    fn entries_expire_and_clear_forgets_everything() {
        let cache = BoundedCache::with_ttl(10, Duration::ZERO);
        cache.set("a", 1);
        assert_eq!(cache.get(&"a"), None, "expired at once");
        let cache = BoundedCache::with_ttl(10, Duration::from_secs(3600));
        cache.set("a", 1);
        assert_eq!(cache.get(&"a"), Some(1));
        let epoch = cache.epoch();
        cache.clear();
        assert_eq!(cache.get(&"a"), None);
        cache.fill(epoch, "a", 1);
        assert_eq!(
            cache.get(&"a"),
            None,
            "a fill from before the clear is dropped"
        );
    }

    #[test]
    fn the_map_never_grows_past_its_capacity() {
        let cache = BoundedCache::new(3);
        for i in 0..100 {
            let epoch = cache.epoch();
            cache.fill(epoch, i, i);
            assert!(cache.len() <= 3);
        }
        assert_eq!(cache.get(&99), Some(99));
        cache.invalidate_where(|k| *k == 99);
        assert_eq!(cache.get(&99), None);
    }
}
