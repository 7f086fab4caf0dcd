//! The format documents (`docs/format/*.md`) against the code, so that they cannot drift.
//!
//! Every document holds a worked example: a small file of its kind written by the real code,
//! shown as annotated hex in a block opened by `` ```hex example `` (lines of `OFFSET  BYTES
//! annotation`), and what the real decoder reads from it, in a block opened by
//! `` ```text decoded ``. For each document this test
//!
//! 1. parses the hex (every line's offset must be the count of the bytes before it);
//! 2. writes those bytes as a file of that kind (in a database directory where the decoder
//!    is `Db`) and decodes them with the real code, and requires the decoded values to be
//!    those the `decoded` block states;
//! 3. requires the annotations to be those an independent reading of the layout the
//!    document describes gives (the `Dump` walkers below: field by field, every checksum
//!    recomputed, every byte accounted for);
//! 4. requires the code to write those very bytes today from the example's input.
//!
//! After a deliberate format change (a new version), regenerate the blocks with
//! `MDB_WRITE_FORMAT_DOCS=1 cargo test -p meterdb --test format_docs` and review the diff.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use meterdb::catalog::Catalog;
use meterdb::codec::{self, CodecOptions};
use meterdb::io::{MemStorage, Storage};
use meterdb::manifest::Manifest;
use meterdb::rollup::{self, Bucket, Rules};
use meterdb::segment::{self, EncodedBlock, PointData, Segment, SegmentId};
use meterdb::unit::UnitCatalog;
use meterdb::{
    CoalCoefficient, CollectionConfig, Columns, CursorStart, DataItemCode, Db, Device, DeviceKind,
    Durability, Enterprise, Options, OutcomeFilter, PointKind, PointMeta, Quality, Register,
    Replacement, Tier, TierSet, UnitCatalogUpdate, UpdateMode, UploadOutcome, UploadRecord,
    WriteBatch,
};

/// 2026-01-01T00:00:00+08:00.
const T0: i64 = 1_767_196_800_000;
const MIN15: i64 = 900_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;

// ---------------------------------------------------------------------------------------
// Documents and their blocks

fn writing() -> bool {
    std::env::var_os("MDB_WRITE_FORMAT_DOCS").is_some()
}

/// One document of `docs/format/`.
struct Doc {
    path: PathBuf,
    text: String,
    changed: bool,
}

impl Doc {
    fn load(name: &str) -> Doc {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../docs/format")
            .join(name);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        Doc {
            path,
            text,
            changed: false,
        }
    }

    /// The byte range of the content of the block opened by the line "```{info}".
    fn block_range(&self, info: &str) -> std::ops::Range<usize> {
        let open = format!("```{info}\n");
        let mut found = self.text.match_indices(&open);
        let (at, _) = found
            .next()
            .unwrap_or_else(|| panic!("{}: no block ```{info}", self.path.display()));
        assert!(
            found.next().is_none(),
            "{}: two blocks ```{info}",
            self.path.display()
        );
        let start = at + open.len();
        let len = self.text[start..]
            .find("```")
            .unwrap_or_else(|| panic!("{}: block ```{info} not closed", self.path.display()));
        start..start + len
    }

    fn block(&self, info: &str) -> &str {
        &self.text[self.block_range(info)]
    }

    fn set_block(&mut self, info: &str, content: &str) {
        let r = self.block_range(info);
        if self.text[r.clone()] != *content {
            self.text.replace_range(r, content);
            self.changed = true;
        }
    }

    /// Checks the example `name` (`""` for a document's only one) and returns its bytes.
    ///
    /// `now` is what the code writes today for the example's input (`None` where it cannot
    /// be reproduced); `dump` the document's layout, as a walker.
    fn example(&mut self, name: &str, now: Option<&[u8]>, dump: fn(&mut Dump<'_>)) -> Vec<u8> {
        let info = info("hex example", name);
        if writing() {
            let now = now.expect("an example that cannot be reproduced is written by hand");
            self.set_block(&info, &render(now, dump));
        }
        let bytes = parse_hex(self.block(&info))
            .unwrap_or_else(|e| panic!("{} ```{info}: {e}", self.path.display()));
        assert_eq!(
            self.block(&info),
            render(&bytes, dump),
            "{} ```{info}: the annotations differ from the layout the document describes",
            self.path.display()
        );
        if let Some(now) = now {
            assert!(
                now == &bytes[..],
                "{} ```{info}: the code now writes other bytes for this example:\n{}",
                self.path.display(),
                render(now, dump)
            );
        }
        bytes
    }

    /// Checks that the `decoded` block `name` states exactly `lines`.
    fn decoded(&mut self, name: &str, lines: &[String]) {
        let info = info("text decoded", name);
        let mut want = lines.join("\n");
        want.push('\n');
        if writing() {
            self.set_block(&info, &want);
        }
        assert_eq!(
            self.block(&info),
            want,
            "{} ```{info}: the real decoder reads other values than the document states",
            self.path.display()
        );
    }
}

impl Drop for Doc {
    fn drop(&mut self) {
        if self.changed && !std::thread::panicking() {
            std::fs::write(&self.path, &self.text).unwrap();
        }
    }
}

fn info(kind: &str, name: &str) -> String {
    if name.is_empty() {
        kind.to_string()
    } else {
        format!("{kind} {name}")
    }
}

/// Parses `OFFSET  HH HH ..  annotation` lines (lines that start with a space are headings).
fn parse_hex(block: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for (no, line) in block.lines().enumerate() {
        let no = no + 1;
        if line.trim().is_empty() || line.starts_with(' ') {
            continue; // a heading inside the dump
        }
        let (off, rest) = line
            .split_once(' ')
            .ok_or_else(|| format!("line {no}: no bytes"))?;
        let off = usize::from_str_radix(off, 16)
            .map_err(|_| format!("line {no}: {off:?} is not a hex offset"))?;
        if off != out.len() {
            return Err(format!(
                "line {no}: offset {off:#x}, but {:#x} bytes come before it",
                out.len()
            ));
        }
        let rest = rest.trim_start();
        let hex = rest.split("  ").next().unwrap_or("");
        for tok in hex.split_whitespace() {
            if tok.len() != 2 {
                return Err(format!("line {no}: {tok:?} is not one byte"));
            }
            out.push(
                u8::from_str_radix(tok, 16)
                    .map_err(|_| format!("line {no}: {tok:?} is not hex"))?,
            );
        }
    }
    Ok(out)
}

fn render(bytes: &[u8], dump: fn(&mut Dump<'_>)) -> String {
    let mut d = Dump {
        b: bytes,
        pos: 0,
        out: String::new(),
    };
    dump(&mut d);
    assert_eq!(
        d.pos,
        bytes.len(),
        "the layout accounts for {} of {} bytes",
        d.pos,
        bytes.len()
    );
    d.out
}

// ---------------------------------------------------------------------------------------
// The walker: an independent reading of each layout, annotating every field

struct Dump<'a> {
    b: &'a [u8],
    pos: usize,
    out: String,
}

fn magic_text(b: &[u8]) -> String {
    b.iter()
        .map(|&c| match c {
            0 => "\\0".to_string(),
            c => (c as char).to_string(),
        })
        .collect()
}

fn tiers_text(t: u8) -> String {
    let names: Vec<&str> = Tier::ALL
        .iter()
        .enumerate()
        .filter(|(k, _)| t & (1 << k) != 0)
        .map(|(_, t)| t.as_str())
        .collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(" ")
    }
}

impl<'a> Dump<'a> {
    /// `n` bytes as one field (16 bytes to a line), annotated on its first line.
    fn field(&mut self, n: usize, label: impl Into<String>) -> &'a [u8] {
        let label = label.into();
        let end = self.pos + n;
        assert!(
            end <= self.b.len(),
            "{label}: {n} bytes at {:#x}, past the end ({:#x})",
            self.pos,
            self.b.len()
        );
        assert!(n > 0, "{label}: an empty field");
        let bytes = &self.b[self.pos..end];
        for (i, chunk) in bytes.chunks(16).enumerate() {
            let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
            let line = format!(
                "{:04x}  {:<47}  {}",
                self.pos + 16 * i,
                hex.join(" "),
                if i == 0 { label.as_str() } else { "" }
            );
            self.out.push_str(line.trim_end());
            self.out.push('\n');
        }
        self.pos = end;
        bytes
    }
    fn peek(&self, n: usize) -> &'a [u8] {
        assert!(self.pos + n <= self.b.len(), "read past the end");
        &self.b[self.pos..self.pos + n]
    }
    fn left(&self) -> usize {
        self.b.len() - self.pos
    }
    fn magic(&mut self, n: usize) {
        let m = magic_text(self.peek(n));
        self.field(n, format!("magic \"{m}\""));
    }
    fn u8(&mut self, name: &str) -> u8 {
        let v = self.peek(1)[0];
        self.field(1, format!("{name} u8 = {v}"));
        v
    }
    fn u32(&mut self, name: &str) -> u32 {
        let v = u32::from_le_bytes(self.peek(4).try_into().unwrap());
        self.field(4, format!("{name} u32 = {v}"));
        v
    }
    fn u64(&mut self, name: &str) -> u64 {
        let v = u64::from_le_bytes(self.peek(8).try_into().unwrap());
        self.field(8, format!("{name} u64 = {v}"));
        v
    }
    fn i64(&mut self, name: &str) -> i64 {
        let v = i64::from_le_bytes(self.peek(8).try_into().unwrap());
        self.field(8, format!("{name} i64 = {v}"));
        v
    }
    fn f64(&mut self, name: &str) -> f64 {
        let v = f64::from_le_bytes(self.peek(8).try_into().unwrap());
        self.field(8, format!("{name} f64 = {v:?}"));
        v
    }
    fn peek_uvarint(&self) -> (u64, usize) {
        let mut v = 0u64;
        for i in 0..10 {
            let b = self.peek(i + 1)[i];
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return (v, i + 1);
            }
        }
        panic!("uvarint of more than 10 bytes at {:#x}", self.pos)
    }
    fn uvarint(&mut self, name: &str) -> u64 {
        let (v, n) = self.peek_uvarint();
        self.field(n, format!("{name} uvarint = {v}"));
        v
    }
    fn ivarint(&mut self, name: &str) -> i64 {
        let (z, n) = self.peek_uvarint();
        let v = (z >> 1) as i64 ^ -((z & 1) as i64);
        self.field(n, format!("{name} ivarint = {v}"));
        v
    }
    fn text(&mut self, n: usize, name: &str) -> String {
        let s = String::from_utf8(self.peek(n).to_vec()).expect("UTF-8");
        self.field(n, format!("{name} = {s:?}"));
        s
    }
    /// A `uvarint` length and that many bytes of UTF-8.
    fn lp_text(&mut self, name: &str) -> String {
        let n = self.uvarint(&format!("{name} length"));
        if n == 0 {
            return String::new();
        }
        self.text(n as usize, name)
    }
    /// A CRC-32 of `self.b[from..here]`, checked.
    fn crc(&mut self, from: usize, what: &str) {
        let want = crc32fast::hash(&self.b[from..self.pos]);
        let v = u32::from_le_bytes(self.peek(4).try_into().unwrap());
        assert_eq!(v, want, "{what}: checksum at {:#x}", self.pos);
        self.field(
            4,
            format!("crc32 of {what} (bytes {from:#x}..{:#x})", self.pos),
        );
    }
}

// ---------------------------------------------------------------------------------------
// Layouts

fn dump_manifest(d: &mut Dump<'_>) {
    d.magic(8);
    d.u32("version");
    d.u64("next_file_no");
    d.u64("flushed_seq");
    d.u64("catalog_file_no");
    let tz = i32::from_le_bytes(d.peek(4).try_into().unwrap());
    d.field(
        4,
        format!(
            "tz_offset_min i32 = {tz} (UTC{:+03}:{:02})",
            tz / 60,
            tz.abs() % 60
        ),
    );
    let n = d.uvarint("n_segments");
    for i in 0..n {
        let k = d.peek(1)[0];
        d.field(1, format!("segment {i}: kind u8 = {k}"));
        d.u64("  file_no");
        d.u64("  generation");
        d.i64("  part_start");
        d.i64("  part_end");
    }
    d.crc(0, "everything before it");
}

/// Point metadata as tagged fields (catalog, WAL define records, bundles).
fn dump_point_meta(d: &mut Dump<'_>, indent: &str) {
    let n = d.uvarint(&format!("{indent}n_fields"));
    for _ in 0..n {
        let tag = d.peek(1)[0];
        let name = match tag {
            1 => "key",
            2 => "kind",
            3 => "unit",
            4 => "precision",
            5 => "energy type",
            6 => "interval_ms",
            7 => "multiplier",
            8 => "tag",
            9 => "rollover",
            10 => "coal coefficient",
            11 => "tiers",
            12 => "register",
            13 => "meter replacement",
            _ => "unknown (skipped)",
        };
        d.field(1, format!("{indent}tag {tag}: {name}"));
        let len = d.uvarint(&format!("{indent}  len")) as usize;
        let i = format!("{indent}  ");
        match tag {
            1 | 3 | 5 => {
                d.text(len, &format!("{i}{name}"));
            }
            2 => {
                let k = d.peek(1)[0];
                let s = ["gauge", "counter"].get(k as usize).unwrap_or(&"?");
                d.field(1, format!("{i}kind u8 = {k} ({s})"));
            }
            4 => {
                d.u8(&format!("{i}precision"));
            }
            6 => {
                d.i64(&format!("{i}interval_ms"));
            }
            7 | 9 => {
                d.f64(&format!("{i}{name}"));
            }
            8 => {
                d.lp_text(&format!("{i}tag name"));
                d.lp_text(&format!("{i}tag value"));
            }
            10 => {
                d.i64(&format!("{i}valid from"));
                d.f64(&format!("{i}kgce per unit"));
            }
            11 => {
                let t = d.peek(1)[0];
                d.field(1, format!("{i}tiers u8 = {t:#07b} ({})", tiers_text(t)));
            }
            12 => {
                let r = d.peek(1)[0];
                let s = ["import", "net"].get(r as usize).unwrap_or(&"?");
                d.field(1, format!("{i}register u8 = {r} ({s})"));
            }
            13 => {
                d.i64(&format!("{i}ts"));
                d.f64(&format!("{i}old meter's final reading"));
                d.f64(&format!("{i}new meter's initial reading"));
            }
            _ => {
                d.field(len, format!("{i}body"));
            }
        }
    }
}

fn dump_catalog(d: &mut Dump<'_>) {
    d.magic(8);
    d.u32("version");
    let n = d.uvarint("n_points");
    for i in 0..n {
        d.out.push_str(&format!("      point {i}:\n"));
        dump_point_meta(d, "  ");
    }
    d.crc(0, "everything before it");
}

#[derive(Clone, Copy, PartialEq)]
enum ColType {
    Ts,
    Val,
    Qual,
}

/// Frames of `n` unsigned values (`DeltaOfDelta`, and inside the decimal kinds' FOR frames).
fn dump_frame(d: &mut Dump<'_>, n: usize, indent: &str) {
    let h = d.peek(1)[0];
    let w = usize::from(h & 0x7f);
    let exc = h & 0x80 != 0;
    d.field(
        1,
        format!(
            "{indent}frame of {n}: width {w}{}",
            if exc { ", exceptions follow" } else { "" }
        ),
    );
    let packed = (n * w).div_ceil(8);
    if packed > 0 {
        let vals: Vec<u64> = (0..n)
            .map(|k| {
                let mut v = 0u64;
                for bit in 0..w {
                    let at = k * w + bit;
                    let byte = d.peek(packed)[at / 8];
                    v |= u64::from((byte >> (at % 8)) & 1) << bit;
                }
                v
            })
            .collect();
        let shown: Vec<String> = vals.iter().take(8).map(|v| v.to_string()).collect();
        let more = if n > 8 { " ..." } else { "" };
        d.field(
            packed,
            format!("{indent}  packed: {}{more}", shown.join(" ")),
        );
    }
    if exc {
        let m = usize::from(d.u8(&format!("{indent}  exceptions - 1"))) + 1;
        for _ in 0..m {
            d.u8(&format!("{indent}  index"));
            d.uvarint(&format!("{indent}  value"));
        }
    }
}

fn dump_frames(d: &mut Dump<'_>, n: usize, for_frames: bool) {
    let mut left = n;
    while left > 0 {
        let k = left.min(128);
        if for_frames {
            d.ivarint("  frame reference");
        }
        dump_frame(d, k, "  ");
        left -= k;
    }
}

/// One self-describing column of `end - d.pos` bytes.
fn dump_column(d: &mut Dump<'_>, ty: ColType, end: usize) {
    let tag = d.peek(1)[0];
    let kind = tag & 0x7f;
    let zstd = tag & 0x80 != 0;
    let name = match kind {
        0 => "raw",
        1 => "dod",
        2 => "const",
        3 => "rle",
        4 => "decimal-delta",
        5 => "decimal-dod",
        6 => "gorilla",
        7 => "decimal-plain",
        _ => "unknown",
    };
    let what = match ty {
        ColType::Ts => "timestamps",
        ColType::Val => "values",
        ColType::Qual => "quality",
    };
    d.field(
        1,
        format!(
            "{what}: codec tag {tag:#04x} = {name}{}",
            if zstd { " + zstd" } else { "" }
        ),
    );
    if matches!(kind, 4 | 5 | 7) {
        d.u8("  scale");
    }
    let count = d.uvarint("  count") as usize;
    if zstd {
        d.uvarint("  raw_len");
        let n = end - d.pos;
        d.field(n, "  zstd frame");
        return;
    }
    match kind {
        0 => {
            for k in 0..count {
                match ty {
                    ColType::Ts => d.i64(&format!("  t{k}")),
                    ColType::Val => d.f64(&format!("  v{k}")) as i64,
                    ColType::Qual => i64::from(d.u8(&format!("  q{k}"))),
                };
            }
        }
        1 => {
            d.ivarint("  t0");
            if count >= 2 {
                d.ivarint("  d1 = t1 - t0");
            }
            dump_frames(d, count.saturating_sub(2), false);
        }
        2 => {
            if ty == ColType::Qual {
                d.u8("  every quality");
            } else {
                d.f64("  every value");
            }
        }
        3 => {
            let mut seen = 0;
            while seen < count {
                if ty == ColType::Qual {
                    d.u8("  run of quality");
                } else {
                    d.f64("  run of value");
                }
                seen += d.uvarint("    length") as usize;
            }
        }
        4 => {
            d.ivarint("  i0");
            dump_frames(d, count.saturating_sub(1), true);
        }
        5 => {
            d.ivarint("  i0");
            if count >= 2 {
                d.ivarint("  d1 = i1 - i0");
            }
            dump_frames(d, count.saturating_sub(2), true);
        }
        7 => dump_frames(d, count, true),
        6 => {
            let n = end - d.pos;
            d.field(n, "  bit string (first value's 64 bits, then XOR fields)");
        }
        _ => panic!("unknown codec tag {tag}"),
    }
    assert_eq!(d.pos, end, "column ends at {:#x}, not {end:#x}", d.pos);
}

/// The index of a segment file, read ahead: per block its offset and column lengths.
fn segment_index(b: &[u8]) -> Vec<(usize, Vec<usize>)> {
    let foot = b.len() - 32;
    let index_offset = u64::from_le_bytes(b[foot..foot + 8].try_into().unwrap()) as usize;
    let mut d = Dump {
        b,
        pos: index_offset,
        out: String::new(),
    };
    let n = d.uvarint("n");
    let mut out = Vec::new();
    for _ in 0..n {
        d.uvarint("point");
        let off = d.uvarint("offset") as usize;
        let nc = d.uvarint("columns");
        let cols = (0..nc).map(|_| d.uvarint("len") as usize).collect();
        d.field(4, "crc");
        d.uvarint("count");
        if segment_version(b) == 1 {
            d.field(8 * 7, "stats");
        } else {
            d.uvarint("min_ts");
            d.uvarint("max_ts");
            if segment_kind(b) == 0 {
                d.field(16, "first, last");
            }
        }
        out.push((off, cols));
    }
    out
}

/// The format version in a segment file's header.
fn segment_version(b: &[u8]) -> u32 {
    u32::from_le_bytes(b[8..12].try_into().unwrap())
}

/// The kind in a segment file's header flags (0 raw, 2 to 5 the tiers).
fn segment_kind(b: &[u8]) -> u32 {
    u32::from_le_bytes(b[12..16].try_into().unwrap()) & 0xff
}

fn dump_segment(d: &mut Dump<'_>) {
    d.out.push_str("      header:\n");
    d.magic(8);
    d.u32("version");
    let flags = u32::from_le_bytes(d.peek(4).try_into().unwrap());
    let kind_name = ["raw", "minute", "hour", "day", "month", "year"]
        .get((flags & 0xff) as usize)
        .unwrap_or(&"?");
    d.field(4, format!("flags u32 = {flags} (kind {kind_name})"));
    let file_no = d.u64("file_no");
    d.u64("generation");
    d.i64("part_start");
    d.i64("part_end");
    d.crc(0, "the header");
    let index = segment_index(d.b);
    for (bi, (off, cols)) in index.iter().enumerate() {
        assert_eq!(*off, d.pos, "block {bi} is not where the index says");
        d.out
            .push_str(&format!("      block {bi}: {} columns\n", cols.len()));
        for (ci, &len) in cols.iter().enumerate() {
            let end = d.pos + len;
            if flags == 0 {
                let ty = [ColType::Ts, ColType::Val, ColType::Qual][ci];
                dump_column(d, ty, end);
            } else if ci == 0 {
                dump_column(d, ColType::Ts, end);
            } else if d.peek(1)[0] == 0xff {
                d.field(1, format!("column {ci}: 0xFF = same as"));
                let j = d.peek(1)[0];
                d.field(1, format!("  column {j}"));
            } else {
                d.out.push_str(&format!("      column {ci}:\n"));
                dump_column(d, ColType::Val, end);
            }
        }
    }
    let index_start = d.pos;
    d.out.push_str("      index:\n");
    let n = d.uvarint("n_blocks");
    for _ in 0..n {
        let point = d.uvarint("point");
        let offset = d.uvarint("offset");
        let nc = d.uvarint("n_columns");
        let mut len = 0;
        for c in 0..nc {
            len += d.uvarint(&format!("  column {c} length"));
        }
        let want = crc32fast::hash(
            &[
                &file_no.to_le_bytes()[..],
                &(point as u32).to_le_bytes(),
                &offset.to_le_bytes(),
                &d.b[offset as usize..(offset + len) as usize],
            ]
            .concat(),
        );
        let got = u32::from_le_bytes(d.peek(4).try_into().unwrap());
        assert_eq!(got, want, "block checksum");
        d.field(4, "crc32 of file_no u64, point u32, offset u64, the block");
        d.uvarint("count");
        if segment_version(d.b) == 1 {
            d.i64("min_ts");
            d.i64("max_ts");
            for s in ["min", "max", "sum", "first", "last"] {
                d.f64(s);
            }
        } else {
            d.uvarint("min_ts - part_start");
            d.uvarint("max_ts - min_ts");
            if flags == 0 {
                d.f64("first");
                d.f64("last");
            }
        }
    }
    let nt = d.uvarint("n_tombstones");
    for _ in 0..nt {
        d.uvarint("point");
        d.i64("  from");
        d.i64("  to");
    }
    let index_end = d.pos;
    d.out.push_str("      footer:\n");
    d.u64("index_offset");
    d.u64("index_len");
    let want = crc32fast::hash(&d.b[index_start..index_end]);
    let got = u32::from_le_bytes(d.peek(4).try_into().unwrap());
    assert_eq!(got, want, "index checksum");
    d.field(
        4,
        format!("crc32 of the index (bytes {index_start:#x}..{index_end:#x})"),
    );
    d.u32("version");
    d.magic(8);
}

fn dump_ts_column(d: &mut Dump<'_>) {
    let end = d.b.len();
    dump_column(d, ColType::Ts, end);
}
fn dump_value_column(d: &mut Dump<'_>) {
    let end = d.b.len();
    dump_column(d, ColType::Val, end);
}
fn dump_quality_column(d: &mut Dump<'_>) {
    let end = d.b.len();
    dump_column(d, ColType::Qual, end);
}

/// WAL framing, with `payload` for each record's payload.
fn dump_wal(d: &mut Dump<'_>, payload: fn(&mut Dump<'_>, usize)) {
    d.out.push_str("      file header:\n");
    d.magic(8);
    d.u32("version");
    d.u64("first_seq");
    d.crc(0, "the header");
    while d.left() > 0 {
        let start = d.pos;
        let len = u32::from_le_bytes(d.peek(4).try_into().unwrap()) as usize;
        let seq = u64::from_le_bytes(d.b[start + 4..start + 12].try_into().unwrap());
        d.out.push_str(&format!("      record, seq {seq}:\n"));
        d.u32("len");
        d.u64("seq");
        let want = crc32fast::hash(
            &[&d.b[start..start + 12], &d.b[start + 16..start + 16 + len]].concat(),
        );
        let got = u32::from_le_bytes(d.peek(4).try_into().unwrap());
        assert_eq!(got, want, "record checksum");
        d.field(4, "crc32 of len, seq and the payload");
        let end = d.pos + len;
        payload(d, len);
        assert_eq!(d.pos, end, "payload of record {seq}");
    }
}

fn dump_db_record(d: &mut Dump<'_>, _len: usize) {
    let t = d.peek(1)[0];
    match t {
        1 => {
            d.field(1, "0x01 samples");
            let n = d.uvarint("n") as usize;
            for k in 0..n {
                d.u32(&format!("point[{k}]"));
            }
            for k in 0..n {
                d.i64(&format!("ts[{k}]"));
            }
            for k in 0..n {
                d.f64(&format!("value[{k}]"));
            }
            for k in 0..n {
                d.u8(&format!("quality[{k}]"));
            }
        }
        2 => {
            d.field(1, "0x02 define");
            d.u32("point");
            dump_point_meta(d, "");
        }
        3 => {
            d.field(1, "0x03 delete");
            d.u32("point");
            d.i64("from");
            d.i64("to");
        }
        _ => panic!("unknown record type {t}"),
    }
}

fn dump_db_wal(d: &mut Dump<'_>) {
    dump_wal(d, dump_db_record);
}

fn dump_upload_record(d: &mut Dump<'_>, _len: usize) {
    d.u8("record version");
    d.lp_text("cursor");
    d.u64("first_id");
    d.u64("last_id");
    d.u64("samples");
    let o = d.peek(1)[0];
    d.field(
        1,
        format!(
            "outcome u8 = {o} ({})",
            if o == 0 { "ok" } else { "failed" }
        ),
    );
    if o == 1 {
        d.lp_text("message");
    }
    let f = d.u8("platform_time flag");
    if f == 1 {
        d.i64("platform_time");
    }
    d.i64("at");
}

fn dump_upload_log(d: &mut Dump<'_>) {
    dump_wal(d, dump_upload_record);
}

fn dump_cursor(d: &mut Dump<'_>) {
    d.magic(8);
    let version = d.u32("version");
    d.lp_text("name");
    let acked = u64::from_le_bytes(d.peek(8).try_into().unwrap());
    d.field(
        8,
        format!(
            "acked u64 = {acked} (seq {}, index {})",
            acked >> 22,
            acked & ((1 << 22) - 1)
        ),
    );
    d.i64("bucket_origin");
    let n = d.uvarint("n_tiers");
    for _ in 0..n {
        let t = d.peek(1)[0];
        d.field(1, format!("tier u8 = {t} ({})", tiers_text(1 << (t - 1))));
        d.i64("  start");
        d.u32("  point");
    }
    if version == 2 {
        let n = d.uvarint("n_again_tiers");
        for _ in 0..n {
            let t = d.peek(1)[0];
            d.field(1, format!("tier u8 = {t} ({})", tiers_text(1 << (t - 1))));
            let m = d.uvarint("  n");
            for _ in 0..m {
                d.i64("  start");
                d.u32("  point");
                d.uvarint("  mark");
            }
        }
    }
    d.crc(0, "everything before it");
}

fn dump_fields(d: &mut Dump<'_>, what: &str, names: &[(u8, &str, char)]) {
    let n = d.uvarint(&format!("{what}: n_fields"));
    for _ in 0..n {
        let tag = d.peek(1)[0];
        let (name, ty) = names
            .iter()
            .find(|x| x.0 == tag)
            .map_or(("unknown", 'b'), |x| (x.1, x.2));
        d.field(1, format!("tag {tag}: {name}"));
        let len = d.uvarint("  len") as usize;
        match ty {
            's' => {
                d.text(len, &format!("  {name}"));
            }
            'u' => {
                d.u8(&format!("  {name}"));
            }
            'i' => {
                d.i64(&format!("  {name}"));
            }
            'f' => {
                d.f64(&format!("  {name}"));
            }
            'c' => {
                d.i64("  from");
                d.i64("  to");
                d.f64("  kgce");
            }
            _ => {
                d.field(len, "  body");
            }
        }
    }
}

fn dump_unit_catalog(d: &mut Dump<'_>) {
    d.magic(8);
    d.u32("version");
    d.u64("body_len");
    d.out.push_str("      body:\n");
    d.u64("catalog_version");
    dump_fields(
        d,
        "enterprise",
        &[
            (1, "credit code", 's'),
            (2, "name", 's'),
            (3, "region code", 's'),
            (4, "industry code", 's'),
            (5, "address", 's'),
        ],
    );
    let n = d.uvarint("n_devices");
    for _ in 0..n {
        dump_fields(
            d,
            "device",
            &[
                (1, "id", 's'),
                (2, "kind", 'u'),
                (3, "name", 's'),
                (4, "model", 's'),
                (5, "serial", 's'),
                (6, "installed_at", 'i'),
            ],
        );
    }
    let n = d.uvarint("n_configs");
    for _ in 0..n {
        dump_fields(
            d,
            "config",
            &[
                (1, "point key", 's'),
                (2, "data-item code", 's'),
                (3, "kind", 'u'),
                (4, "energy type", 's'),
                (5, "unit", 's'),
                (6, "precision", 'u'),
                (7, "interval_ms", 'i'),
                (8, "multiplier", 'f'),
                (9, "coal coefficient", 'c'),
                (10, "device id", 's'),
            ],
        );
    }
    let n = d.uvarint("n_history");
    for _ in 0..n {
        d.u64("history: version");
        d.u64("  base_version");
        d.i64("  applied_at");
        d.u8("  full");
        d.uvarint("  changes");
        d.uvarint("  devices");
        d.uvarint("  configs");
    }
    d.crc(0, "everything before it");
}

fn dump_applied(d: &mut Dump<'_>) {
    d.magic(8);
    d.u64("version");
    d.crc(0, "the 16 bytes before it");
}

fn dump_bundle(d: &mut Dump<'_>) {
    d.out.push_str("      header:\n");
    d.magic(8);
    d.u32("version");
    let k = d.peek(1)[0];
    d.field(
        1,
        format!(
            "kind u8 = {k} ({})",
            if k == 0 { "range" } else { "cursor" }
        ),
    );
    d.field(3, "reserved, zero");
    d.crc(0, "the header");
    while &d.b[d.pos..d.pos + 8] != b"MDBBEND\0" {
        let start = d.pos;
        let tag = d.peek(1)[0];
        d.field(
            1,
            format!(
                "section tag u8 = {tag} ({})",
                if tag == 1 { "manifest" } else { "data" }
            ),
        );
        let len = d.u64("  len") as usize;
        let end = d.pos + len;
        if tag == 1 {
            d.i64("  from");
            d.i64("  to");
            d.u64("  first_id");
            d.u64("  last_id");
            let n = d.uvarint("  n_points");
            for i in 0..n {
                d.out.push_str(&format!("      point {i}:\n"));
                dump_point_meta(d, "    ");
                d.u64("    samples");
                d.u64("    deletes");
                d.i64("    min_ts");
                d.i64("    max_ts");
            }
            d.uvarint("  n_data");
            d.u64("  n_changes");
        } else {
            let n = d.uvarint("  n");
            for _ in 0..n {
                match d.peek(1)[0] {
                    0 => {
                        d.field(1, "  change 0: sample");
                        d.uvarint("    point");
                        d.i64("    ts");
                        d.f64("    value");
                        d.u8("    quality");
                    }
                    _ => {
                        d.field(1, "  change 1: delete");
                        d.uvarint("    point");
                        d.i64("    from");
                        d.i64("    to");
                    }
                }
            }
        }
        assert_eq!(d.pos, end, "section length");
        d.crc(start, "tag, len and body");
    }
    d.out.push_str("      trailer:\n");
    d.magic(8);
    d.u64("n_sections");
    d.u64("file_len");
    d.crc(0, "the whole file before it");
}

fn dump_tiers(d: &mut Dump<'_>) {
    d.magic(8);
    d.u32("version");
    let t = d.peek(1)[0];
    d.field(1, format!("tiers u8 = {t:#07b} ({})", tiers_text(t)));
    d.crc(0, "everything before it");
}

// ---------------------------------------------------------------------------------------
// Helpers for what the decoders read

fn meta_lines(prefix: &str, m: &PointMeta) -> Vec<String> {
    let mut v = vec![format!("{prefix}key = {:?}", m.key)];
    v.push(format!("{prefix}kind = {}", m.kind.as_str()));
    if !m.unit.is_empty() {
        v.push(format!("{prefix}unit = {:?}", m.unit));
    }
    if let Some(p) = m.precision {
        v.push(format!("{prefix}precision = {p}"));
    }
    if !m.energy_type.is_empty() {
        v.push(format!("{prefix}energy_type = {:?}", m.energy_type));
    }
    if let Some(i) = m.interval_ms {
        v.push(format!("{prefix}interval_ms = {i}"));
    }
    v.push(format!("{prefix}multiplier = {:?}", m.multiplier));
    for (k, val) in &m.tags {
        v.push(format!("{prefix}tag {k:?} = {val:?}"));
    }
    if let Some(r) = m.rollover {
        v.push(format!("{prefix}rollover = {r:?}"));
    }
    for (from, k) in &m.coal {
        v.push(format!("{prefix}coal from {from} = {k:?} kgce per unit"));
    }
    if let Some(t) = m.tiers {
        v.push(format!("{prefix}tiers = {}", tiers_text(t.0)));
    }
    v.push(format!("{prefix}register = {}", m.register.as_str()));
    for r in &m.replacements {
        v.push(format!(
            "{prefix}replacement at {}: old final {:?}, new initial {:?}",
            r.ts, r.old_final, r.new_initial
        ));
    }
    v
}

fn sample_lines(prefix: &str, c: &Columns) -> Vec<String> {
    c.iter()
        .map(|s| format!("{prefix}{} {:?} quality {}", s.ts, s.value, s.quality.0))
        .collect()
}

fn bucket_line(b: &Bucket) -> String {
    format!(
        "bucket {}: count {} sum {:?} min {:?} at +{} max {:?} at +{} first {:?} at +{} \
         last {:?} at +{} inc {:?} invalid {} manual {} estimated {} backward {}",
        b.start,
        b.count,
        b.sum,
        b.min,
        b.min_ts - b.start,
        b.max,
        b.max_ts - b.start,
        b.first,
        b.first_ts - b.start,
        b.last,
        b.last_ts - b.start,
        b.inc,
        b.invalid,
        b.manual,
        b.estimated,
        b.backward
    )
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn opts() -> Options {
    Options {
        durability: Durability::Sync,
        background: false,
        ..Options::default()
    }
}

fn counter_meta() -> PointMeta {
    PointMeta::new("meter-1", PointKind::Counter)
        .with_unit("kWh")
        .with_precision(2)
        .with_interval_ms(MIN15)
}

// ---------------------------------------------------------------------------------------
// The documents

#[test]
fn manifest_document() {
    let mut doc = Doc::load("manifest.md");
    let m = Manifest {
        next_file_no: 4,
        flushed_seq: 9,
        catalog_file_no: 3,
        tz_offset_min: 480,
        segments: vec![
            SegmentId {
                kind: 0,
                file_no: 1,
                generation: 1,
                part_start: 1_766_620_800_000,
                part_end: 1_767_225_600_000,
            },
            SegmentId {
                kind: 3,
                file_no: 2,
                generation: 2,
                part_start: 1_735_660_800_000,
                part_end: 1_767_196_800_000,
            },
        ],
    };
    let bytes = doc.example("", Some(&m.encode()), dump_manifest);
    let got = Manifest::decode(&bytes, Path::new("MANIFEST")).unwrap();
    let mut lines = vec![
        format!("next_file_no = {}", got.next_file_no),
        format!("flushed_seq = {}", got.flushed_seq),
        format!("catalog_file_no = {}", got.catalog_file_no),
        format!("tz_offset_min = {}", got.tz_offset_min),
    ];
    for s in &got.segments {
        lines.push(format!(
            "segment {}: kind {} generation {} partition {}..{}",
            segment::file_name(s),
            s.kind,
            s.generation,
            s.part_start,
            s.part_end
        ));
    }
    doc.decoded("", &lines);
}

fn catalog_example() -> Catalog {
    let mut c = Catalog::default();
    c.set(
        0,
        PointMeta::new("main-kwh", PointKind::Counter)
            .with_unit("kWh")
            .with_precision(2)
            .with_energy_type("0100")
            .with_interval_ms(MIN15)
            .with_multiplier(40.0)
            .with_tag("line", "A")
            .with_rollover(1e6)
            .with_coal_coefficient(T0, 0.1229)
            .with_tiers(TierSet(0b01110))
            .with_register(Register::Net)
            .with_replacement(Replacement {
                ts: T0 + DAY,
                old_final: 5321.5,
                new_initial: 0.0,
            }),
    )
    .unwrap();
    c.set(1, PointMeta::new("t", PointKind::Gauge)).unwrap();
    c
}

#[test]
fn catalog_document() {
    let mut doc = Doc::load("catalog.md");
    let bytes = doc.example("", Some(&catalog_example().encode_file()), dump_catalog);
    let got = Catalog::decode_file(&bytes).unwrap();
    let mut lines = Vec::new();
    for (id, m) in got.iter() {
        lines.extend(meta_lines(&format!("point {id}: "), m));
    }
    doc.decoded("", &lines);
}

fn raw_segment_example() -> (SegmentId, Vec<u8>) {
    let id = SegmentId {
        kind: 0,
        file_no: 7,
        generation: 7,
        part_start: 1_766_620_800_000,
        part_end: 1_767_225_600_000,
    };
    let mut c = Columns::default();
    for (k, v) in [1234.56, 1235.81, 1237.06, 1238.31].into_iter().enumerate() {
        c.push(T0 + k as i64 * MIN15, v, Quality::GOOD.0);
    }
    let tombs = [(T0 - DAY, T0 - DAY + HOUR)];
    let bytes = segment::encode(
        &id,
        &[PointData {
            point: 0,
            cols: &c,
            tombstones: &tombs,
        }],
        &CodecOptions::default(),
    );
    (id, bytes)
}

#[test]
fn segment_document() {
    let mut doc = Doc::load("segment.md");
    let (_, now) = raw_segment_example();
    let bytes = doc.example("", Some(&now), dump_segment);
    let name = "seg-20251225-0000000007.seg";
    let seg = Segment::from_bytes(bytes.into(), Path::new(name)).unwrap();
    seg.verify().unwrap();
    let mut lines = vec![format!(
        "file {}: kind {} generation {} partition {}..{}",
        segment::file_name(&seg.id),
        seg.id.kind,
        seg.id.generation,
        seg.id.part_start,
        seg.id.part_end
    )];
    for m in seg.blocks() {
        let (tc, vc) = seg.codecs(&m).unwrap();
        let s = &m.stats;
        lines.push(format!(
            "block of point {}: {} samples, codecs {tc} and {vc}",
            m.point, s.count
        ));
        lines.push(format!(
            "  stats: ts {}..={} first {:?} last {:?}",
            s.min_ts, s.max_ts, s.first, s.last
        ));
        lines.extend(sample_lines("  sample ", &seg.decode(&m).unwrap()));
    }
    for (p, (f, t)) in seg.all_tombstones() {
        lines.push(format!("tombstone of point {p}: [{f}, {t})"));
    }
    doc.decoded("", &lines);
}

/// `value x count` for each run of equal values (compared as displayed).
fn runs_of<T>(vals: &[T], show: impl Fn(&T) -> String) -> Vec<String> {
    let mut runs: Vec<(String, usize)> = Vec::new();
    for v in vals {
        let s = show(v);
        match runs.last_mut() {
            Some((p, n)) if *p == s => *n += 1,
            _ => runs.push((s, 1)),
        }
    }
    runs.iter().map(|(v, n)| format!("{v} x {n}")).collect()
}

#[test]
fn codecs_document() {
    let mut doc = Doc::load("codecs.md");
    let o = CodecOptions::default();
    // Forty timestamps at 15 minutes with the 21st reading missing: delta-of-delta, a
    // frame of width 0 with two exceptions.
    let ts: Vec<i64> = (0..40)
        .filter(|&k| k != 20)
        .map(|k| T0 + k * MIN15)
        .collect();
    let mut now = Vec::new();
    codec::encode_timestamps(&ts, &o, &mut now);
    let b = doc.example("timestamps", Some(&now), dump_ts_column);
    let mut got = Vec::new();
    let c = codec::decode_timestamps(&b, ts.len(), &mut got).unwrap();
    let mut lines = vec![format!("codec = {c}"), format!("t0 = {}", got[0])];
    // The steps between timestamps, as runs.
    let mut runs: Vec<(i64, usize)> = Vec::new();
    for w in got.windows(2) {
        match runs.last_mut() {
            Some((d, n)) if *d == w[1] - w[0] => *n += 1,
            _ => runs.push((w[1] - w[0], 1)),
        }
    }
    lines.extend(runs.iter().map(|(d, n)| format!("then {n} x {d} ms")));
    doc.decoded("timestamps", &lines);

    let mut value = |name: &str, vals: &[f64]| {
        let mut now = Vec::new();
        codec::encode_values(vals, &o, &mut now);
        let b = doc.example(name, Some(&now), dump_value_column);
        let mut got = Vec::new();
        let c = codec::decode_values(&b, vals.len(), &mut got).unwrap();
        let mut lines = vec![format!("codec = {c}")];
        lines.extend(runs_of(&got, |v: &f64| format!("{v:?}")));
        doc.decoded(name, &lines);
    };
    // A kWh register with 2 decimals.
    value("decimal", &[1234.56, 1235.81, 1237.06, 1238.5, 1239.75]);
    // Values with no short decimal form.
    value("gorilla", &[1.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0, 1.0]);
    // Values without a decimal form that hold for a while, then change.
    let mut held = vec![std::f64::consts::PI; 40];
    held.extend([-std::f64::consts::E; 40]);
    held.extend([std::f64::consts::PI; 40]);
    value("rle", &held);

    let mut q = vec![1u8; 20];
    q.push(0);
    q.extend([5u8; 11]);
    let mut now = Vec::new();
    codec::encode_quality(&q, &o, &mut now);
    let b = doc.example("quality", Some(&now), dump_quality_column);
    let mut got = Vec::new();
    let c = codec::decode_quality(&b, q.len(), &mut got).unwrap();
    let mut lines = vec![format!("codec = {c}")];
    lines.extend(runs_of(&got, |v: &u8| v.to_string()));
    doc.decoded("quality", &lines);
}

/// Two hours of a register read every 15 minutes, with an invalid reading, a manual one, an
/// estimated one and a backward step.
fn rollup_samples() -> Columns {
    let mut c = Columns::default();
    let rows: [(f64, Quality); 8] = [
        (100.0, Quality::GOOD),
        (101.5, Quality::GOOD),
        (0.0, Quality::INVALID),
        (103.0, Quality::MANUAL),
        (104.25, Quality::GOOD),
        (104.0, Quality::GOOD),
        (105.5, Quality::ESTIMATED),
        (107.0, Quality::GOOD),
    ];
    for (k, (v, q)) in rows.into_iter().enumerate() {
        c.push(T0 + k as i64 * MIN15, v, q.0);
    }
    c
}

fn rollup_example(columns: usize) -> Vec<u8> {
    let rows = rollup::buckets_of_samples(Tier::Hour, 480, &rollup_samples(), &Rules::IMPORT);
    let block = rollup::encode_block(0, &rows, &CodecOptions::default());
    let block = if columns == rollup::COLUMNS {
        block
    } else {
        // A block as written before the quality counts: its first 12 columns.
        let len: u32 = block.lens[..columns].iter().sum();
        EncodedBlock {
            point: block.point,
            bytes: block.bytes[..len as usize].to_vec(),
            lens: block.lens[..columns].to_vec(),
            stats: block.stats,
        }
    };
    let id = SegmentId {
        kind: Tier::Hour as u8,
        file_no: 8,
        generation: 8,
        part_start: 1_767_196_800_000,
        part_end: 1_769_875_200_000,
    };
    segment::encode_blocks(&id, &[block], &[])
}

#[test]
fn rollup_document() {
    let mut doc = Doc::load("rollup.md");
    for (name, columns) in [("", rollup::COLUMNS), ("12-columns", rollup::COLUMNS_V1)] {
        let now = rollup_example(columns);
        let bytes = doc.example(name, Some(&now), dump_segment);
        let seg =
            Segment::from_bytes(bytes.into(), Path::new("hour-20251231-0000000008.seg")).unwrap();
        let mut lines = vec![format!(
            "file {}: kind {} ({}) partition {}..{}",
            segment::file_name(&seg.id),
            seg.id.kind,
            Tier::from_kind(seg.id.kind).unwrap().as_str(),
            seg.id.part_start,
            seg.id.part_end
        )];
        for m in seg.blocks() {
            lines.push(format!(
                "block of point {}: {} columns, {} buckets",
                m.point,
                m.cols.len(),
                m.stats.count
            ));
            let mut out = Vec::new();
            rollup::decode_block(&seg, &m, i64::MIN, i64::MAX, &mut out).unwrap();
            lines.extend(out.iter().map(bucket_line));
        }
        doc.decoded(name, &lines);
    }
}

/// A database in `dir` with a WAL holding a define, a samples and a delete record; returns
/// the WAL file's bytes.
fn wal_example(dir: &Path) -> Vec<u8> {
    let db = Db::open(dir, opts()).unwrap();
    let p = db.define_point(counter_meta()).unwrap();
    let mut b = WriteBatch::new();
    b.put(p, T0, 1234.56);
    b.put_with_quality(p, T0 + MIN15, 1235.81, Quality::ESTIMATED.0);
    b.put(p, T0 + 2 * MIN15, 1237.06);
    db.write(&b).unwrap();
    db.delete_range(p, T0 + MIN15, T0 + 2 * MIN15).unwrap();
    let bytes = std::fs::read(dir.join("wal/wal-00000000000000000001.log")).unwrap();
    drop(db);
    bytes
}

#[test]
fn wal_document() {
    let mut doc = Doc::load("wal.md");
    let now = wal_example(tempdir().path());
    let bytes = doc.example("", Some(&now), dump_db_wal);
    // The framing, by the WAL's own scanner.
    let scan = meterdb::wal::scan(&bytes);
    let mut lines: Vec<String> = scan
        .records
        .iter()
        .map(|r| {
            format!(
                "record seq {} at offset {}: {} payload bytes",
                r.seq,
                r.offset,
                r.payload.len()
            )
        })
        .collect();
    // The payloads, replayed by a database opened on the file.
    let dir = tempdir();
    std::fs::create_dir_all(dir.path().join("wal")).unwrap();
    std::fs::write(dir.path().join("wal/wal-00000000000000000001.log"), &bytes).unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    for (id, m) in db.points(&Default::default()) {
        lines.extend(meta_lines(&format!("point {id}: "), &m));
        lines.extend(sample_lines(
            &format!("point {id}: sample "),
            &db.read_range(id, i64::MIN, i64::MAX).unwrap(),
        ));
    }
    doc.decoded("", &lines);
}

/// The cursor files of a small database: `v1` acknowledged up to a change and a day bucket,
/// `v2` also with day buckets to deliver again (late data after they were read).
fn cursor_example(dir: &Path) -> (Vec<u8>, Vec<u8>) {
    let db = Db::open(dir, opts()).unwrap();
    let p = db.define_point(counter_meta()).unwrap();
    db.create_cursor("v1", CursorStart::Beginning).unwrap();
    db.create_cursor("v2", CursorStart::Beginning).unwrap();
    let mut b = WriteBatch::new();
    for k in 0..3 * 96 {
        b.put(p, T0 + k * MIN15, 1000.0 + k as f64 * 0.25);
    }
    db.write(&b).unwrap();
    db.flush().unwrap();
    for name in ["v1", "v2"] {
        let read = db.cursor_read(name, 10).unwrap();
        db.cursor_ack(name, read[4].id).unwrap();
        let buckets = db
            .cursor_read_buckets(name, Tier::Day, 10, Some(T0 + 3 * DAY))
            .unwrap();
        assert_eq!(buckets.len(), 3);
        db.cursor_ack_buckets(name, Tier::Day, buckets[2].row.bucket.start, p)
            .unwrap();
    }
    let v1 = std::fs::read(dir.join("cursors/v1.cur")).unwrap();
    // Late readings in the first two days, after v2 read them: delivered again.
    let mut b = WriteBatch::new();
    b.put(p, T0 + 5 * MIN15, 1001.3);
    b.put(p, T0 + DAY + 7 * MIN15, 1025.8);
    db.write(&b).unwrap();
    db.flush().unwrap();
    let v2 = std::fs::read(dir.join("cursors/v2.cur")).unwrap();
    drop(db);
    (v1, v2)
}

#[test]
fn cursor_document() {
    let mut doc = Doc::load("cursor.md");
    let gen = tempdir();
    let (v1, v2) = cursor_example(gen.path());
    let v1 = doc.example("v1", Some(&v1), dump_cursor);
    let v2 = doc.example("v2", Some(&v2), dump_cursor);
    // Decoded by a database with the same content, whose cursor files are replaced by the
    // document's.
    for (name, bytes) in [("v1", v1), ("v2", v2)] {
        let dir = tempdir();
        cursor_example(dir.path());
        let cur = dir.path().join(format!("cursors/{name}.cur"));
        std::fs::write(&cur, &bytes).unwrap();
        // Only the cursor file decides what follows: the other one is dropped.
        let other = if name == "v1" { "v2" } else { "v1" };
        std::fs::remove_file(dir.path().join(format!("cursors/{other}.cur"))).unwrap();
        let db = Db::open(dir.path(), opts()).unwrap();
        let mut lines = Vec::new();
        for c in db.cursors() {
            lines.push(format!(
                "cursor {:?}: acked {} (seq {}, index {})",
                c.name,
                c.acked,
                meterdb::change_seq(c.acked),
                c.acked & ((1 << 22) - 1)
            ));
            for (t, start, point) in &c.buckets {
                lines.push(format!(
                    "  {} buckets acknowledged below ({start}, point {point})",
                    t.as_str()
                ));
            }
        }
        let again = db
            .cursor_read_buckets(name, Tier::Day, 10, Some(T0 + 3 * DAY))
            .unwrap();
        for b in again.iter().filter(|b| b.corrected) {
            lines.push(format!(
                "  delivered again: day bucket {} of point {}",
                b.row.bucket.start, b.point
            ));
        }
        doc.decoded(name, &lines);
    }
}

fn unit_update() -> UnitCatalogUpdate {
    let mut c = CollectionConfig::new(
        "main-kwh",
        DataItemCode::parse("0100101020010001").unwrap(),
        PointKind::Counter,
    );
    c.energy_type = "0100".into();
    c.unit = "kWh".into();
    c.precision = Some(2);
    c.interval_ms = Some(MIN15);
    c.multiplier = 40.0;
    c.coal = vec![CoalCoefficient {
        from: T0,
        to: None,
        kgce_per_unit: 0.1229,
    }];
    c.device = Some("gw-1".into());
    UnitCatalogUpdate {
        base_version: 0,
        version: 1,
        mode: UpdateMode::Full,
        enterprise: Some(Enterprise {
            credit_code: format!(
                "91350100MA2PLNT01{}",
                meterdb::unit::credit_code_check_char("91350100MA2PLNT01").unwrap()
            ),
            name: "Plant".into(),
            region_code: "350100".into(),
            industry: "C3110".into(),
            address: "Fuzhou".into(),
        }),
        devices: vec![Device {
            id: "gw-1".into(),
            kind: DeviceKind::Gateway,
            name: "gateway".into(),
            model: "G1".into(),
            serial: "S1".into(),
            installed_at: Some(T0 - DAY),
        }],
        configs: vec![c],
        ..Default::default()
    }
}

#[test]
fn unit_catalog_document() {
    let mut doc = Doc::load("unit-catalog.md");
    let cat = UnitCatalog::apply(None, &unit_update(), T0 + HOUR).unwrap();
    let bytes = doc.example("", Some(&cat.encode_file()), dump_unit_catalog);
    let got = UnitCatalog::decode_file(&bytes).unwrap();
    let e = &got.enterprise;
    let mut lines = vec![
        format!("version = {}", got.version),
        format!(
            "enterprise: {:?} {:?} region {:?} industry {:?} address {:?}",
            e.credit_code, e.name, e.region_code, e.industry, e.address
        ),
    ];
    for d in got.devices.values() {
        lines.push(format!(
            "device {:?}: {:?} {:?} model {:?} serial {:?} installed {:?}",
            d.id, d.kind, d.name, d.model, d.serial, d.installed_at
        ));
    }
    for c in got.configs.values() {
        lines.push(format!(
            "config {:?}: item {} kind {} energy {:?} unit {:?} precision {:?} interval {:?} \
             multiplier {:?} device {:?}",
            c.point_key,
            c.data_item,
            c.kind.as_str(),
            c.energy_type,
            c.unit,
            c.precision,
            c.interval_ms,
            c.multiplier,
            c.device
        ));
        for k in &c.coal {
            lines.push(format!(
                "  coal from {} to {:?}: {:?} kgce per unit",
                k.from, k.to, k.kgce_per_unit
            ));
        }
    }
    for h in &got.history {
        lines.push(format!(
            "history: version {} on {} at {} full {} changes {} devices {} configs {}",
            h.version, h.base_version, h.applied_at, h.full, h.changes, h.devices, h.configs
        ));
    }
    doc.decoded("", &lines);

    // The marker, written by a database that applied the update.
    let gen = tempdir();
    {
        let db = Db::open(gen.path(), opts()).unwrap();
        db.apply_unit_catalog(&unit_update()).unwrap();
    }
    let now = std::fs::read(gen.path().join("UNITCAT.applied")).unwrap();
    let marker = doc.example("applied", Some(&now), dump_applied);
    // Decoded by a database whose UNITCAT (version 1) configures a point it does not have:
    // the configs are applied at the first unit-catalog call after open unless the marker
    // names version 1.
    let applied = |marker: Option<&[u8]>| {
        let dir = tempdir();
        drop(Db::open(dir.path(), opts()).unwrap());
        std::fs::write(dir.path().join("UNITCAT"), cat.encode_file()).unwrap();
        if let Some(m) = marker {
            std::fs::write(dir.path().join("UNITCAT.applied"), m).unwrap();
        }
        let db = Db::open(dir.path(), opts()).unwrap();
        assert_eq!(db.unit_catalog_version(), 1);
        db.point_id("main-kwh").is_none()
    };
    assert!(!applied(None), "without the marker the configs are applied");
    let lines = vec![format!(
        "names the version of UNITCAT (1): {}",
        applied(Some(&marker))
    )];
    doc.decoded("applied", &lines);
}

fn upload_records() -> Vec<UploadRecord> {
    vec![
        UploadRecord {
            cursor: "prov".into(),
            first_id: 4 << 22,
            last_id: (4 << 22) + 95,
            samples: 96,
            outcome: UploadOutcome::Ok,
            platform_time: Some(T0 + 61_000),
            at: T0 + 60_000,
        },
        UploadRecord {
            cursor: "prov".into(),
            first_id: 5 << 22,
            last_id: 5 << 22,
            samples: 1,
            outcome: UploadOutcome::Failed("HTTP 503".into()),
            platform_time: None,
            at: T0 + 120_000,
        },
    ]
}

#[test]
fn upload_log_document() {
    let mut doc = Doc::load("upload-log.md");
    let gen = tempdir();
    {
        let db = Db::open(gen.path(), opts()).unwrap();
        for r in upload_records() {
            db.record_upload(&r).unwrap();
        }
    }
    let now = std::fs::read(gen.path().join("uploads/wal-00000000000000000001.log")).unwrap();
    let bytes = doc.example("", Some(&now), dump_upload_log);
    let dir = tempdir();
    std::fs::create_dir_all(dir.path().join("uploads")).unwrap();
    std::fs::write(
        dir.path().join("uploads/wal-00000000000000000001.log"),
        &bytes,
    )
    .unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    let got = db
        .upload_records(i64::MIN, i64::MAX, OutcomeFilter::All)
        .unwrap();
    let lines: Vec<String> = got
        .iter()
        .map(|r| {
            format!(
                "cursor {:?} ids {}..={} samples {} outcome {:?} platform_time {:?} at {}",
                r.cursor, r.first_id, r.last_id, r.samples, r.outcome, r.platform_time, r.at
            )
        })
        .collect();
    doc.decoded("", &lines);
}

/// A cursor bundle: two samples and a delete of one point.
fn bundle_example(dir: &Path) -> Vec<u8> {
    let db = Db::open(dir.join("db"), opts()).unwrap();
    let p = db.define_point(counter_meta()).unwrap();
    db.create_cursor("usb", CursorStart::Beginning).unwrap();
    let mut b = WriteBatch::new();
    b.put(p, T0, 1234.56);
    b.put_with_quality(p, T0 + MIN15, 1235.81, Quality::MANUAL.0);
    db.write(&b).unwrap();
    db.delete_range(p, T0, T0 + 1).unwrap();
    let path = dir.join("out.mdbb");
    db.export_cursor_bundle(&path, "usb").unwrap();
    std::fs::read(path).unwrap()
}

#[test]
fn bundle_document() {
    let mut doc = Doc::load("bundle.md");
    let gen = tempdir();
    let now = bundle_example(gen.path());
    let bytes = doc.example("", Some(&now), dump_bundle);
    let dir = tempdir();
    let path = dir.path().join("in.mdbb");
    std::fs::write(&path, &bytes).unwrap();
    let db = Db::open(dir.path().join("db"), opts()).unwrap();
    let rep = db.verify_bundle(&path).unwrap();
    let mut lines = vec![format!(
        "samples {} deletes {} ids {:?} bytes {}",
        rep.samples, rep.deletes, rep.ids, rep.bytes
    )];
    for (i, p) in rep.points.iter().enumerate() {
        lines.extend(meta_lines(&format!("point {i}: "), &p.meta));
        lines.push(format!(
            "point {i}: samples {} deletes {} ts {}..={}",
            p.samples, p.deletes, p.min_ts, p.max_ts
        ));
    }
    db.import_bundle(&path).unwrap();
    let p = db.point_id("meter-1").unwrap();
    lines.extend(sample_lines(
        "after import: sample ",
        &db.read_range(p, i64::MIN, i64::MAX).unwrap(),
    ));
    doc.decoded("", &lines);
}

#[test]
fn tiers_document() {
    let mut doc = Doc::load("tiers.md");
    let set = TierSet(0b01110); // hour, day, month
    let gen = tempdir();
    drop(
        Db::open(
            gen.path(),
            Options {
                tiers: set,
                ..opts()
            },
        )
        .unwrap(),
    );
    let now = std::fs::read(gen.path().join("TIERS")).unwrap();
    let bytes = doc.example("", Some(&now), dump_tiers);
    // The set `Db::open` reads: the one it can be opened with without storing another.
    let mut read = BTreeSet::new();
    for t in 0..32u8 {
        let mem = MemStorage::new();
        mem.put(Path::new("/db/TIERS"), bytes.clone());
        let o = Options {
            storage: Some(Arc::new(mem.clone())),
            durability: Durability::None,
            tiers: TierSet(t),
            ..Options::default()
        };
        if let Ok(db) = Db::open("/db", o) {
            drop(db);
            if mem.read(Path::new("/db/TIERS")).unwrap()[..] == bytes[..] {
                read.insert(t);
            }
        }
    }
    let lines: Vec<String> = read
        .iter()
        .map(|&t| format!("tiers = {}", tiers_text(t)))
        .collect();
    doc.decoded("", &lines);
}
