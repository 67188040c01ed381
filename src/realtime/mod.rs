//! Real time, below the edges: frames (`protocol`), rooms, fan-out and presence
//! of this node's connections (`hub`), the hub as the core's `Changes` port
//! (`changes`), and presence merged across nodes in cluster mode (`presence`).
//! The WebSocket upgrade and each connection's loop are an edge (`gateway`).

pub mod changes;
pub mod hub;
pub mod presence;
pub mod protocol;
