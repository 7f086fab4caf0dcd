//! `meterdb_cursor`: reading a point's samples over a time range into caller arrays.

use engine::{Columns, RangeIter};

use crate::args::{handle_mut, out, out_slice};
use crate::boundary::{Failure, FfiResult};
use crate::db::{meterdb_db, with_db};
use crate::handles::{self, give};
use crate::status::meterdb_status;

/// A read of one point's samples over `[from, to)`, in time order, from a snapshot taken when
/// the cursor was created: later writes, deletes, flushes and compactions do not change what
/// it returns.
///
/// Not thread-safe: use a cursor from one thread at a time (it may move between threads).
///
/// Lifetime: the cursor owns its snapshot (it keeps the segment files it reads mapped), so it
/// stays valid and returns the same samples after its database handle is closed or freed.
/// Free it with `meterdb_cursor_free`; a cursor holds memory and mapped files until then.
#[derive(Debug)]
pub struct meterdb_cursor {
    iter: RangeIter,
    chunk: Columns,
    pos: usize,
    /// An error met after some samples were returned: reported by the next call.
    pending: Option<Failure>,
    done: bool,
}

impl meterdb_cursor {
    /// Fills up to `cap` samples; returns how many (0 at the end).
    fn fill(
        &mut self,
        ts: &mut crate::args::OutSlice<i64>,
        values: &mut crate::args::OutSlice<f64>,
        quality: &mut crate::args::OutSlice<u8>,
        cap: usize,
    ) -> FfiResult<usize> {
        if let Some(f) = self.pending.take() {
            return Err(f);
        }
        let mut filled = 0;
        while filled < cap {
            if self.pos < self.chunk.len() {
                let k = (cap - filled).min(self.chunk.len() - self.pos);
                let r = self.pos..self.pos + k;
                ts.write_at(filled, &self.chunk.ts[r.clone()]);
                values.write_at(filled, &self.chunk.values[r.clone()]);
                quality.write_at(filled, &self.chunk.quality[r]);
                self.pos += k;
                filled += k;
                continue;
            }
            if self.done {
                break;
            }
            match self.iter.next_chunk() {
                None => self.done = true,
                Some(Ok(c)) => {
                    self.chunk = c;
                    self.pos = 0;
                }
                Some(Err(e)) => {
                    self.done = true;
                    if filled == 0 {
                        return Err(e.into());
                    }
                    self.pending = Some(e.into());
                    break;
                }
            }
        }
        Ok(filled)
    }
}

/// Creates a cursor over point `point`'s samples with `from <= ts < to` (an empty range
/// when `from >= to`; pass `INT64_MIN` and `INT64_MAX` for all). On success `*out_cursor` is a
/// new cursor (free it with `meterdb_cursor_free`); on failure it is set to NULL. An undefined
/// point gives `MDB_NOT_FOUND`.
///
/// # Safety
/// `db` is NULL or a live handle; `out_cursor` is NULL or writable for one pointer.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_range(
    db: *const meterdb_db,
    point: u32,
    from: i64,
    to: i64,
    out_cursor: *mut *mut meterdb_cursor,
) -> meterdb_status {
    boundary! {
        // SAFETY: `out_cursor` is NULL or writable (caller's promise).
        let o = unsafe { out(out_cursor, "out_cursor") }?;
        // SAFETY: `db` is NULL or live (caller's promise).
        let r = unsafe { with_db(db, |d| Ok(d.range(point, from, to)?)) };
        give(o, r.map(|iter| meterdb_cursor {
            iter,
            chunk: Columns::default(),
            pos: 0,
            pending: None,
            done: false,
        }))
    }
}

/// Copies the cursor's next samples into the caller's arrays: up to `cap` timestamps into
/// `ts`, values into `values` and quality bytes into `quality` (which may be NULL when not
/// wanted), and their number into `*n_out`. Fewer than `cap` (down to 0) means the range is
/// exhausted; calling again then keeps returning 0.
///
/// `cap` 0 gives `MDB_INVALID_ARGUMENT` (it could not tell the end from an empty read). When
/// reading fails (e.g. `MDB_CORRUPTION`), the samples before the damage are returned first
/// and the error by the following call, after which the cursor is at its end.
///
/// # Safety
/// `cursor` is NULL or a live cursor not used by another thread during the call; `ts` and
/// `values` are NULL or writable for `cap` elements; `quality` is NULL or writable for `cap`
/// bytes; `n_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_cursor_next(
    cursor: *mut meterdb_cursor,
    ts: *mut i64,
    values: *mut f64,
    quality: *mut u8,
    cap: usize,
    n_out: *mut usize,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe {
            let c = handle_mut(cursor, "cursor")?;
            let n_out = out(n_out, "n_out")?;
            if cap == 0 {
                n_out.set(0);
                return Err(Failure::invalid("cap is 0: give room for at least one sample"));
            }
            let mut ts = out_slice(ts, cap, "ts", false)?;
            let mut values = out_slice(values, cap, "values", false)?;
            let mut quality = out_slice(quality, cap, "quality", true)?;
            match c.fill(&mut ts, &mut values, &mut quality, cap) {
                Ok(n) => { n_out.set(n); Ok(()) }
                Err(e) => { n_out.set(0); Err(e) }
            }
        }
    }
}

/// Frees a cursor. NULL is allowed and does nothing.
///
/// # Safety
/// `cursor` is NULL or a cursor from `meterdb_db_range` not yet freed, not used after.
#[no_mangle]
pub unsafe extern "C" fn meterdb_cursor_free(cursor: *mut meterdb_cursor) {
    // SAFETY: as this function's.
    unsafe { handles::free(cursor) }
}
