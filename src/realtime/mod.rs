//! The WebSocket gateway: frames (`protocol`), the upgrade (`gateway`), one
//! connection's loops (`session`), rooms, fan-out and presence (`hub`), and
//! presence merged across nodes in cluster mode (`presence`).

pub mod gateway;
pub mod hub;
pub mod presence;
pub mod protocol;
pub mod session;
