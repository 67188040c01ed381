//! Per-key async locks on this node.
//!
//! FerretDB v1 applies updates as read-modify-write of whole documents, so two
//! concurrent updates of one document can lose one of them. Writers of the same
//! document take its key's lock first; across nodes, unique indexes arbitrate.
//! The chat core's named locks (a group's membership changes, a conversation's
//! edits) are the same kind (`chat::Chat::local_locks`): independent of what is
//! loaded in memory, so a conversation's writer can be evicted while one is held.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use tokio::sync::OwnedMutexGuard;

/// Named async locks; an entry lives while someone holds or waits for it.
/// In memory only: after a crash nobody holds one.
#[derive(Default)]
pub struct KeyedLocks {
    locks: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    by_name: HashMap<String, Weak<tokio::sync::Mutex<()>>>,
    /// Size after the last sweep of unused entries; the next sweep comes when
    /// the map has doubled, so sweeping costs O(1) per lock taken.
    swept_at: usize,
}

impl KeyedLocks {
    /// Waits for the lock `name` and holds it until the guard is dropped.
    pub async fn lock(&self, name: &str) -> OwnedMutexGuard<()> {
        let lock = {
            // A panic while holding this map's lock cannot leave it inconsistent.
            let mut entries = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
            let found = entries.by_name.get(name).and_then(Weak::upgrade);
            match found {
                Some(lock) => lock,
                None => {
                    let lock = Arc::new(tokio::sync::Mutex::new(()));
                    entries
                        .by_name
                        .insert(name.to_owned(), Arc::downgrade(&lock));
                    if entries.by_name.len() > 2 * entries.swept_at.max(64) {
                        entries.by_name.retain(|_, lock| lock.strong_count() > 0);
                        entries.swept_at = entries.by_name.len();
                    }
                    lock
                }
            }
        };
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

    #[tokio::test]
    async fn one_name_is_held_by_one_at_a_time_and_others_are_free() {
        let locks = Arc::new(KeyedLocks::default());
        let held = locks.lock("members:a").await;
        // Another name is free.
        let _other = locks.lock("members:b").await;
        // The same name waits until the first guard goes.
        let waiting = {
            let locks = Arc::clone(&locks);
            tokio::spawn(async move {
                let _guard = locks.lock("members:a").await;
            })
        };
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(held);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("taken once released")
            .expect("no panic");
    }

    #[tokio::test]
    async fn unused_names_are_swept_so_the_map_stays_bounded() {
        let locks = KeyedLocks::default();
        for i in 0..10_000 {
            drop(locks.lock(&format!("edits:{i}")).await);
        }
        let kept = locks
            .locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .by_name
            .len();
        assert!(kept <= 2 * 64 + 1, "{kept} names kept");
    }
}
