//! The write-ahead log.

pub mod record;

pub use record::{
    scan, Scan, ScanEnd, ScannedRecord, Scanner, FILE_HEADER_LEN, MAX_PAYLOAD, RECORD_HEADER_LEN,
};
