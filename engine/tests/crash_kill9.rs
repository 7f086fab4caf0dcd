//! A real process killed with SIGKILL, many times over, on real files.
//!
//! The test re-executes its own binary as a child (`kill9_child`, which does nothing unless
//! `MDB_KILL9_DIR` is set). The child opens the database in a temporary directory with
//! `FileStorage` and `Durability::Sync` (so it first recovers from the previous kill), then
//! runs a deterministic stream of operations (batches of new, late and corrected samples,
//! deletes, flushes, compactions; with or without the background flush thread), printing
//! `ACK <i>` on stdout after operation `i` returns. The parent kills it with SIGKILL
//! (`Child::kill`) at a random moment, sometimes within the first milliseconds so that the
//! kill lands in the child's own recovery, then opens the database itself and checks:
//! every acknowledged write is there, nothing unwritten or deleted appears (only the
//! operation in flight at the kill may or may not have happened), and the rollup tiers
//! equal a recomputation from the raw samples. Opening must always succeed.
//!
//! The child also forwards: it reads the upload cursor `k` now and then (printing `READ`
//! with the ids, count and a hash of what it got, and the read position) and acknowledges
//! (`TRYACK <position>` before the call, `ACKED <position>` after it returned). The parent
//! checks that the cursor resumes at the last `ACKED` position (or at a `TRYACK` after it,
//! in flight at the kill), that every read reported at or after that position is delivered
//! again with the same ids, count and hash, and that every acknowledged operation after the
//! last read to the end is in the cursor's stream, in order.
//!
//! `MDB_KILL9_CYCLES` sets the number of kills (default 20; CI 200; the long run 10,000),
//! `MDB_SEED_BASE` the seed of the operation stream (default: the clock; printed).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use meterdb::io::SimRng;
use meterdb::{
    change_seq, Change, ChangeKind, CursorStart, Db, Durability, Options, PointKind, PointMeta,
    Tier, TierSet, WriteBatch,
};

mod support;
use support::{close, reference};

const DAY: i64 = 86_400_000;
/// 2026-01-30T00:00:00+08:00.
const T0: i64 = 1_769_702_400_000;
const SPAN: i64 = 3 * DAY;
const TZ: i32 = 480;
const POINTS: u32 = 3;
const GOOD: u8 = meterdb::Quality::GOOD.0;
/// The upload cursor the child reads and acknowledges.
const CURSOR: &str = "k";

/// A change without its id (see `crash_power_loss.rs`).
type Sig = (u32, i64, u64, u8, bool);

fn sig(c: &Change) -> Sig {
    match c.kind {
        ChangeKind::Sample => (c.point, c.ts, c.value.to_bits(), c.quality, false),
        ChangeKind::Delete { to } => (c.point, c.ts, to as u64, 0, true),
    }
}

/// The changes an operation puts in the stream (one WAL record; compared sorted).
fn op_sigs(o: &Op) -> Vec<Sig> {
    let mut v: Vec<Sig> = match o {
        Op::Batch(v) => v
            .iter()
            .map(|&(p, t, x)| (p, t, x.to_bits(), GOOD, false))
            .collect(),
        Op::Delete(p, f, t) => vec![(*p, *f, *t as u64, 0, true)],
        Op::Flush | Op::Compact => Vec::new(),
    };
    v.sort_unstable();
    v
}

/// FNV-1a over the changes' ids and contents.
fn hash(v: &[Change]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for c in v {
        let (p, t, x, q, d) = sig(c);
        for w in [c.id, u64::from(p), t as u64, x, u64::from(q), u64::from(d)] {
            for b in w.to_le_bytes() {
                h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
            }
        }
    }
    h
}

fn position(db: &Db) -> (u64, u64) {
    let c = db.cursors();
    let c = c.iter().find(|c| c.name == CURSOR).expect("cursor k");
    (c.acked, c.read)
}
fn metas() -> Vec<PointMeta> {
    vec![
        PointMeta::new("c0", PointKind::Counter)
            .with_interval_ms(900_000)
            .with_multiplier(2.0),
        PointMeta::new("c1", PointKind::Counter)
            .with_rollover(100_000.0)
            .with_tiers(TierSet::NONE.with(Tier::Hour).with(Tier::Day)),
        PointMeta::new("g2", PointKind::Gauge),
    ]
}

/// One operation of the stream: a function of the seed and its index only.
#[derive(Debug)]
enum Op {
    Batch(Vec<(u32, i64, f64)>),
    Delete(u32, i64, i64),
    Flush,
    Compact,
}

fn op(seed: u64, i: u64) -> Op {
    let mut r = SimRng::new(seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let ts = |r: &mut SimRng| {
        if r.chance(3, 4) {
            T0 + r.range(0, SPAN / 900_000) * 900_000
        } else {
            T0 + r.range(0, SPAN)
        }
    };
    match r.below(100) {
        0..=79 => {
            let big = r.chance(1, 5);
            let n = 1 + r.below(if big { 300 } else { 20 });
            let v = (0..n)
                .map(|_| {
                    let p = r.below(u64::from(POINTS)) as u32;
                    let t = ts(&mut r);
                    (p, t, r.range(0, 100_000_000) as f64 / 1000.0)
                })
                .collect();
            Op::Batch(v)
        }
        80..=86 => {
            let p = r.below(u64::from(POINTS)) as u32;
            let f = ts(&mut r);
            Op::Delete(p, f, f + 1 + r.range(0, DAY / 2))
        }
        87..=95 => Op::Flush,
        _ => Op::Compact,
    }
}

fn options(background: bool) -> Options {
    Options {
        durability: Durability::Sync,
        partition_ms: DAY,
        memtable_bytes: 32 * 1024,
        wal_file_bytes: 16 * 1024,
        background,
        tz_offset_min: Some(TZ),
        ..Options::default()
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// The child: does nothing in an ordinary test run.
#[test]
fn kill9_child() {
    let Ok(dir) = std::env::var("MDB_KILL9_DIR") else {
        return;
    };
    let seed = env_u64("MDB_KILL9_SEED").expect("MDB_KILL9_SEED");
    let first = env_u64("MDB_KILL9_FIRST").expect("MDB_KILL9_FIRST");
    let background = env_u64("MDB_KILL9_BG") == Some(1);
    let db = Db::open(&dir, options(background)).expect("child open");
    println!("OPEN");
    for i in first..first + 1_000_000 {
        match op(seed, i) {
            Op::Batch(v) => {
                let mut b = WriteBatch::with_capacity(v.len());
                for (p, t, x) in v {
                    b.put(p, t, x);
                }
                db.write(&b).expect("child write");
            }
            Op::Delete(p, f, t) => db.delete_range(p, f, t).expect("child delete"),
            Op::Flush => db.flush().expect("child flush"),
            Op::Compact => db.compact().expect("child compact"),
        }
        // Line-buffered: the parent sees this line once the call has returned.
        println!("ACK {i}");
        // Forwarding, now and then: read, and maybe acknowledge what was read.
        let mut r = SimRng::new(seed ^ i.wrapping_mul(0xD1B5_4A32_D192_ED03) ^ 0xf0);
        if r.chance(1, 4) {
            let max = 1 + r.below(600) as usize;
            let v = db.cursor_read(CURSOR, max).expect("child cursor read");
            if let (Some(f), Some(l)) = (v.first(), v.last()) {
                let (_, read) = position(&db);
                println!(
                    "READ {} {} {} {} {read} {}",
                    f.id,
                    l.id,
                    v.len(),
                    hash(&v),
                    u8::from(v.len() < max)
                );
                if r.chance(1, 2) {
                    println!("TRYACK {read}");
                    db.cursor_ack(CURSOR, l.id).expect("child cursor ack");
                    println!("ACKED {}", position(&db).0);
                }
            } else {
                println!("READ 0 0 0 0 {} 1", position(&db).1);
            }
        }
    }
}

type Model = BTreeMap<(u32, i64), Vec<Option<u64>>>;

fn set(model: &mut Model, k: (u32, i64), v: Option<u64>, certain: bool) {
    let e = model.entry(k).or_insert_with(|| vec![None]);
    if certain {
        *e = vec![v];
    } else if !e.contains(&v) {
        e.push(v);
    }
}

/// Applies an operation to the model: `certain` when acknowledged, else as one that may or
/// may not have happened.
fn apply(model: &mut Model, o: &Op, certain: bool) {
    match o {
        Op::Batch(v) => {
            for &(p, t, x) in v {
                set(model, (p, t), Some(x.to_bits()), certain);
            }
        }
        Op::Delete(p, f, t) => {
            let keys: Vec<_> = model.range((*p, *f)..(*p, *t)).map(|(k, _)| *k).collect();
            for k in keys {
                set(model, k, None, certain);
            }
        }
        Op::Flush | Op::Compact => {}
    }
}

#[derive(Default, Debug)]
struct Figures {
    cycles: u64,
    early_kills: u64,
    /// Kills before the child's open returned (in its recovery, or before it began).
    before_open: u64,
    acked_ops: u64,
    in_flight: u64,
    acked_present: u64,
    uncertain_keys: u64,
    rollup_rows: u64,
    cursor_acks: u64,
    cursors_checked: u64,
    reads_redelivered: u64,
    ops_delivered: u64,
}

/// What the parent knows of cursor `k` from the child's reports.
#[derive(Default)]
struct CursorModel {
    /// Positions it may resume at: the last `ACKED`, and a `TRYACK` after it.
    allowed: Vec<u64>,
    /// Reads reported: (first id, last id, count, hash).
    reads: Vec<(u64, u64, usize, u64)>,
    /// (read position R, first operation N after a read to the end): the changes of
    /// operations N and later have ids at or after R.
    marks: Vec<(u64, u64)>,
    /// Operations in flight at a kill: they may or may not be in the stream.
    in_flight: std::collections::BTreeSet<u64>,
}

/// After the kill: cursor `k` resumes at a durable acknowledgement, delivers every read
/// reported at or after it again (same ids, count, hash), and every acknowledged operation
/// after a read to the end; acked operations are those below `acked_end`.
fn check_cursor(
    db: &Db,
    cm: &mut CursorModel,
    seed: u64,
    acked_end: u64,
    fig: &mut Figures,
    ctx: &str,
) {
    let (p, _) = position(db);
    assert!(
        cm.allowed.contains(&p),
        "{ctx}: cursor resumes at {p} (seq {}), the child reported {:?}",
        change_seq(p),
        cm.allowed
    );
    fig.cursors_checked += 1;
    let mut got: Vec<Change> = Vec::new();
    loop {
        let v = db
            .cursor_read(CURSOR, 10_000)
            .unwrap_or_else(|e| panic!("{ctx}: cursor read: {e}"));
        if v.is_empty() {
            break;
        }
        got.extend(v);
    }
    assert!(got.first().is_none_or(|c| c.id >= p), "{ctx}: before {p}");
    assert!(got.windows(2).all(|w| w[0].id < w[1].id), "{ctx}: ids");
    for &(f, l, n, h) in cm.reads.iter().filter(|r| r.0 >= p) {
        let a = got.partition_point(|c| c.id < f);
        let b = got.partition_point(|c| c.id <= l);
        assert!(
            b - a == n && hash(&got[a..b]) == h,
            "{ctx}: changes {f}..={l} read before the kill ({n}) are not delivered again as \
             they were ({} now)",
            b - a
        );
        fig.reads_redelivered += 1;
    }
    if let Some(&(r, n)) = cm.marks.iter().filter(|m| m.0 >= p).min() {
        let mut groups: Vec<(u64, Vec<Sig>)> = Vec::new();
        for c in got.iter().filter(|c| c.id >= r) {
            let s = change_seq(c.id);
            match groups.last_mut() {
                Some(g) if g.0 == s => g.1.push(sig(c)),
                _ => groups.push((s, vec![sig(c)])),
            }
        }
        for g in &mut groups {
            g.1.sort_unstable();
        }
        let mut gi = 0;
        for i in n..acked_end {
            let want = op_sigs(&op(seed, i));
            if want.is_empty() || cm.in_flight.contains(&i) {
                continue;
            }
            loop {
                assert!(
                    gi < groups.len(),
                    "{ctx}: acknowledged operation {i} is not in the cursor's stream from {r}"
                );
                gi += 1;
                if groups[gi - 1].1 == want {
                    break;
                }
            }
            fig.ops_delivered += 1;
        }
    }
    let (_, read) = position(db);
    cm.allowed = vec![p];
    cm.reads = match (got.first(), got.last()) {
        (Some(f), Some(l)) => vec![(f.id, l.id, got.len(), hash(&got))],
        _ => Vec::new(),
    };
    cm.marks.retain(|m| m.0 >= p);
    cm.marks.push((read, acked_end + 1));
}

/// Opens the database after a kill and checks it against the model; then makes the model
/// what was read (it is durable now).
fn check(
    dir: &Path,
    model: &mut Model,
    fig: &mut Figures,
    rng: &mut SimRng,
    ctx: &str,
    cursor: (&mut CursorModel, u64, u64),
) {
    let db = Db::open(dir, options(false))
        .unwrap_or_else(|e| panic!("{ctx}: open after SIGKILL failed: {e}"));
    check_cursor(&db, cursor.0, cursor.1, cursor.2, fig, ctx);
    for p in 0..POINTS {
        let c = db
            .read_range(p, i64::MIN, i64::MAX)
            .unwrap_or_else(|e| panic!("{ctx}: read: {e}"));
        let seen: BTreeMap<i64, u64> =
            c.ts.iter()
                .zip(&c.values)
                .map(|(&t, v)| (t, v.to_bits()))
                .collect();
        let keys: Vec<i64> = model
            .range((p, i64::MIN)..=(p, i64::MAX))
            .map(|(k, _)| k.1)
            .chain(seen.keys().copied())
            .collect();
        for t in keys {
            let have = seen.get(&t).copied();
            let may = model.get(&(p, t)).map_or(vec![None], |v| v.clone());
            assert!(
                may.contains(&have),
                "{ctx}: point {p} ts {t}: read {:?}, only {:?} may be there",
                have.map(f64::from_bits),
                may.iter()
                    .map(|v| v.map(f64::from_bits))
                    .collect::<Vec<_>>()
            );
            match may[..] {
                [Some(_)] => fig.acked_present += 1,
                [None] => {}
                _ => fig.uncertain_keys += 1,
            }
            match have {
                Some(v) => {
                    model.insert((p, t), vec![Some(v)]);
                }
                None => {
                    model.remove(&(p, t));
                }
            }
        }
        // Rollups: one tier each time, against a recomputation from what was read.
        let meta = &metas()[p as usize];
        let tier = Tier::ALL[rng.below(5) as usize];
        if !meta.tiers.unwrap_or(TierSet::ALL).contains(tier) {
            continue;
        }
        let samples: Vec<(i64, f64)> = c.ts.iter().copied().zip(c.values).collect();
        let got = db
            .rollup(p, tier, T0 - 400 * DAY, T0 + 400 * DAY)
            .unwrap_or_else(|e| panic!("{ctx}: rollup: {e}"));
        let want = reference(&samples, meta, tier, TZ);
        assert_eq!(got.len(), want.len(), "{ctx}: point {p} {tier:?} rows");
        for (g, w) in got.iter().zip(&want) {
            let b = &g.bucket;
            let ok = b.start == w.0
                && b.count == w.1
                && close(b.sum, w.2)
                && match (g.consumption, w.7) {
                    (Some(a), Some(b)) => close(a, b),
                    (None, None) => true,
                    _ => false,
                };
            assert!(ok, "{ctx}: point {p} {tier:?}: {g:?} vs {w:?}");
        }
        fig.rollup_rows += got.len() as u64;
    }
    assert!(db.verify().unwrap().is_empty(), "{ctx}: verify");
    db.close().unwrap();
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let cycles = env_u64("MDB_KILL9_CYCLES").unwrap_or(20);
    let seed = env_u64("MDB_SEED_BASE").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    println!("kill -9 cycles: {cycles}, MDB_SEED_BASE={seed}");
    let start = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db");
    {
        let db = Db::open(&dir, options(false)).unwrap();
        for (i, m) in metas().into_iter().enumerate() {
            assert_eq!(db.define_point(m).unwrap(), i as u32);
        }
        db.create_cursor(CURSOR, CursorStart::Beginning).unwrap();
        db.close().unwrap();
    }
    let mut cursor = CursorModel {
        allowed: vec![meterdb::change_id(1, 0)],
        marks: vec![(meterdb::change_id(1, 0), 0)],
        ..CursorModel::default()
    };
    let exe = std::env::current_exe().unwrap();
    let mut rng = SimRng::new(seed);
    let mut model = Model::new();
    let mut fig = Figures::default();
    let mut next = 0u64;
    // How long the child takes to start and open the database (a running estimate).
    let mut open_us = 20_000u64;
    for cycle in 0..cycles {
        let ctx = format!("cycle {cycle} (MDB_SEED_BASE={seed}, first op {next})");
        let background = rng.chance(1, 2);
        let mut child = Command::new(&exe)
            .args(["kill9_child", "--exact", "--nocapture", "--test-threads=1"])
            .env("MDB_KILL9_DIR", &dir)
            .env("MDB_KILL9_SEED", seed.to_string())
            .env("MDB_KILL9_FIRST", next.to_string())
            .env("MDB_KILL9_BG", if background { "1" } else { "0" })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning the child");
        let spawned = Instant::now();
        let out = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let (mut opened, mut last) = (None::<Duration>, None::<u64>);
            let mut lines = Vec::new();
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                // libtest may print "test kill9_child ... " before the first line.
                if line.ends_with("OPEN") {
                    opened = Some(spawned.elapsed());
                } else if let Some(at) = line.find("ACK ") {
                    if line[..at].ends_with("TRY") {
                        lines.push((last, line[at..].to_string(), true));
                    } else {
                        last = line[at + 4..].trim().parse().ok();
                    }
                } else if let Some(at) = line.find("READ ").or_else(|| line.find("ACKED ")) {
                    lines.push((last, line[at..].to_string(), false));
                }
            }
            (opened, last, lines)
        });
        // Mostly during the stream of operations; one kill in five within the time the
        // child's start and open usually take, so that it lands in the recovery.
        let early = rng.chance(1, 5);
        let wait_us = if early {
            fig.early_kills += 1;
            rng.below(open_us + open_us / 4 + 1)
        } else {
            open_us + rng.below(150_000)
        };
        std::thread::sleep(Duration::from_micros(wait_us));
        let _ = child.kill(); // SIGKILL on Unix
        let status = child.wait().unwrap();
        let (opened, last, lines) = reader.join().unwrap();
        // The child's forwarding reports, each with the last operation acknowledged before.
        for (op_before, line, tried) in lines {
            let f: Vec<u64> = line
                .split_whitespace()
                .skip(1)
                .filter_map(|x| x.parse().ok())
                .collect();
            if tried {
                cursor.allowed.push(f[0]);
            } else if line.starts_with("ACKED") {
                cursor.allowed = vec![f[0]];
                fig.cursor_acks += 1;
            } else if f.len() == 6 {
                if f[2] > 0 {
                    cursor.reads.push((f[0], f[1], f[2] as usize, f[3]));
                }
                if f[5] == 1 {
                    cursor.marks.push((f[4], op_before.map_or(next, |o| o + 1)));
                }
            }
        }
        match opened {
            None => fig.before_open += 1,
            Some(d) => open_us = (open_us * 7 + d.as_micros() as u64) / 8,
        }
        if status.success() || status.code().is_some() {
            let mut err = String::new();
            use std::io::Read;
            let _ = child.stderr.take().unwrap().read_to_string(&mut err);
            panic!("{ctx}: the child exited by itself ({status}) instead of being killed:\n{err}");
        }
        // Operations up to `last` were acknowledged; the next one may have been running.
        let (acked_end, in_flight) = match last {
            Some(l) => (l + 1, l + 1),
            None => (next, next),
        };
        for i in next..acked_end {
            apply(&mut model, &op(seed, i), true);
            fig.acked_ops += 1;
        }
        apply(&mut model, &op(seed, in_flight), false);
        cursor.in_flight.insert(in_flight);
        fig.in_flight += 1;
        next = in_flight + 1;
        check(
            &dir,
            &mut model,
            &mut fig,
            &mut rng,
            &ctx,
            (&mut cursor, seed, acked_end),
        );
        fig.cycles += 1;
    }
    println!(
        "kill -9 test: {} SIGKILLs ({} within the child's first milliseconds, {} before its \
         open returned) in {:.1} s; \
         {} operations acknowledged, {} in flight at a kill; checked {} acknowledged samples \
         present, {} keys after an operation in flight, {} rollup rows; cursor: {} acks \
         reported, position checked {} times, {} reads delivered again as they were, {} \
         acknowledged operations found in its stream",
        fig.cycles,
        fig.early_kills,
        fig.before_open,
        start.elapsed().as_secs_f64(),
        fig.acked_ops,
        fig.in_flight,
        fig.acked_present,
        fig.uncertain_keys,
        fig.rollup_rows,
        fig.cursor_acks,
        fig.cursors_checked,
        fig.reads_redelivered,
        fig.ops_delivered
    );
    assert_eq!(fig.cycles, cycles);
}
