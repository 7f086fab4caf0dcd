#![no_main]
//! Fuzz target `forward_state`: the body is `meterdb::fuzzing::forward_state` (its seed corpus replays in
//! `engine/tests/fuzz_corpus.rs`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| meterdb::fuzzing::forward_state(data));
