#![no_main]
//! Fuzz target `unit_catalog`: the body is `meterdb::fuzzing::unit_catalog` (its seed corpus
//! replays in `engine/tests/fuzz_corpus.rs`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| meterdb::fuzzing::unit_catalog(data));
