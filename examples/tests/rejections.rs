//! The gateway's side acts on rejections: records a platform rejects in a 200 answer are
//! counted, logged in the upload log (an entry `{cursor}:rejected`, outcome failed with the
//! first reason) and kept with their reasons in `DIR/{cursor}.jsonl` (0600); `gateway
//! health` shows them.

mod common;

use meterdb::{Db, Options, PointKind, PointMeta, WriteBatch};
use meterdb_examples::api::standard_config;
use meterdb_examples::industry::Industry;
use meterdb_examples::records::{parse_date, Record, STAT_REALTIME};
use meterdb_examples::server::serve;
use meterdb_examples::upload::{now_ms, Destination, Pass};

#[test]
fn rejected_records_are_kept_logged_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let p = common::open_platform(&dir.path().join("prov"));
    let items = standard_config(Industry::Steel, 7, 60_000);
    let good_code = items[0].data_code.clone();
    let (ent, _) = common::add_steel_unit(&p, "91350100MA2RJ0001", "plant", items);
    let dev = p.registry().enroll_and_register(&ent, "SN").unwrap();
    let running = serve(p.clone(), "127.0.0.1:0", 2).unwrap();

    // The gateway's database: a configured point and one the platform does not know.
    let db = Db::open(dir.path().join("gw"), Options::default()).unwrap();
    let outside = "3300400950040001".to_string();
    let a = db
        .define_point(PointMeta::new(good_code.clone(), PointKind::Counter))
        .unwrap();
    let b = db
        .define_point(PointMeta::new(outside.clone(), PointKind::Counter))
        .unwrap();
    let t0 = parse_date("2026-01-01").unwrap();
    let mut batch = WriteBatch::new();
    for i in 0..10 {
        batch.put(a, t0 + i * 60_000, i as f64);
        batch.put(b, t0 + i * 60_000, i as f64);
    }
    db.write(&batch).unwrap();
    let url = format!("http://{}/api/v1/data", running.addr);
    let mut d = Destination::open(&db, &url, &dev.token).unwrap();
    let kept = dir.path().join("gw.rejected");
    d.keep_rejected_in(&kept);
    let codes = [(a, good_code.clone()), (b, outside.clone())];
    let pass = d
        .send_changes(&db, now_ms(), &mut |c| {
            let code = codes.iter().find(|x| x.0 == c.point)?.1.clone();
            Some(Record {
                enterprise: ent.clone(),
                data_code: code,
                value: c.value,
                input_type: 1,
                stat_type: STAT_REALTIME,
                stat_ts: c.ts,
                valid: true,
                id: Some(c.id),
                revision: None,
                corrected: false,
            })
        })
        .unwrap();
    assert_eq!(pass, Pass::Idle);
    assert_eq!(d.acked, 20);
    assert_eq!(d.rejected, 10);
    let file = kept.join(format!("{}.jsonl", d.cursor));
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text.lines().count(), 10);
    assert!(
        text.contains("not in the collection configuration"),
        "{text}"
    );
    assert!(text.contains(&outside));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let log = db
        .upload_records(i64::MIN / 4, i64::MAX / 4, meterdb::OutcomeFilter::Failed)
        .unwrap();
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].cursor, format!("{}:rejected", d.cursor));
    assert_eq!(log[0].samples, 10);
    running.stop();
    drop(db);

    // `gateway health` shows them (DB.rejected/ is where the gateway keeps them) and says
    // something needs a look (exit status 2).
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args(["health", "--db"])
        .arg(dir.path().join("gw"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let h: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(h["ok"], false, "{h}");
    assert_eq!(h["rejectedKept"], 10, "{h}");
    assert_eq!(h["rejectedByUpload"][&d.cursor], 10, "{h}");
    let last = &h["lastRejection"];
    assert_eq!(last["field"], "dataCode", "{h}");
    assert!(
        last["reason"]
            .as_str()
            .unwrap()
            .contains("not in the collection configuration"),
        "{h}"
    );
    assert_eq!(last["record"]["dataCode"], outside.as_str(), "{h}");
}
