//! The authenticated WebSocket upgrade.
