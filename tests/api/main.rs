//! Black-box tests: the real app on a random port, real HTTP, a real database
//! (one database per test, so they run in parallel).

mod helpers;
mod ws_client;

mod abuse;
mod accounts;
mod changes;
mod cluster;
mod cluster_faults;
mod cluster_limits;
mod cluster_presence;
mod dms;
mod faults;
mod fuzz_corpus;
mod groups;
mod hardening;
mod history_blocks;
mod lean;
mod limits;
mod logging;
mod messages;
mod openapi;
mod operations;
mod promises;
mod races;
mod reactions;
mod realtime;
mod refresh_races;
mod replies;
mod search;
mod security;
mod shutdown;
mod storage;
mod user_groups;
mod users;
