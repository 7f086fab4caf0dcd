//! Store-and-forward: upload cursors (`meterdb_db_upload_cursor_*`), the upload log
//! (`meterdb_db_record_upload`, `meterdb_db_upload_records`), online backup
//! (`meterdb_db_backup`), bundles (`meterdb_db_export_bundle`, `_export_cursor_bundle`,
//! `_verify_bundle`, `_import_bundle`) and retention (`meterdb_db_apply_retention`).
//!
//! Results with more than a few numbers are handles, read by index or in bulk into a
//! caller's array and freed with their own `_free`, like the rollup results.

use std::ffi::{c_char, CString};

use engine::{
    BackupReport, BucketChange, BundleReport, Change, ChangeKind, CursorInfo, CursorStart,
    OutcomeFilter, RetentionReport, Tier, UploadOutcome, UploadRecord,
};

use engine::sample::{MAX_TIMESTAMP, MIN_TIMESTAMP};

use crate::args::{handle, out, out_opt, slice, string, string_opt};
use crate::boundary::{Failure, FfiResult};
use crate::db::{meterdb_db, with_db};
use crate::handles::{self, answer, give_opt, Rows, RowsV2};
use crate::rollup::{meterdb_bucket_row, meterdb_bucket_row_v2, tier_from};
use crate::status::meterdb_status;

/// Where a new upload cursor starts, for `meterdb_db_upload_cursor_create` (which takes an
/// `int32_t`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum meterdb_cursor_start {
    /// With the oldest change the write-ahead log still holds (every change, for a database
    /// that has had a cursor since it was created), and the oldest statistics bucket.
    MDB_CURSOR_OLDEST = 0,
    /// With the next change written, and the statistics bucket being filled now.
    MDB_CURSOR_NOW = 1,
    /// With the change whose id is `from_id` (or the first one after it): the changes
    /// before it count as acknowledged. For a destination that says which change it has
    /// last stored (pass that id + 1).
    MDB_CURSOR_FROM_ID = 2,
}

/// What a change does, in `meterdb_change.kind`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum meterdb_change_kind {
    /// A sample was written (a new one, a late one, or a correction of one sent before).
    MDB_CHANGE_PUT = 0,
    /// The point's samples with `ts <= t < delete_to` were deleted.
    MDB_CHANGE_DELETE = 1,
}

/// Outcome of an upload attempt, for `meterdb_db_record_upload` and in
/// `meterdb_upload_record.outcome`; in `meterdb_db_upload_records` a filter, where
/// `MDB_UPLOADS_ALL` (-1) selects both.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum meterdb_upload_outcome {
    /// In a filter: every record.
    MDB_UPLOADS_ALL = -1,
    /// The platform accepted the upload.
    MDB_UPLOAD_OK = 0,
    /// The upload failed (the record's message says why).
    MDB_UPLOAD_FAILED = 1,
}

/// One change read by an upload cursor, filled by `meterdb_changes_row` /
/// `meterdb_changes_rows`. A later version that reports more adds a `_v2`; this one never
/// changes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct meterdb_change {
    /// Stable id, increasing in write order: a receiver drops a change whose id it has
    /// stored already. Acknowledge with it (`meterdb_db_upload_cursor_ack`).
    pub id: u64,
    /// The sample's timestamp, or the start of the deleted range.
    pub ts: i64,
    /// For a delete, the end of the deleted range (exclusive); 0 for a sample.
    pub delete_to: i64,
    /// The sample's value (0 for a delete).
    pub value: f64,
    /// The point's id.
    pub point: u32,
    /// A `meterdb_change_kind`: `MDB_CHANGE_PUT` or `MDB_CHANGE_DELETE`.
    pub kind: u8,
    /// The sample's quality byte (0 for a delete).
    pub quality: u8,
}

impl From<&Change> for meterdb_change {
    fn from(c: &Change) -> Self {
        let (kind, delete_to) = match c.kind {
            ChangeKind::Sample => (meterdb_change_kind::MDB_CHANGE_PUT, 0),
            ChangeKind::Delete { to } => (meterdb_change_kind::MDB_CHANGE_DELETE, to),
        };
        meterdb_change {
            id: c.id,
            ts: c.ts,
            delete_to,
            value: c.value,
            point: c.point,
            kind: kind as u8,
            quality: c.quality,
        }
    }
}

/// Changes read by `meterdb_db_upload_cursor_read`, in write order; freed by
/// `meterdb_changes_free`. Holds its rows: may outlive the database handle. Immutable: may be
/// read from several threads at once.
#[derive(Debug)]
pub struct meterdb_changes {
    rows: Vec<meterdb_change>,
}

impl Rows for meterdb_changes {
    const WHAT: &'static str = "changes";
    type Row = meterdb_change;
    fn rows(&self) -> &[meterdb_change] {
        &self.rows
    }
}

/// One closed statistics bucket of a point read by an upload cursor, filled by
/// `meterdb_bucket_changes_row` / `_rows`. A later version adds a `_v2`; this one never
/// changes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct meterdb_bucket_change {
    /// The point's id.
    pub point: u32,
    /// The bucket, as `meterdb_db_rollup` returns it.
    pub row: meterdb_bucket_row,
}

impl From<&BucketChange> for meterdb_bucket_change {
    fn from(b: &BucketChange) -> Self {
        meterdb_bucket_change {
            point: b.point,
            row: meterdb_bucket_row::from(&b.row),
        }
    }
}

/// One statistics bucket of a point read by an upload cursor with its quality counts, its
/// revision and whether it corrects a bucket sent before, filled by
/// `meterdb_bucket_changes_row_v2` / `_rows_v2`. Any `meterdb_bucket_changes` may be read with
/// either version. A later version that reports more adds a `_v3`; this one never changes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct meterdb_bucket_change_v2 {
    /// The point's id.
    pub point: u32,
    /// 1 when this is a delivery again of a bucket already sent whose figures changed since
    /// (late data, a correction, a delete, an invalidated reading, a meter replacement
    /// recorded late), else 0. Such buckets come before new ones.
    pub corrected: u8,
    /// The database's revision when the bucket was read (the write-ahead log's last durable
    /// sequence number). It never decreases, across reopens too; a bucket delivered again
    /// because its data changed has a higher revision than any earlier delivery of it. A
    /// receiver keeps, per bucket, the figures of the highest revision it has seen.
    pub revision: u64,
    /// The bucket with its quality counts, as `meterdb_rollup_row_v2` returns it.
    pub row: meterdb_bucket_row_v2,
}

impl From<&BucketChange> for meterdb_bucket_change_v2 {
    fn from(b: &BucketChange) -> Self {
        meterdb_bucket_change_v2 {
            point: b.point,
            corrected: u8::from(b.corrected),
            revision: b.revision,
            row: meterdb_bucket_row_v2::from(&b.row),
        }
    }
}

/// Buckets read by `meterdb_db_upload_cursor_read_buckets`, ordered as read (buckets
/// delivered again first, then new ones by bucket start and point); freed by
/// `meterdb_bucket_changes_free`. Like `meterdb_changes`: may outlive the database handle;
/// immutable.
#[derive(Debug)]
pub struct meterdb_bucket_changes {
    rows: Vec<meterdb_bucket_change>,
    rows_v2: Vec<meterdb_bucket_change_v2>,
}

impl Rows for meterdb_bucket_changes {
    const WHAT: &'static str = "buckets";
    type Row = meterdb_bucket_change;
    fn rows(&self) -> &[meterdb_bucket_change] {
        &self.rows
    }
}

impl RowsV2 for meterdb_bucket_changes {
    type RowV2 = meterdb_bucket_change_v2;
    fn rows_v2(&self) -> &[meterdb_bucket_change_v2] {
        &self.rows_v2
    }
}

impl meterdb_bucket_changes {
    pub(crate) fn new(v: &[BucketChange]) -> Self {
        meterdb_bucket_changes {
            rows: v.iter().map(meterdb_bucket_change::from).collect(),
            rows_v2: v.iter().map(meterdb_bucket_change_v2::from).collect(),
        }
    }
}

/// One upload cursor, filled by `meterdb_upload_cursor_list_row`. `name` belongs to the list
/// and lives until it is freed.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct meterdb_upload_cursor_info {
    /// The cursor's name.
    pub name: *const c_char,
    /// Id of the first change not acknowledged: every change below it is acknowledged.
    pub acked: u64,
    /// Id of the first change not read since the database was opened (or the last rewind).
    pub read: u64,
    /// Write-ahead log records written and not yet acknowledged (an upper bound on the
    /// backlog, counted in records, each of one or more changes).
    pub pending_records: u64,
}

/// The upload cursors of a database, by name, as `meterdb_db_upload_cursor_list` found them;
/// freed by `meterdb_upload_cursor_list_free`. May outlive the database handle; immutable.
#[derive(Debug)]
pub struct meterdb_upload_cursor_list {
    /// Owns the strings `rows[i].name` point into (moving a `CString` keeps its bytes).
    _names: Vec<CString>,
    rows: Vec<meterdb_upload_cursor_info>,
    /// Per cursor, its statistics positions: (tier, first bucket start, point) not acknowledged.
    buckets: Vec<Vec<(Tier, i64, u32)>>,
}

impl meterdb_upload_cursor_list {
    fn new(cursors: Vec<CursorInfo>) -> Self {
        let names: Vec<CString> = cursors.iter().map(|c| text(&c.name)).collect();
        let rows = cursors
            .iter()
            .zip(&names)
            .map(|(c, name)| meterdb_upload_cursor_info {
                name: name.as_ptr(),
                acked: c.acked,
                read: c.read,
                pending_records: c.pending_records,
            })
            .collect();
        meterdb_upload_cursor_list {
            _names: names,
            rows,
            buckets: cursors.into_iter().map(|c| c.buckets).collect(),
        }
    }
}

impl Rows for meterdb_upload_cursor_list {
    const WHAT: &'static str = "list";
    const NOUN: &'static str = "cursors";
    const OUT: &'static str = "out_info";
    type Row = meterdb_upload_cursor_info;
    fn rows(&self) -> &[meterdb_upload_cursor_info] {
        &self.rows
    }
}

/// One upload attempt, filled by `meterdb_upload_records_row`. The strings belong to the
/// result and live until it is freed.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct meterdb_upload_record {
    /// The cursor whose changes were sent.
    pub cursor: *const c_char,
    /// Why it failed (`""` for a successful upload).
    pub message: *const c_char,
    /// Id of the first change sent.
    pub first_id: u64,
    /// Id of the last change sent.
    pub last_id: u64,
    /// Samples sent.
    pub samples: u64,
    /// The time the platform reported (when `has_platform_time` is 1; else 0).
    pub platform_time: i64,
    /// When the attempt was made (ms since the epoch, UTC).
    pub at: i64,
    /// A `meterdb_upload_outcome`: `MDB_UPLOAD_OK` or `MDB_UPLOAD_FAILED`.
    pub outcome: i32,
    /// 1 when `platform_time` is present, else 0.
    pub has_platform_time: u8,
}

/// Upload records found by `meterdb_db_upload_records`, oldest first; freed by
/// `meterdb_upload_records_free`. May outlive the database handle; immutable.
#[derive(Debug)]
pub struct meterdb_upload_records {
    /// Owns the strings `rows[i].cursor` and `.message` point into (moving a `CString`
    /// keeps its bytes).
    _strings: Vec<(CString, CString)>,
    rows: Vec<meterdb_upload_record>,
}

impl meterdb_upload_records {
    fn new(records: &[UploadRecord]) -> Self {
        let strings: Vec<(CString, CString)> = records
            .iter()
            .map(|rec| {
                let message = match &rec.outcome {
                    UploadOutcome::Ok => CString::default(),
                    UploadOutcome::Failed(m) => text(m),
                };
                (text(&rec.cursor), message)
            })
            .collect();
        let rows = records
            .iter()
            .zip(&strings)
            .map(|(rec, (cursor, message))| meterdb_upload_record {
                cursor: cursor.as_ptr(),
                message: message.as_ptr(),
                first_id: rec.first_id,
                last_id: rec.last_id,
                samples: rec.samples,
                platform_time: rec.platform_time.unwrap_or(0),
                at: rec.at,
                outcome: match rec.outcome {
                    UploadOutcome::Ok => 0,
                    UploadOutcome::Failed(_) => 1,
                },
                has_platform_time: u8::from(rec.platform_time.is_some()),
            })
            .collect();
        meterdb_upload_records {
            _strings: strings,
            rows,
        }
    }
}

impl Rows for meterdb_upload_records {
    const WHAT: &'static str = "records";
    const NOUN: &'static str = "records";
    const OUT: &'static str = "out_record";
    type Row = meterdb_upload_record;
    fn rows(&self) -> &[meterdb_upload_record] {
        &self.rows
    }
}

/// What `meterdb_db_backup` did, filled into the caller's struct. A later version adds a
/// `_v2`; this one never changes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct meterdb_backup_report {
    /// Immutable files (segments, rollups, catalog) hard-linked (copied where the file
    /// system cannot link).
    pub linked_files: u64,
    /// Their bytes.
    pub linked_bytes: u64,
    /// Files copied: write-ahead log files, cursor files, the upload log.
    pub copied_files: u64,
    /// Their bytes.
    pub copied_bytes: u64,
    /// Every write acknowledged before the backup started has a log sequence number up to
    /// this one and is in the copy.
    pub wal_seq: u64,
}

impl From<&BackupReport> for meterdb_backup_report {
    fn from(r: &BackupReport) -> Self {
        meterdb_backup_report {
            linked_files: r.linked_files as u64,
            linked_bytes: r.linked_bytes,
            copied_files: r.copied_files as u64,
            copied_bytes: r.copied_bytes,
            wal_seq: r.wal_seq,
        }
    }
}

/// The totals of a bundle, filled by `meterdb_bundle_report_totals`. A later version adds a
/// `_v2`; this one never changes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct meterdb_bundle_totals {
    /// Points in the bundle's manifest.
    pub points: u64,
    /// Samples of all of them.
    pub samples: u64,
    /// Deletes of all of them.
    pub deletes: u64,
    /// For a cursor bundle, the id of its first change; 0 otherwise.
    pub first_id: u64,
    /// For a cursor bundle, the id of its last change (acknowledge it once the bundle is
    /// delivered); 0 otherwise.
    pub last_id: u64,
    /// Bytes of the bundle file.
    pub bytes: u64,
}

/// One point of a bundle, filled by `meterdb_bundle_report_point`. `key` belongs to the
/// report and lives until it is freed.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct meterdb_bundle_point {
    /// The point's key (which identifies it in the importing database).
    pub key: *const c_char,
    /// Samples of the point in the bundle.
    pub samples: u64,
    /// Deletes of the point in the bundle.
    pub deletes: u64,
    /// Smallest timestamp (sample time or delete start); `INT64_MAX` when none.
    pub min_ts: i64,
    /// Largest timestamp; `INT64_MIN` when none.
    pub max_ts: i64,
}

/// What a bundle holds (written, verified or imported), made by the bundle functions and
/// freed by `meterdb_bundle_report_free`. May outlive the database handle; immutable.
#[derive(Debug)]
pub struct meterdb_bundle_report {
    totals: meterdb_bundle_totals,
    /// Owns the strings `points[i].key` point into (moving a `CString` keeps its bytes).
    _keys: Vec<CString>,
    points: Vec<meterdb_bundle_point>,
}

impl Rows for meterdb_bundle_report {
    const WHAT: &'static str = "report";
    type Row = meterdb_bundle_point;
    fn rows(&self) -> &[meterdb_bundle_point] {
        &self.points
    }
}

impl From<&BundleReport> for meterdb_bundle_report {
    fn from(r: &BundleReport) -> Self {
        let keys: Vec<CString> = r.points.iter().map(|p| text(&p.meta.key)).collect();
        let points = r
            .points
            .iter()
            .zip(&keys)
            .map(|(p, k)| meterdb_bundle_point {
                key: k.as_ptr(),
                samples: p.samples,
                deletes: p.deletes,
                min_ts: p.min_ts,
                max_ts: p.max_ts,
            })
            .collect();
        meterdb_bundle_report {
            totals: meterdb_bundle_totals {
                points: r.points.len() as u64,
                samples: r.samples,
                deletes: r.deletes,
                first_id: r.ids.0,
                last_id: r.ids.1,
                bytes: r.bytes,
            },
            _keys: keys,
            points,
        }
    }
}

/// The totals of a retention pass, filled by `meterdb_retention_report_totals`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct meterdb_retention_totals {
    /// Partitions dropped (read them with `meterdb_retention_report_dropped`).
    pub dropped_partitions: u64,
    /// Bytes of the files dropped.
    pub dropped_bytes: u64,
    /// Cursors moved forward past changes they had not acknowledged (only with
    /// `meterdb_options_set_retention_drop_unacked`; each move is also in the upload log).
    pub forced_cursors: u64,
    /// 1 when writes are refused with `MDB_STORAGE_FULL` until room is made, else 0.
    pub full: u8,
}

/// What `meterdb_db_apply_retention` did; freed by `meterdb_retention_report_free`. May
/// outlive the database handle; immutable.
#[derive(Debug)]
pub struct meterdb_retention_report {
    report: RetentionReport,
    forced: Vec<CString>,
}

/// A string for C (a NUL inside becomes a space).
fn text(s: &str) -> CString {
    CString::new(s.replace('\0', " ")).unwrap_or_default()
}

/// A cursor name from C.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string.
unsafe fn name<'a>(p: *const c_char) -> FfiResult<&'a str> {
    // SAFETY: as this function's.
    unsafe { string(p, "name") }
}

/// Creates a cursor starting at change `from_id`: starts at the oldest change, reads up to
/// `from_id`, acknowledges what lies before it and rewinds. On a failure the half-made
/// cursor is dropped again.
fn create_from_id(d: &engine::Db, name: &str, from_id: u64) -> FfiResult {
    d.create_cursor(name, CursorStart::Beginning)?;
    let r = (|| -> FfiResult {
        let mut before = None;
        'read: loop {
            let v = d.cursor_read(name, 65_536)?;
            if v.is_empty() {
                break;
            }
            for c in &v {
                if c.id >= from_id {
                    break 'read;
                }
                before = Some(c.id);
            }
        }
        let next = d
            .cursors()
            .into_iter()
            .find(|c| c.name == name)
            .map(|c| c.read)
            .ok_or_else(|| Failure::new(meterdb_status::MDB_NOT_FOUND, "cursor vanished"))?;
        if from_id > next {
            return Err(Failure::invalid(format!(
                "change id {from_id} has not been written yet (the next change will have id \
                 {next})"
            )));
        }
        if let Some(id) = before {
            d.cursor_ack(name, id)?;
        }
        d.cursor_rewind(name)?;
        Ok(())
    })();
    if r.is_err() {
        let _ = d.drop_cursor(name);
    }
    r
}

/// Creates a durable upload cursor named `name` (one per destination: 1 to 64 characters of
/// `A-Z a-z 0-9 _ - .`), starting as `start` (a `meterdb_cursor_start`) says: at the oldest
/// change the log holds (`MDB_CURSOR_OLDEST`), at the next change written (`MDB_CURSOR_NOW`),
/// or at change id `from_id` (`MDB_CURSOR_FROM_ID`; `from_id` is ignored otherwise).
///
/// Errors: `MDB_ALREADY_EXISTS` when a cursor has that name; `MDB_INVALID_ARGUMENT` for a
/// bad name, an unknown `start`, or a `from_id` beyond the next change to be written.
///
/// # Safety
/// `db` is NULL or a live handle; `name` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_upload_cursor_create(
    db: *const meterdb_db,
    name: *const c_char,
    start: i32,
    from_id: u64,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_db(db, |d| {
            let name = self::name(name)?;
            match start {
                0 => Ok(d.create_cursor(name, CursorStart::Beginning)?),
                1 => Ok(d.create_cursor(name, CursorStart::Now)?),
                2 => create_from_id(d, name, from_id),
                s => Err(Failure::invalid(format!(
                    "cursor start {s} is not one of 0 (MDB_CURSOR_OLDEST), 1 (MDB_CURSOR_NOW), \
                     2 (MDB_CURSOR_FROM_ID)"
                ))),
            }
        }) }
    }
}

/// Removes an upload cursor (and its file). An unknown name gives `MDB_NOT_FOUND`.
///
/// # Safety
/// `db` is NULL or a live handle; `name` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_upload_cursor_drop(
    db: *const meterdb_db,
    name: *const c_char,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_db(db, |d| Ok(d.drop_cursor(self::name(name)?)?)) }
    }
}

/// The upload cursors, by name. On success `*out_list` is a new list (read it with
/// `meterdb_upload_cursor_list_count` and `_row`, free it with
/// `meterdb_upload_cursor_list_free`); on failure it is set to NULL.
///
/// # Safety
/// `db` is NULL or a live handle; `out_list` is NULL or writable for one pointer.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_upload_cursor_list(
    db: *const meterdb_db,
    out_list: *mut *mut meterdb_upload_cursor_list,
) -> meterdb_status {
    boundary! {
        // SAFETY: `out_list` is NULL or writable (caller's promise).
        let o = unsafe { out(out_list, "out_list") }?;
        // SAFETY: `db` is NULL or live (caller's promise).
        unsafe { answer(o, db, |d| {
            Ok(meterdb_upload_cursor_list::new(d.cursors()))
        }) }
    }
}

/// Writes the number of cursors in a list to `*n_out`.
///
/// # Safety
/// `list` is NULL or a live list; `n_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_upload_cursor_list_count(
    list: *const meterdb_upload_cursor_list,
    n_out: *mut usize,
) -> meterdb_status {
    // SAFETY: as this function's.
    unsafe { handles::count(list, n_out) }
}

/// Fills `*out_info` with cursor `index` of a list (by name order). An index past the end
/// gives `MDB_INVALID_ARGUMENT`.
///
/// # Safety
/// `list` is NULL or a live list; `out_info` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_upload_cursor_list_row(
    list: *const meterdb_upload_cursor_list,
    index: usize,
    out_info: *mut meterdb_upload_cursor_info,
) -> meterdb_status {
    // SAFETY: as this function's.
    unsafe { handles::row(list, index, out_info) }
}

/// The statistics position of cursor `index` of a list for tier `tier` (a `meterdb_tier`):
/// when the cursor has acknowledged buckets of that tier, `*found` is 1 and `*start` and
/// `*point` receive the first bucket not acknowledged (bucket start, point id); else `*found`
/// is 0 and the others are left alone.
///
/// # Safety
/// `list` is NULL or a live list; `start`, `point` and `found` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_upload_cursor_list_bucket_position(
    list: *const meterdb_upload_cursor_list,
    index: usize,
    tier: i32,
    start: *mut i64,
    point: *mut u32,
    found: *mut i32,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe {
            let l = handle(list, "list")?;
            let (start, point, found) = (out(start, "start")?, out(point, "point")?, out(found, "found")?);
            let tier = tier_from(tier)?;
            let e = l.buckets.get(index).ok_or_else(|| {
                Failure::invalid(format!("index {index} is past the {} cursors", l.buckets.len()))
            })?;
            match e.iter().find(|b| b.0 == tier) {
                Some(&(_, s, p)) => {
                    start.set(s);
                    point.set(p);
                    found.set(1);
                }
                None => found.set(0),
            }
            Ok(())
        }
    }
}

/// Frees a cursor list. NULL is allowed and does nothing.
///
/// # Safety
/// `list` is NULL or a list from `meterdb_db_upload_cursor_list` not yet freed, not used after.
#[no_mangle]
pub unsafe extern "C" fn meterdb_upload_cursor_list_free(list: *mut meterdb_upload_cursor_list) {
    // SAFETY: as this function's.
    unsafe { handles::free(list) }
}

/// Reads up to `max` changes after the cursor's read position, in write order: samples
/// (new, late, and corrections of samples sent before) and deletes, only durable ones (the
/// log is synced first when needed). The read position moves past them, in memory only:
/// `meterdb_db_upload_cursor_ack` makes progress durable, and after a reopen the cursor
/// starts again at its acknowledged position.
///
/// On success `*out_changes` is a new result (possibly of 0 rows: nothing new; read it with
/// `meterdb_changes_count` and `meterdb_changes_row` / `_rows`, free it with
/// `meterdb_changes_free`); on failure it is set to NULL. `max` 0 gives
/// `MDB_INVALID_ARGUMENT`; an unknown cursor `MDB_NOT_FOUND`.
///
/// # Safety
/// `db` is NULL or a live handle; `name` is NULL or a NUL-terminated string; `out_changes` is
/// NULL or writable for one pointer.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_upload_cursor_read(
    db: *const meterdb_db,
    name: *const c_char,
    max: usize,
    out_changes: *mut *mut meterdb_changes,
) -> meterdb_status {
    boundary! {
        // SAFETY: `out_changes` is NULL or writable (caller's promise).
        let o = unsafe { out(out_changes, "out_changes") }?;
        // SAFETY: `db` NULL or live, `name` NULL or NUL-terminated (caller's promise).
        unsafe { answer(o, db, |d| {
            let name = self::name(name)?;
            if max == 0 {
                return Err(Failure::invalid("max is 0: read at least one change"));
            }
            let v = d.cursor_read(name, max)?;
            Ok(meterdb_changes { rows: v.iter().map(meterdb_change::from).collect() })
        }) }
    }
}

/// Writes the number of changes in a result to `*n_out`.
///
/// # Safety
/// `changes` is NULL or a live result; `n_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_changes_count(
    changes: *const meterdb_changes,
    n_out: *mut usize,
) -> meterdb_status {
    // SAFETY: as this function's.
    unsafe { handles::count(changes, n_out) }
}

/// Copies change `index` of a result into `*out_row`. An index past the end gives
/// `MDB_INVALID_ARGUMENT`.
///
/// # Safety
/// `changes` is NULL or a live result; `out_row` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_changes_row(
    changes: *const meterdb_changes,
    index: usize,
    out_row: *mut meterdb_change,
) -> meterdb_status {
    // SAFETY: as this function's.
    unsafe { handles::row(changes, index, out_row) }
}

/// Copies changes `first`, `first + 1`, ... of a result into the caller's array, up to `cap`
/// of them, and their number to `*n_out`, as `meterdb_rollup_rows` does.
///
/// # Safety
/// `changes` is NULL or a live result; `out_rows` is NULL or writable for `cap` rows; `n_out`
/// is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_changes_rows(
    changes: *const meterdb_changes,
    first: usize,
    out_rows: *mut meterdb_change,
    cap: usize,
    n_out: *mut usize,
) -> meterdb_status {
    // SAFETY: as this function's.
    unsafe { handles::rows(changes, first, out_rows, cap, n_out) }
}

/// Frees a changes result. NULL is allowed and does nothing.
///
/// # Safety
/// `changes` is NULL or a result from `meterdb_db_upload_cursor_read` not yet freed, not used
/// after.
#[no_mangle]
pub unsafe extern "C" fn meterdb_changes_free(changes: *mut meterdb_changes) {
    // SAFETY: as this function's.
    unsafe { handles::free(changes) }
}

/// Acknowledges, durably, every change with id `<= up_to_id` (the last change the
/// destination has stored). After a crash or reopen the cursor resumes right after it.
/// Acknowledging the last acknowledged id again does nothing. Errors
/// (`MDB_INVALID_ARGUMENT`): an id not read yet, or one below an earlier acknowledgement;
/// `MDB_NOT_FOUND` for an unknown cursor.
///
/// # Safety
/// `db` is NULL or a live handle; `name` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_upload_cursor_ack(
    db: *const meterdb_db,
    name: *const c_char,
    up_to_id: u64,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_db(db, |d| Ok(d.cursor_ack(self::name(name)?, up_to_id)?)) }
    }
}

/// Moves the cursor's read positions (changes and every tier's buckets) back to its
/// acknowledged ones, so that the next reads send again what was not acknowledged (after a
/// failed upload).
///
/// # Safety
/// `db` is NULL or a live handle; `name` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_upload_cursor_rewind(
    db: *const meterdb_db,
    name: *const c_char,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_db(db, |d| Ok(d.cursor_rewind(self::name(name)?)?)) }
    }
}

/// Reads up to `max` closed statistics buckets of tier `tier` (a `meterdb_tier`), of every
/// point, after the cursor's position for that tier, ordered by (bucket start, point). A
/// bucket is closed when its end is at or before `watermark`, or, when `has_watermark` is 0,
/// the newest sample time the database has seen. Each bucket is sent once (a late sample
/// that changes a bucket already acknowledged is among the raw changes instead); buckets
/// without samples are skipped.
///
/// On success `*out_buckets` is a new result (read it with `meterdb_bucket_changes_count`
/// and `_row` / `_rows`, free it with `meterdb_bucket_changes_free`); on failure it is set to
/// NULL. `max` 0 or a bad tier gives `MDB_INVALID_ARGUMENT`; an unknown cursor
/// `MDB_NOT_FOUND`.
///
/// # Safety
/// `db` is NULL or a live handle; `name` is NULL or a NUL-terminated string; `out_buckets`
/// is NULL or writable for one pointer.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_upload_cursor_read_buckets(
    db: *const meterdb_db,
    name: *const c_char,
    tier: i32,
    max: usize,
    has_watermark: i32,
    watermark: i64,
    out_buckets: *mut *mut meterdb_bucket_changes,
) -> meterdb_status {
    boundary! {
        // SAFETY: `out_buckets` is NULL or writable (caller's promise).
        let o = unsafe { out(out_buckets, "out_buckets") }?;
        // SAFETY: `db` NULL or live, `name` NULL or NUL-terminated (caller's promise).
        unsafe { answer(o, db, |d| {
            let name = self::name(name)?;
            let tier = tier_from(tier)?;
            if max == 0 {
                return Err(Failure::invalid("max is 0: read at least one bucket"));
            }
            let wm = (has_watermark != 0).then_some(watermark);
            let v = d.cursor_read_buckets(name, tier, max, wm)?;
            Ok(meterdb_bucket_changes::new(&v))
        }) }
    }
}

/// Writes the number of buckets in a result to `*n_out`.
///
/// # Safety
/// `buckets` is NULL or a live result; `n_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_bucket_changes_count(
    buckets: *const meterdb_bucket_changes,
    n_out: *mut usize,
) -> meterdb_status {
    // SAFETY: as this function's.
    unsafe { handles::count(buckets, n_out) }
}

/// Copies bucket `index` of a result into `*out_row`. An index past the end gives
/// `MDB_INVALID_ARGUMENT`.
///
/// # Safety
/// `buckets` is NULL or a live result; `out_row` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_bucket_changes_row(
    buckets: *const meterdb_bucket_changes,
    index: usize,
    out_row: *mut meterdb_bucket_change,
) -> meterdb_status {
    // SAFETY: as this function's.
    unsafe { handles::row(buckets, index, out_row) }
}

/// Copies buckets `first`, `first + 1`, ... of a result into the caller's array, as
/// `meterdb_rollup_rows` does.
///
/// # Safety
/// `buckets` is NULL or a live result; `out_rows` is NULL or writable for `cap` rows; `n_out`
/// is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_bucket_changes_rows(
    buckets: *const meterdb_bucket_changes,
    first: usize,
    out_rows: *mut meterdb_bucket_change,
    cap: usize,
    n_out: *mut usize,
) -> meterdb_status {
    // SAFETY: as this function's.
    unsafe { handles::rows(buckets, first, out_rows, cap, n_out) }
}

/// Copies bucket `index` of a result into `*out_row` with its quality counts, revision and
/// `corrected` flag, as `meterdb_bucket_changes_row` does.
///
/// # Safety
/// `buckets` is NULL or a live result; `out_row` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_bucket_changes_row_v2(
    buckets: *const meterdb_bucket_changes,
    index: usize,
    out_row: *mut meterdb_bucket_change_v2,
) -> meterdb_status {
    // SAFETY: as this function's.
    unsafe { handles::row_v2(buckets, index, out_row) }
}

/// Copies buckets `first`, `first + 1`, ... of a result with their quality counts, revisions
/// and `corrected` flags into the caller's array, as `meterdb_rollup_rows` does.
///
/// # Safety
/// `buckets` is NULL or a live result; `out_rows` is NULL or writable for `cap` rows; `n_out`
/// is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_bucket_changes_rows_v2(
    buckets: *const meterdb_bucket_changes,
    first: usize,
    out_rows: *mut meterdb_bucket_change_v2,
    cap: usize,
    n_out: *mut usize,
) -> meterdb_status {
    // SAFETY: as this function's.
    unsafe { handles::rows_v2(buckets, first, out_rows, cap, n_out) }
}

/// Frees a buckets result. NULL is allowed and does nothing.
///
/// # Safety
/// `buckets` is NULL or a result from `meterdb_db_upload_cursor_read_buckets` not yet freed,
/// not used after.
#[no_mangle]
pub unsafe extern "C" fn meterdb_bucket_changes_free(buckets: *mut meterdb_bucket_changes) {
    // SAFETY: as this function's.
    unsafe { handles::free(buckets) }
}

/// Acknowledges, durably, every bucket of tier `tier` up to and including the bucket of
/// point `point` starting at `start` (in the order of
/// `meterdb_db_upload_cursor_read_buckets`). A bucket not read yet, or one below an earlier
/// acknowledgement, gives `MDB_INVALID_ARGUMENT`.
///
/// # Safety
/// `db` is NULL or a live handle; `name` is NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_upload_cursor_ack_buckets(
    db: *const meterdb_db,
    name: *const c_char,
    tier: i32,
    start: i64,
    point: u32,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_db(db, |d| {
            let name = self::name(name)?;
            let tier = tier_from(tier)?;
            Ok(d.cursor_ack_buckets(name, tier, start, point)?)
        }) }
    }
}

/// Appends a record of an upload attempt to the upload log, durably: the cursor `cursor`
/// whose changes `first_id` to `last_id` (`samples` samples) were sent at time `at`, with
/// outcome `outcome` (`MDB_UPLOAD_OK`, or `MDB_UPLOAD_FAILED` with `message` saying why:
/// required then, and ignored for a success), and the platform's time when `has_platform_time`
/// is non-zero. The oldest records go with the retention limits. A cursor the database does
/// not have gives `MDB_NOT_FOUND` (the engine would record it).
///
/// # Safety
/// `db` is NULL or a live handle; `cursor` is NULL or a NUL-terminated string; `message` is
/// NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_record_upload(
    db: *const meterdb_db,
    cursor: *const c_char,
    first_id: u64,
    last_id: u64,
    samples: u64,
    outcome: i32,
    message: *const c_char,
    has_platform_time: i32,
    platform_time: i64,
    at: i64,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_db(db, |d| {
            let cursor = string(cursor, "cursor")?;
            let message = string_opt(message, "message")?;
            let outcome = match outcome {
                0 => UploadOutcome::Ok,
                1 => UploadOutcome::Failed(
                    message
                        .ok_or_else(|| Failure::null("message (required for MDB_UPLOAD_FAILED)"))?
                        .to_string(),
                ),
                o => return Err(Failure::invalid(format!(
                    "outcome {o} is not one of 0 (MDB_UPLOAD_OK), 1 (MDB_UPLOAD_FAILED)"
                ))),
            };
            crate::result::known_cursor(d, cursor)?;
            let rec = UploadRecord {
                cursor: cursor.to_string(),
                first_id,
                last_id,
                samples,
                outcome,
                platform_time: (has_platform_time != 0).then_some(platform_time),
                at,
            };
            Ok(d.record_upload(&rec)?)
        }) }
    }
}

/// The upload records with `from <= at < to` whose outcome is `outcome`
/// (`MDB_UPLOADS_ALL` for every record), oldest first. On success `*out_records` is a new
/// result (read it with `meterdb_upload_records_count` and `_row`, free it with
/// `meterdb_upload_records_free`); on failure it is set to NULL.
///
/// # Safety
/// `db` is NULL or a live handle; `out_records` is NULL or writable for one pointer.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_upload_records(
    db: *const meterdb_db,
    from: i64,
    to: i64,
    outcome: i32,
    out_records: *mut *mut meterdb_upload_records,
) -> meterdb_status {
    boundary! {
        // SAFETY: `out_records` is NULL or writable (caller's promise).
        let o = unsafe { out(out_records, "out_records") }?;
        // SAFETY: `db` is NULL or live (caller's promise).
        unsafe { answer(o, db, |d| {
            let filter = match outcome {
                -1 => OutcomeFilter::All,
                0 => OutcomeFilter::Ok,
                1 => OutcomeFilter::Failed,
                o => return Err(Failure::invalid(format!(
                    "outcome {o} is not one of -1 (MDB_UPLOADS_ALL), 0 (MDB_UPLOAD_OK), \
                     1 (MDB_UPLOAD_FAILED)"
                ))),
            };
            if from > to {
                return Err(Failure::invalid(format!("the range's start {from} is after its end {to}")));
            }
            Ok(meterdb_upload_records::new(&d.upload_records(from, to, filter)?))
        }) }
    }
}

/// Writes the number of records in a result to `*n_out`.
///
/// # Safety
/// `records` is NULL or a live result; `n_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_upload_records_count(
    records: *const meterdb_upload_records,
    n_out: *mut usize,
) -> meterdb_status {
    // SAFETY: as this function's.
    unsafe { handles::count(records, n_out) }
}

/// Fills `*out_record` with record `index` of a result. An index past the end gives
/// `MDB_INVALID_ARGUMENT`.
///
/// # Safety
/// `records` is NULL or a live result; `out_record` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_upload_records_row(
    records: *const meterdb_upload_records,
    index: usize,
    out_record: *mut meterdb_upload_record,
) -> meterdb_status {
    // SAFETY: as this function's.
    unsafe { handles::row(records, index, out_record) }
}

/// Frees an upload records result. NULL is allowed and does nothing.
///
/// # Safety
/// `records` is NULL or a result from `meterdb_db_upload_records` not yet freed, not used
/// after.
#[no_mangle]
pub unsafe extern "C" fn meterdb_upload_records_free(records: *mut meterdb_upload_records) {
    // SAFETY: as this function's.
    unsafe { handles::free(records) }
}

/// Copies the database into directory `dir` (created; it must not hold a database) while
/// writes go on: the copy holds every write acknowledged before the call, its cursors and its
/// upload log, and opens with `meterdb_db_open` like the original. Immutable files are
/// hard-linked where the file system allows. `out_report` may be NULL; else it receives what
/// was linked and copied.
///
/// # Safety
/// `db` is NULL or a live handle; `dir` is NULL or a NUL-terminated string; `out_report` is
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_backup(
    db: *const meterdb_db,
    dir: *const c_char,
    out_report: *mut meterdb_backup_report,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe { with_db(db, |d| {
            let dir = string(dir, "dir")?;
            let o = out_opt(out_report, "out_report")?;
            let r = d.backup(dir)?;
            if let Some(o) = o {
                o.set(meterdb_backup_report::from(&r));
            }
            Ok(())
        }) }
    }
}

/// Hands a bundle report to the caller when they asked for one.
fn give_report(
    o: Option<crate::args::Out<*mut meterdb_bundle_report>>,
    r: FfiResult<BundleReport>,
) -> FfiResult {
    give_opt(o, r.map(|rep| meterdb_bundle_report::from(&rep)))
}

/// Writes a bundle file at `path` (replaced atomically): one self-contained file with a
/// header, checksums and a manifest, holding the samples with `from <= ts < to` of the
/// `n_points` points in `points`, as they are now. `points` NULL (with `n_points` 0) means
/// every point; `INT64_MIN` and `INT64_MAX` stand for the whole range. `out_report` may be
/// NULL; else `*out_report` is a new report of what was written (free it with `meterdb_bundle_report_free`), or NULL on failure.
///
/// Errors: `MDB_INVALID_ARGUMENT` for `from > to`; `MDB_NOT_FOUND` for an undefined point.
///
/// # Safety
/// `db` is NULL or a live handle; `path` is NULL or a NUL-terminated string; `points` is NULL
/// or readable for `n_points` ids; `out_report` is NULL or writable for one pointer.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_export_bundle(
    db: *const meterdb_db,
    path: *const c_char,
    points: *const u32,
    n_points: usize,
    from: i64,
    to: i64,
    out_report: *mut *mut meterdb_bundle_report,
) -> meterdb_status {
    boundary! {
        // SAFETY: `out_report` is NULL or writable (caller's promise).
        let o = unsafe { out_opt(out_report, "out_report") }?;
        // SAFETY: `db` NULL or live, `path` NULL or NUL-terminated, `points` NULL or readable
        // for `n_points` (caller's promise).
        let r = unsafe { with_db(db, |d| {
            let path = string(path, "path")?;
            let pts = if points.is_null() {
                if n_points != 0 {
                    return Err(Failure::null("points (with n_points > 0)"));
                }
                None
            } else {
                Some(slice(points, n_points, "points")?)
            };
            if from > to {
                return Err(Failure::invalid(format!(
                    "the range's start {from} is after its end {to}"
                )));
            }
            // INT64_MIN and INT64_MAX mean everything, as in the range reads.
            let clamp = |t: i64| t.clamp(MIN_TIMESTAMP, MAX_TIMESTAMP);
            Ok(d.export_bundle(path, pts, clamp(from), clamp(to))?)
        }) };
        give_report(o, r)
    }
}

/// Writes a bundle file at `path` of every change the upload cursor `cursor` has not read
/// yet (in write order, deletes included) and moves its read position past them. Acknowledge
/// the report's `last_id` (`meterdb_bundle_report_totals`) with
/// `meterdb_db_upload_cursor_ack` once the bundle is delivered; rewind to make it again.
/// `out_report` as for `meterdb_db_export_bundle`.
///
/// # Safety
/// `db` is NULL or a live handle; `path` and `cursor` are NULL or NUL-terminated strings;
/// `out_report` is NULL or writable for one pointer.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_export_cursor_bundle(
    db: *const meterdb_db,
    path: *const c_char,
    cursor: *const c_char,
    out_report: *mut *mut meterdb_bundle_report,
) -> meterdb_status {
    boundary! {
        // SAFETY: `out_report` is NULL or writable (caller's promise).
        let o = unsafe { out_opt(out_report, "out_report") }?;
        // SAFETY: as this function's.
        let r = unsafe { with_db(db, |d| {
            let path = string(path, "path")?;
            let cursor = string(cursor, "cursor")?;
            Ok(d.export_cursor_bundle(path, cursor)?)
        }) };
        give_report(o, r)
    }
}

/// Checks the bundle file at `path` completely without applying it: every checksum, and the
/// manifest against the content. A damaged bundle gives `MDB_CORRUPTION` naming the file and
/// offset of the first problem. `out_report` as for `meterdb_db_export_bundle`.
///
/// # Safety
/// `db` is NULL or a live handle; `path` is NULL or a NUL-terminated string; `out_report` is
/// NULL or writable for one pointer.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_verify_bundle(
    db: *const meterdb_db,
    path: *const c_char,
    out_report: *mut *mut meterdb_bundle_report,
) -> meterdb_status {
    boundary! {
        // SAFETY: `out_report` is NULL or writable (caller's promise).
        let o = unsafe { out_opt(out_report, "out_report") }?;
        // SAFETY: as this function's.
        let r = unsafe { with_db(db, |d| Ok(d.verify_bundle(string(path, "path")?)?)) };
        give_report(o, r)
    }
}

/// Verifies the bundle file at `path` completely, then applies it: its points are defined by
/// key (with the bundle's metadata), its samples written and its deletes applied, in order.
/// A bundle that fails verification (`MDB_CORRUPTION`) changes nothing; importing the same
/// bundle twice gives the same data as once. `out_report` as for `meterdb_db_export_bundle`.
///
/// # Safety
/// `db` is NULL or a live handle; `path` is NULL or a NUL-terminated string; `out_report` is
/// NULL or writable for one pointer.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_import_bundle(
    db: *const meterdb_db,
    path: *const c_char,
    out_report: *mut *mut meterdb_bundle_report,
) -> meterdb_status {
    boundary! {
        // SAFETY: `out_report` is NULL or writable (caller's promise).
        let o = unsafe { out_opt(out_report, "out_report") }?;
        // SAFETY: as this function's.
        let r = unsafe { with_db(db, |d| Ok(d.import_bundle(string(path, "path")?)?)) };
        give_report(o, r)
    }
}

/// Fills `*out_totals` with a bundle report's totals.
///
/// # Safety
/// `report` is NULL or a live report; `out_totals` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_bundle_report_totals(
    report: *const meterdb_bundle_report,
    out_totals: *mut meterdb_bundle_totals,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe {
            let r = handle(report, "report")?;
            out(out_totals, "out_totals")?.set(r.totals);
            Ok(())
        }
    }
}

/// Fills `*out_point` with point `index` of a bundle report (0 to `totals.points - 1`, in the
/// manifest's order). An index past the end gives `MDB_INVALID_ARGUMENT`.
///
/// # Safety
/// `report` is NULL or a live report; `out_point` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_bundle_report_point(
    report: *const meterdb_bundle_report,
    index: usize,
    out_point: *mut meterdb_bundle_point,
) -> meterdb_status {
    // SAFETY: as this function's.
    unsafe { handles::row(report, index, out_point) }
}

/// Frees a bundle report. NULL is allowed and does nothing.
///
/// # Safety
/// `report` is NULL or a report from a bundle function not yet freed, not used after.
#[no_mangle]
pub unsafe extern "C" fn meterdb_bundle_report_free(report: *mut meterdb_bundle_report) {
    // SAFETY: as this function's.
    unsafe { handles::free(report) }
}

/// Applies the retention limits set when the database was opened
/// (`meterdb_options_set_retention`) now (a flush does it too): drops whole partitions older
/// than a tier's age limit, and the oldest while a tier's files take more than its byte cap.
/// Raw data a cursor has not acknowledged is never dropped by age; when a raw byte cap would
/// need it, writes are refused with `MDB_STORAGE_FULL` (or, with
/// `meterdb_options_set_retention_drop_unacked`, the oldest unacknowledged changes are
/// dropped and the drop recorded in the upload log).
///
/// `out_report` may be NULL; else `*out_report` is a new report (read it with
/// `meterdb_retention_report_totals`, `_dropped` and `_forced_cursor`; free it with
/// `meterdb_retention_report_free`), or NULL on failure.
///
/// # Safety
/// `db` is NULL or a live handle; `out_report` is NULL or writable for one pointer.
#[no_mangle]
pub unsafe extern "C" fn meterdb_db_apply_retention(
    db: *const meterdb_db,
    out_report: *mut *mut meterdb_retention_report,
) -> meterdb_status {
    boundary! {
        // SAFETY: `out_report` is NULL or writable (caller's promise).
        let o = unsafe { out_opt(out_report, "out_report") }?;
        // SAFETY: `db` is NULL or live (caller's promise).
        let r = unsafe { with_db(db, |d| Ok(d.apply_retention()?)) };
        give_opt(o, r.map(|report| {
            let forced = report.forced_cursors.iter().map(|s| text(s)).collect();
            meterdb_retention_report { report, forced }
        }))
    }
}

/// Fills `*out_totals` with a retention report's totals.
///
/// # Safety
/// `report` is NULL or a live report; `out_totals` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_retention_report_totals(
    report: *const meterdb_retention_report,
    out_totals: *mut meterdb_retention_totals,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe {
            let r = handle(report, "report")?;
            out(out_totals, "out_totals")?.set(meterdb_retention_totals {
                dropped_partitions: r.report.dropped.len() as u64,
                dropped_bytes: r.report.dropped_bytes,
                forced_cursors: r.forced.len() as u64,
                full: u8::from(r.report.full),
            });
            Ok(())
        }
    }
}

/// Partition `index` dropped by a retention pass: `*tier` receives 0 for raw samples, else
/// the `meterdb_tier`, and `*start` the partition's start. An index past the end gives
/// `MDB_INVALID_ARGUMENT`.
///
/// # Safety
/// `report` is NULL or a live report; `tier` and `start` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn meterdb_retention_report_dropped(
    report: *const meterdb_retention_report,
    index: usize,
    tier: *mut i32,
    start: *mut i64,
) -> meterdb_status {
    boundary! {
        // SAFETY: as this function's.
        unsafe {
            let r = handle(report, "report")?;
            let (tier, start) = (out(tier, "tier")?, out(start, "start")?);
            let d = &r.report.dropped;
            let &(k, s) = d.get(index).ok_or_else(|| {
                Failure::invalid(format!("index {index} is past the {} partitions", d.len()))
            })?;
            tier.set(i32::from(k));
            start.set(s);
            Ok(())
        }
    }
}

/// The name of cursor `index` moved forward by a retention pass, NUL-terminated, owned by the
/// report (valid until it is freed); `""` when `report` is NULL or `index` is past the end.
///
/// # Safety
/// `report` is NULL or a live report.
#[no_mangle]
pub unsafe extern "C" fn meterdb_retention_report_forced_cursor(
    report: *const meterdb_retention_report,
    index: usize,
) -> *const c_char {
    boundary! {
        // SAFETY: as this function's.
        match unsafe { handle(report, "report") } {
            Ok(r) => r.forced.get(index).map_or(c"".as_ptr(), |s| s.as_ptr()),
            Err(_) => c"".as_ptr(),
        }
    }
}

/// Frees a retention report. NULL is allowed and does nothing.
///
/// # Safety
/// `report` is NULL or a report from `meterdb_db_apply_retention` not yet freed, not used
/// after.
#[no_mangle]
pub unsafe extern "C" fn meterdb_retention_report_free(report: *mut meterdb_retention_report) {
    // SAFETY: as this function's.
    unsafe { handles::free(report) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    /// The layouts the Java and Python bindings read by offset (64-bit platforms).
    #[test]
    fn layouts_are_fixed() {
        assert_eq!(size_of::<meterdb_change>(), 40);
        assert_eq!(offset_of!(meterdb_change, point), 32);
        assert_eq!(offset_of!(meterdb_change, kind), 36);
        assert_eq!(offset_of!(meterdb_change, quality), 37);
        assert_eq!(size_of::<meterdb_bucket_change>(), 152);
        assert_eq!(offset_of!(meterdb_bucket_change, row), 8);
        assert_eq!(size_of::<meterdb_bucket_change_v2>(), 192);
        assert_eq!(offset_of!(meterdb_bucket_change_v2, corrected), 4);
        assert_eq!(offset_of!(meterdb_bucket_change_v2, revision), 8);
        assert_eq!(offset_of!(meterdb_bucket_change_v2, row), 16);
        assert_eq!(size_of::<meterdb_upload_cursor_info>(), 32);
        assert_eq!(size_of::<meterdb_upload_record>(), 64);
        assert_eq!(offset_of!(meterdb_upload_record, outcome), 56);
        assert_eq!(offset_of!(meterdb_upload_record, has_platform_time), 60);
        assert_eq!(size_of::<meterdb_backup_report>(), 40);
        assert_eq!(size_of::<meterdb_bundle_totals>(), 48);
        assert_eq!(size_of::<meterdb_bundle_point>(), 40);
        assert_eq!(size_of::<meterdb_retention_totals>(), 32);
    }
}
