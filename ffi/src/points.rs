//! Points: define, look up, read metadata back, list.

use std::collections::BTreeMap;
use std::ffi::{c_char, CString};

use engine::{PointFilter, PointKind, PointMeta, Register};

use crate::args::{out, out_slice, slice, string, string_opt, too_small};
use crate::boundary::{Failure, FfiResult};
use crate::db::{meterdb_db, with_db};
use crate::handles;
use crate::options::tier_mask;
use crate::status::{meterdb_status, MDB_TIERS_DEFAULT};

/// A point kind from C: its code (`MDB_KIND_*` are the engine's codes, `status.rs` checks).
pub(crate) fn kind_from(kind: i32) -> FfiResult<PointKind> {
    u8::try_from(kind)
        .ok()
        .and_then(PointKind::from_code)
        .ok_or_else(|| {
            Failure::invalid(format!(
                "point kind {kind} is neither 0 (MDB_KIND_GAUGE) nor 1 (MDB_KIND_COUNTER)"
            ))
        })
}

fn kind_to(kind: PointKind) -> i32 {
    kind.code().into()
}

/// Defines a point, or updates the metadata of the point with that key, and writes its id to
/// `*id_out`. Ids are dense, assigned in order of definition and never reused.
///
/// - `key`: 1 to 255 bytes of UTF-8 without control characters (empty or overlong:
///   `MDB_INVALID_ARGUMENT`; not UTF-8: `MDB_INVALID_UTF8`).
/// - `kind`: `MDB_KIND_GAUGE` or `MDB_KIND_COUNTER`. A counter defined again keeps its
///   register (`meterdb_db_set_point_register`) and its recorded meter replacements. A point
///   defined again with another kind gives `MDB_ALREADY_EXISTS` (see
///   `meterdb_point_meta_set_allow_kind_change`).
///
/// Prefer `meterdb_point_meta_new` and `meterdb_db_define_point_meta`, whose named setters
/// cannot be swapped.
/// - `unit`, `energy_type`: text, NULL for none.
/// - `precision`: decimal digits of the values, 0 to 18, or -1 for unknown.
/// - `interval_ms`: expected collection interval, or 0 for unknown (negative: rejected).
/// - `multiplier`: factor applied to consumption, finite and non-zero (pass 1.0 for none).
/// - `tag_keys`, `tag_values`: `n_tags` names and values (both NULL when `n_tags` is 0); a
///   name is 1 to 255 bytes, a value up to 4096; a repeated name keeps the last value.
///
/// # Safety
/// `db` is NULL or a live handle; each string is NULL or NUL-terminated; `tag_keys` and
/// `tag_values` are NULL or readable for `n_tags` pointers, each NULL or NUL-terminated;
/// `id_out` is NULL or writable.
#[no_mangle]
#[allow(clippy::too_many_arguments)] // the C signature: flat, so every binding can call it
pub unsafe extern "C" fn meterdb_db_define_point(
    db: *const meterdb_db,
    key: *const c_char,
    kind: i32,
    unit: *const c_char,
    precision: i32,
    energy_type: *const c_char,
    interval_ms: i64,
    multiplier: f64,
    tag_keys: *const *const c_char,
    tag_values: *const *const c_char,
    n_tags: usize,
    id_out: *mut u32,
) -> meterdb_status {
    boundary! {
        // SAFETY: every pointer is NULL or valid as this function's `# Safety` says.
        unsafe { with_db(db, |d| {
            let id_out = out(id_out, "id_out")?;
            let mut meta = base_meta(key, kind, unit, precision, energy_type, interval_ms, multiplier, tag_keys, tag_values, n_tags)?;
            check_kind_change(d, &meta, false)?;
            keep_register(d, &mut meta);
            id_out.set(d.define_point(meta)?);
            Ok(())
        }) }
    }
}

/// Refuses to redefine an existing point with another kind, unless `allow` (a gauge's data
/// read as a counter's register, or the reverse, changes every bucket's figures).
pub(crate) fn check_kind_change(d: &engine::Db, meta: &PointMeta, allow: bool) -> FfiResult {
    if let Some(old) = d.point_id(&meta.key).and_then(|id| d.point(id)) {
        if old.kind != meta.kind && !allow {
            let name = |k: PointKind| match k {
                PointKind::Gauge => "a gauge (MDB_KIND_GAUGE)",
                PointKind::Counter => "a counter (MDB_KIND_COUNTER)",
            };
            return Err(Failure::new(
                meterdb_status::MDB_ALREADY_EXISTS,
                format!(
                    "point {:?} is {}: defining it again as {} would change how all its data \
                     is rolled up; to do so, define it with meterdb_point_meta_set_allow_kind_change",
                    meta.key,
                    name(old.kind),
                    name(meta.kind)
                ),
            ));
        }
    }
    Ok(())
}

/// Keeps the register of a counter already defined with `meta`'s key (set by
/// `meterdb_db_set_point_register`): the define functions have no register argument, so
/// defining a point again with its other metadata does not turn a net register back into an
/// import one. (Recorded meter replacements are kept by the engine itself.)
pub(crate) fn keep_register(d: &engine::Db, meta: &mut PointMeta) {
    if let Some(old) = d.point_id(&meta.key).and_then(|id| d.point(id)) {
        if meta.kind == PointKind::Counter && old.kind == PointKind::Counter {
            meta.register = old.register;
        }
    }
}

/// The metadata of the arguments `meterdb_db_define_point` has.
///
/// # Safety
/// As `meterdb_db_define_point`'s.
#[allow(clippy::too_many_arguments)]
unsafe fn base_meta(
    key: *const c_char,
    kind: i32,
    unit: *const c_char,
    precision: i32,
    energy_type: *const c_char,
    interval_ms: i64,
    multiplier: f64,
    tag_keys: *const *const c_char,
    tag_values: *const *const c_char,
    n_tags: usize,
) -> FfiResult<PointMeta> {
    // SAFETY: the pointers are NULL or valid, per this function's `# Safety`.
    unsafe {
        let mut meta = PointMeta::new(string(key, "key")?, kind_from(kind)?);
        meta.unit = string_opt(unit, "unit")?.unwrap_or_default().to_string();
        meta.energy_type = string_opt(energy_type, "energy_type")?
            .unwrap_or_default()
            .to_string();
        meta.precision = match precision {
            -1 => None,
            0..=255 => Some(precision as u8),
            p => {
                return Err(Failure::invalid(format!(
                    "precision {p} is neither -1 (unknown) nor 0..=18"
                )))
            }
        };
        meta.interval_ms = (interval_ms != 0).then_some(interval_ms);
        meta.multiplier = multiplier;
        let names = slice(tag_keys, n_tags, "tag_keys")?;
        let values = slice(tag_values, n_tags, "tag_values")?;
        let mut tags = BTreeMap::new();
        for (i, (&k, &v)) in names.iter().zip(values).enumerate() {
            tags.insert(
                string(k, &format!("tag_keys[{i}]"))?.to_string(),
                string(v, &format!("tag_values[{i}]"))?.to_string(),
            );
        }
        meta.tags = tags;
        Ok(meta)
    }
}

/// Defines a point, or updates the metadata of the point with that key, as
/// `meterdb_db_define_point` does, with the metadata the rollup tiers use as well:
///
/// - `rollover`: for a counter, the reading after which its register rolls over to zero
///   (finite and positive), or NaN for none: without it a falling reading is taken as a meter
///   replacement or reset, counting from zero.
/// - `coal_from`, `coal_kgce`: `n_coal` standard-coal coefficients, kilograms of standard coal
///   per unit of the point's consumption (finite, not negative), each valid from its timestamp
///   `coal_from[i]` on (both NULL when `n_coal` is 0). In any order; two with the same
///   timestamp give `MDB_INVALID_ARGUMENT`.
/// - `tiers`: the rollup tiers the point keeps, a mask (`1 << (t - 1)` for tier `t` of
///   `meterdb_tier`, 0 to `MDB_TIERS_ALL`), or `MDB_TIERS_DEFAULT` (-1) for the database's
///   default (`meterdb_options_set_tiers`).
///
/// # Safety
/// As `meterdb_db_define_point`'s, and: `coal_from` and `coal_kgce` are NULL or readable for
/// `n_coal` elements.
#[no_mangle]
#[allow(clippy::too_many_arguments)] // the C signature: flat, so every binding can call it
pub unsafe extern "C" fn meterdb_db_define_point_v2(
    db: *const meterdb_db,
    key: *const c_char,
    kind: i32,
    unit: *const c_char,
    precision: i32,
    energy_type: *const c_char,
    interval_ms: i64,
    multiplier: f64,
    tag_keys: *const *const c_char,
    tag_values: *const *const c_char,
    n_tags: usize,
    rollover: f64,
    coal_from: *const i64,
    coal_kgce: *const f64,
    n_coal: usize,
    tiers: i32,
    id_out: *mut u32,
) -> meterdb_status {
    boundary! {
        // SAFETY: every pointer is NULL or valid as this function's `# Safety` says.
        unsafe { with_db(db, |d| {
            let id_out = out(id_out, "id_out")?;
            let mut meta = base_meta(key, kind, unit, precision, energy_type, interval_ms, multiplier, tag_keys, tag_values, n_tags)?;
            meta.rollover = (!rollover.is_nan()).then_some(rollover);
            let from = slice(coal_from, n_coal, "coal_from")?;
            let kgce = slice(coal_kgce, n_coal, "coal_kgce")?;
            meta.coal = from.iter().copied().zip(kgce.iter().copied()).collect();
            meta.coal.sort_by_key(|c| c.0);
            meta.tiers = match tiers {
                MDB_TIERS_DEFAULT => None,
                t => Some(tier_mask(t)?),
            };
            check_kind_change(d, &meta, false)?;
            keep_register(d, &mut meta);
            id_out.set(d.define_point(meta)?);
            Ok(())
        }) }
    }
}

/// The id of the point with key `key`, defining it as a gauge with default metadata if it
/// does not exist yet.
///
/// # Safety
/// `db` is NULL or a live handle; `key` is NULL or NUL-terminated; `id_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_ensure_point(
    db: *const meterdb_db,
    key: *const c_char,
    id_out: *mut u32,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_db(db, |d| {
            let id_out = out(id_out, "id_out")?;
            id_out.set(d.ensure_point(string(key, "key")?)?);
            Ok(())
        }) }
    }
}

/// The id of the point with key `key`; `MDB_NOT_FOUND` when there is none.
///
/// # Safety
/// `db` is NULL or a live handle; `key` is NULL or NUL-terminated; `id_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_point_id(
    db: *const meterdb_db,
    key: *const c_char,
    id_out: *mut u32,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_db(db, |d| {
            let id_out = out(id_out, "id_out")?;
            let key = string(key, "key")?;
            match d.point_id(key) {
                Some(id) => { id_out.set(id); Ok(()) }
                None => Err(Failure::new(meterdb_status::MDB_NOT_FOUND, format!("no point has the key {key:?}"))),
            }
        }) }
    }
}

/// A point's metadata, allocated by `meterdb_db_point_info` and freed by
/// `meterdb_point_info_free`. Every string and array belongs to the struct and lives until it
/// is freed; the struct does not depend on the database handle (it may outlive it). Read-only:
/// do not modify its fields. Not synchronized: share it between threads only for reading.
#[repr(C)]
#[derive(Debug)]
pub struct meterdb_point_info {
    /// The point's id.
    pub id: u32,
    /// `MDB_KIND_GAUGE` or `MDB_KIND_COUNTER`.
    pub kind: i32,
    /// The key (never NULL).
    pub key: *const c_char,
    /// The unit, `""` when none (never NULL).
    pub unit: *const c_char,
    /// The energy type code, `""` when none (never NULL).
    pub energy_type: *const c_char,
    /// Decimal digits, or -1 when unknown.
    pub precision: i32,
    /// Collection interval in milliseconds, or 0 when unknown.
    pub interval_ms: i64,
    /// Consumption multiplier (1.0 by default).
    pub multiplier: f64,
    /// Number of tags.
    pub n_tags: usize,
    /// `n_tags` tag names, in byte order (NULL when `n_tags` is 0).
    pub tag_keys: *const *const c_char,
    /// `n_tags` tag values, parallel to `tag_keys` (NULL when `n_tags` is 0).
    pub tag_values: *const *const c_char,
}

/// A point's metadata with what the rollup tiers use, allocated by
/// `meterdb_db_point_info_v2` and freed by `meterdb_point_info_v2_free`. Like
/// `meterdb_point_info` (which it begins with, so a pointer to one is a pointer to the other):
/// every array belongs to the struct; it may outlive the database handle; read-only.
#[repr(C)]
#[derive(Debug)]
pub struct meterdb_point_info_v2 {
    /// What `meterdb_db_point_info` gives.
    pub base: meterdb_point_info,
    /// The counter's rollover maximum, or NaN when it has none.
    pub rollover: f64,
    /// The tiers the point keeps as a mask (`1 << (t - 1)` for tier `t`), or
    /// `MDB_TIERS_DEFAULT` (-1) when it keeps the database's default.
    pub tiers: i32,
    /// Number of standard-coal coefficients.
    pub n_coal: usize,
    /// `n_coal` timestamps from which each coefficient is valid, ascending (NULL when
    /// `n_coal` is 0).
    pub coal_from: *const i64,
    /// `n_coal` coefficients in kgce per unit, parallel to `coal_from` (NULL when `n_coal`
    /// is 0).
    pub coal_kgce: *const f64,
}

/// The memory a `meterdb_point_info`'s pointers point into.
#[derive(Debug)]
struct InfoStrings {
    _strings: Vec<CString>,
    _key_ptrs: Vec<*const c_char>,
    _value_ptrs: Vec<*const c_char>,
}

/// The allocation behind a `meterdb_point_info`: the struct first (so a pointer to one is a
/// pointer to the other), then the memory its pointers point into.
#[repr(C)]
struct PointInfoAlloc {
    info: meterdb_point_info,
    _strings: InfoStrings,
}

/// The allocation behind a `meterdb_point_info_v2`, the same way.
#[repr(C)]
struct PointInfoV2Alloc {
    info: meterdb_point_info_v2,
    _strings: InfoStrings,
    _coal_from: Vec<i64>,
    _coal_kgce: Vec<f64>,
}

/// A C string of `s`, cut at a NUL if it holds one (the engine refuses control characters in
/// keys, but units and tags written by other programs might contain one).
fn c_string(s: &str) -> CString {
    let cut = s.split('\0').next().unwrap_or_default();
    CString::new(cut).unwrap_or_default()
}

/// The struct of `meterdb_db_point_info`, with the memory its pointers point into (which
/// moving the vectors does not move).
fn info_parts(id: u32, m: &PointMeta) -> (meterdb_point_info, InfoStrings) {
    let mut strings = vec![
        c_string(&m.key),
        c_string(&m.unit),
        c_string(&m.energy_type),
    ];
    for (k, v) in &m.tags {
        strings.push(c_string(k));
        strings.push(c_string(v));
    }
    let tags = &strings[3..];
    let key_ptrs: Vec<*const c_char> = tags.iter().step_by(2).map(|s| s.as_ptr()).collect();
    let value_ptrs: Vec<*const c_char> =
        tags.iter().skip(1).step_by(2).map(|s| s.as_ptr()).collect();
    let n_tags = m.tags.len();
    let arr = |v: &Vec<*const c_char>| {
        if n_tags == 0 {
            std::ptr::null()
        } else {
            v.as_ptr()
        }
    };
    let info = meterdb_point_info {
        id,
        kind: kind_to(m.kind),
        key: strings[0].as_ptr(),
        unit: strings[1].as_ptr(),
        energy_type: strings[2].as_ptr(),
        precision: m.precision.map_or(-1, i32::from),
        interval_ms: m.interval_ms.unwrap_or(0),
        multiplier: m.multiplier,
        n_tags,
        tag_keys: arr(&key_ptrs),
        tag_values: arr(&value_ptrs),
    };
    (
        info,
        InfoStrings {
            _strings: strings,
            _key_ptrs: key_ptrs,
            _value_ptrs: value_ptrs,
        },
    )
}

fn point_info(id: u32, m: &PointMeta) -> *mut meterdb_point_info {
    let (info, strings) = info_parts(id, m);
    let b = Box::new(PointInfoAlloc {
        info,
        _strings: strings,
    });
    Box::into_raw(b).cast::<meterdb_point_info>()
}

fn point_info_v2(id: u32, m: &PointMeta) -> *mut meterdb_point_info_v2 {
    let (base, strings) = info_parts(id, m);
    let coal_from: Vec<i64> = m.coal.iter().map(|c| c.0).collect();
    let coal_kgce: Vec<f64> = m.coal.iter().map(|c| c.1).collect();
    let n_coal = m.coal.len();
    let info = meterdb_point_info_v2 {
        base,
        rollover: m.rollover.unwrap_or(f64::NAN),
        tiers: m.tiers.map_or(MDB_TIERS_DEFAULT, |t| i32::from(t.0)),
        n_coal,
        coal_from: if n_coal == 0 {
            std::ptr::null()
        } else {
            coal_from.as_ptr()
        },
        coal_kgce: if n_coal == 0 {
            std::ptr::null()
        } else {
            coal_kgce.as_ptr()
        },
    };
    let b = Box::new(PointInfoV2Alloc {
        info,
        _strings: strings,
        _coal_from: coal_from,
        _coal_kgce: coal_kgce,
    });
    Box::into_raw(b).cast::<meterdb_point_info_v2>()
}

/// The body of `meterdb_db_point_info` and `_v2`: `*out_info` is the struct `make` allocates
/// for point `id`, or NULL on failure.
///
/// # Safety
/// `db` is NULL or a live handle; `out_info` is NULL or writable for one pointer.
unsafe fn give_info<T>(
    db: *const meterdb_db,
    id: u32,
    out_info: *mut *mut T,
    make: fn(u32, &PointMeta) -> *mut T,
) -> meterdb_status {
    boundary! {
        // SAFETY: `out_info` is NULL or writable (caller's promise).
        let o = unsafe { out(out_info, "out_info") }?;
        // SAFETY: `db` is NULL or live (caller's promise).
        let r = unsafe { with_db(db, |d| {
            let m = d.point(id).ok_or_else(|| Failure::new(meterdb_status::MDB_NOT_FOUND, format!("point id {id} is not defined")))?;
            Ok(make(id, &m))
        }) };
        o.set(*r.as_ref().unwrap_or(&std::ptr::null_mut()));
        r.map(|_| ())
    }
}

/// The metadata of point `id`, in a struct allocated by the library: on success `*out_info`
/// points to it (free it with `meterdb_point_info_free`); on failure it is set to NULL. An
/// undefined id gives `MDB_NOT_FOUND`.
///
/// # Safety
/// `db` is NULL or a live handle; `out_info` is NULL or writable for one pointer.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_point_info(
    db: *const meterdb_db,
    id: u32,
    out_info: *mut *mut meterdb_point_info,
) -> meterdb_status {
    // SAFETY: as this function's.
    unsafe { give_info(db, id, out_info, point_info) }
}

/// Frees what `meterdb_db_point_info` returned. NULL is allowed and does nothing.
///
/// # Safety
/// `info` is NULL or a pointer from `meterdb_db_point_info` not yet freed, not used after.
#[no_mangle]
pub unsafe extern "C" fn meterdb_point_info_free(info: *mut meterdb_point_info) {
    // SAFETY: made by `Box::into_raw` of a `PointInfoAlloc` in `point_info`, whose first
    // field (repr(C)) is the struct pointed to; NULL or not yet freed (caller's promise).
    unsafe { handles::free(info.cast::<PointInfoAlloc>()) }
}

/// The metadata of point `id` with what the rollup tiers use (rollover, standard-coal
/// coefficients, tiers), in a struct allocated by the library: on success `*out_info` points
/// to it (free it with `meterdb_point_info_v2_free`); on failure it is set to NULL. An
/// undefined id gives `MDB_NOT_FOUND`.
///
/// # Safety
/// `db` is NULL or a live handle; `out_info` is NULL or writable for one pointer.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_point_info_v2(
    db: *const meterdb_db,
    id: u32,
    out_info: *mut *mut meterdb_point_info_v2,
) -> meterdb_status {
    // SAFETY: as this function's.
    unsafe { give_info(db, id, out_info, point_info_v2) }
}

/// Frees what `meterdb_db_point_info_v2` returned. NULL is allowed and does nothing.
///
/// # Safety
/// `info` is NULL or a pointer from `meterdb_db_point_info_v2` not yet freed, not used after.
#[no_mangle]
pub unsafe extern "C" fn meterdb_point_info_v2_free(info: *mut meterdb_point_info_v2) {
    // SAFETY: made by `Box::into_raw` of a `PointInfoV2Alloc` in `point_info_v2`, whose
    // first field (repr(C)) is the struct pointed to; NULL or not yet freed (caller's promise).
    unsafe { handles::free(info.cast::<PointInfoV2Alloc>()) }
}

/// Lists, in id order, the ids of the points whose key starts with `key_prefix` (NULL: any),
/// whose kind is `kind` (`MDB_KIND_ANY`: any) and whose energy type is `energy_type` (NULL:
/// any).
///
/// `*n_out` always receives the number of matching points. Up to `cap` ids are written to
/// `ids`; when more match, the call returns `MDB_BUFFER_TOO_SMALL` (with the first `cap`
/// written): call again with a larger array. `ids` NULL with `cap` 0 asks for the count only,
/// and returns `MDB_OK`.
///
/// # Safety
/// `db` is NULL or a live handle; the strings are NULL or NUL-terminated; `ids` is NULL or
/// writable for `cap` elements; `n_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_list_points(
    db: *const meterdb_db,
    key_prefix: *const c_char,
    kind: i32,
    energy_type: *const c_char,
    ids: *mut u32,
    cap: usize,
    n_out: *mut usize,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_db(db, |d| {
            let n_out = out(n_out, "n_out")?;
            let ids_null = ids.is_null();
            let mut ids = out_slice(ids, cap, "ids", false)?;
            let filter = PointFilter {
                key_prefix: string_opt(key_prefix, "key_prefix")?.map(str::to_string),
                kind: if kind == -1 { None } else { Some(kind_from(kind)?) },
                energy_type: string_opt(energy_type, "energy_type")?.map(str::to_string),
                ..Default::default()
            };
            let count_only = ids_null && cap == 0;
            let found: Vec<u32> = d.points(&filter).into_iter().map(|(id, _)| id).collect();
            n_out.set(found.len());
            if !ids.fill(&found) && !count_only {
                return Err(too_small(format!("{} points match, the array holds {cap}", found.len())));
            }
            Ok(())
        }) }
    }
}

/// A register from C: its code (`MDB_REGISTER_*` are the engine's codes).
pub(crate) fn register_from(register: i32) -> FfiResult<Register> {
    u8::try_from(register)
        .ok()
        .and_then(Register::from_code)
        .ok_or_else(|| {
            Failure::invalid(format!(
                "register {register} is neither 0 (MDB_REGISTER_IMPORT) nor 1 (MDB_REGISTER_NET)"
            ))
        })
}

fn register_to(register: Register) -> i32 {
    register.code().into()
}

/// The metadata of a defined point, else `MDB_NOT_FOUND`.
fn meta_of(d: &engine::Db, point: u32) -> FfiResult<PointMeta> {
    d.point(point).ok_or_else(|| {
        Failure::new(
            meterdb_status::MDB_NOT_FOUND,
            format!("point id {point} is not defined"),
        )
    })
}

/// Sets how counter `point`'s register is read (a `meterdb_register`): `MDB_REGISTER_IMPORT`
/// (the default: a backward step adds nothing to consumption) or `MDB_REGISTER_NET` (a net,
/// bidirectional register: consumption is the signed change). Either way a backward step is
/// counted in the bucket's `backward` (`meterdb_bucket_row_v2`). The point's buckets are
/// derived again; its other metadata and recorded replacements are kept, and defining the
/// point again (`meterdb_db_define_point`, `_v2`) keeps the register.
///
/// Errors: `MDB_NOT_FOUND` for an undefined point; `MDB_INVALID_ARGUMENT` for a gauge or
/// another register number. Not atomic with a concurrent `meterdb_db_define_point` of the
/// same point (one of the two changes wins).
///
/// # Safety
/// `db` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_set_point_register(
    db: *const meterdb_db,
    point: u32,
    register: i32,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_db(db, |d| {
            let register = register_from(register)?;
            let meta = meta_of(d, point)?;
            if meta.kind != PointKind::Counter {
                return Err(Failure::invalid(format!(
                    "point {} is a gauge: only a counter has a register", meta.key
                )));
            }
            if meta.register != register {
                d.define_point(meta.with_register(register))?;
            }
            Ok(())
        }) }
    }
}

/// Writes how point `point`'s register is read (`MDB_REGISTER_IMPORT` or `MDB_REGISTER_NET`;
/// a gauge's is `MDB_REGISTER_IMPORT`) to `*out_register`. An undefined point gives
/// `MDB_NOT_FOUND`.
///
/// # Safety
/// `db` is NULL or a live handle; `out_register` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_point_register(
    db: *const meterdb_db,
    point: u32,
    out_register: *mut i32,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_db(db, |d| {
            let o = out(out_register, "out_register")?;
            o.set(register_to(meta_of(d, point)?.register));
            Ok(())
        }) }
    }
}

/// Records that the meter of counter `point` was replaced at `ts`: the old meter's register
/// read `old_final` for the last time, the new one started at `new_initial`. Readings before
/// `ts` are the old meter's, readings at or after it the new one's, and the consumption
/// between the last valid reading before `ts` and the first at or after it is
/// `(old_final - before) + (after - new_initial)`. Without a recorded replacement, a fall to
/// 10% of the previous reading or less is taken as one (from zero). Durable like a write,
/// exported in bundles; a replacement recorded late re-derives the buckets it changes. One
/// already recorded at `ts` is replaced.
///
/// Errors: `MDB_NOT_FOUND` for an undefined point; `MDB_INVALID_ARGUMENT` for a gauge, a
/// non-finite reading or a timestamp outside years 1000 to 9999.
///
/// # Safety
/// `db` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_replace_meter(
    db: *const meterdb_db,
    point: u32,
    ts: i64,
    old_final: f64,
    new_initial: f64,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_db(db, |d| Ok(d.replace_meter(point, ts, old_final, new_initial)?)) }
    }
}

/// Removes the meter replacement recorded at `ts` for `point`; the buckets around it are
/// derived again. `MDB_NOT_FOUND` when the point is undefined or has no replacement at `ts`.
///
/// # Safety
/// `db` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_forget_meter_replacement(
    db: *const meterdb_db,
    point: u32,
    ts: i64,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_db(db, |d| Ok(d.forget_meter_replacement(point, ts)?)) }
    }
}

/// The meter replacements recorded for `point`, in time order: up to `cap` of them into the
/// caller's parallel arrays `ts`, `old_final` and `new_initial`, and their number to `*n_out`
/// (always the full number). When there are more than `cap`, the first `cap` are written and
/// the call returns `MDB_BUFFER_TOO_SMALL`: call again with larger arrays. The arrays may be
/// NULL when `cap` is 0, to ask for the count. An undefined point gives `MDB_NOT_FOUND`.
///
/// # Safety
/// `db` is NULL or a live handle; `ts`, `old_final` and `new_initial` are NULL or writable for
/// `cap` elements each; `n_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_meter_replacements(
    db: *const meterdb_db,
    point: u32,
    ts: *mut i64,
    old_final: *mut f64,
    new_initial: *mut f64,
    cap: usize,
    n_out: *mut usize,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_db(db, |d| {
            let n_out = out(n_out, "n_out")?;
            let mut ts = out_slice(ts, cap, "ts", false)?;
            let mut old_final = out_slice(old_final, cap, "old_final", false)?;
            let mut new_initial = out_slice(new_initial, cap, "new_initial", false)?;
            let reps = meta_of(d, point)?.replacements;
            n_out.set(reps.len());
            let col = |f: fn(&engine::Replacement) -> f64| -> Vec<f64> { reps.iter().map(f).collect() };
            let times: Vec<i64> = reps.iter().map(|r| r.ts).collect();
            // Three arrays of one capacity: all fit, or none does.
            let all = ts.fill(&times) & old_final.fill(&col(|r| r.old_final)) & new_initial.fill(&col(|r| r.new_initial));
            if !all {
                return Err(too_small(format!("point {point} has {} meter replacements, the arrays hold {cap}", reps.len())));
            }
            Ok(())
        }) }
    }
}
