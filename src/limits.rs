//! Every size, length and count limit of the contract, in one place.
//!
//! REST validation, WebSocket checks, the spec and the tests all read these.

/// Usernames: 3 to 32 characters of `a-z 0-9 _ . -`.
pub const USERNAME_MIN_CHARS: usize = 3;
pub const USERNAME_MAX_CHARS: usize = 32;
/// Display names: 1 to 64 Unicode characters after NFC.
pub const DISPLAY_NAME_MAX_CHARS: usize = 64;
/// Passwords: 8 to 1024 characters (Unicode code points of the input as sent,
/// as JSON Schema's `minLength`/`maxLength` count them), never truncated.
pub const PASSWORD_MIN_CHARS: usize = 8;
pub const PASSWORD_MAX_CHARS: usize = 1024;
/// Only this many leading characters are given to the strength estimator: it is
/// super-linear in the length, and anything longer is long enough to judge by its head.
pub const PASSWORD_STRENGTH_PREFIX_CHARS: usize = 100;
/// Group names and descriptions.
pub const GROUP_NAME_MAX_CHARS: usize = 100;
pub const GROUP_DESCRIPTION_MAX_CHARS: usize = 1000;
/// Message bodies: 1 to 4000 characters after trimming.
pub const MESSAGE_BODY_MAX_CHARS: usize = 4000;
/// `client_id`s: opaque, at most this long.
pub const CLIENT_ID_MAX_CHARS: usize = 64;
/// Lists: default and maximum page size.
pub const PAGE_DEFAULT: u32 = 50;
pub const PAGE_MAX: u32 = 100;
/// Default for `MAX_BODY_BYTES`: larger request bodies are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The largest seq a client may name (`since`, `before`, `after`, a read
/// marker): 2^53 - 1, the largest integer every JSON client reads exactly. Any
/// arithmetic on a named seq stays far from overflowing.
pub const SEQ_MAX: i64 = 9_007_199_254_740_991;
/// Every in-memory cache entry of facts another node can change (auth facts,
/// memberships, groups, history blocks) is served at most this long after it was
/// read from the database: the bound on a change whose cluster event was lost.
pub const CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(10);
/// Single-use WebSocket tickets live this long.
pub const WS_TICKET_TTL_SECS: i64 = 30;
/// Refresh tokens and tickets: random bytes before encoding.
pub const OPAQUE_TOKEN_BYTES: usize = 32;
/// WebSocket frames larger than this close the connection with 1009.
pub const MAX_FRAME_BYTES: usize = 16 * 1024;
/// Per-connection WebSocket read buffer, allocated at upgrade (tungstenite's
/// default is 128 KiB). A frame larger than this is still read whole: the buffer
/// grows for it, up to `MAX_FRAME_BYTES`.
pub const WS_READ_BUFFER_BYTES: usize = 4 * 1024;
/// Outbound bytes gathered before they are written to the socket (default 128 KiB).
/// Every batch of queued frames is flushed anyway, so this only caps batching.
pub const WS_WRITE_BUFFER_BYTES: usize = 4 * 1024;
/// How many missed messages a `join` replays before saying `truncated`.
pub const JOIN_REPLAY_MAX: u32 = 100;
/// Frames queued for one connection before it counts as too slow (closed with 4009).
pub const OUTBOUND_QUEUE: usize = 256;
/// Malformed frames tolerated (each answered with an `error`) before closing with 1008.
pub const MAX_BAD_FRAMES: u32 = 10;
/// Typing notices per conversation and connection: at most one per this many ms.
pub const TYPING_THROTTLE_MS: u64 = 2000;
/// Rooms whose typing throttle one connection remembers; the oldest go first.
pub const TYPING_THROTTLE_MAX_ROOMS: usize = 64;
/// Server pings this often; a peer silent for two intervals is dropped.
pub const WS_PING_INTERVAL_SECS: u64 = 30;

/// Reactions: an emoji as sent (a Unicode sequence or a `:shortcode:`) is at
/// most this many bytes, and a message takes at most this many distinct emoji.
pub const EMOJI_MAX_BYTES: usize = 32;
pub const REACTIONS_DISTINCT_MAX: usize = 20;

/// A reply shows this many leading characters of the message it replies to.
pub const REPLY_EXCERPT_CHARS: usize = 100;

/// Message search (`GET /api/v1/search/messages`): the longest `q`, its most
/// parts (words, phrases, prefixes), and the shortest word or prefix the index
/// finds (it holds 2- and 3-character n-grams).
pub const SEARCH_Q_MAX_CHARS: usize = 256;
pub const SEARCH_Q_MAX_PARTS: usize = 16;
pub const SEARCH_Q_MIN_CHARS: usize = 2;
/// Search pages: default and maximum `limit`.
pub const SEARCH_LIMIT_DEFAULT: u32 = 20;
pub const SEARCH_LIMIT_MAX: u32 = 50;
/// Rounds of candidates one search examines before it returns a short page
/// with a cursor (candidates the final check drops cost a round each).
pub const SEARCH_CANDIDATE_ROUNDS: usize = 8;
/// The most candidates one round asks the index for.
pub const SEARCH_ROUND_MAX: usize = 400;
/// Candidates read back from the database at once (the final check).
pub const SEARCH_VERIFY_CONCURRENCY: usize = 16;
/// How often the index makes what it learned searchable (its lag). 200 ms cost
/// target b about 10-19 % of its throughput (a commit per 800 messages: many
/// small segments to merge); 500 ms measured within noise of indexing off
/// (docs/benchmarks.md, issue 22).
pub const SEARCH_COMMIT_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);
/// Changes waiting for the index; beyond it a change is dropped and its
/// conversation read again from the database (`crate::search`).
pub const SEARCH_QUEUE: usize = 100_000;
