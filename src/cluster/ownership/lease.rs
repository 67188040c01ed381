//! Leases: who writes a conversation (`Owner`), how long this node trusts its own
//! leases (`holds`), taking them in Redis (`owner`), what it believes of the other
//! nodes' leases, and giving leases back.

use std::time::Instant;

use super::{ConversationId, LEASE, MARGIN, OTHER_TTL, Ownership, REDIS_TIMEOUT};

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

impl Ownership {
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

    /// Gives leases back, in one script call (an unanswered one expires).
    pub(super) async fn release_leases(&self, conversations: &[ConversationId]) {
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
