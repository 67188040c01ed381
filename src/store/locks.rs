//! Per-key async locks on this node.
//!
//! FerretDB v1 applies updates as read-modify-write of whole documents, so two
//! concurrent updates of one document can lose one of them. Writers of the same
//! document take its key's lock first; across nodes, unique indexes arbitrate.

use std::sync::Arc;

use dashmap::DashMap;
use tokio::sync::{Mutex, OwnedMutexGuard};

#[derive(Default)]
pub struct KeyedLocks(DashMap<String, Arc<Mutex<()>>>);

impl KeyedLocks {
    /// Waits for `key`'s lock. Entries stay in the map (one small mutex per key
    /// ever locked on this node).
    pub async fn lock(&self, key: &str) -> OwnedMutexGuard<()> {
        let lock = self.0.entry(key.to_owned()).or_default().clone();
        lock.lock_owned().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn one_holder_per_key_and_keys_are_independent() {
        let locks = Arc::new(KeyedLocks::default());
        let held = locks.lock("a").await;
        let other = tokio::time::timeout(Duration::from_millis(50), locks.lock("b")).await;
        assert!(other.is_ok(), "another key is free");
        let same = tokio::time::timeout(Duration::from_millis(50), locks.lock("a")).await;
        assert!(same.is_err(), "the same key waits");
        drop(held);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), locks.lock("a"))
                .await
                .is_ok()
        );
    }
}
