#![no_main]
//! Fuzz target `bundle`: the body is `meterdb::fuzzing::bundle` (its seed corpus replays in
//! `engine/tests/fuzz_corpus.rs`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| meterdb::fuzzing::bundle(data));
