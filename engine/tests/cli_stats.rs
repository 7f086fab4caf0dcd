#![cfg(feature = "cli")]
//! `meterdb stats`: the table and the JSON.

mod common;

use common::{meterdb, ok, s, write_file};

/// Checks that `t` is one JSON value and nothing else (a minimal syntax check).
fn check_json(t: &str) -> Result<(), String> {
    let b = t.as_bytes();
    let mut i = 0;
    value(b, &mut i)?;
    ws(b, &mut i);
    if i != b.len() {
        return Err(format!("trailing text at {i}"));
    }
    Ok(())
}

fn ws(b: &[u8], i: &mut usize) {
    while *i < b.len() && b[*i].is_ascii_whitespace() {
        *i += 1;
    }
}

fn expect(b: &[u8], i: &mut usize, c: u8) -> Result<(), String> {
    ws(b, i);
    if b.get(*i) == Some(&c) {
        *i += 1;
        Ok(())
    } else {
        Err(format!("expected {:?} at {i}", c as char))
    }
}

fn string(b: &[u8], i: &mut usize) -> Result<(), String> {
    expect(b, i, b'"')?;
    while let Some(&c) = b.get(*i) {
        *i += 1;
        match c {
            b'"' => return Ok(()),
            b'\\' => {
                let e = *b.get(*i).ok_or("escape at the end")?;
                *i += 1;
                match e {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                    b'u' => {
                        let h = b.get(*i..*i + 4).ok_or("short \\u escape")?;
                        if !h.iter().all(u8::is_ascii_hexdigit) {
                            return Err(format!("bad \\u escape at {i}"));
                        }
                        *i += 4;
                    }
                    _ => return Err(format!("bad escape at {i}")),
                }
            }
            c if c < 0x20 => return Err(format!("control character in a string at {i}")),
            _ => {}
        }
    }
    Err("unterminated string".into())
}

fn value(b: &[u8], i: &mut usize) -> Result<(), String> {
    ws(b, i);
    match b.get(*i) {
        Some(b'{') => {
            *i += 1;
            ws(b, i);
            if b.get(*i) == Some(&b'}') {
                *i += 1;
                return Ok(());
            }
            loop {
                string(b, i)?;
                expect(b, i, b':')?;
                value(b, i)?;
                ws(b, i);
                match b.get(*i) {
                    Some(b',') => *i += 1,
                    Some(b'}') => {
                        *i += 1;
                        return Ok(());
                    }
                    _ => return Err(format!("expected , or }} at {i}")),
                }
            }
        }
        Some(b'[') => {
            *i += 1;
            ws(b, i);
            if b.get(*i) == Some(&b']') {
                *i += 1;
                return Ok(());
            }
            loop {
                value(b, i)?;
                ws(b, i);
                match b.get(*i) {
                    Some(b',') => *i += 1,
                    Some(b']') => {
                        *i += 1;
                        return Ok(());
                    }
                    _ => return Err(format!("expected , or ] at {i}")),
                }
            }
        }
        Some(b'"') => string(b, i),
        Some(b'n') if b[*i..].starts_with(b"null") => {
            *i += 4;
            Ok(())
        }
        Some(b't') if b[*i..].starts_with(b"true") => {
            *i += 4;
            Ok(())
        }
        Some(b'f') if b[*i..].starts_with(b"false") => {
            *i += 5;
            Ok(())
        }
        Some(c) if *c == b'-' || c.is_ascii_digit() => {
            let start = *i;
            while *i < b.len() && matches!(b[*i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') {
                *i += 1;
            }
            let n = std::str::from_utf8(&b[start..*i]).unwrap();
            n.parse::<f64>()
                .map(|_| ())
                .map_err(|_| format!("bad number {n:?} at {start}"))
        }
        _ => Err(format!("unexpected text at {i}")),
    }
}

#[test]
fn the_json_checker_checks() {
    assert!(check_json(r#"{"a": [1, -2.5e3, null, "x\"\u00e9"], "b": {}}"#).is_ok());
    for bad in [r#"{"a": }"#, r#"{"a": 1,}"#, "[1 2]", "\"a\nb\"", "{} x"] {
        assert!(check_json(bad).is_err(), "{bad}");
    }
}

#[test]
fn stats_as_table_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    // A key that JSON must escape.
    let csv = write_file(
        dir.path(),
        "in.csv",
        "point,ts,value\nplain,0,1\nplain,60000,2\n\"say \"\"hi\"\"\\now\",0,3\n",
    );
    ok(["import", "--db", s(&db), s(&csv)]);

    let t = ok(["stats", "--db", s(&db)]).stdout;
    assert!(t.contains("points          2"), "{t}");
    assert!(
        t.contains("samples         3 (segments 3, memtable 0)"),
        "{t}"
    );
    assert!(t.contains("ts codec") && t.contains("value codec"), "{t}");
    assert!(t.lines().any(|l| l.starts_with("plain ")), "{t}");

    let j = ok(["stats", "--db", s(&db), "--json"]).stdout;
    check_json(&j).unwrap_or_else(|e| panic!("{e} in\n{j}"));
    assert!(j.contains("\"points\": 2,"), "{j}");
    assert!(j.contains("\"samples\": 3,"), "{j}");
    assert!(j.contains(r#""key": "say \"hi\"\\now""#), "{j}");
    assert!(j.contains("\"ts_codecs\": [{\"codec\": "), "{j}");
}

#[test]
fn stats_of_an_empty_database_and_of_none() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let csv = write_file(dir.path(), "in.csv", "point,ts,value\n");
    ok(["import", "--db", s(&db), s(&csv)]);
    let j = ok(["stats", "--db", s(&db), "--json"]).stdout;
    check_json(&j).unwrap_or_else(|e| panic!("{e} in\n{j}"));
    assert!(j.contains("\"bytes_per_sample\": null"), "{j}");

    let none = dir.path().join("none");
    let r = meterdb(["stats", "--db", s(&none)]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(!none.exists());
}

#[test]
fn stats_count_every_tier_and_the_whole_directory() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let mut text = String::from("point,ts,value\n");
    for i in 0..2000 {
        text.push_str(&format!("r,{},{}\n", i * 60_000, 100 + i));
    }
    let csv = write_file(dir.path(), "in.csv", &text);
    let meta = write_file(
        dir.path(),
        "meta.csv",
        "point,kind,unit,precision,energy_type,interval_ms\nr,counter,kWh,0,,60000\n",
    );
    ok(["import", "--db", s(&db), "--meta", s(&meta), s(&csv)]);
    let t = ok(["stats", "--db", s(&db)]).stdout;
    assert!(t.contains("rollup files"), "{t}");
    // Read every minute: hour, day and month are stored; years are merged from the months.
    for tier in ["hour", "day", "month"] {
        assert!(
            t.lines()
                .any(|l| l.trim_start().starts_with(tier) && l.contains("buckets")),
            "{tier} in\n{t}"
        );
    }
    // The total is the whole directory: every file counted once.
    let total: u64 = t
        .lines()
        .find_map(|l| l.strip_prefix("bytes on disk   "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    fn du(p: &std::path::Path) -> u64 {
        std::fs::read_dir(p)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                if e.file_type().unwrap().is_dir() {
                    du(&e.path())
                } else {
                    e.metadata().unwrap().len()
                }
            })
            .sum()
    }
    assert_eq!(total, du(&db), "{t}");
    let j = ok(["stats", "--db", s(&db), "--json"]).stdout;
    check_json(&j).unwrap_or_else(|e| panic!("{e} in\n{j}"));
    assert!(j.contains("\"tiers\": {\"hour\": {\"files\": "), "{j}");
    assert!(j.contains("\"rollups\": "), "{j}");
}
