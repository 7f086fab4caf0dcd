//! `meterdb_point_meta`: a point's metadata built through named setters, then defined with
//! `meterdb_db_define_point_meta`, so that no two arguments of the same type can be swapped
//! silently (the 12 and 17 positional arguments of `meterdb_db_define_point` and `_v2`).

use std::ffi::c_char;

use engine::PointMeta;

use crate::args::{handle, handle_mut, out, string, string_opt};
use crate::boundary::{Failure, FfiResult};
use crate::db::{meterdb_db, with_db};
use crate::handles::{self, give};
use crate::options::tier_mask;
use crate::points::{check_kind_change, keep_register, kind_from, register_from};
use crate::status::{meterdb_status, MDB_TIERS_DEFAULT};

/// A point's metadata being built: made by `meterdb_point_meta_new`, changed by the
/// `meterdb_point_meta_set_*` and `_add_*` functions, used by `meterdb_db_define_point_meta`
/// (any number of times, for any database), freed by `meterdb_point_meta_free`.
///
/// Not thread-safe: use it from one thread at a time. It does not depend on any database.
#[derive(Debug)]
pub struct meterdb_point_meta {
    meta: PointMeta,
    /// `meterdb_point_meta_set_register` was called (else a counter keeps its register).
    register_set: bool,
    /// `meterdb_point_meta_set_allow_kind_change` was called with 1.
    allow_kind_change: bool,
}

/// Runs a setter on a builder.
///
/// # Safety
/// `meta` is NULL or a live builder not used by another thread during the call.
unsafe fn set(
    meta: *mut meterdb_point_meta,
    f: impl FnOnce(&mut meterdb_point_meta) -> FfiResult,
) -> FfiResult {
    // SAFETY: as this function's.
    f(unsafe { handle_mut(meta, "meta") }?)
}

/// Starts the metadata of a point with key `key` (1 to 255 bytes of UTF-8 without control
/// characters; checked when the point is defined) and kind `kind` (`MDB_KIND_GAUGE` or
/// `MDB_KIND_COUNTER`), with the defaults: no unit, unknown precision and interval, multiplier
/// 1, no energy type, no tags, the database's tiers, and for a counter an import register (or
/// the one it has, when defined again) without rollover. On success `*out_meta` is a new
/// builder (free it with `meterdb_point_meta_free`); on failure NULL.
///
/// # Safety
/// `key` is NULL or a NUL-terminated string; `out_meta` is NULL or writable for one pointer.
#[no_mangle]
pub unsafe extern "C" fn meterdb_point_meta_new(
    key: *const c_char,
    kind: i32,
    out_meta: *mut *mut meterdb_point_meta,
) -> meterdb_status {
    boundary! {
        // SAFETY: `out_meta` is NULL or writable (caller's promise).
        let o = unsafe { out(out_meta, "out_meta") }?;
        // SAFETY: `key` is NULL or NUL-terminated (caller's promise).
        let r = unsafe { string(key, "key") }.and_then(|key| {
            Ok(meterdb_point_meta {
                meta: PointMeta::new(key, kind_from(kind)?),
                register_set: false,
                allow_kind_change: false,
            })
        });
        give(o, r)
    }
}

/// Sets the unit (e.g. `"kWh"`); NULL or `""` for none.
///
/// # Safety
/// `meta` is NULL or a live builder; `unit` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn meterdb_point_meta_set_unit(
    meta: *mut meterdb_point_meta,
    unit: *const c_char,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { set(meta, |m| {
            m.meta.unit = string_opt(unit, "unit")?.unwrap_or_default().to_string();
            Ok(())
        }) }
    }
}

/// Sets the energy type code (e.g. `"01"` for electricity); NULL or `""` for none.
///
/// # Safety
/// `meta` is NULL or a live builder; `energy_type` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn meterdb_point_meta_set_energy_type(
    meta: *mut meterdb_point_meta,
    energy_type: *const c_char,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { set(meta, |m| {
            m.meta.energy_type = string_opt(energy_type, "energy_type")?.unwrap_or_default().to_string();
            Ok(())
        }) }
    }
}

/// Sets the decimal digits of the values, 0 to 18, or -1 for unknown (the default); another
/// value gives `MDB_INVALID_ARGUMENT`.
///
/// # Safety
/// `meta` is NULL or a live builder.
#[no_mangle]
pub unsafe extern "C" fn meterdb_point_meta_set_precision(
    meta: *mut meterdb_point_meta,
    precision: i32,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { set(meta, |m| {
            m.meta.precision = match precision {
                -1 => None,
                0..=18 => Some(precision as u8),
                p => return Err(Failure::invalid(format!("precision {p} is neither -1 (unknown) nor 0..=18"))),
            };
            Ok(())
        }) }
    }
}

/// Sets the expected collection interval in milliseconds (e.g. 900000 for 15 minutes), or 0
/// for unknown (the default); negative gives `MDB_INVALID_ARGUMENT`.
///
/// # Safety
/// `meta` is NULL or a live builder.
#[no_mangle]
pub unsafe extern "C" fn meterdb_point_meta_set_interval_ms(
    meta: *mut meterdb_point_meta,
    interval_ms: i64,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { set(meta, |m| {
            if interval_ms < 0 {
                return Err(Failure::invalid(format!("interval_ms {interval_ms} is negative (0: unknown)")));
            }
            m.meta.interval_ms = (interval_ms != 0).then_some(interval_ms);
            Ok(())
        }) }
    }
}

/// Sets the factor applied to a counter's consumption (a current or voltage transformer's
/// ratio), finite and not zero (default 1); another value gives `MDB_INVALID_ARGUMENT`.
///
/// # Safety
/// `meta` is NULL or a live builder.
#[no_mangle]
pub unsafe extern "C" fn meterdb_point_meta_set_multiplier(
    meta: *mut meterdb_point_meta,
    multiplier: f64,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { set(meta, |m| {
            if !multiplier.is_finite() || multiplier == 0.0 {
                return Err(Failure::invalid(format!("multiplier {multiplier} is not finite and non-zero")));
            }
            m.meta.multiplier = multiplier;
            Ok(())
        }) }
    }
}

/// Sets how a counter's register is read (`MDB_REGISTER_IMPORT` or `MDB_REGISTER_NET`, see
/// `meterdb_register`). Without this call a counter defined again keeps its register. For a
/// gauge, `MDB_INVALID_ARGUMENT`.
///
/// # Safety
/// `meta` is NULL or a live builder.
#[no_mangle]
pub unsafe extern "C" fn meterdb_point_meta_set_register(
    meta: *mut meterdb_point_meta,
    register: i32,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { set(meta, |m| {
            let r = register_from(register)?;
            if m.meta.kind != engine::PointKind::Counter {
                return Err(Failure::invalid("only a counter has a register"));
            }
            m.meta.register = r;
            m.register_set = true;
            Ok(())
        }) }
    }
}

/// Sets a counter's rollover: the reading after which its register rolls over to zero (finite
/// and positive; checked when the point is defined), or NaN for none (the default).
///
/// # Safety
/// `meta` is NULL or a live builder.
#[no_mangle]
pub unsafe extern "C" fn meterdb_point_meta_set_rollover(
    meta: *mut meterdb_point_meta,
    rollover: f64,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { set(meta, |m| {
            m.meta.rollover = (!rollover.is_nan()).then_some(rollover);
            Ok(())
        }) }
    }
}

/// Sets the rollup tiers the point keeps: a mask (`1 << (t - 1)` for tier `t` of
/// `meterdb_tier`, 0 to `MDB_TIERS_ALL`), or `MDB_TIERS_DEFAULT` for the database's default.
///
/// # Safety
/// `meta` is NULL or a live builder.
#[no_mangle]
pub unsafe extern "C" fn meterdb_point_meta_set_tiers(
    meta: *mut meterdb_point_meta,
    tiers: i32,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { set(meta, |m| {
            m.meta.tiers = match tiers {
                MDB_TIERS_DEFAULT => None,
                t => Some(tier_mask(t)?),
            };
            Ok(())
        }) }
    }
}

/// Adds a tag (`name` 1 to 255 bytes, `value` up to 4096; checked when the point is defined);
/// a name given again keeps the last value.
///
/// # Safety
/// `meta` is NULL or a live builder; `name` and `value` are NULL or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn meterdb_point_meta_add_tag(
    meta: *mut meterdb_point_meta,
    name: *const c_char,
    value: *const c_char,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { set(meta, |m| {
            let (k, v) = (string(name, "name")?, string(value, "value")?);
            m.meta.tags.insert(k.to_string(), v.to_string());
            Ok(())
        }) }
    }
}

/// Adds a standard-coal coefficient: `kgce` kilograms of standard coal per unit of the point's
/// consumption (finite, not negative; checked when the point is defined), valid from `from`
/// on. Two with the same `from` give `MDB_INVALID_ARGUMENT` when the point is defined.
///
/// # Safety
/// `meta` is NULL or a live builder.
#[no_mangle]
pub unsafe extern "C" fn meterdb_point_meta_add_coal(
    meta: *mut meterdb_point_meta,
    from: i64,
    kgce: f64,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { set(meta, |m| {
            m.meta.coal.push((from, kgce));
            m.meta.coal.sort_by_key(|c| c.0);
            Ok(())
        }) }
    }
}

/// With `allow` 1, `meterdb_db_define_point_meta` may redefine an existing point with another
/// kind (a gauge as a counter, or the reverse: every bucket of its data changes meaning);
/// without it (0, the default) that gives `MDB_ALREADY_EXISTS`.
///
/// # Safety
/// `meta` is NULL or a live builder.
#[no_mangle]
pub unsafe extern "C" fn meterdb_point_meta_set_allow_kind_change(
    meta: *mut meterdb_point_meta,
    allow: i32,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { set(meta, |m| { m.allow_kind_change = allow != 0; Ok(()) }) }
    }
}

/// Defines the point `meta` describes, or updates the metadata of the point with its key, and
/// writes its id to `*id_out` (ids are dense, in order of definition, never reused). A point
/// defined again with another kind gives `MDB_ALREADY_EXISTS` unless allowed
/// (`meterdb_point_meta_set_allow_kind_change`); a counter defined again keeps its register
/// unless one was set, and its recorded meter replacements. `meta` is only read: it may be
/// used again.
///
/// # Safety
/// `db` is NULL or a live handle; `meta` is NULL or a live builder not changed by another
/// thread during the call; `id_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_define_point_meta(
    db: *const meterdb_db,
    meta: *const meterdb_point_meta,
    id_out: *mut u32,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_db(db, |d| {
            let id_out = out(id_out, "id_out")?;
            let m = handle(meta, "meta")?;
            let mut pm = m.meta.clone();
            check_kind_change(d, &pm, m.allow_kind_change)?;
            if !m.register_set {
                keep_register(d, &mut pm);
            }
            id_out.set(d.define_point(pm)?);
            Ok(())
        }) }
    }
}

/// Frees a builder. NULL is allowed and does nothing.
///
/// # Safety
/// `meta` is NULL or a builder from `meterdb_point_meta_new` not yet freed, not used after.
#[no_mangle]
pub unsafe extern "C" fn meterdb_point_meta_free(meta: *mut meterdb_point_meta) {
    // SAFETY: as this function's.
    unsafe { handles::free(meta) }
}
