//! The renewal task: every `RENEW_EVERY` the held leases are renewed in one script
//! call; those lost, or whose conversation left memory, are dropped.

use std::sync::Arc;
use std::time::Instant;

use super::{ConversationId, LEASE, OTHER_TTL, Ownership, REDIS_TIMEOUT, RENEW_EVERY, Writers};

impl Ownership {
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
}
