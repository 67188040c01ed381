//! One connection's loop: reads client frames, writes queued server frames,
//! pings, enforces limits, and closes when asked (revocation, slowness, shutdown).
//!
//! A single task owns the socket. Every frame is handled to the end before the
//! next is read, so a `send` in flight is stored (or refused) before a close.

use crate::ids::ConversationId;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use poem::web::websocket::{CloseCode, Message, WebSocketStream};
use tokio::sync::{mpsc, watch};
use tokio::time::{MissedTickBehavior, interval, sleep_until};
use tracing::Instrument;

use crate::auth::CurrentUser;
use crate::auth::sessions::authenticate;
use crate::chat::writer::{OnStored, Since};
use crate::chat::{Caller, access, messages, reactions};
use crate::error::{ApiError, ErrorCode};
use crate::limits::{
    MAX_BAD_FRAMES, TYPING_THROTTLE_MAX_ROOMS, TYPING_THROTTLE_MS, WS_PING_INTERVAL_SECS,
};
use crate::permissions::GroupAction;
use crate::rate_limits::Action;
use crate::realtime::hub::{ConnHandle, Registration, close_code};
use crate::realtime::protocol::{
    AckFrame, ClientFrame, ErrorFrame, FrameError, JoinedFrame, MessageFrame, PongFrame, SendFrame,
    ServerFrame, change_frame, parse_client_frame,
};
use crate::state::AppState;

mod frames;

/// Consecutive sends over the rate limit (each answered with an error) before 4008.
const RATE_STRIKES: u32 = 5;
/// How long one write may take before the peer counts as gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Queued frames written per flush at most, so a busy connection still reads.
const WRITE_BATCH: usize = 64;

/// What ends a session.
enum Exit {
    /// Close with this code and reason.
    Close(u16, &'static str),
    /// The peer is gone or the socket broke: nothing more to send.
    Gone,
}

struct Session {
    state: AppState,
    conn: ConnHandle,
    caller: Caller,
    token_expires_at: i64,
    joined: Joined,
    last_typing: RecentKeys,
    bad_frames: u32,
    rate_strikes: u32,
    /// Sends queued for storing whose outcome (an ack for a repeat, or an error)
    /// is still to come; a server-side close waits for them (`SEND_DRAIN`).
    sends: tokio::task::JoinSet<()>,
}

/// Sends one connection may have queued for storing at once (a quarter of
/// `OUTBOUND_QUEUE`: each brings an ack and an echo back to the connection).
const SENDS_IN_FLIGHT: usize = crate::limits::OUTBOUND_QUEUE / 4;

/// How long a closing connection waits for its sends in flight, so that what was
/// stored is acked before the close frame.
const SEND_DRAIN: Duration = Duration::from_secs(5);

/// When each key was last seen, for at most `cap` keys: the typing throttle of a
/// connection. Only authorized rooms are recorded; when full, keys older than the
/// window go first, then the oldest.
pub struct RecentKeys {
    cap: usize,
    window: Duration,
    seen: HashMap<String, Instant>,
}

impl RecentKeys {
    pub fn new(cap: usize, window: Duration) -> Self {
        Self {
            cap: cap.max(1),
            window,
            seen: HashMap::new(),
        }
    }

    /// Whether `key` was recorded less than the window before `now`.
    pub fn is_recent(&self, key: &str, now: Instant) -> bool {
        self.seen
            .get(key)
            .is_some_and(|at| now.saturating_duration_since(*at) < self.window)
    }

    /// Records `key` at `now`, making room first if the map is full.
    pub fn record(&mut self, key: &str, now: Instant) {
        if let Some(at) = self.seen.get_mut(key) {
            *at = now;
            return;
        }
        if self.seen.len() >= self.cap {
            let window = self.window;
            self.seen
                .retain(|_, at| now.saturating_duration_since(*at) < window);
        }
        if self.seen.len() >= self.cap
            && let Some(oldest) = self
                .seen
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(k, _)| k.clone())
        {
            self.seen.remove(&oldest);
        }
        self.seen.insert(key.to_owned(), now);
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

fn seconds_until(unix: i64) -> Duration {
    let now = chrono::Utc::now().timestamp();
    Duration::from_secs(u64::try_from(unix - now).unwrap_or(0))
}

/// The rooms a live connection has joined, and its registration in the hub: it
/// unregisters when the session ends in any way. The session's loop unregisters
/// explicitly (before the close frame); if the task unwinds instead (a panic), or
/// is dropped, `Drop` does it, so a slot never leaks and the user never stays
/// "online" for a connection that is gone.
struct Joined {
    hub: Arc<crate::realtime::hub::Hub>,
    conn: ConnHandle,
    rooms: HashSet<ConversationId>,
    done: bool,
}

impl Joined {
    fn unregister(&mut self) {
        if !std::mem::replace(&mut self.done, true) {
            self.hub.unregister(&self.conn, self.rooms.drain());
        }
    }
}

impl Drop for Joined {
    fn drop(&mut self) {
        self.unregister();
    }
}

impl std::ops::Deref for Joined {
    type Target = HashSet<ConversationId>;
    fn deref(&self) -> &Self::Target {
        &self.rooms
    }
}

impl std::ops::DerefMut for Joined {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.rooms
    }
}

/// A connection slot taken at upgrade time. If the upgrade never completes (the
/// client goes away first), dropping it gives the slot back.
pub struct Pending {
    hub: std::sync::Arc<crate::realtime::hub::Hub>,
    registration: Option<Registration>,
}

impl Pending {
    pub fn new(hub: std::sync::Arc<crate::realtime::hub::Hub>, registration: Registration) -> Self {
        Self {
            hub,
            registration: Some(registration),
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(registration) = self.registration.take() {
            self.hub.unregister(&registration.conn, Vec::new());
        }
    }
}

/// Runs one connection until it closes.
pub async fn run(
    state: AppState,
    mut socket: WebSocketStream,
    user: CurrentUser,
    mut pending: Pending,
) {
    let Some(registration) = pending.registration.take() else {
        return;
    };
    let conn = registration.conn;
    let mut outbound = registration.outbound;
    let mut close_requests = registration.close_requests;
    let mut session = Session {
        caller: Caller::from(&user),
        token_expires_at: user.token_expires_at,
        conn: conn.clone(),
        joined: Joined {
            hub: state.hub.clone(),
            conn: conn.clone(),
            rooms: HashSet::new(),
            done: false,
        },
        last_typing: RecentKeys::new(
            TYPING_THROTTLE_MAX_ROOMS,
            Duration::from_millis(TYPING_THROTTLE_MS),
        ),
        bad_frames: 0,
        rate_strikes: 0,
        sends: tokio::task::JoinSet::new(),
        state: state.clone(),
    };
    // Instrumented, not entered: a span entered across awaits would leak into
    // other tasks' log lines on a multi-threaded runtime.
    let span = tracing::info_span!("ws", conn = conn.id, user_id = %user.id);
    async move {
        tracing::info!("connected");

        let mut ping = interval(Duration::from_secs(WS_PING_INTERVAL_SECS));
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        ping.tick().await;
        let mut last_heard = Instant::now();
        let exit = loop {
            // A write cut short by a close request has seen the change already.
            if let Some(code) = *close_requests.borrow_and_update() {
                break closed_by_server(code);
            }
            let expiry = tokio::time::Instant::now() + seconds_until(session.token_expires_at);
            tokio::select! {
                biased;
                _ = close_requests.changed() => {
                    let code = close_requests.borrow().unwrap_or(close_code::SHUTDOWN);
                    break closed_by_server(code);
                }
                frame = outbound.recv() => {
                    let Some(frame) = frame else { break Exit::Gone };
                    if write_queued(&mut socket, frame, &mut outbound, &mut close_requests).await.is_err() {
                        break Exit::Gone;
                    }
                }
                incoming = socket.next() => {
                    last_heard = Instant::now();
                    match incoming {
                        None => break Exit::Gone,
                        Some(Err(err)) => break classify_read_error(&err),
                        Some(Ok(Message::Text(text))) => {
                            // Boxed: the handlers' futures (database calls) are large, and
                            // inline they would make every idle connection's task as big.
                            if let Some(exit) = Box::pin(session.handle_text(&text)).await {
                                break exit;
                            }
                        }
                        Some(Ok(Message::Binary(_))) => {
                            if let Some(exit) = session.bad_frame("binary frames are not supported; send JSON text frames", None) {
                                break exit;
                            }
                        }
                        Some(Ok(Message::Close(_))) => break Exit::Gone,
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    }
                }
                _ = sleep_until(expiry) => {
                    break Exit::Close(close_code::UNAUTHORIZED, "access token expired; reconnect or send reauth before expiry");
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > Duration::from_secs(2 * WS_PING_INTERVAL_SECS) {
                        tracing::info!("no answer to pings; dropping");
                        break Exit::Gone;
                    }
                    if guarded(socket.send(Message::Ping(Vec::new())), &mut close_requests).await.is_err() {
                        break Exit::Gone;
                    }
                }
            }
        };
        // A connection closed *because* it reads too slowly is not drained: writing
        // into a peer that reads nothing would only hold its slot for `SEND_DRAIN`.
        // The acks still owed to it are lost with the connection, as on any
        // dropped connection; the client resends with its `client_id` and gets the
        // stored message's ack. Every other server-side close drains, bounded.
        let drain = matches!(exit, Exit::Close(code, _) if code != close_code::TOO_SLOW);
        if drain {
            // Sends in flight are stored or refused, and their acks written, before
            // the close frame: a message stored is never left unacked by a close.
            let drained = async {
                while session.sends.join_next().await.is_some() {}
                while let Ok(frame) = outbound.try_recv() {
                    socket.feed(Message::Text(frame.to_string())).await?;
                }
                socket.flush().await
            };
            let _ = tokio::time::timeout(SEND_DRAIN, drained).await;
        }
        session.joined.unregister();
        if let Exit::Close(code, reason) = exit {
            tracing::info!(code, reason, "closing");
            let close = Message::Close(Some((CloseCode::from(code), reason.to_owned())));
            let _ = tokio::time::timeout(Duration::from_secs(2), socket.send(close)).await;
        } else {
            tracing::info!("disconnected");
        }
    }
    .instrument(span)
    .await
}

/// What an `error` answering `frame` refers to: the send's `client_id`, a
/// reaction's message, else the conversation.
fn reference_of(frame: &ClientFrame) -> Option<String> {
    let conversation = match frame {
        ClientFrame::Send(f) => {
            return f.client_id.clone().or_else(|| Some(f.conversation.clone()));
        }
        ClientFrame::Join(f) => &f.conversation,
        ClientFrame::Leave(f) => &f.conversation,
        ClientFrame::Typing(f) => &f.conversation,
        ClientFrame::Read(f) => &f.conversation,
        ClientFrame::React(f) => &f.message,
        ClientFrame::Ping(_) | ClientFrame::Reauth(_) => return None,
    };
    // A malformed id is echoed only when short: an 8 KiB one is not sent back.
    (conversation.len() <= 64).then(|| conversation.clone())
}

fn closed_by_server(code: u16) -> Exit {
    Exit::Close(
        code,
        match code {
            close_code::UNAUTHORIZED => "token revoked",
            close_code::TOO_SLOW => "too slow: outbound queue full",
            close_code::SHUTDOWN => "server shutting down",
            close_code::RESYNC => "this node may have missed events; rejoin with since",
            _ => "closed by server",
        },
    )
}

/// Writes `first` and whatever else is queued already (up to `WRITE_BATCH`
/// frames), then flushes once: one syscall for a burst instead of one per frame.
async fn write_queued(
    socket: &mut WebSocketStream,
    first: Arc<str>,
    outbound: &mut mpsc::Receiver<Arc<str>>,
    close_requests: &mut watch::Receiver<Option<u16>>,
) -> Result<(), ()> {
    let batch = async {
        // poem's `Message::Text` owns a `String`: one copy of the shared frame
        // per recipient is unavoidable here.
        socket.feed(Message::Text(first.to_string())).await?;
        for _ in 1..WRITE_BATCH {
            let Ok(frame) = outbound.try_recv() else {
                break;
            };
            socket.feed(Message::Text(frame.to_string())).await?;
        }
        socket.flush().await
    };
    guarded(batch, close_requests).await
}

/// Runs a write, giving up on a peer that stops reading or that the hub has
/// asked to close meanwhile.
async fn guarded(
    write: impl Future<Output = std::io::Result<()>>,
    close_requests: &mut watch::Receiver<Option<u16>>,
) -> Result<(), ()> {
    tokio::select! {
        result = tokio::time::timeout(WRITE_TIMEOUT, write) => match result {
            Ok(Ok(())) => Ok(()),
            _ => Err(()),
        },
        // Stop waiting on a stuck write: the loop will see the close request.
        _ = close_requests.changed() => Ok(()),
    }
}

/// tungstenite reports protocol violations as errors; they map to close codes.
fn classify_read_error(err: &std::io::Error) -> Exit {
    let text = err.to_string();
    if text.contains("Space limit exceeded")
        || text.contains("too long")
        || text.contains("too big")
    {
        Exit::Close(close_code::TOO_BIG, "frame too large (16 KiB max)")
    } else if text.contains("UTF-8") || text.contains("utf-8") || text.contains("Utf8") {
        Exit::Close(close_code::INVALID_DATA, "invalid UTF-8 in a text frame")
    } else {
        tracing::debug!(error = %err, "read error");
        Exit::Gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_keys_stay_bounded_and_evict_the_oldest() {
        let window = Duration::from_secs(2);
        let mut keys = RecentKeys::new(3, window);
        let t0 = Instant::now();
        for i in 0..10_000u32 {
            keys.record(
                &format!("room-{i}"),
                t0 + Duration::from_millis(u64::from(i)),
            );
            assert!(keys.len() <= 3);
        }
        let end = t0 + Duration::from_millis(9_999);
        assert!(keys.is_recent("room-9999", end));
        assert!(keys.is_recent("room-9997", end));
        assert!(!keys.is_recent("room-9996", end), "evicted");
        // Within the window a key stays throttled; after it, it is free again.
        assert!(!keys.is_recent("room-9999", end + window));
        // Refreshing an existing key does not evict anything.
        keys.record("room-9998", end);
        assert_eq!(keys.len(), 3);
    }

    #[test]
    fn expired_keys_go_before_live_ones() {
        let window = Duration::from_secs(2);
        let mut keys = RecentKeys::new(2, window);
        let t0 = Instant::now();
        keys.record("old", t0);
        keys.record("live", t0 + Duration::from_secs(3));
        keys.record("new", t0 + Duration::from_secs(4));
        assert!(keys.is_recent("live", t0 + Duration::from_secs(4)));
        assert!(keys.is_recent("new", t0 + Duration::from_secs(4)));
        assert_eq!(keys.len(), 2);
    }
}
