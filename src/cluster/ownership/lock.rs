//! Cluster-wide locks (`ClusterLock`): taken in Redis under the generation check,
//! trusted for a bounded time, released when dropped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{HeldLock, MARGIN, NotLocked, Ownership, REDIS_TIMEOUT};

/// How long a cluster-wide lock lives if its holder never releases it (a
/// node dying inside a membership change or an edit).
const LOCK_TTL: Duration = Duration::from_secs(5);
/// How long a caller waits for a cluster-wide lock before giving up (503).
const LOCK_WAIT: Duration = Duration::from_secs(3);

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
