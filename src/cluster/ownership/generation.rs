//! Redis generations: learning the one in place, starting one (quiet when the
//! namespace had one before), and dropping this node's leases when it changed.

use redis::aio::MultiplexedConnection;

use super::{Ownership, QUIET, REDIS_TIMEOUT, store};

impl Ownership {
    pub(super) fn known_generation(&self) -> String {
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
    pub(super) async fn adopt(&self, conn: &mut MultiplexedConnection, found: &str) -> bool {
        let current = if found.is_empty() {
            // Unsure (the database did not answer): quiet is the safe answer.
            let had = store::cluster::had_generation(&self.db, &self.namespace)
                .await
                .unwrap_or(true);
            if !had {
                // Recorded before Redis has it, so that whoever finds Redis empty
                // next knows the namespace had a generation.
                if let Err(err) = store::cluster::record_generation(&self.db, &self.namespace).await
                {
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

    /// Learns Redis' lease generation now, starting one if Redis has none.
    pub(super) async fn learn_generation(&self) {
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
}
