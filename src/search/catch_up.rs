//! The index's catch-up: conversations read again from the database, every
//! read an `_id` lookup (history blocks, then the messages after them up to the
//! durable seq reservation, as a writer's load finds them), handed to the
//! applier as `Change::Reread`.

use std::sync::{Arc, PoisonError};
use std::time::Duration;

use super::{Change, Engine};
use crate::ids::ConversationId;
use crate::store::Store;
use crate::store::messages::{MessageDoc, block_of};

/// Missing seqs after the reservation before the read stops (as a load does).
const PROBE_MISSES: i64 = 4;
/// Pause before a catch-up that failed (the database is down) tries again.
const RETRY: Duration = Duration::from_secs(1);

impl Engine {
    /// Waits for something to read again, reads it, and so on.
    pub(super) async fn catch_up(self: Arc<Self>) {
        loop {
            self.wake.notified().await;
            loop {
                let (all, some) = {
                    let mut wanted = self.wanted.lock().unwrap_or_else(PoisonError::into_inner);
                    let all = std::mem::take(&mut wanted.all);
                    (all, std::mem::take(&mut wanted.conversations))
                };
                let ids: Vec<ConversationId> = if all {
                    match self.store.conversations.all_ids().await {
                        Ok(ids) => ids,
                        Err(err) => {
                            tracing::warn!(error = %err, "search catch-up cannot list conversations; trying again");
                            self.want(None);
                            tokio::time::sleep(RETRY).await;
                            continue;
                        }
                    }
                } else {
                    some.into_iter().collect()
                };
                if ids.is_empty() {
                    break;
                }
                let started = std::time::Instant::now();
                let mut messages = 0usize;
                let mut failed = false;
                for id in &ids {
                    match read(&self.store, id).await {
                        Ok(found) => {
                            messages += found.len();
                            let change = Change::Reread {
                                conversation: id.clone(),
                                messages: found,
                            };
                            if self.tx.send(change).await.is_err() {
                                return;
                            }
                        }
                        Err(err) => {
                            tracing::warn!(error = %err, conversation = %id, "search catch-up cannot read a conversation; trying again");
                            self.want(Some(id));
                            failed = true;
                        }
                    }
                }
                tracing::info!(
                    conversations = ids.len(),
                    messages,
                    ms = started.elapsed().as_millis() as u64,
                    "search index caught up"
                );
                if failed {
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
    }
}

/// Every stored message of a conversation, as the database holds it now.
async fn read(store: &Store, id: &ConversationId) -> mongodb::error::Result<Vec<MessageDoc>> {
    let Some(doc) = store.conversations.by_id(id).await? else {
        return Ok(Vec::new());
    };
    let mut found: Vec<MessageDoc> = Vec::new();
    if doc.last_seq > 0 {
        for block in 0..=block_of(doc.last_seq) {
            found.extend(store.messages.block(id, block).await?.iter().cloned());
        }
    }
    // The blocks are written behind: the messages after them, by `_id`, up to
    // the durable reservation (in parallel), then a little beyond.
    let mut seq = found.last().map_or(0, |m| m.seq);
    let reserved = doc.seq_reserved.max(doc.last_seq);
    if reserved > seq {
        let tail = futures_util::future::try_join_all(
            (seq + 1..=reserved).map(|s| store.messages.by_seq(id, s)),
        )
        .await?;
        found.extend(tail.into_iter().flatten());
        seq = reserved;
    }
    let mut misses = 0;
    while misses < PROBE_MISSES {
        seq += 1;
        match store.messages.by_seq(id, seq).await? {
            Some(message) => {
                misses = 0;
                found.push(message);
            }
            None => misses += 1,
        }
    }
    Ok(found)
}
