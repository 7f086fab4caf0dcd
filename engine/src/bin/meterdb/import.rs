//! `meterdb import`: CSV files (plain or gzip) into a database, in batches.
//!
//! Rows are checked one by one before they reach the engine, so a bad row is skipped and
//! reported (file, line, reason) and never makes a batch fail. Every input file is opened
//! once before the database is, so a misspelt name changes nothing. Later input errors (a
//! broken gzip stream, a file without the needed header) stop that file and make the exit
//! code 1; the other files are still imported and everything written is made durable.

use std::collections::HashMap;
use std::fs::File;
use std::io::{IsTerminal, Read};
use std::path::Path;
use std::time::Instant;

use csv::ByteRecord;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use meterdb::catalog::validate_key;
use meterdb::time::parse_timestamp;
use meterdb::{
    Db, Durability, Options, PointFilter, PointId, PointKind, PointMeta, Quality, Register,
    Timestamp, WriteBatch,
};

use crate::out::{engine_msg, warn, CliError, Stdout};
use crate::ImportArgs;

/// Samples per `Db::write`.
const BATCH: usize = 10_000;
/// Rejected rows printed before only counting.
const SHOW_REJECTS: u64 = 20;

pub fn run(a: ImportArgs) -> Result<(), CliError> {
    let start = Instant::now();
    // The metadata file is checked whole before the database is touched.
    let metas = match &a.meta {
        Some(p) => read_meta(p)?,
        None => Vec::new(),
    };
    // A misspelt file name stops the command before the database is touched.
    for f in &a.files {
        File::open(f).map_err(|e| CliError::fail(format!("{}: {e}", f.display())))?;
    }
    let progress = Progress::new(&a.files);
    // No fsync per batch: the import syncs once, at the end.
    let opts = Options {
        durability: Durability::None,
        tz_offset_min: a.tz,
        ..Options::default()
    };
    let db = Db::open(&a.db, opts)
        .map_err(|e| CliError::fail(format!("open {}: {e}", a.db.display())))?;
    let mut imp = Importer {
        db: &db,
        kind: a.kind,
        register: a.register,
        ids: HashMap::new(),
        last: None,
        batch: WriteBatch::with_capacity(BATCH),
        progress: &progress,
        rows: 0,
        written: 0,
        rejected: 0,
        new_points: 0,
        shapes: HashMap::new(),
    };
    for (m, register_given) in metas {
        imp.define(m, register_given).map_err(CliError::Fail)?;
    }

    let mut input_failed = false;
    for f in &a.files {
        match imp.import_file(f) {
            Ok(()) => {}
            Err(FileError::Input(m)) => {
                progress.suspend(|| warn(&m));
                input_failed = true;
            }
            Err(FileError::Db(m)) => return Err(CliError::Fail(m)),
        }
    }
    imp.write_batch().map_err(CliError::Fail)?;
    if imp.rejected > SHOW_REJECTS {
        let more = imp.rejected - SHOW_REJECTS;
        progress.suspend(|| warn(&format!("{more} more rejected rows not shown")));
    }
    progress.set_file("flushing, compacting, syncing");

    // Durable when the command returns: segments written and synced, the WAL synced.
    let step = |what: &str, r: meterdb::Result<()>| {
        r.map_err(|e| CliError::fail(format!("{what} {}: {e}", a.db.display())))
    };
    step("flush", db.flush())?;
    step("compact", db.compact())?;
    step("sync", db.sync())?;
    let total_points = db.points(&PointFilter::default()).len();
    let hints = imp.register_hints();
    let Importer {
        rows,
        written,
        rejected,
        new_points,
        ..
    } = imp;
    step("close", db.close())?;
    drop(progress);

    let secs = start.elapsed().as_secs_f64();
    let mut out = Stdout::new();
    let summary = [
        format!("files            {}", a.files.len()),
        format!("rows read        {rows}"),
        format!("samples written  {written}"),
        format!("points           {new_points} new, {total_points} total"),
        format!("rejected rows    {rejected}"),
        format!("elapsed          {secs:.2} s"),
        format!(
            "rows/s           {:.0}",
            if secs > 0.0 { rows as f64 / secs } else { 0.0 }
        ),
    ];
    for l in summary {
        out.line(&l)?;
    }
    out.flush()?;
    if !hints.is_empty() {
        let shown = hints.len().min(SHOW_REJECTS as usize);
        for (key, why) in &hints[..shown] {
            warn(&format!(
                "point {key:?} looks like a cumulative register ({why}) but was created as a \
                 gauge, which has no consumption"
            ));
        }
        if hints.len() > shown {
            warn(&format!("{} more such points", hints.len() - shown));
        }
        warn(&format!(
            "to import registers as counters: `meterdb import --db {} --kind counter FILE...` \
             into a new database, or a --meta file with `point,kind` rows saying `counter`",
            a.db.display()
        ));
    }
    if input_failed {
        return Err(CliError::Failed);
    }
    Ok(())
}

/// Why a file's import stopped.
#[derive(Debug)]
enum FileError {
    /// The input could not be read; other files go on.
    Input(String),
    /// The database failed; the import stops.
    Db(String),
}

#[derive(Debug)]
struct Importer<'a> {
    db: &'a Db,
    /// Kind of points created from the data, if given.
    kind: Option<PointKind>,
    /// Register of the counters defined, if given.
    register: Option<Register>,
    ids: HashMap<String, PointId>,
    /// The last key seen and its id: rows usually come grouped by point.
    last: Option<(String, PointId)>,
    batch: WriteBatch,
    progress: &'a Progress,
    rows: u64,
    written: u64,
    rejected: u64,
    new_points: u64,
    /// The shape of each point this import created as a gauge by default (no `--kind`):
    /// whether it looks like a register that should have been a counter.
    shapes: HashMap<PointId, Shape>,
}

/// How a series' readings move from one to the next (in the order read).
#[derive(Debug, Default)]
struct Shape {
    key: String,
    last: Option<f64>,
    rises: u64,
    falls: u64,
    steps: u64,
}

impl Shape {
    fn add(&mut self, v: f64) {
        if let Some(p) = self.last {
            self.steps += 1;
            self.rises += u64::from(v > p);
            self.falls += u64::from(v < p);
        }
        self.last = Some(v);
    }

    /// Why the series looks like a cumulative register, if it does: a name that says so,
    /// or readings that rise in most steps and fall in almost none (at least 10 steps).
    fn register_like(&self) -> Option<String> {
        let k = self.key.to_ascii_lowercase();
        if [
            "register",
            "cumulative",
            "counter",
            "meter-reading",
            "total-kwh",
        ]
        .iter()
        .any(|w| k.contains(w))
        {
            return Some("its name says so".into());
        }
        let n = self.steps as f64;
        (self.steps >= 10 && self.falls as f64 <= 0.01 * n && self.rises as f64 >= 0.5 * n).then(
            || {
                format!(
                    "its readings rise in {:.0}% of {} steps and fall in {}",
                    100.0 * self.rises as f64 / n,
                    self.steps,
                    self.falls
                )
            },
        )
    }
}

/// Positions of the columns in a data file.
#[derive(Debug)]
struct DataColumns {
    point: usize,
    ts: usize,
    value: usize,
    quality: Option<usize>,
    count: usize,
}

impl Importer<'_> {
    /// Defines a point from the metadata file. A counter whose row names no register takes
    /// `--register`, else keeps the one it has (a new one: import).
    fn define(&mut self, mut m: PointMeta, register_given: bool) -> Result<(), String> {
        let key = m.key.clone();
        let old = self.db.point_id(&key).and_then(|id| self.db.point(id));
        let existed = old.is_some();
        if m.kind == PointKind::Counter && !register_given {
            match (self.register, old) {
                (Some(r), _) => m.register = r,
                (None, Some(old)) if old.kind == PointKind::Counter => m.register = old.register,
                _ => {}
            }
        }
        let id = self
            .db
            .define_point(m)
            .map_err(|e| format!("define point {key:?}: {e}"))?;
        if !existed {
            self.new_points += 1;
        }
        self.ids.insert(key, id);
        Ok(())
    }

    fn import_file(&mut self, path: &Path) -> Result<(), FileError> {
        let name = path.display().to_string();
        self.progress.set_file(&name);
        let input = open_input(path, Some(self.progress))
            .map_err(|e| FileError::Input(format!("{name}: {e}")))?;
        let mut rdr = csv_reader(input);
        let cols = data_columns(&mut rdr).map_err(|e| FileError::Input(format!("{name}: {e}")))?;
        let mut rec = ByteRecord::new();
        loop {
            match rdr.read_byte_record(&mut rec) {
                Ok(true) => {}
                Ok(false) => return Ok(()),
                Err(e) => {
                    let line = e
                        .position()
                        .map_or(String::new(), |p| format!(" near line {}", p.line()));
                    return Err(FileError::Input(format!("{name}: read error{line}: {e}")));
                }
            }
            self.rows += 1;
            let line = rec.position().map_or(0, |p| p.line());
            match parse_row(&rec, &cols) {
                Ok((key, ts, value, q)) => match self.point(key) {
                    Ok(id) => {
                        if let Some(s) = self.shapes.get_mut(&id) {
                            s.add(value);
                        }
                        self.batch.put_with_quality(id, ts, value, q);
                        if self.batch.len() >= BATCH {
                            self.write_batch().map_err(FileError::Db)?;
                        }
                    }
                    Err(Reject::Row(reason)) => self.reject(&name, line, &reason),
                    Err(Reject::Db(m)) => return Err(FileError::Db(m)),
                },
                Err(reason) => self.reject(&name, line, &reason),
            }
        }
    }

    /// The id of a key, creating the point on first sight.
    fn point(&mut self, key: &str) -> Result<PointId, Reject> {
        if let Some((k, id)) = &self.last {
            if k == key {
                return Ok(*id);
            }
        }
        let id = match self.ids.get(key) {
            Some(&id) => id,
            None => {
                validate_key(key).map_err(|e| Reject::Row(engine_msg(&e)))?;
                let id = match self.db.point_id(key) {
                    Some(id) => id,
                    None => {
                        let id = match self.kind {
                            Some(kind) => {
                                let mut m = PointMeta::new(key, kind);
                                if kind == PointKind::Counter {
                                    m.register = self.register.unwrap_or_default();
                                }
                                self.db.define_point(m)
                            }
                            None => self.db.ensure_point(key),
                        }
                        .map_err(|e| Reject::Db(format!("define point {key:?}: {e}")))?;
                        self.new_points += 1;
                        if self.kind.is_none() {
                            let shape = Shape {
                                key: key.to_string(),
                                ..Shape::default()
                            };
                            self.shapes.insert(id, shape);
                        }
                        id
                    }
                };
                self.ids.insert(key.to_string(), id);
                id
            }
        };
        self.last = Some((key.to_string(), id));
        Ok(id)
    }

    /// The points created as gauges that look like registers, with why, in key order.
    fn register_hints(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .shapes
            .values()
            .filter_map(|s| s.register_like().map(|why| (s.key.clone(), why)))
            .collect();
        out.sort();
        out
    }

    fn write_batch(&mut self) -> Result<(), String> {
        if self.batch.is_empty() {
            return Ok(());
        }
        self.db
            .write(&self.batch)
            .map_err(|e| format!("write to {}: {e}", self.db.path().display()))?;
        self.written += self.batch.len() as u64;
        self.batch.clear();
        Ok(())
    }

    fn reject(&mut self, file: &str, line: u64, reason: &str) {
        self.rejected += 1;
        if self.rejected <= SHOW_REJECTS {
            self.progress
                .suspend(|| warn(&format!("rejected {file}:{line}: {reason}")));
        }
    }
}

/// Why a row's point could not be had.
#[derive(Debug)]
enum Reject {
    /// The key is bad: the row is rejected.
    Row(String),
    /// The database failed.
    Db(String),
}

/// A row's key, timestamp, value and quality, or why it is rejected.
fn parse_row<'r>(
    rec: &'r ByteRecord,
    c: &DataColumns,
) -> Result<(&'r str, Timestamp, f64, u8), String> {
    if rec.len() != c.count {
        return Err(format!("expected {} fields, found {}", c.count, rec.len()));
    }
    let key = field(rec, c.point, "point")?.trim();
    if key.is_empty() {
        return Err("point key is empty".into());
    }
    let ts = parse_timestamp(field(rec, c.ts, "ts")?).map_err(|e| engine_msg(&e))?;
    let value = parse_value(field(rec, c.value, "value")?)?;
    let q = match c.quality {
        Some(i) => parse_quality(field(rec, i, "quality")?)?,
        None => Quality::GOOD.0,
    };
    Ok((key, ts, value, q))
}

fn field<'r>(rec: &'r ByteRecord, i: usize, name: &str) -> Result<&'r str, String> {
    let b = rec.get(i).unwrap_or_default();
    std::str::from_utf8(b).map_err(|_| format!("{name} is not valid UTF-8"))
}

fn parse_value(s: &str) -> Result<f64, String> {
    meterdb::sample::parse_value(s).map_err(|e| engine_msg(&e))
}

fn parse_quality(s: &str) -> Result<u8, String> {
    meterdb::sample::parse_quality(s).map_err(|e| engine_msg(&e))
}

/// The names of a header line: trimmed, lowercase, without a UTF-8 byte order mark.
fn header_names(rdr: &mut csv::Reader<Box<dyn Read>>) -> Result<Vec<String>, String> {
    let h = rdr.byte_headers().map_err(|e| format!("read error: {e}"))?;
    if h.is_empty() || (h.len() == 1 && h[0].is_empty()) {
        return Err("no header line".into());
    }
    h.iter()
        .enumerate()
        .map(|(i, b)| {
            let b = if i == 0 {
                b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(b)
            } else {
                b
            };
            std::str::from_utf8(b)
                .map(|s| s.trim().to_ascii_lowercase())
                .map_err(|_| "header is not valid UTF-8".to_string())
        })
        .collect()
}

/// Finds each of `known` in the header (`None` when absent); refuses unknown and repeated
/// names and missing `required` ones.
fn find_columns(
    names: &[String],
    known: &[&str],
    required: usize,
) -> Result<Vec<Option<usize>>, String> {
    let mut at = vec![None; known.len()];
    for (i, n) in names.iter().enumerate() {
        let Some(k) = known.iter().position(|k| k == n) else {
            return Err(format!(
                "header has an unknown column {n:?} (expected {})",
                known.join(", ")
            ));
        };
        if at[k].is_some() {
            return Err(format!("header names column {n:?} twice"));
        }
        at[k] = Some(i);
    }
    for (k, name) in known.iter().enumerate().take(required) {
        if at[k].is_none() {
            return Err(format!(
                "header lacks the column {name:?} (a header line `{}` is required)",
                known[..required].join(",")
            ));
        }
    }
    Ok(at)
}

fn data_columns(rdr: &mut csv::Reader<Box<dyn Read>>) -> Result<DataColumns, String> {
    let names = header_names(rdr)?;
    let at = find_columns(&names, &["point", "ts", "value", "quality"], 3)?;
    Ok(DataColumns {
        point: at[0].unwrap_or_default(),
        ts: at[1].unwrap_or_default(),
        value: at[2].unwrap_or_default(),
        quality: at[3],
        count: names.len(),
    })
}

/// A CSV reader that keeps going over rows of any length (they are checked one by one).
fn csv_reader(input: Box<dyn Read>) -> csv::Reader<Box<dyn Read>> {
    csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .buffer_capacity(256 * 1024)
        .from_reader(input)
}

/// Opens a file, through gzip when its name ends in `.gz`, counting the bytes read on the
/// progress bar if there is one.
fn open_input(path: &Path, progress: Option<&Progress>) -> std::io::Result<Box<dyn Read>> {
    let f = File::open(path)?;
    let raw: Box<dyn Read> = match progress.and_then(|p| p.bar.as_ref()) {
        Some(bar) => Box::new(bar.wrap_read(f)),
        None => Box::new(f),
    };
    let gz = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    Ok(if gz {
        Box::new(flate2::read::MultiGzDecoder::new(
            std::io::BufReader::with_capacity(256 * 1024, raw),
        ))
    } else {
        raw
    })
}

/// Columns of the metadata file; the first two are required.
const META_COLUMNS: [&str; 9] = [
    "point",
    "kind",
    "unit",
    "precision",
    "energy_type",
    "interval_ms",
    "multiplier",
    "register",
    "rollover",
];

/// Reads and checks the whole metadata file, each point's metadata with whether its row
/// names a register. Any bad row fails the command.
fn read_meta(path: &Path) -> Result<Vec<(PointMeta, bool)>, CliError> {
    let name = path.display().to_string();
    let input = open_input(path, None).map_err(|e| CliError::fail(format!("{name}: {e}")))?;
    let mut rdr = csv_reader(input);
    let names = header_names(&mut rdr).map_err(|e| CliError::fail(format!("{name}: {e}")))?;
    let at = find_columns(&names, &META_COLUMNS, 2)
        .map_err(|e| CliError::fail(format!("{name}: {e}")))?;
    let mut metas = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut bad = 0u64;
    let mut rec = ByteRecord::new();
    loop {
        match rdr.read_byte_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(CliError::fail(format!("{name}: read error: {e}"))),
        }
        let line = rec.position().map_or(0, |p| p.line());
        let r = meta_row(&rec, &at, names.len()).and_then(|m| match seen.get(&m.0.key) {
            Some(first) => Err(format!(
                "point {:?} is defined on line {first} too",
                m.0.key
            )),
            None => Ok(m),
        });
        match r {
            Ok(m) => {
                seen.insert(m.0.key.clone(), line);
                metas.push(m);
            }
            Err(reason) => {
                bad += 1;
                if bad <= SHOW_REJECTS {
                    warn(&format!("rejected {name}:{line}: {reason}"));
                }
            }
        }
    }
    if bad > 0 {
        return Err(CliError::fail(format!(
            "{name}: {bad} bad metadata row{}; nothing imported",
            if bad == 1 { "" } else { "s" }
        )));
    }
    Ok(metas)
}

/// A row of the metadata file: the point's metadata, and whether the row names a register.
fn meta_row(
    rec: &ByteRecord,
    at: &[Option<usize>],
    count: usize,
) -> Result<(PointMeta, bool), String> {
    if rec.len() != count {
        return Err(format!("expected {count} fields, found {}", rec.len()));
    }
    let get = |k: usize| -> Result<&str, String> {
        match at[k] {
            Some(i) => field(rec, i, META_COLUMNS[k]).map(str::trim),
            None => Ok(""),
        }
    };
    let key = get(0)?;
    validate_key(key).map_err(|e| engine_msg(&e))?;
    let kind = PointKind::parse(get(1)?).map_err(|e| engine_msg(&e))?;
    let mut m = PointMeta::new(key, kind).with_unit(get(2)?);
    let p = get(3)?;
    if !p.is_empty() {
        m.precision = Some(
            p.parse()
                .map_err(|_| format!("precision {p:?} is not an integer 0..=18"))?,
        );
    }
    m.energy_type = get(4)?.to_string();
    let i = get(5)?;
    if !i.is_empty() {
        m.interval_ms = Some(
            i.parse()
                .map_err(|_| format!("interval_ms {i:?} is not an integer"))?,
        );
    }
    let mul = get(6)?;
    if !mul.is_empty() {
        m.multiplier = mul
            .parse()
            .map_err(|_| format!("multiplier {mul:?} is not a number"))?;
    }
    let reg = get(7)?;
    if !reg.is_empty() {
        if kind != PointKind::Counter {
            return Err(format!(
                "register {reg:?} given for a gauge (only counters have one)"
            ));
        }
        m.register = Register::parse(reg).map_err(|e| engine_msg(&e))?;
    }
    let roll = get(8)?;
    if !roll.is_empty() {
        if kind != PointKind::Counter {
            return Err(format!(
                "rollover {roll:?} given for a gauge (only counters have one)"
            ));
        }
        m.rollover = Some(
            roll.parse()
                .map_err(|_| format!("rollover {roll:?} is not a number"))?,
        );
    }
    m.validate().map_err(|e| engine_msg(&e))?;
    Ok((m, !reg.is_empty()))
}

/// A progress bar of input bytes read, on stderr, only when stderr is a terminal.
#[derive(Debug)]
struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    fn new(files: &[std::path::PathBuf]) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let total = files
            .iter()
            .filter_map(|f| std::fs::metadata(f).ok())
            .map(|m| m.len())
            .sum();
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        Progress { bar: Some(bar) }
    }

    fn set_file(&self, name: &str) {
        if let Some(b) = &self.bar {
            b.set_message(name.to_string());
        }
    }

    /// Runs `f` (which prints to stderr) with the bar out of the way.
    fn suspend(&self, f: impl FnOnce()) {
        match &self.bar {
            Some(b) => b.suspend(f),
            None => f(),
        }
    }
}

impl Drop for Progress {
    /// Clears the bar, also on an early return, before anything else is printed.
    fn drop(&mut self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked() {
        assert_eq!(parse_value(" 1234.567 "), Ok(1234.567));
        assert_eq!(parse_value("-0").map(f64::to_bits), Ok((-0.0f64).to_bits()));
        for bad in ["", "NaN", "inf", "-infinity", "abc", "1,5"] {
            assert!(parse_value(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn columns_are_found_by_name() {
        let names: Vec<String> = ["value", "point", "ts"].map(String::from).to_vec();
        let at = find_columns(&names, &["point", "ts", "value", "quality"], 3).unwrap();
        assert_eq!(at, vec![Some(1), Some(2), Some(0), None]);
        let missing: Vec<String> = ["point", "value"].map(String::from).to_vec();
        assert!(find_columns(&missing, &["point", "ts", "value"], 3).is_err());
        let twice: Vec<String> = ["point", "ts", "value", "ts"].map(String::from).to_vec();
        assert!(find_columns(&twice, &["point", "ts", "value"], 3).is_err());
    }
}
