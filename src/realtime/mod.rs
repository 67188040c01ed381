//! The WebSocket gateway: frames (`protocol`), the upgrade (`gateway`), one
//! connection's loops (`session`), and rooms, fan-out and presence (`hub`).

pub mod gateway;
pub mod hub;
pub mod protocol;
pub mod session;
