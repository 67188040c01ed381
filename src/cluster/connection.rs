//! Reaching Redis: how long one attempt may take (`REDIS_TIMEOUT`), the pause
//! after a failed one (`REDIS_PAUSE`), the waits between reconnections
//! (`RETRY`), and whether Redis answers at all (`Cluster::ping`).

use std::time::Duration;

use super::Cluster;

/// Waits between reconnection attempts, growing up to the last: the subscriber
/// then keeps waiting that long, the publisher drops its backlog (see
/// `publish_forever`).
pub(super) const RETRY: [Duration; 4] = [
    Duration::from_millis(100),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
];

/// How long one attempt at Redis may take (dialling included) before it counts
/// as failed.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

/// After a failed attempt, Redis is not tried again for this long (events are
/// dropped; owners unknown: only a node whose own lease is still trusted writes).
pub const REDIS_PAUSE: Duration = Duration::from_secs(1);

impl Cluster {
    /// Whether Redis answers (for `/readyz`).
    pub async fn ping(&self) -> bool {
        let Ok(mut conn) = self.client.get_multiplexed_async_connection().await else {
            return false;
        };
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .is_ok()
    }
}
