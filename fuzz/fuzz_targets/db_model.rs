#![no_main]
//! Fuzz target `db_model`: the body is `meterdb::fuzzing::db_model` (its seed corpus replays in
//! `engine/tests/fuzz_corpus.rs`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| meterdb::fuzzing::db_model(data));
