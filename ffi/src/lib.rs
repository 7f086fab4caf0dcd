//! The C ABI of MeterDB: `libmeterdb.so` / `libmeterdb.a` and the header
//! `bindings/c/include/meterdb.h`, generated from this crate by cbindgen (see `cbindgen.toml`).
//!
//! The rules every function here follows (the header repeats them for C programmers):
//!
//! - Every exported function is `unsafe extern "C"` and runs its body inside
//!   [`boundary!`] (itself, or in the generic function of [`handles`] it wraps), which catches
//!   a panic and turns it into [`meterdb_status::MDB_PANIC`]: a panic never unwinds into C,
//!   Java or Python.
//! - The handles' `_count`, `_row`, `_rows` and `_free` functions are one-line wrappers over
//!   the one generic implementation in [`handles`].
//! - Functions that can fail return a [`meterdb_status`] and write results through
//!   out-pointers. A failure leaves a message for [`meterdb_last_error`] on the calling thread.
//! - Handles are opaque; each handle's documentation says whether it may be shared between
//!   threads and what it must not outlive. Every `_free` accepts NULL.
//! - NULL where a pointer is required gives `MDB_NULL_ARGUMENT`, invalid UTF-8 gives
//!   `MDB_INVALID_UTF8`, never a crash. What cannot be checked (a dangling pointer, an array
//!   shorter than its stated length, a freed handle) is the caller's promise, written in
//!   each function's `# Safety` section.
//!
//! The engine crate denies `unsafe`; this crate allows it module by module, each block with a
//! `// SAFETY:` comment.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]
// The exported names are C names (`meterdb_db`, `MDB_OK`), not Rust ones.
#![allow(non_camel_case_types)]

#[macro_use]
mod boundary;
#[allow(unsafe_code)] // raw pointers from C, checked in one place
mod args;
#[allow(unsafe_code)] // the generic handle layer: raw handles from C, checked in `args`
mod handles;
mod status;

// The modules below export functions (`no_mangle`) that take raw pointers. Their order here
// is the order of the header (cbindgen follows it); blank lines keep rustfmt from sorting.
#[allow(unsafe_code)]
mod library;

#[allow(unsafe_code)]
mod options;

#[allow(unsafe_code)]
mod db;

#[allow(unsafe_code)]
mod points;

#[allow(unsafe_code)]
mod meta;

#[allow(unsafe_code)]
mod cursor;

#[allow(unsafe_code)]
mod stats;

#[allow(unsafe_code)]
mod rollup;

#[allow(unsafe_code)]
mod forward;

#[allow(unsafe_code)]
mod result;

#[allow(unsafe_code)]
mod export;

#[allow(unsafe_code)]
mod unit;

#[cfg(test)]
mod tests;

pub use cursor::*;
pub use db::*;
pub use export::*;
pub use forward::*;
pub use library::*;
pub use meta::*;
pub use options::*;
pub use points::*;
pub use result::*;
pub use rollup::*;
pub use stats::*;
pub use status::*;
pub use unit::*;
