//! The shared real meter data: bytes per sample and codec of every point (printed), and
//! the decode throughput of reading every point back.

use std::collections::BTreeMap;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use meterdb::{Db, Durability, Options, WriteBatch};

fn shared(c: &mut Criterion) {
    let Some(rows) = meterdb_benches::load_shared() else {
        eprintln!("skipping: ../shared/data/uk-meters.csv.gz not found");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default().durability(Durability::None)).unwrap();
    let mut ids = BTreeMap::new();
    let mut b = WriteBatch::new();
    for (p, t, v) in &rows {
        let id = *ids
            .entry(p.clone())
            .or_insert_with(|| db.ensure_point(p).unwrap());
        b.put(id, *t, *v);
    }
    db.write(&b).unwrap();
    db.flush().unwrap();
    db.compact().unwrap();
    let st = db.stats().unwrap();
    println!(
        "\n{:<44} {:>8} {:>10} {:>8} {:>8}  codecs (ts / value)",
        "point", "samples", "bytes", "B/sample", "ts B/s"
    );
    for p in &st.per_point {
        let names = |v: &Vec<(String, usize)>| {
            v.iter()
                .map(|(c, k)| format!("{c}x{k}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        println!(
            "{:<44} {:>8} {:>10} {:>8.3} {:>8.3}  {} / {}",
            p.key,
            p.samples,
            p.bytes,
            p.bytes as f64 / p.samples.max(1) as f64,
            p.ts_bytes as f64 / p.samples.max(1) as f64,
            names(&p.ts_codecs),
            names(&p.value_codecs)
        );
    }
    println!(
        "all points: {} samples, {} bytes of segment files, {:.3} bytes/sample\n",
        st.segment_samples,
        st.segment_bytes,
        st.segment_bytes as f64 / st.segment_samples.max(1) as f64
    );

    let total = st.segment_samples;
    let mut g = c.benchmark_group("shared_data");
    g.throughput(Throughput::Elements(total));
    g.bench_function("read_every_point", |bch| {
        bch.iter(|| {
            let mut n = 0u64;
            for &id in ids.values() {
                n += db.read_range(id, i64::MIN, i64::MAX).unwrap().len() as u64;
            }
            assert_eq!(n, total);
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = shared
}
criterion_main!(benches);
