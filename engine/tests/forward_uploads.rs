//! The upload log: records of upload attempts, durable, filtered, and kept under limits.

use meterdb::io::MemStorage;
use meterdb::{Db, Options, OutcomeFilter, UploadOutcome, UploadRecord};

mod support;
use support::mem_opts;

const DIR: &str = "/db";

fn rec(i: i64, ok: bool) -> UploadRecord {
    UploadRecord {
        cursor: "prov".into(),
        first_id: (i as u64) << 22,
        last_id: ((i as u64) << 22) + 9,
        samples: 10,
        outcome: if ok {
            UploadOutcome::Ok
        } else {
            UploadOutcome::Failed(format!("http 503 at attempt {i}"))
        },
        platform_time: ok.then_some(1_000 * i + 7),
        at: 1_000 * i,
    }
}

#[test]
fn records_survive_power_loss_and_filter() {
    let s = MemStorage::new();
    let db = Db::open(DIR, mem_opts(&s)).unwrap();
    for i in 0..20 {
        db.record_upload(&rec(i, i % 3 != 0)).unwrap();
    }
    let crashed = s.crash();
    drop(db);
    let db = Db::open(DIR, mem_opts(&crashed)).unwrap();
    let all = db
        .upload_records(i64::MIN, i64::MAX, OutcomeFilter::All)
        .unwrap();
    assert_eq!(all, (0..20).map(|i| rec(i, i % 3 != 0)).collect::<Vec<_>>());
    let failed = db
        .upload_records(i64::MIN, i64::MAX, OutcomeFilter::Failed)
        .unwrap();
    assert_eq!(failed.len(), 7);
    assert!(failed.iter().all(|r| r.outcome != UploadOutcome::Ok));
    let ok = db.upload_records(5_000, 10_000, OutcomeFilter::Ok).unwrap();
    assert_eq!(
        ok.iter().map(|r| r.at).collect::<Vec<_>>(),
        vec![5_000, 7_000, 8_000]
    );
}

#[test]
fn retention_by_count_and_by_age() {
    let s = MemStorage::new();
    let o = Options {
        upload_records_keep: 1000,
        ..mem_opts(&s)
    };
    let db = Db::open(DIR, o.clone()).unwrap();
    for i in 0..12_000 {
        db.record_upload(&rec(i, true)).unwrap();
    }
    let all = db
        .upload_records(i64::MIN, i64::MAX, OutcomeFilter::All)
        .unwrap();
    assert_eq!(all.len(), 1000);
    assert_eq!(all[0].at, 11_000 * 1000);
    // Old files are deleted: 256 KiB files hold about 4000 records each, so of the three
    // files written at most the newest two remain.
    let files = meterdb::io::Storage::list(&s, std::path::Path::new("/db/uploads")).unwrap();
    assert!(files.len() <= 2, "{files:?}");
    db.close().unwrap();

    let o = Options {
        upload_records_keep: 1000,
        upload_records_max_age_ms: Some(100_000),
        ..mem_opts(&s)
    };
    let db = Db::open(DIR, o).unwrap();
    let all = db
        .upload_records(i64::MIN, i64::MAX, OutcomeFilter::All)
        .unwrap();
    assert_eq!(
        all.len(),
        101,
        "records at most 100 s older than the newest"
    );
    assert_eq!(all[0].at, 11_899 * 1000);
}
