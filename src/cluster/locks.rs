//! The core's lock port (`chat::Locks`) in cluster mode: cluster-wide locks in
//! Redis (`ownership::Ownership::lock`).

use crate::chat::{HeldLock, Locks, NotLocked};

use super::Cluster;

/// The core's lock port (`chat::Locks`): Redis locks (`Ownership::lock`).
impl Locks for Cluster {
    fn lock<'a>(
        &'a self,
        name: &'a str,
    ) -> futures_util::future::BoxFuture<'a, Result<Box<dyn HeldLock>, NotLocked>> {
        Box::pin(async move {
            self.ownership
                .lock(name)
                .await
                .map(|held| Box::new(held) as Box<dyn HeldLock>)
        })
    }
}
