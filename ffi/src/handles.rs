//! The one generic handle layer: how every handle the library allocates is given to C
//! ([`give`], [`give_opt`], [`answer`]) and freed ([`free`]), and how the result handles whose
//! rows are built whole are read: counted ([`count`]), row by index ([`row`]), rows in bulk
//! into a caller's array ([`rows`]), and the same for a second version of the row struct
//! ([`row_v2`], [`rows_v2`]).
//!
//! Each exported `_count`, `_row`, `_rows`, `_row_v2`, `_rows_v2` and `_free` is a one-line
//! wrapper over these (cbindgen reads the wrappers, with their C names and documentation; the
//! bodies live here once). Every function here runs inside [`boundary!`], so a wrapper needs
//! nothing else to keep a panic from unwinding into C.

use crate::args::{handle, out, out_slice, Out, OutSlice};
use crate::boundary::{Failure, FfiResult};
use crate::db::{meterdb_db, with_db};
use crate::status::meterdb_status;

/// A result handle that holds its rows as C structs, built whole when it is made (what the
/// rows point into, such as strings, lives in the handle too). Immutable once made: it may be
/// read from several threads at once.
pub(crate) trait Rows {
    /// The handle parameter's name in messages (`"rollup is NULL"`).
    const WHAT: &'static str;
    /// What its rows are called in messages (`"index 3 is past the 2 rows"`).
    const NOUN: &'static str = "rows";
    /// Whose rows they are, in those messages (`"report's "`: `"past the report's 2 points"`).
    const OF: &'static str = "";
    /// The out-parameter's name of its `_row` function, in messages.
    const OUT: &'static str = "out_row";
    /// The row struct C reads.
    type Row: Copy;
    /// The rows, in their order.
    fn rows(&self) -> &[Self::Row];
}

/// A result handle whose rows C may also read in a second, larger struct (the `_v2`
/// functions); both have as many rows.
pub(crate) trait RowsV2: Rows {
    /// The second version of the row struct.
    type RowV2: Copy;
    /// The rows in the second version.
    fn rows_v2(&self) -> &[Self::RowV2];
}

/// Hands a new handle to the caller: `*o` is it on success, NULL on failure.
pub(crate) fn give<H>(o: Out<*mut H>, r: FfiResult<H>) -> FfiResult {
    give_opt(Some(o), r)
}

/// [`give`] for an optional out-pointer (NULL: the caller does not want the handle, which is
/// then not made).
pub(crate) fn give_opt<H>(o: Option<Out<*mut H>>, r: FfiResult<H>) -> FfiResult {
    match r {
        Ok(h) => {
            if let Some(o) = o {
                o.set(Box::into_raw(Box::new(h)));
            }
            Ok(())
        }
        Err(e) => {
            if let Some(o) = o {
                o.set(std::ptr::null_mut());
            }
            Err(e)
        }
    }
}

/// Runs a query and hands its result handle to the caller, as [`give`].
///
/// # Safety
/// `db` is NULL or a live handle.
pub(crate) unsafe fn answer<H>(
    o: Out<*mut H>,
    db: *const meterdb_db,
    query: impl FnOnce(&engine::Db) -> FfiResult<H>,
) -> FfiResult {
    // SAFETY: as this function's.
    give(o, unsafe { with_db(db, query) })
}

/// Frees a handle made by [`give`] (or another `Box::into_raw`): the body of every `_free`.
/// NULL does nothing.
///
/// # Safety
/// `p` is NULL or made by `Box::into_raw` of a `Box<H>` and not yet freed; not used after.
pub(crate) unsafe fn free<H>(p: *mut H) {
    boundary! {
        if !p.is_null() {
            // SAFETY: as this function's.
            drop(unsafe { Box::from_raw(p) });
        }
    }
}

/// `*n_out` = the number of rows of a result handle (indexes run from 0 to `*n_out - 1`).
///
/// # Safety
/// `h` is NULL or a live handle; `n_out` is NULL or writable.
pub(crate) unsafe fn count<H: Rows>(h: *const H, n_out: *mut usize) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        let h = unsafe { handle(h, H::WHAT) }?;
        // SAFETY: as this function's.
        unsafe { out(n_out, "n_out") }?.set(h.rows().len());
        Ok(())
    }
}

/// Copies row `index` of a result handle to `*o`; past the end is `MDB_INVALID_ARGUMENT`.
///
/// # Safety
/// `h` is NULL or a live handle; `o` is NULL or writable.
pub(crate) unsafe fn row<H: Rows>(h: *const H, index: usize, o: *mut H::Row) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { row_of(h, |h| h.rows(), index, o) }
    }
}

/// Copies rows `first..` of a result handle, up to `cap` of them, into the caller's array
/// and their number to `*n_out`. `first` equal to the count copies nothing; past it is
/// `MDB_INVALID_ARGUMENT` (and `*n_out` 0). `dst` may be NULL when `cap` is 0.
///
/// # Safety
/// `h` is NULL or a live handle; `dst` is NULL or writable for `cap` rows; `n_out` is NULL
/// or writable.
pub(crate) unsafe fn rows<H: Rows>(
    h: *const H,
    first: usize,
    dst: *mut H::Row,
    cap: usize,
    n_out: *mut usize,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { rows_of(h, |h| h.rows(), first, dst, cap, n_out) }
    }
}

/// [`row`] in the second version of the row struct.
///
/// # Safety
/// As [`row`]'s.
pub(crate) unsafe fn row_v2<H: RowsV2>(
    h: *const H,
    index: usize,
    o: *mut H::RowV2,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { row_of(h, |h| h.rows_v2(), index, o) }
    }
}

/// [`rows`] in the second version of the row struct.
///
/// # Safety
/// As [`rows`]'s.
pub(crate) unsafe fn rows_v2<H: RowsV2>(
    h: *const H,
    first: usize,
    dst: *mut H::RowV2,
    cap: usize,
    n_out: *mut usize,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { rows_of(h, |h| h.rows_v2(), first, dst, cap, n_out) }
    }
}

/// The body of [`row`] and [`row_v2`].
///
/// # Safety
/// As [`row`]'s.
unsafe fn row_of<H: Rows, T: Copy>(
    h: *const H,
    pick: impl FnOnce(&H) -> &[T],
    index: usize,
    o: *mut T,
) -> FfiResult {
    // SAFETY: as this function's.
    let (h, o) = unsafe { (handle(h, H::WHAT)?, out(o, H::OUT)?) };
    let rows = pick(h);
    let r = rows.get(index).ok_or_else(|| {
        Failure::invalid(format!(
            "index {index} is past the {}{} {}",
            H::OF,
            rows.len(),
            H::NOUN
        ))
    })?;
    o.set(*r);
    Ok(())
}

/// The body of [`rows`] and [`rows_v2`].
///
/// # Safety
/// As [`rows`]'s.
unsafe fn rows_of<H: Rows, T: Copy>(
    h: *const H,
    pick: impl FnOnce(&H) -> &[T],
    first: usize,
    dst: *mut T,
    cap: usize,
    n_out: *mut usize,
) -> FfiResult {
    // SAFETY: as this function's.
    let (h, n_out) = unsafe { (handle(h, H::WHAT)?, out(n_out, "n_out")?) };
    // SAFETY: as this function's.
    let mut dst: OutSlice<T> = unsafe { out_slice(dst, cap, "out_rows", false) }?;
    let rows = pick(h);
    if first > rows.len() {
        n_out.set(0);
        return Err(Failure::invalid(format!(
            "first row {first} is past the {}{} {}",
            H::OF,
            rows.len(),
            H::NOUN
        )));
    }
    let k = cap.min(rows.len() - first);
    dst.write_at(0, &rows[first..first + k]);
    n_out.set(k);
    Ok(())
}
