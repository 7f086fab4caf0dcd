//! The one panic boundary every exported function runs inside, the failure type, and the
//! per-thread last error message.

use std::any::Any;
use std::cell::RefCell;
use std::ffi::c_char;

use crate::status::meterdb_status;

/// Runs a function body with panics caught, and settles its outcome into the C return value.
///
/// The body is a closure body: `return` and `?` leave the closure. It yields either a
/// [`FfiResult`] (the function returns a [`meterdb_status`], and the thread's last error is
/// set or cleared) or a plain value (see [`Outcome`]). A panic becomes `MDB_PANIC` (or the
/// type's neutral value) with the panic's message as the last error: it never unwinds into
/// the caller.
///
/// `AssertUnwindSafe` is sound here in the sense `catch_unwind` means: after a panic the
/// handle that was in use may hold half-updated state, which the status `MDB_PANIC` tells the
/// caller (close and reopen); nothing is left for Rust code to observe.
macro_rules! boundary {
    ($($body:tt)*) => {
        $crate::boundary::settle(::std::panic::catch_unwind(
            ::std::panic::AssertUnwindSafe(|| { $($body)* }),
        ))
    };
}

/// A failed call: the status to return and the message for [`crate::meterdb_last_error`].
#[derive(Debug)]
pub(crate) struct Failure {
    pub status: meterdb_status,
    pub msg: String,
}

impl Failure {
    pub fn new(status: meterdb_status, msg: impl Into<String>) -> Failure {
        Failure {
            status,
            msg: msg.into(),
        }
    }
    pub fn null(what: &str) -> Failure {
        Failure::new(meterdb_status::MDB_NULL_ARGUMENT, format!("{what} is NULL"))
    }
    pub fn invalid(msg: impl Into<String>) -> Failure {
        Failure::new(meterdb_status::MDB_INVALID_ARGUMENT, msg)
    }
    pub fn closed(what: &str) -> Failure {
        Failure::new(
            meterdb_status::MDB_CLOSED,
            format!("{what} has been closed"),
        )
    }
}

impl From<engine::Error> for Failure {
    fn from(e: engine::Error) -> Failure {
        Failure::new(meterdb_status::from_kind(e.kind()), e.to_string())
    }
}

/// The result of an exported function's body.
pub(crate) type FfiResult<T = ()> = Result<T, Failure>;

/// What a body's value becomes at the boundary.
pub(crate) trait Outcome {
    /// The C return type.
    type Ret;
    /// The return value of a body that finished.
    fn finish(self) -> Self::Ret;
    /// The return value after a panic (the message is already the last error).
    fn after_panic() -> Self::Ret;
}

impl Outcome for FfiResult {
    type Ret = meterdb_status;
    fn finish(self) -> meterdb_status {
        match self {
            Ok(()) => {
                clear_last_error();
                meterdb_status::MDB_OK
            }
            Err(f) => {
                set_last_error(&f.msg);
                f.status
            }
        }
    }
    fn after_panic() -> meterdb_status {
        meterdb_status::MDB_PANIC
    }
}

/// Functions that return nothing (the destructors).
impl Outcome for () {
    type Ret = ();
    fn finish(self) {}
    fn after_panic() {}
}

/// Functions that return a count.
impl Outcome for usize {
    type Ret = usize;
    fn finish(self) -> usize {
        self
    }
    fn after_panic() -> usize {
        0
    }
}

/// Functions that return a number (the version).
impl Outcome for u32 {
    type Ret = u32;
    fn finish(self) -> u32 {
        self
    }
    fn after_panic() -> u32 {
        0
    }
}

/// Functions that return a static or thread-local string: never NULL.
impl Outcome for *const c_char {
    type Ret = *const c_char;
    fn finish(self) -> *const c_char {
        self
    }
    fn after_panic() -> *const c_char {
        c"".as_ptr()
    }
}

/// Settles a caught body into its C return value (see [`boundary!`]).
pub(crate) fn settle<O: Outcome>(r: std::thread::Result<O>) -> O::Ret {
    match r {
        Ok(out) => out.finish(),
        Err(payload) => {
            set_last_error(&format!(
                "panic inside meterdb (a bug; please report it): {}",
                panic_message(&*payload)
            ));
            O::after_panic()
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(no message)"
    }
}

thread_local! {
    /// The calling thread's last error message, always NUL-terminated; just `[0]` after
    /// a success. Reused between calls so that a successful call allocates nothing.
    static LAST_ERROR: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Sets the thread's last error (a NUL inside the message is replaced by a space).
pub(crate) fn set_last_error(msg: &str) {
    // `try_with`: during thread teardown the slot may be gone; then the message is dropped.
    let _ = LAST_ERROR.try_with(|e| {
        let mut e = e.borrow_mut();
        e.clear();
        e.extend(msg.bytes().map(|b| if b == 0 { b' ' } else { b }));
        e.push(0);
    });
}

/// Clears the thread's last error (after a successful call).
pub(crate) fn clear_last_error() {
    let _ = LAST_ERROR.try_with(|e| {
        let mut e = e.borrow_mut();
        if e.len() != 1 {
            e.clear();
            e.push(0);
        }
    });
}

/// The thread's last error, NUL-terminated, valid until the next call that sets or clears it.
pub(crate) fn last_error_ptr() -> *const c_char {
    LAST_ERROR
        .try_with(|e| {
            let e = e.borrow();
            if e.is_empty() {
                c"".as_ptr()
            } else {
                e.as_ptr().cast::<c_char>()
            }
        })
        .unwrap_or(c"".as_ptr())
}

/// The thread's last error as a string (without the NUL).
pub(crate) fn last_error_bytes<R>(f: impl FnOnce(&[u8]) -> R) -> R {
    let mut f = Some(f);
    let r = LAST_ERROR.try_with(|e| {
        let e = e.borrow();
        let s = e.split_last().map(|(_, s)| s).unwrap_or(&[]);
        (f.take().expect("called once"))(s)
    });
    match r {
        Ok(r) => r,
        Err(_) => (f.take().expect("not called"))(&[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_fn(fail: Option<bool>) -> meterdb_status {
        boundary! {
            match fail {
                None => panic!("boom {}", 42),
                Some(true) => Err(Failure::invalid("no good")),
                Some(false) => Ok(()),
            }
        }
    }

    fn last() -> String {
        last_error_bytes(|b| String::from_utf8_lossy(b).into_owned())
    }

    #[test]
    fn a_panic_becomes_a_status() {
        assert_eq!(status_fn(None), meterdb_status::MDB_PANIC);
        assert!(last().contains("boom 42"), "{}", last());
        assert_eq!(status_fn(Some(true)), meterdb_status::MDB_INVALID_ARGUMENT);
        assert_eq!(last(), "no good");
        assert_eq!(status_fn(Some(false)), meterdb_status::MDB_OK);
        assert_eq!(last(), "");
    }

    #[test]
    fn non_status_functions_return_a_neutral_value_after_a_panic() {
        let n: usize = boundary! {
            if last().is_empty() || !last().is_empty() { panic!("count") }
            7usize
        };
        assert_eq!(n, 0);
        let p: *const c_char = boundary! {
            if last().len() < usize::MAX { panic!("ptr") }
            std::ptr::null()
        };
        assert!(!p.is_null());
        assert!(last().contains("ptr"));
    }

    #[test]
    fn nul_in_a_message_does_not_cut_it() {
        set_last_error("a\0b");
        assert_eq!(last(), "a b");
        last_error_bytes(|b| assert_eq!(b, b"a b"));
        clear_last_error();
        last_error_bytes(|b| assert_eq!(b, b""));
    }
}
