#![no_main]
//! Fuzz target `segment`: the body is `meterdb::fuzzing::segment` (its seed corpus replays in
//! `engine/tests/fuzz_corpus.rs`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| meterdb::fuzzing::segment(data));
