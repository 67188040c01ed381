//! Arbitrary bytes as a WebSocket text frame: `parse_client_frame` must never panic,
//! and what it accepts must agree with the JSON (see tests/api/fuzz_corpus.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/api/fuzz_corpus.rs"]
#[allow(dead_code)]
mod checks;

fuzz_target!(|data: &[u8]| checks::check_ws_frame(data));
