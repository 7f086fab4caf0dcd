#![no_main]
//! Fuzz target `manifest`: the body is `meterdb::fuzzing::manifest` (its seed corpus replays in
//! `engine/tests/fuzz_corpus.rs`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| meterdb::fuzzing::manifest(data));
