#![allow(dead_code)]
#[path = "api/abuse.rs"]
mod abuse;
#[path = "api/helpers.rs"]
mod helpers;
#[path = "api/ws_client.rs"]
mod ws_client;
