//! Library-wide functions: the version, the per-thread last error, status names.

use std::ffi::c_char;

use crate::args::copy_str;
use crate::boundary::{last_error_bytes, last_error_ptr};
use crate::status::{meterdb_status, MDB_VERSION_MAJOR, MDB_VERSION_MINOR, MDB_VERSION_PATCH};

/// The library's version as text, e.g. `"0.1.0"`: static, never NULL, never freed.
///
/// Compare with the `MDB_VERSION_*` macros of the header the program was compiled with to
/// detect a mismatched library at run time.
///
/// # Safety
/// Always safe to call.
#[no_mangle]
pub unsafe extern "C" fn meterdb_version() -> *const c_char {
    boundary! {
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast::<c_char>()
    }
}

/// The library's version as one number: `major * 1000000 + minor * 1000 + patch`.
///
/// # Safety
/// Always safe to call.
#[no_mangle]
pub unsafe extern "C" fn meterdb_version_number() -> u32 {
    boundary! {
        MDB_VERSION_MAJOR * 1_000_000 + MDB_VERSION_MINOR * 1000 + MDB_VERSION_PATCH
    }
}

/// The message of the last call on this thread that failed, or `""` when the last call
/// that returns a status returned `MDB_OK`. Never NULL.
///
/// The text belongs to the library and stays valid until the next call of a `meterdb_`
/// function on this thread (this function and `meterdb_last_error_copy` excepted). Each thread
/// has its own message, so a failure on one thread never overwrites another's.
///
/// # Safety
/// Always safe to call; do not free the result or use it after the next call on the thread.
#[no_mangle]
pub unsafe extern "C" fn meterdb_last_error() -> *const c_char {
    boundary! { last_error_ptr() }
}

/// Copies this thread's last error message into `buf` the way `snprintf` does: at most
/// `cap - 1` bytes and a terminating NUL (nothing when `cap` is 0). Returns the length of the
/// whole message, not counting the NUL: a result `>= cap` means it was cut.
///
/// # Safety
/// `buf` is NULL or writable for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn meterdb_last_error_copy(buf: *mut c_char, cap: usize) -> usize {
    boundary! {
        // SAFETY: `buf` is NULL or writable for `cap` bytes (caller's promise).
        last_error_bytes(|m| unsafe { copy_str(buf, cap, m) })
    }
}

/// The C name of a status value, e.g. `"MDB_NOT_FOUND"`, or `"MDB_UNKNOWN_STATUS"` for a
/// value that is not a `meterdb_status`. Static, never NULL.
///
/// # Safety
/// Always safe to call.
#[no_mangle]
pub unsafe extern "C" fn meterdb_status_name(status: i32) -> *const c_char {
    boundary! {
        meterdb_status::ALL
            .iter()
            .find(|s| **s as i32 == status)
            .map_or("MDB_UNKNOWN_STATUS\0", |s| s.name())
            .as_ptr()
            .cast::<c_char>()
    }
}
