#![no_main]
//! Fuzz target `catalog`: the body is `meterdb::fuzzing::catalog` (its seed corpus replays in
//! `engine/tests/fuzz_corpus.rs`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| meterdb::fuzzing::catalog(data));
