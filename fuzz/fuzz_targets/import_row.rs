#![no_main]
//! Fuzz target `import_row`: the body is `meterdb::fuzzing::import_row` (its seed corpus replays in
//! `engine/tests/fuzz_corpus.rs`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| meterdb::fuzzing::import_row(data));
