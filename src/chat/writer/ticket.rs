//! The types of one send: the `Draft` that goes in, the `Ticket` to wait on for
//! the outcome (`Forwarded` when another node writes it), and the hooks and
//! replies that carry the stored message back.

use std::time::Duration;

use tokio::sync::oneshot;

use crate::error::ApiError;
use crate::ids::{ConversationId, UserId};
use crate::store::messages::MessageDoc;

/// Called once a message is stored, before it is fanned out (the gateway queues the
/// sender's `ack` here, so the sender sees its ack before the echo).
pub type OnStored = Box<dyn FnOnce(&MessageDoc) + Send>;

/// A message to send, already validated and authorized.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Draft {
    pub sender_id: UserId,
    pub sender_username: String,
    pub body: String,
    pub client_id: Option<String>,
    /// The message this one replies to (checked: in the same conversation,
    /// not deleted), as it is now.
    #[serde(default)]
    pub reply_to: Option<Box<crate::store::messages::ReplyRef>>,
}

pub(super) type Reply = oneshot::Sender<Result<MessageDoc, ApiError>>;

/// The outcome of a submitted send, to wait for.
pub enum Ticket {
    /// A repeated `client_id` whose first message is known.
    Ready(MessageDoc),
    /// Being stored: by this send with this seq (`Some`), or a repeat of a send in
    /// flight (`None`).
    Wait(oneshot::Receiver<Result<MessageDoc, ApiError>>, Option<i64>),
    /// A repeat of a message that is stored but no longer in memory.
    Fetch(crate::store::MessageStore, ConversationId, i64),
    /// Cluster mode: forwarded to the conversation's owner node, answered through
    /// Redis (`cluster::Cluster::dispatch`); `Forwarded::done` forgets the call.
    Forwarded(Forwarded),
}

/// A send forwarded to another node, waiting for its answer.
pub struct Forwarded {
    pub reply: oneshot::Receiver<Result<(MessageDoc, bool), ApiError>>,
    pub timeout: Duration,
    /// Forgets the call on the forwarding node; `true` when it timed out. Runs
    /// once: after the answer, on timeout, or when the ticket is dropped unread
    /// (a connection closed meanwhile), so no call is kept forever.
    pub done: Option<Box<dyn FnOnce(bool) + Send>>,
}

impl Forwarded {
    async fn outcome(mut self) -> Result<(MessageDoc, bool), ApiError> {
        let answered = tokio::time::timeout(self.timeout, &mut self.reply).await;
        if let Some(done) = self.done.take() {
            done(answered.is_err());
        }
        match answered {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => Err(ApiError::internal()),
            Err(_) => Err(ApiError::new(
                crate::error::ErrorCode::ServerBusy,
                "the node that writes this conversation did not answer; send it again with the same client_id",
            )),
        }
    }
}

impl Drop for Forwarded {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            done(false);
        }
    }
}

impl Ticket {
    /// The stored message, and whether this send stored it (`false`: a repeated
    /// `client_id`, answered with the first message).
    pub async fn wait(self) -> Result<(MessageDoc, bool), ApiError> {
        match self {
            Ticket::Ready(message) => Ok((message, false)),
            Ticket::Wait(reply, own_seq) => {
                let message = reply.await.map_err(|_| ApiError::internal())??;
                // The unique index may have answered with an earlier message of
                // the same `client_id` (see `refused`): then this send stored nothing.
                let created = own_seq == Some(message.seq);
                Ok((message, created))
            }
            Ticket::Fetch(store, conversation, seq) => {
                let message = store
                    .by_seq(&conversation, seq)
                    .await?
                    .ok_or_else(ApiError::database_unavailable)?;
                Ok((message, false))
            }
            Ticket::Forwarded(call) => call.outcome().await,
        }
    }
}
