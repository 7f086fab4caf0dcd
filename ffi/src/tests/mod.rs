//! The Rust tests of the C ABI: the exported functions called the way C calls them (raw
//! pointers, statuses, the per-thread last error). They live inside the crate, as unit tests,
//! so that the crate needs no rlib (whose file name, `libmeterdb.rlib`, would collide with
//! the engine crate's).

mod abi;
mod forward;
mod meter_truth;
mod rollup;
mod shared_data;
mod sqlite_style;
