//! The README's 15-line API example, kept compiling and running.

use meterdb::{Db, Durability, Options, PointKind, PointMeta, WriteBatch};

#[test]
fn readme_example_runs() -> Result<(), meterdb::Error> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plant.mdb");
    // From here on, the README's lines.
    let db = Db::open(&path, Options::default().durability(Durability::Sync))?;
    let kwh = db.define_point(
        PointMeta::new("91350100MA2XXXXX0X0101000000000001", PointKind::Counter)
            .with_unit("kWh")
            .with_precision(2)
            .with_interval_ms(900_000),
    )?;
    let mut batch = WriteBatch::new();
    batch.put(kwh, 1_795_507_200_000, 1234.56); // ms since the epoch, UTC
    batch.put(kwh, 1_795_508_100_000, 1236.01);
    db.write(&batch)?; // durable when it returns (Durability::Sync)
    for s in db.range(kwh, 1_795_507_200_000, 1_795_593_600_000)? {
        let s = s?; // a consistent snapshot, in time order
        println!("{} {} valid={}", s.ts, s.value, s.quality.is_valid());
    }
    println!("{:?}", db.latest(kwh)?);
    assert_eq!(db.latest(kwh)?.unwrap().value, 1236.01);
    Ok(())
}
