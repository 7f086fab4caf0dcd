//! MeterDB: an embeddable time-series storage engine for energy-meter data.
//!
//! See the crate's README for an overview and `docs/format.md` for the on-disk format.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod codec;
pub mod error;
pub mod format;
pub mod io;

pub use error::{Error, ErrorKind, Result};
