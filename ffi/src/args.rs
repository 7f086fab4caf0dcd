//! Checking what C passes in: handles, out-pointers, strings and arrays. Everything that can
//! be checked (NULL, alignment, UTF-8, lengths) is checked here and turned into a status;
//! what cannot (that a non-NULL pointer points to live memory of the stated size) is the
//! caller's promise, stated in each exported function's `# Safety` section.

use std::ffi::c_char;
use std::mem::{align_of, size_of};

use crate::boundary::{Failure, FfiResult};
use crate::status::meterdb_status;

/// Longest string accepted anywhere (tag values are limited to 4096 bytes by the engine,
/// keys to 255): a longer one is refused without reading further.
pub(crate) const MAX_STR_SCAN: usize = 1 << 16;

fn check_ptr<T>(p: *const T, what: &str) -> FfiResult<()> {
    if p.is_null() {
        return Err(Failure::null(what));
    }
    if !p.is_aligned() {
        return Err(Failure::invalid(format!(
            "{what} is not aligned to {} bytes",
            align_of::<T>()
        )));
    }
    Ok(())
}

/// A handle passed by the caller.
///
/// # Safety
/// `p` is NULL or points to a live `T` created by this library and not yet freed.
pub(crate) unsafe fn handle<'a, T>(p: *const T, what: &str) -> FfiResult<&'a T> {
    check_ptr(p, what)?;
    // SAFETY: non-NULL and aligned (checked); live per the caller's promise.
    Ok(unsafe { &*p })
}

/// A handle passed by the caller, for exclusive use (the handle is documented as not
/// thread-safe).
///
/// # Safety
/// As [`handle`], and no other thread uses the handle during the call.
pub(crate) unsafe fn handle_mut<'a, T>(p: *mut T, what: &str) -> FfiResult<&'a mut T> {
    check_ptr(p, what)?;
    // SAFETY: non-NULL and aligned (checked); live and unshared per the caller's promise.
    Ok(unsafe { &mut *p })
}

/// A place the caller gave for one result. Written with `ptr::write` (the memory may be
/// uninitialized).
#[derive(Debug)]
pub(crate) struct Out<T>(*mut T);

impl<T> Out<T> {
    /// Writes the result.
    pub fn set(self, v: T) {
        // SAFETY: checked non-NULL and aligned in `out`; writable per the caller's promise.
        unsafe { self.0.write(v) }
    }
}

/// An out-pointer.
///
/// # Safety
/// `p` is NULL or points to writable memory for one `T`.
pub(crate) unsafe fn out<T>(p: *mut T, what: &str) -> FfiResult<Out<T>> {
    check_ptr(p, what)?;
    Ok(Out(p))
}

/// An optional out-pointer (NULL: the caller does not want that result).
///
/// # Safety
/// As [`out`].
pub(crate) unsafe fn out_opt<T>(p: *mut T, what: &str) -> FfiResult<Option<Out<T>>> {
    if p.is_null() {
        return Ok(None);
    }
    check_ptr(p, what)?;
    Ok(Some(Out(p)))
}

fn check_len<T>(n: usize, what: &str) -> FfiResult<()> {
    if size_of::<T>() != 0 && n > isize::MAX as usize / size_of::<T>() {
        return Err(Failure::invalid(format!(
            "{what}: length {n} is larger than any array"
        )));
    }
    Ok(())
}

/// An input array of `n` elements (`p` may be NULL when `n` is 0).
///
/// # Safety
/// `p` is NULL or points to `n` initialized `T`s that stay unchanged during the call.
pub(crate) unsafe fn slice<'a, T>(p: *const T, n: usize, what: &str) -> FfiResult<&'a [T]> {
    if n == 0 {
        return Ok(&[]);
    }
    check_ptr(p, what)?;
    check_len::<T>(n, what)?;
    // SAFETY: non-NULL, aligned, length within isize (checked); `n` readable elements per
    // the caller's promise.
    Ok(unsafe { std::slice::from_raw_parts(p, n) })
}

/// An output array of `cap` elements, written by copies (the memory may be uninitialized).
#[derive(Debug)]
pub(crate) struct OutSlice<T> {
    ptr: *mut T,
    cap: usize,
}

impl<T: Copy> OutSlice<T> {
    /// Copies `src` to elements `at..at + src.len()`.
    pub fn write_at(&mut self, at: usize, src: &[T]) {
        assert!(
            at <= self.cap && src.len() <= self.cap - at,
            "OutSlice bounds"
        );
        if self.ptr.is_null() || src.is_empty() {
            return;
        }
        // SAFETY: in bounds (asserted); `ptr` is non-NULL, aligned and writable for `cap`
        // elements (checked in `out_slice`, and the caller's promise); `src` is Rust memory,
        // so the two do not overlap.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), self.ptr.add(at), src.len()) }
    }
}

impl<T: Copy> OutSlice<T> {
    /// Copies the first `cap` of `all` (as many as fit) and says whether that was all of them:
    /// the convention of the list functions, whose `*n_out` is the full count and which answer
    /// [`too_small`] when the caller's array is shorter.
    pub fn fill(&mut self, all: &[T]) -> bool {
        let k = all.len().min(self.cap);
        self.write_at(0, &all[..k]);
        k == all.len()
    }
}

/// `MDB_BUFFER_TOO_SMALL`: the caller's array holds fewer than all (`msg` says how many).
pub(crate) fn too_small(msg: String) -> Failure {
    Failure::new(meterdb_status::MDB_BUFFER_TOO_SMALL, msg)
}

/// An output array of `cap` elements; NULL is allowed only when `cap` is 0, or when
/// `optional` (then nothing is written).
///
/// # Safety
/// `p` is NULL or points to writable memory for `cap` `T`s.
pub(crate) unsafe fn out_slice<T>(
    p: *mut T,
    cap: usize,
    what: &str,
    optional: bool,
) -> FfiResult<OutSlice<T>> {
    if p.is_null() && (cap == 0 || optional) {
        return Ok(OutSlice {
            ptr: std::ptr::null_mut(),
            cap,
        });
    }
    check_ptr(p, what)?;
    check_len::<T>(cap, what)?;
    Ok(OutSlice { ptr: p, cap })
}

/// A NUL-terminated UTF-8 string.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string (or to at least [`MAX_STR_SCAN`] readable
/// bytes).
pub(crate) unsafe fn string<'a>(p: *const c_char, what: &str) -> FfiResult<&'a str> {
    if p.is_null() {
        return Err(Failure::null(what));
    }
    let p = p.cast::<u8>();
    let mut n = 0;
    // SAFETY: the bytes up to and including the NUL are readable (caller's promise); the scan
    // stops at the first NUL, or after MAX_STR_SCAN bytes.
    while unsafe { *p.add(n) } != 0 {
        n += 1;
        if n > MAX_STR_SCAN {
            return Err(Failure::invalid(format!(
                "{what} is longer than {MAX_STR_SCAN} bytes (or not NUL-terminated)"
            )));
        }
    }
    // SAFETY: the `n` bytes before the NUL were just read.
    let bytes = unsafe { std::slice::from_raw_parts(p, n) };
    std::str::from_utf8(bytes).map_err(|e| {
        Failure::new(
            meterdb_status::MDB_INVALID_UTF8,
            format!(
                "{what} is not valid UTF-8 (at byte {} of {n})",
                e.valid_up_to()
            ),
        )
    })
}

/// A NUL-terminated UTF-8 string, or NULL (`None`).
///
/// # Safety
/// As [`string`].
pub(crate) unsafe fn string_opt<'a>(p: *const c_char, what: &str) -> FfiResult<Option<&'a str>> {
    if p.is_null() {
        Ok(None)
    } else {
        // SAFETY: as this function's.
        unsafe { string(p, what) }.map(Some)
    }
}

/// Copies `s` into a caller's buffer of `cap` bytes the way `snprintf` does: at most
/// `cap - 1` bytes and a NUL (nothing when `cap` is 0); returns the length of `s`.
///
/// # Safety
/// `buf` is NULL (then `cap` must be 0, else nothing is written) or writable for `cap` bytes.
pub(crate) unsafe fn copy_str(buf: *mut c_char, cap: usize, s: &[u8]) -> usize {
    if !buf.is_null() && cap > 0 {
        let n = s.len().min(cap - 1);
        // SAFETY: `n + 1 <= cap` bytes are writable per the caller's promise; `s` is Rust
        // memory, distinct from the caller's buffer.
        unsafe {
            std::ptr::copy_nonoverlapping(s.as_ptr(), buf.cast::<u8>(), n);
            *buf.add(n) = 0;
        }
    }
    s.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_checked() {
        // SAFETY: every pointer is NULL or a NUL-terminated literal.
        unsafe {
            assert_eq!(string(c"abc".as_ptr(), "key").unwrap(), "abc");
            assert_eq!(
                string(std::ptr::null(), "key").unwrap_err().status,
                meterdb_status::MDB_NULL_ARGUMENT
            );
            let bad = b"a\xffb\0";
            let f = string(bad.as_ptr().cast(), "key").unwrap_err();
            assert_eq!(f.status, meterdb_status::MDB_INVALID_UTF8);
            assert!(f.msg.contains("byte 1"), "{}", f.msg);
            assert_eq!(string_opt(std::ptr::null(), "unit").unwrap(), None);
        }
        let long = vec![b'x'; MAX_STR_SCAN + 10];
        let mut long = long;
        long.push(0);
        // SAFETY: NUL-terminated.
        let f = unsafe { string(long.as_ptr().cast(), "key") }.unwrap_err();
        assert_eq!(f.status, meterdb_status::MDB_INVALID_ARGUMENT);
    }

    #[test]
    fn slices_check_null_alignment_and_length() {
        let v = [1i64, 2, 3];
        // SAFETY: valid, NULL or misaligned pointers; only the valid one is read.
        unsafe {
            assert_eq!(slice(v.as_ptr(), 3, "ts").unwrap(), &v);
            assert!(slice::<i64>(std::ptr::null(), 0, "ts").unwrap().is_empty());
            assert_eq!(
                slice::<i64>(std::ptr::null(), 1, "ts").unwrap_err().status,
                meterdb_status::MDB_NULL_ARGUMENT
            );
            let mis = v.as_ptr().cast::<u8>().add(1).cast::<i64>();
            assert_eq!(
                slice(mis, 1, "ts").unwrap_err().status,
                meterdb_status::MDB_INVALID_ARGUMENT
            );
            assert_eq!(
                slice(v.as_ptr(), usize::MAX / 2, "ts").unwrap_err().status,
                meterdb_status::MDB_INVALID_ARGUMENT
            );
        }
    }

    #[test]
    fn copy_str_truncates_like_snprintf() {
        let mut buf = [0x55 as c_char; 4];
        // SAFETY: `buf` is writable for 4 bytes.
        unsafe {
            assert_eq!(copy_str(buf.as_mut_ptr(), 4, b"hello"), 5);
            assert_eq!(&buf.map(|c| c as u8), b"hel\0");
            assert_eq!(copy_str(std::ptr::null_mut(), 0, b"hello"), 5);
            assert_eq!(copy_str(buf.as_mut_ptr(), 0, b"hi"), 2);
        }
    }
}
