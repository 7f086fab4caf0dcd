//! `meterdb stats`: storage figures as a table or as JSON.

use std::fmt::Write as _;
use std::path::Path;

use meterdb::{DbStats, PointStats, Tier};

use crate::out::{CliError, Stdout};
use crate::StatsArgs;

/// Everything the command prints.
#[derive(Debug)]
struct Report {
    stats: DbStats,
    /// Bytes of files that are neither segments, rollup files nor WAL (manifest, catalog,
    /// cursors, lock...).
    other_bytes: u64,
}

/// The stored tiers' names, by index `tier - 1` (the tiers' names: `Tier::as_str`).
const TIERS: [&str; 5] = {
    let mut names = [""; 5];
    let mut i = 0;
    while i < names.len() {
        names[i] = Tier::ALL[i].as_str();
        i += 1;
    }
    names
};

impl Report {
    fn samples(&self) -> u64 {
        self.stats.segment_samples + self.stats.memtable_samples
    }
    fn total_bytes(&self) -> u64 {
        self.stats.segment_bytes
            + self.stats.rollup_bytes()
            + self.stats.wal_bytes
            + self.other_bytes
    }
}

pub fn run(a: StatsArgs) -> Result<(), CliError> {
    let db = crate::open_existing(&a.db)?;
    let stats = db
        .stats()
        .map_err(|e| CliError::fail(format!("stats: {e}")))?;
    db.close()
        .map_err(|e| CliError::fail(format!("close: {e}")))?;
    let other_bytes = other_bytes(&a.db)
        .map_err(|e| CliError::fail(format!("list {}: {e}", a.db.display())))?
        .saturating_sub(stats.rollup_bytes());
    let r = Report { stats, other_bytes };
    let text = if a.json { json(&r) } else { table(&r) };
    let mut out = Stdout::new();
    out.write(&text)?;
    out.flush()
}

/// Bytes of the files in `dir` other than segment files (`seg-*.seg`) and the WAL
/// directory, subdirectories included.
fn other_bytes(dir: &Path) -> std::io::Result<u64> {
    fn walk(dir: &Path, top: bool) -> std::io::Result<u64> {
        let mut n = 0;
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            let name = e.file_name();
            let name = name.to_string_lossy();
            let ft = e.file_type()?;
            if ft.is_dir() {
                if !(top && name == "wal") {
                    n += walk(&e.path(), false)?;
                }
            } else if !(top && name.starts_with("seg-") && name.ends_with(".seg")) {
                n += e.metadata()?.len();
            }
        }
        Ok(n)
    }
    walk(dir, true)
}

fn per_sample(bytes: u64, samples: u64) -> Option<f64> {
    (samples > 0).then(|| bytes as f64 / samples as f64)
}

/// `raw` for one codec; `delta:12 raw:3` (codec:blocks) when blocks differ.
fn codec_list(c: &[(String, usize)]) -> String {
    match c {
        [] => "-".into(),
        [(name, _)] => name.clone(),
        many => many
            .iter()
            .map(|(n, k)| format!("{n}:{k}"))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

fn table(r: &Report) -> String {
    let s = &r.stats;
    let bps = |b, n| per_sample(b, n).map_or("-".into(), |x| format!("{x:.2}"));
    let mut t = String::new();
    let _ = writeln!(t, "points          {}", s.points);
    let _ = writeln!(
        t,
        "samples         {} (segments {}, memtable {})",
        r.samples(),
        s.segment_samples,
        s.memtable_samples
    );
    let _ = writeln!(t, "segment files   {}", s.segment_files);
    let _ = writeln!(
        t,
        "bytes on disk   {} (raw segments {}, rollup files {}, WAL {}, other {})",
        r.total_bytes(),
        s.segment_bytes,
        s.rollup_bytes(),
        s.wal_bytes,
        r.other_bytes
    );
    let _ = writeln!(
        t,
        "bytes/sample    {} the whole directory: {} raw segments, {} rollup files",
        bps(r.total_bytes(), r.samples()),
        bps(s.segment_bytes, s.segment_samples),
        bps(s.rollup_bytes(), r.samples()),
    );
    for (i, name) in TIERS.iter().enumerate() {
        if s.tier_files[i] > 0 {
            let _ = writeln!(
                t,
                "  {name:<6}        {} bytes in {} files, {} buckets, {} bytes/sample",
                s.tier_bytes[i],
                s.tier_files[i],
                s.tier_buckets[i],
                bps(s.tier_bytes[i], r.samples()),
            );
        }
    }
    if s.per_point.is_empty() {
        return t;
    }
    let rows: Vec<[String; 6]> = s
        .per_point
        .iter()
        .map(|p| {
            [
                p.key.clone(),
                p.samples.to_string(),
                p.bytes.to_string(),
                bps(p.bytes, p.samples),
                codec_list(&p.ts_codecs),
                codec_list(&p.value_codecs),
            ]
        })
        .collect();
    let head = [
        "point",
        "samples",
        "bytes",
        "bytes/sample",
        "ts codec",
        "value codec",
    ];
    let mut w: [usize; 6] = head.map(str::len);
    for row in &rows {
        for (i, c) in row.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |t: &mut String, cells: [&str; 6]| {
        let _ = writeln!(
            t,
            "{:<w0$}  {:>w1$}  {:>w2$}  {:>w3$}  {:<w4$}  {}",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            cells[4],
            cells[5],
            w0 = w[0],
            w1 = w[1],
            w2 = w[2],
            w3 = w[3],
            w4 = w[4],
        );
    };
    t.push('\n');
    line(&mut t, head);
    for row in &rows {
        line(&mut t, row.each_ref().map(String::as_str));
    }
    t
}

/// A JSON string literal.
fn js(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// A JSON number rounded to 4 decimals, or `null` for none.
fn jf(x: Option<f64>) -> String {
    match x {
        Some(x) if x.is_finite() => meterdb::time::format_value((x * 1e4).round() / 1e4),
        _ => "null".into(),
    }
}

fn json_codecs(c: &[(String, usize)]) -> String {
    let items: Vec<String> = c
        .iter()
        .map(|(n, k)| format!("{{\"codec\": {}, \"blocks\": {k}}}", js(n)))
        .collect();
    format!("[{}]", items.join(", "))
}

fn json_point(p: &PointStats) -> String {
    format!(
        "{{\"id\": {}, \"key\": {}, \"samples\": {}, \"bytes\": {}, \"ts_bytes\": {}, \
         \"value_bytes\": {}, \"bytes_per_sample\": {}, \"ts_codecs\": {}, \"value_codecs\": {}}}",
        p.id,
        js(&p.key),
        p.samples,
        p.bytes,
        p.ts_bytes,
        p.value_bytes,
        jf(per_sample(p.bytes, p.samples)),
        json_codecs(&p.ts_codecs),
        json_codecs(&p.value_codecs),
    )
}

fn json(r: &Report) -> String {
    let s = &r.stats;
    let points: Vec<String> = s
        .per_point
        .iter()
        .map(|p| format!("    {}", json_point(p)))
        .collect();
    let mut t = String::new();
    t.push_str("{\n");
    let _ = writeln!(t, "  \"points\": {},", s.points);
    let _ = writeln!(t, "  \"samples\": {},", r.samples());
    let _ = writeln!(t, "  \"segment_samples\": {},", s.segment_samples);
    let _ = writeln!(t, "  \"memtable_samples\": {},", s.memtable_samples);
    let _ = writeln!(t, "  \"segment_files\": {},", s.segment_files);
    let tiers: Vec<String> = TIERS
        .iter()
        .enumerate()
        .filter(|(i, _)| s.tier_files[*i] > 0)
        .map(|(i, name)| {
            format!(
                "\"{name}\": {{\"files\": {}, \"bytes\": {}, \"buckets\": {}}}",
                s.tier_files[i], s.tier_bytes[i], s.tier_buckets[i]
            )
        })
        .collect();
    let _ = writeln!(
        t,
        "  \"bytes\": {{\"total\": {}, \"segments\": {}, \"rollups\": {}, \"wal\": {}, \"other\": {}}},",
        r.total_bytes(),
        s.segment_bytes,
        s.rollup_bytes(),
        s.wal_bytes,
        r.other_bytes
    );
    let _ = writeln!(t, "  \"tiers\": {{{}}},", tiers.join(", "));
    let _ = writeln!(
        t,
        "  \"bytes_per_sample\": {},",
        jf(per_sample(r.total_bytes(), r.samples()))
    );
    let _ = writeln!(
        t,
        "  \"segment_bytes_per_sample\": {},",
        jf(per_sample(s.segment_bytes, s.segment_samples))
    );
    if points.is_empty() {
        t.push_str("  \"per_point\": []\n");
    } else {
        let _ = writeln!(t, "  \"per_point\": [\n{}\n  ]", points.join(",\n"));
    }
    t.push_str("}\n");
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(js("a\"b\\c\n\u{1}"), "\"a\\\"b\\\\c\\n\\u0001\"");
        assert_eq!(js("电表"), "\"电表\"");
    }

    #[test]
    fn codec_lists_read_well() {
        assert_eq!(codec_list(&[]), "-");
        assert_eq!(codec_list(&[("raw".into(), 3)]), "raw");
        assert_eq!(
            codec_list(&[("delta".into(), 2), ("raw".into(), 1)]),
            "delta:2 raw:1"
        );
    }
}
