//! The unit catalog: applying a dictionary update given as text, its version and history,
//! checking a unified social credit code, and decoding a data-item code.

use std::ffi::c_char;

use engine::unit::validate_credit_code;
use engine::{DataItemCode, ObjectType, ProcessStage, UnitCatalogUpdate};

use crate::args::{copy_str, out, out_opt, out_slice, slice, string, too_small};
use crate::boundary::Failure;
use crate::db::{meterdb_db, with_db};
use crate::status::meterdb_status;

/// A data-item code decoded into its fields (`meterdb_data_item_parse`). The layout MeterDB
/// assumes (16 digits) is documented at `meterdb_data_item_parse`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct meterdb_data_item {
    /// Digits 1-4: the energy-type code, 0 to 9999.
    pub energy_type: u16,
    /// Digits 6-8: the energy-using unit code, 0 to 999.
    pub unit_code: u16,
    /// Digits 10-12: the collection-object code, 0 to 999.
    pub object_code: u16,
    /// Digits 13-16: the data-item type, 0 to 9999.
    pub item_type: u16,
    /// Digit 5: the process stage, 1 to 6 (1 purchase/storage, 2 processing/conversion,
    /// 3 transport/distribution, 4 end use, 5 recovery, 6 external supply).
    pub stage: i32,
    /// Digit 9: the collection-object type, 1 to 5 (1 whole unit, 2 branch/workshop,
    /// 3 process/system, 4 key equipment, 5 metering instrument).
    pub object_type: i32,
}

impl From<DataItemCode> for meterdb_data_item {
    fn from(c: DataItemCode) -> Self {
        meterdb_data_item {
            energy_type: c.energy_type,
            unit_code: c.unit_code,
            object_code: c.object_code,
            item_type: c.item_type,
            stage: c.stage as i32,
            object_type: c.object_type as i32,
        }
    }
}

/// One version applied to the unit catalog (`meterdb_db_unit_catalog_history`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct meterdb_unit_version {
    /// The version it made current.
    pub version: u64,
    /// The version it was applied on (0 for the first).
    pub base_version: u64,
    /// When it was applied (ms since the epoch, UTC, the machine's clock).
    pub applied_at: i64,
    /// Records it added, replaced or removed.
    pub changes: u64,
    /// Devices after it.
    pub devices: u64,
    /// Collection configs after it.
    pub configs: u64,
    /// 1 when it replaced the whole dictionary, 0 for a delta.
    pub full: i32,
}

/// Checks an 18-character unified social credit code (GB 32100-2015): the character set
/// (`0-9A-HJ-NPQRTUWXY`, upper case) and the check character (weights 1, 3, 9, 27, 19, 26,
/// 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28, modulo 31). Returns `MDB_OK` for a valid code,
/// `MDB_INVALID_ARGUMENT` with a message naming the wrong character or the mismatching check
/// character otherwise.
///
/// # Safety
/// `code` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn meterdb_credit_code_validate(code: *const c_char) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        let code = unsafe { string(code, "code") }?;
        validate_credit_code(code)?;
        Ok(())
    }
}

/// Decodes a 16-digit data-item code into `*out_item`.
///
/// The layout MeterDB assumes, modelled on the data-item code of the national online
/// energy-monitoring platform (verify it against the applicable specification text, e.g.
/// GB/T 37947, before relying on the fields; the engine's `DataItemCode::parse` is the single
/// place to change):
///
/// ```text
/// digits 1-4 energy type | 5 process stage (1-6) | 6-8 energy-using unit
/// | 9 collection-object type (1-5) | 10-12 object code | 13-16 data-item type
/// ```
///
/// Errors: `MDB_INVALID_ARGUMENT` (the message names the position or field) for a code that
/// is not 16 digits or has a stage or object type out of range.
///
/// # Safety
/// `code` is NULL or a NUL-terminated string; `out_item` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_data_item_parse(
    code: *const c_char,
    out_item: *mut meterdb_data_item,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        let code = unsafe { string(code, "code") }?;
        // SAFETY: as this function's.
        let o = unsafe { out(out_item, "out_item") }?;
        o.set(DataItemCode::parse(code)?.into());
        Ok(())
    }
}

/// Writes the 16 digits of a data-item code and a NUL into `buf` (`cap` at least 17; less
/// gives `MDB_BUFFER_TOO_SMALL`). A field out of range gives `MDB_INVALID_ARGUMENT`.
///
/// # Safety
/// `item` is NULL or readable; `buf` is NULL or writable for `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn meterdb_data_item_format(
    item: *const meterdb_data_item,
    buf: *mut c_char,
    cap: usize,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        let item = *unsafe { crate::args::handle(item, "item") }?;
        // SAFETY: as this function's (checks NULL and alignment).
        unsafe { out_slice(buf, cap, "buf", false) }?;
        let digit = |v: i32| u8::try_from(v).ok();
        let code = DataItemCode {
            energy_type: item.energy_type,
            stage: digit(item.stage).and_then(ProcessStage::from_digit).ok_or_else(|| {
                Failure::invalid(format!("stage {} is not 1 to 6", item.stage))
            })?,
            unit_code: item.unit_code,
            object_type: digit(item.object_type).and_then(ObjectType::from_digit).ok_or_else(|| {
                Failure::invalid(format!("object type {} is not 1 to 5", item.object_type))
            })?,
            object_code: item.object_code,
            item_type: item.item_type,
        };
        code.validate()?;
        let text = code.to_string();
        if cap <= text.len() {
            return Err(too_small(format!(
                "a data-item code needs {} bytes with its NUL, buf has {cap}",
                text.len() + 1
            )));
        }
        // SAFETY: `buf` is writable for `cap` bytes (caller's promise), `cap > text.len()`.
        unsafe { copy_str(buf, cap, text.as_bytes()) };
        Ok(())
    }
}

/// Applies a unit catalog update (a downloaded dictionary update) atomically, given as text
/// of `len` bytes (UTF-8; no NUL needed), and defines or updates every configured point
/// (kind, unit, precision, energy type, interval, multiplier, standard-coal coefficients).
/// `*version_out` (if not NULL) receives the new version.
///
/// The text: lines, the keyword and each field separated by one TAB; `#` starts a comment
/// line; blank lines are skipped; `-` or an empty field means "none". The first line is the
/// header, then `base`, `version` and `mode` lines, then records:
///
/// ```text
/// meterdb-unit-catalog 1
/// base        <the version it applies on; 0 for the first update>
/// version     <the version it makes; greater than base>
/// mode        full | delta
/// enterprise  <credit code> <name> <region code, 6 digits> <industry> <address>
/// device      <id> <gateway|collector|meter> <name> <model> <serial> <installed at>
/// config      <point key> <data-item code> <counter|gauge> <energy type> <unit>
///             <precision 0-18> <interval ms> <multiplier> <device id> <coal>
/// remove-device  <id>
/// remove-config  <point key>
/// ```
///
/// (a `config` record is one line). Times are ms since the epoch or RFC 3339. `<coal>` is a
/// comma-separated list of `from/to/kgce` (`to` is `-` when open-ended). An empty energy
/// type takes the data-item code's (digits 1-4). A `full` update lists the whole dictionary
/// (the enterprise is required); a `delta` adds or replaces the records it lists and removes
/// the ones named (the first update must give the enterprise). A removed config leaves its
/// point in the database.
///
/// Errors, with nothing changed: `MDB_CONFLICT` when `base` is not the current version (read
/// it with `meterdb_db_unit_catalog_version`); `MDB_INVALID_ARGUMENT` for a malformed line
/// (the message names it), an invalid record (a credit code, a data-item code, a device that
/// does not exist, a repeated data-item code, ...); `MDB_INVALID_UTF8`. After a crash, the
/// old or the new version is visible, never a mix.
///
/// # Safety
/// `db` is NULL or a live handle; `text` is NULL (`MDB_NULL_ARGUMENT`) or readable for
/// `len` bytes; `version_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_apply_unit_catalog(
    db: *const meterdb_db,
    text: *const c_char,
    len: usize,
    version_out: *mut u64,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_db(db, |d| {
            let v_out = out_opt(version_out, "version_out")?;
            if text.is_null() {
                return Err(Failure::null("text"));
            }
            let bytes = slice(text.cast::<u8>(), len, "text")?;
            let text = std::str::from_utf8(bytes).map_err(|e| Failure::new(
                meterdb_status::MDB_INVALID_UTF8,
                format!("text is not valid UTF-8 (at byte {} of {len})", e.valid_up_to()),
            ))?;
            let update = UnitCatalogUpdate::parse_text(text)?;
            let applied = d.apply_unit_catalog(&update)?;
            if let Some(v) = v_out {
                v.set(applied.version);
            }
            Ok(())
        }) }
    }
}

/// Writes the current unit catalog version to `*version_out` (0 when no update has been
/// applied).
///
/// # Safety
/// `db` is NULL or a live handle; `version_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_unit_catalog_version(
    db: *const meterdb_db,
    version_out: *mut u64,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_db(db, |d| {
            out(version_out, "version_out")?.set(d.unit_catalog_version());
            Ok(())
        }) }
    }
}

/// The versions applied to the unit catalog, oldest first (the last 256 are kept).
/// `*n_out` always receives how many there are; up to `cap` are written to `versions`; when
/// there are more, the call returns `MDB_BUFFER_TOO_SMALL` (with the first `cap` written).
/// `versions` may be NULL when `cap` is 0, to ask for the count (as with any `cap` too
/// small, the call then returns `MDB_BUFFER_TOO_SMALL` when there are any).
///
/// # Safety
/// `db` is NULL or a live handle; `versions` is NULL or writable for `cap` elements;
/// `n_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_unit_catalog_history(
    db: *const meterdb_db,
    versions: *mut meterdb_unit_version,
    cap: usize,
    n_out: *mut usize,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_db(db, |d| {
            let n_out = out(n_out, "n_out")?;
            let mut dst = out_slice(versions, cap, "versions", false)?;
            let hist: Vec<meterdb_unit_version> = d
                .unit_catalog_history()
                .iter()
                .map(|h| meterdb_unit_version {
                    version: h.version,
                    base_version: h.base_version,
                    applied_at: h.applied_at,
                    changes: h.changes,
                    devices: h.devices,
                    configs: h.configs,
                    full: i32::from(h.full),
                })
                .collect();
            n_out.set(hist.len());
            if !dst.fill(&hist) {
                return Err(too_small(format!("{} versions, the array holds {cap}", hist.len())));
            }
            Ok(())
        }) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last() -> String {
        crate::boundary::last_error_bytes(|b| String::from_utf8_lossy(b).into_owned())
    }

    #[test]
    fn codes_through_the_abi() {
        // SAFETY: literals and locals.
        unsafe {
            let good = format!(
                "91350100MA2XY7K3P{}\0",
                engine::unit::credit_code_check_char("91350100MA2XY7K3P").unwrap()
            );
            assert_eq!(
                meterdb_credit_code_validate(good.as_ptr().cast()),
                meterdb_status::MDB_OK
            );
            assert_eq!(
                meterdb_credit_code_validate(c"91350100MA2XY7K3PI".as_ptr()),
                meterdb_status::MDB_INVALID_ARGUMENT
            );
            assert!(last().contains("character 18"), "{}", last());
            assert_eq!(
                meterdb_credit_code_validate(std::ptr::null()),
                meterdb_status::MDB_NULL_ARGUMENT
            );
            let mut item = std::mem::zeroed::<meterdb_data_item>();
            assert_eq!(
                meterdb_data_item_parse(c"0100400120030001".as_ptr(), &mut item),
                meterdb_status::MDB_OK
            );
            assert_eq!(
                (
                    item.energy_type,
                    item.stage,
                    item.unit_code,
                    item.object_type
                ),
                (100, 4, 1, 2)
            );
            let mut buf = [0 as c_char; 17];
            assert_eq!(
                meterdb_data_item_format(&item, buf.as_mut_ptr(), 17),
                meterdb_status::MDB_OK
            );
            let s = std::ffi::CStr::from_ptr(buf.as_ptr()).to_str().unwrap();
            assert_eq!(s, "0100400120030001");
            assert_eq!(
                meterdb_data_item_format(&item, buf.as_mut_ptr(), 16),
                meterdb_status::MDB_BUFFER_TOO_SMALL
            );
            item.stage = 9;
            assert_eq!(
                meterdb_data_item_format(&item, buf.as_mut_ptr(), 17),
                meterdb_status::MDB_INVALID_ARGUMENT
            );
            assert_eq!(
                meterdb_data_item_parse(c"0100000120030001".as_ptr(), &mut item),
                meterdb_status::MDB_INVALID_ARGUMENT
            );
            assert!(last().contains("process stage"), "{}", last());
        }
    }
}
