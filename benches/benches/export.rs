//! Parquet export throughput and size against MeterDB's own storage, on the shared real data
//! and on a simulated plant (500 points, 15-minute samples, 90 days). Not criterion: one
//! timed export per case (best of three), which is what a user running `meterdb export` sees.
//!
//! `cargo bench -p meterdb-benches --features parquet --bench export`

use std::time::Instant;

use meterdb::export::{export, ExportOptions, Selection, Source};
use meterdb::sample::{MAX_TIMESTAMP, MIN_TIMESTAMP};
use meterdb::{Db, Durability, Options, PointFilter, PointKind, PointMeta, Tier, WriteBatch};
use meterdb_examples::sim;

const START: i64 = 1_763_913_600_000; // 2025-11-24T00:00:00+08:00
const IV: i64 = 900_000;

fn report(name: &str, db: &Db, out: &std::path::Path) {
    let st = db.stats().unwrap();
    let samples = st.segment_samples + st.memtable_samples;
    let own = st.segment_bytes as f64 / st.segment_samples.max(1) as f64;
    println!(
        "{name}: {} points, {samples} samples, meterdb {} bytes ({own:.2} bytes/sample)",
        st.points, st.segment_bytes
    );
    for source in [
        Source::Raw,
        Source::Tier(Tier::Hour),
        Source::Tier(Tier::Day),
    ] {
        let mut best = f64::MAX;
        let mut last = None;
        for _ in 0..3 {
            let t = Instant::now();
            let s = export(
                db,
                &Selection::Filter(PointFilter::default()),
                source,
                MIN_TIMESTAMP,
                MAX_TIMESTAMP + 1,
                out,
                &ExportOptions::default(),
                &mut |_| {},
            )
            .unwrap();
            best = best.min(t.elapsed().as_secs_f64());
            last = Some(s);
        }
        let s = last.unwrap();
        println!(
            "  export {:<6} {:>9} rows {:>5} files {:>10} bytes  {:>6.2} bytes/row  {:>6.3} s  {:>10.0} rows/s",
            source.as_str(),
            s.rows,
            s.files,
            s.bytes,
            s.bytes as f64 / s.rows.max(1) as f64,
            best,
            s.rows as f64 / best
        );
    }
    let ids: Vec<_> = db
        .points(&PointFilter::default())
        .into_iter()
        .map(|p| p.0)
        .collect();
    let t = Instant::now();
    let mut n = 0;
    for b in db
        .record_batches(&ids, MIN_TIMESTAMP, MAX_TIMESTAMP + 1, 1 << 16)
        .unwrap()
    {
        n += b.unwrap().num_rows();
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "  record_batches {n} rows {secs:.3} s {:.0} rows/s",
        n as f64 / secs
    );
}

fn main() {
    let opts = || Options {
        background: false,
        ..Options::default().durability(Durability::None)
    };
    if let Some(rows) = meterdb_benches::load_shared() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path().join("db"), opts()).unwrap();
        let mut ids = std::collections::BTreeMap::new();
        let mut b = WriteBatch::new();
        for (p, t, v) in &rows {
            let id = *ids.entry(p.clone()).or_insert_with(|| {
                let kind = if p.contains("register") {
                    PointKind::Counter
                } else {
                    PointKind::Gauge
                };
                db.define_point(PointMeta::new(p.clone(), kind)).unwrap()
            });
            b.put(id, *t, *v);
        }
        db.write(&b).unwrap();
        db.flush().unwrap();
        db.compact().unwrap();
        report("shared uk-meters", &db, &dir.path().join("out"));
    } else {
        println!("skipping the shared data: ../shared/data not found");
    }

    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("db"), opts()).unwrap();
    for m in sim::plant(500, 2026) {
        let id = db.define_point(m.meta.clone()).unwrap();
        let s = m.samples(START, IV, 90 * 96);
        let mut b = WriteBatch::with_capacity(s.len());
        for &(t, v) in &s {
            b.put(id, t, v);
        }
        db.write(&b).unwrap();
    }
    db.flush().unwrap();
    db.compact().unwrap();
    report(
        "plant(500, 2026), 15 min, 90 days",
        &db,
        &dir.path().join("out"),
    );
}
