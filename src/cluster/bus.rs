//! The events bus between nodes, one Redis pub/sub channel: the publisher (this
//! node's events, numbered, through a bounded outbox, with barriers), the
//! subscriber (the other nodes' events, in order, with gaps detected and a
//! resync after a loss), and what each received event does here (`receive`).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};

use crate::realtime::hub::Audience;

use super::connection::{REDIS_PAUSE, REDIS_TIMEOUT, RETRY};
use super::wire::{Envelope, Event, Sequence, decode, encode, sequence};
use super::{Cluster, Handler};

/// The channel every node publishes its events on and subscribes to, after the
/// namespace (`REDIS_NAMESPACE`).
pub(super) const EVENTS: &str = "events";

/// Events (and barriers) that may wait for Redis at once; see `Cluster::outbox`.
pub(super) const OUTBOX_CAPACITY: usize = 65_536;

/// Most events one pipeline carries.
const PUBLISH_BATCH: usize = 512;

/// What the publisher task sends: an event, or a barrier resolved once every
/// event before it was published (`true`) or given up (`false`).
pub(super) enum Outgoing {
    Event(Vec<u8>),
    Barrier(oneshot::Sender<bool>),
}

impl Cluster {
    pub(super) fn send(&self, event: Event, frame: &str) {
        // Numbered and queued under one lock, so the numbers follow the order.
        let mut sent = self
            .sent
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let envelope = Envelope {
            node: self.node.clone(),
            n: *sent + 1,
            event,
        };
        match encode(&envelope, frame) {
            Ok(bytes) => {
                *sent += 1;
                // The receiver lives as long as the process (publish_forever).
                if let Err(mpsc::error::TrySendError::Full(_)) =
                    self.outbox.try_send(Outgoing::Event(bytes))
                {
                    metrics::counter!("confab_cluster_outbox_overflow_total").increment(1);
                    tracing::warn!(
                        "cluster outbox full: an event is dropped; the other nodes will see the gap and resync"
                    );
                }
            }
            Err(err) => tracing::error!(error = %err, "cluster event not encodable"),
        }
    }

    /// Publishes queued events in order, reconnecting when Redis goes away.
    /// Whatever has queued up meanwhile goes in one pipeline (one round trip; Redis
    /// runs a pipeline's commands in order), so the rate is not bound by the
    /// round-trip time.
    ///
    /// A batch whose attempt fails goes to a backlog, retried with backoff
    /// (`RETRY`); later events join the backlog behind it, so the order holds. A
    /// backlog still unpublished after its retries is dropped (and counted): the
    /// other nodes' clients catch up when their node resubscribes. After that,
    /// events are dropped at once for `REDIS_PAUSE`.
    ///
    /// Barriers (the owner's acks wait on them) resolve after the attempt of
    /// their batch, or at once when there is a backlog or a pause: a Redis outage
    /// delays an ack by at most `REDIS_TIMEOUT`.
    pub(super) async fn publish_forever(self: Arc<Self>, mut outbox: mpsc::Receiver<Outgoing>) {
        let mut conn: Option<redis::aio::MultiplexedConnection> = None;
        let mut backlog: Vec<Vec<u8>> = Vec::new();
        let mut retried = 0;
        let mut retry_at = tokio::time::Instant::now();
        let mut paused_until: Option<std::time::Instant> = None;
        loop {
            let first = tokio::select! {
                item = outbox.recv() => match item {
                    Some(item) => item,
                    None => return,
                },
                () = tokio::time::sleep_until(retry_at), if !backlog.is_empty() => {
                    if self.publish_once(&mut conn, &self.pipeline(&backlog)).await {
                        backlog.clear();
                        retried = 0;
                    } else {
                        conn = None;
                        match RETRY.get(retried) {
                            Some(wait) => {
                                retried += 1;
                                retry_at = tokio::time::Instant::now() + *wait;
                            }
                            None => {
                                self.drop_events(backlog.len());
                                backlog.clear();
                                retried = 0;
                                paused_until = Some(std::time::Instant::now() + REDIS_PAUSE);
                            }
                        }
                    }
                    continue;
                }
            };
            let mut batch: Vec<Vec<u8>> = Vec::new();
            let mut barriers: Vec<oneshot::Sender<bool>> = Vec::new();
            let mut next = Some(first);
            while let Some(item) = next.take() {
                match item {
                    Outgoing::Event(bytes) => batch.push(bytes),
                    Outgoing::Barrier(done) => barriers.push(done),
                }
                if batch.len() < PUBLISH_BATCH {
                    next = outbox.try_recv().ok();
                }
            }
            let published = if batch.is_empty() {
                backlog.is_empty()
            } else if paused_until.is_some_and(|until| std::time::Instant::now() < until) {
                metrics::counter!("confab_cluster_events_dropped_total")
                    .increment(batch.len() as u64);
                false
            } else if !backlog.is_empty() {
                backlog.append(&mut batch);
                false
            } else if self.publish_once(&mut conn, &self.pipeline(&batch)).await {
                paused_until = None;
                true
            } else {
                conn = None;
                backlog = batch;
                retried = 0;
                retry_at = tokio::time::Instant::now() + RETRY[0];
                false
            };
            for done in barriers {
                let _ = done.send(published);
            }
        }
    }

    fn pipeline(&self, events: &[Vec<u8>]) -> redis::Pipeline {
        let mut pipe = redis::pipe();
        for bytes in events {
            pipe.cmd("PUBLISH").arg(&self.channel).arg(bytes).ignore();
        }
        pipe
    }

    fn drop_events(&self, count: usize) {
        metrics::counter!("confab_cluster_events_dropped_total").increment(count as u64);
        tracing::warn!(events = count, "Redis unreachable: cluster events dropped");
    }

    /// One attempt at a pipeline, dialling first if needed; bounded by
    /// `REDIS_TIMEOUT` (a Redis that accepts connections and never answers
    /// must not hold acks up).
    async fn publish_once(
        &self,
        conn: &mut Option<redis::aio::MultiplexedConnection>,
        pipe: &redis::Pipeline,
    ) -> bool {
        let attempt = async {
            if conn.is_none() {
                *conn = self.client.get_multiplexed_async_connection().await.ok();
            }
            match conn.as_mut() {
                Some(c) => pipe.query_async::<()>(c).await.is_ok(),
                None => false,
            }
        };
        tokio::time::timeout(REDIS_TIMEOUT, attempt)
            .await
            .unwrap_or(false)
    }
}

/// The subscriber's side: what the other nodes' events do here.
impl Handler {
    /// Receives the other nodes' events for as long as the process runs.
    pub(super) async fn subscribe_forever(self) {
        let cluster = &self.cluster;
        let mut attempt = 0;
        let mut subscribed_before = false;
        loop {
            match cluster.client.get_async_pubsub().await {
                Ok(mut pubsub) => match pubsub.subscribe(&cluster.channel).await {
                    Ok(()) => {
                        attempt = 0;
                        if subscribed_before {
                            // Events may have been missed while unsubscribed: the
                            // conversations in memory reload from the database, and
                            // clients reconnect and catch up with `since`.
                            tracing::warn!(
                                "cluster subscription restored; conversations reload, sockets close so clients catch up"
                            );
                            // Leases may have expired or moved meanwhile, and the
                            // other nodes' numbers have moved on.
                            cluster.ownership.forget_others();
                            cluster
                                .heard
                                .lock()
                                .unwrap_or_else(|poisoned| poisoned.into_inner())
                                .clear();
                            // Facts read while unsubscribed may have changed
                            // unheard: read them all again.
                            self.forget_cached();
                            self.writers.resync_all();
                            self.hub.close_all(crate::realtime::hub::close_code::RESYNC);
                        }
                        subscribed_before = true;
                        cluster.presence_subscribed(&self.hub);
                        let mut messages = pubsub.on_message();
                        while let Some(msg) = messages.next().await {
                            self.receive(msg.get_payload_bytes());
                        }
                        cluster.subscribed.store(false, Ordering::Release);
                        // From now on this node hears no changes: what it cached
                        // may already be stale, and each new entry is bounded by
                        // `CACHE_TTL` until the subscription is back.
                        self.forget_cached();
                        tracing::warn!("cluster subscription lost; reconnecting");
                    }
                    Err(err) => tracing::warn!(error = %err, "cluster subscribe failed"),
                },
                Err(err) => {
                    tracing::warn!(error = %err, "Redis unreachable for the cluster subscription")
                }
            }
            tokio::time::sleep(RETRY[attempt.min(RETRY.len() - 1)]).await;
            attempt += 1;
        }
    }

    /// Whether an event is new; on a gap in a node's numbers, this node missed
    /// events: like a lost subscription, every conversation reloads and the
    /// sockets close with 1012, so clients catch up with `since`.
    fn in_order(&self, node: &str, n: u64) -> bool {
        let gap = {
            let mut heard = self
                .cluster
                .heard
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let order = sequence(heard.get(node).copied(), n);
            if order == Sequence::Repeat {
                return false;
            }
            heard.insert(node.to_owned(), n);
            order == Sequence::Gap
        };
        if gap {
            tracing::warn!(%node, "cluster events from a node were lost; conversations reload, sockets close so clients catch up");
            metrics::counter!("confab_cluster_resyncs_total").increment(1);
            self.forget_cached();
            self.writers.resync_all();
            self.hub.close_all(crate::realtime::hub::close_code::RESYNC);
        }
        true
    }

    /// Forgets every cached fact of this node's store (see `Store::forget_all`).
    fn forget_cached(&self) {
        self.store.forget_all();
    }

    fn receive(&self, bytes: &[u8]) {
        let cluster = &self.cluster;
        let Some((envelope, frame)) = decode(bytes) else {
            tracing::warn!("unreadable cluster event ignored");
            return;
        };
        if envelope.node == cluster.node || !self.in_order(&envelope.node, envelope.n) {
            return;
        }
        let hub = &self.hub;
        match envelope.event {
            Event::Deliver {
                audience,
                message,
                replayed,
                read,
            } => {
                if let Some(read) = &read {
                    self.writers
                        .observe_read(&read.conversation, &read.user, read.seq);
                }
                let audience = Audience::from(audience);
                let frame: Arc<str> = Arc::from(frame);
                let deliver = || hub.deliver_local(&audience, &frame, None);
                match message {
                    Some(message) => self.writers.observe_remote(message, replayed, deliver),
                    None => deliver(),
                }
            }
            Event::Submit {
                to,
                call,
                conversation,
                draft,
            } => {
                if to == cluster.node {
                    cluster.serve_forwarded(
                        &self.writers,
                        envelope.node,
                        call,
                        conversation,
                        draft,
                    );
                }
            }
            Event::Answer { to, call, outcome } => {
                if to == cluster.node {
                    cluster.take_answer(&self.writers, &envelope.node, call, outcome);
                }
            }
            Event::Forget(changed) => self.store.forget(&changed),
            Event::Leaving => {
                tracing::info!(node = %envelope.node, "a node left the cluster");
                cluster.node_left(&self.writers, &envelope.node);
            }
            Event::Close { users, code } => {
                for user in &users {
                    hub.close_user_local(user, code);
                }
            }
            Event::Unsubscribe { conversation, user } => {
                // Under the conversation's lock, with its membership epoch
                // moved: a join here that was authorized before the removal
                // checks access again instead of subscribing after it.
                self.writers.member_removed(&conversation, || {
                    hub.unsubscribe_local(&conversation, &user)
                });
            }
            Event::Presence(presence) => cluster.receive_presence(hub, &envelope.node, presence),
        }
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    #[tokio::test]
    async fn the_outbox_is_bounded_and_an_overflow_spends_its_number() {
        let url = SecretString::from("redis://127.0.0.1:1".to_owned());
        // The client connects lazily: this test never reaches the database.
        let db = mongodb::Client::with_uri_str("mongodb://127.0.0.1:1")
            .await
            .expect("client")
            .database("unused");
        let cluster = Cluster::new(&url, "bounded", db).expect("cluster");
        // Not started: nothing drains the outbox, as with a Redis that never answers.
        for _ in 0..OUTBOX_CAPACITY + 10 {
            cluster.send(Event::Leaving, "");
        }
        assert_eq!(cluster.outbox.capacity(), 0, "full");
        assert_eq!(cluster.outbox.max_capacity(), OUTBOX_CAPACITY);
        // The dropped events' numbers are spent: the next one heard shows a gap.
        let sent = *cluster.sent.lock().expect("sent");
        assert_eq!(sent, (OUTBOX_CAPACITY + 10) as u64);
        assert_eq!(
            sequence(Some(OUTBOX_CAPACITY as u64), sent + 1),
            Sequence::Gap
        );
    }
}
