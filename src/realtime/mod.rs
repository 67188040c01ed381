//! Real time, below the edges: frames (`protocol`), rooms, fan-out and presence
//! of this node's connections (`hub`, which also implements the cores' ports),
//! and presence merged across nodes in cluster mode (`presence`).
//! The WebSocket upgrade and each connection's loop are an edge (`gateway`).

pub mod hub;
pub mod presence;
pub mod protocol;
