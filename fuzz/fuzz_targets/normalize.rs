//! Arbitrary strings through the text rules (usernames, display names, bodies, client
//! ids, passwords): no panics, and the invariants in tests/api/fuzz_corpus.rs hold.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/api/fuzz_corpus.rs"]
#[allow(dead_code)]
mod checks;

fuzz_target!(|data: &[u8]| checks::check_normalize(data));
