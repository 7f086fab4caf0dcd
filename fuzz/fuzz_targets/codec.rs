#![no_main]
//! Fuzz target `codec`: the body is `meterdb::fuzzing::codec_columns` (its seed corpus replays in
//! `engine/tests/fuzz_corpus.rs`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| meterdb::fuzzing::codec_columns(data));
