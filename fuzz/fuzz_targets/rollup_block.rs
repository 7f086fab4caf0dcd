#![no_main]
//! Fuzz target `rollup_block`: the body is `meterdb::fuzzing::rollup_block` (its seed corpus replays in
//! `engine/tests/fuzz_corpus.rs`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| meterdb::fuzzing::rollup_block(data));
