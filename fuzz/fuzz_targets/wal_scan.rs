#![no_main]
//! Fuzz target `wal_scan`: the body is `meterdb::fuzzing::wal_scan` (its seed corpus replays in
//! `engine/tests/fuzz_corpus.rs`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| meterdb::fuzzing::wal_scan(data));
