//! The upload records of the online monitoring platform: building them, and checking the
//! ones a platform receives, field by field.
//!
//! A record is a JSON object with exactly the fields `enterpriseCode, dataCode, dataValue,
//! inputType, statType, statDate, uploadDate, valid`, plus, optionally, `id` (the sender's
//! change id, so that a receiver can drop a record it has already stored), and on
//! statistics `revision` (the sender's revision of the statistic: a receiver keeps the
//! highest) and `corrected` (1 when it replaces a statistic sent before). Times are local (+08:00) text:
//! `statDate` is `yyyy-MM-dd HH:mm:ss` for real-time data (statType 0), `yyyy-MM-dd` for a
//! day (1), `yyyy-MM` for a month (2), `yyyy` for a year (3).

use meterdb::time::{civil_from_days, days_from_civil};
use serde_json::{json, Map, Value};

use crate::industry::{check_uscc, DataCode};

/// The platform's time zone: +08:00.
pub const TZ_MS: i64 = 8 * 3_600_000;
const DAY: i64 = 86_400_000;

/// Real-time data.
pub const STAT_REALTIME: u8 = 0;
/// A day's statistics.
pub const STAT_DAY: u8 = 1;
/// A month's statistics.
pub const STAT_MONTH: u8 = 2;
/// A year's statistics.
pub const STAT_YEAR: u8 = 3;

/// `yyyy-MM-dd HH:mm:ss` (+08:00) of a timestamp.
pub fn format_datetime(ts: i64) -> String {
    let l = ts + TZ_MS;
    let (y, m, d) = civil_from_days(l.div_euclid(DAY));
    let s = l.rem_euclid(DAY) / 1000;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// `statDate` text of a bucket starting at `ts` for `stat_type`.
pub fn format_stat_date(stat_type: u8, ts: i64) -> String {
    let full = format_datetime(ts);
    match stat_type {
        STAT_DAY => full[..10].to_string(),
        STAT_MONTH => full[..7].to_string(),
        STAT_YEAR => full[..4].to_string(),
        _ => full,
    }
}

fn num(s: &str, what: &str, lo: u32, hi: u32) -> Result<u32, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{what} {s:?} is not a number"));
    }
    let v: u32 = s
        .parse()
        .map_err(|_| format!("{what} {s:?} is out of range"))?;
    if v < lo || v > hi {
        return Err(format!("{what} {v} is outside {lo}..={hi}"));
    }
    Ok(v)
}

/// Parses `statDate` text for `stat_type` into the timestamp of its start (+08:00).
pub fn parse_stat_date(stat_type: u8, s: &str) -> Result<i64, String> {
    let want = match stat_type {
        STAT_REALTIME => "yyyy-MM-dd HH:mm:ss",
        STAT_DAY => "yyyy-MM-dd",
        STAT_MONTH => "yyyy-MM",
        _ => "yyyy",
    };
    if s.len() != want.len() {
        return Err(format!("{s:?} is not of the form {want}"));
    }
    let sep = |i: usize, c: u8| s.as_bytes().get(i) == Some(&c);
    let bad = || format!("{s:?} is not of the form {want}");
    let y = num(s.get(..4).ok_or_else(bad)?, "year", 1970, 9999)?;
    let (mut mo, mut d, mut hh, mut mi, mut ss) = (1, 1, 0, 0, 0);
    if stat_type != STAT_YEAR {
        if !sep(4, b'-') {
            return Err(bad());
        }
        mo = num(s.get(5..7).ok_or_else(bad)?, "month", 1, 12)?;
    }
    if stat_type == STAT_DAY || stat_type == STAT_REALTIME {
        if !sep(7, b'-') {
            return Err(bad());
        }
        d = num(s.get(8..10).ok_or_else(bad)?, "day", 1, 31)?;
        let (ny, nm, nd) = civil_from_days(days_from_civil(i64::from(y), mo, d));
        if (ny, nm, nd) != (i64::from(y), mo, d) {
            return Err(format!("{s:?}: {y}-{mo:02} has no day {d}"));
        }
    }
    if stat_type == STAT_REALTIME {
        if !sep(10, b' ') || !sep(13, b':') || !sep(16, b':') {
            return Err(bad());
        }
        hh = num(s.get(11..13).ok_or_else(bad)?, "hour", 0, 23)?;
        mi = num(s.get(14..16).ok_or_else(bad)?, "minute", 0, 59)?;
        ss = num(s.get(17..19).ok_or_else(bad)?, "second", 0, 59)?;
    }
    let days = days_from_civil(i64::from(y), mo, d);
    Ok(days * DAY + i64::from(hh * 3600 + mi * 60 + ss) * 1000 - TZ_MS)
}

/// Parses a `yyyy-MM-dd` date (+08:00) into the timestamp of its start.
pub fn parse_date(s: &str) -> Result<i64, String> {
    parse_stat_date(STAT_DAY, s)
}

/// One record to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Unified social credit code.
    pub enterprise: String,
    /// Data code.
    pub data_code: String,
    /// Value.
    pub value: f64,
    /// 1 collected automatically, 2 entered by hand, 3 estimated.
    pub input_type: u8,
    /// 0..=3.
    pub stat_type: u8,
    /// Start of the sample's time or the bucket (ms).
    pub stat_ts: i64,
    /// Whether the value is valid.
    pub valid: bool,
    /// The sender's change id, when there is one.
    pub id: Option<u64>,
    /// For a statistic: the sender's revision of it (higher is newer).
    pub revision: Option<u64>,
    /// For a statistic: whether it replaces one sent before.
    pub corrected: bool,
}

/// The quality byte of a record's `valid` and `inputType`: bit 0 valid, the manual bit for
/// input type 2, the estimated bit for 3.
pub fn quality_of(valid: bool, input_type: u8) -> u8 {
    let mut q = 0;
    if valid {
        q |= meterdb::Quality::VALID_BIT;
    }
    match input_type {
        2 => q |= meterdb::Quality::MANUAL_BIT,
        3 => q |= meterdb::Quality::ESTIMATED_BIT,
        _ => {}
    }
    q
}

/// The `inputType` of a quality byte: 3 estimated, 2 manual, else 1 collected.
pub fn input_type_of(quality: u8) -> u8 {
    let q = meterdb::Quality(quality);
    if q.is_estimated() {
        3
    } else if q.is_manual() {
        2
    } else {
        1
    }
}

impl Record {
    /// The record's JSON, with `uploadDate` = `upload_ts`.
    pub fn to_json(&self, upload_ts: i64) -> Value {
        let mut v = json!({
            "enterpriseCode": self.enterprise,
            "dataCode": self.data_code,
            "dataValue": meterdb::time::format_value(self.value),
            "inputType": self.input_type,
            "statType": self.stat_type,
            "statDate": format_stat_date(self.stat_type, self.stat_ts),
            "uploadDate": format_datetime(upload_ts),
            "valid": u8::from(self.valid),
        });
        if let Some(id) = self.id {
            v["id"] = json!(id);
        }
        if let Some(r) = self.revision {
            v["revision"] = json!(r);
        }
        if self.corrected {
            v["corrected"] = json!(1);
        }
        v
    }
}

/// The JSON array text of records.
pub fn to_body(records: &[Record], upload_ts: i64) -> String {
    Value::Array(records.iter().map(|r| r.to_json(upload_ts)).collect()).to_string()
}

/// Why a received record was refused: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field (or `record` for the record as a whole).
    pub field: &'static str,
    /// Why.
    pub reason: String,
}

/// A received record, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    /// The record.
    pub record: Record,
    /// Its data code, decoded.
    pub code: DataCode,
    /// Its `uploadDate` (ms since the epoch).
    pub upload_ts: i64,
}

/// The fields a record must have.
pub const FIELDS: [&str; 8] = [
    "enterpriseCode",
    "dataCode",
    "dataValue",
    "inputType",
    "statType",
    "statDate",
    "uploadDate",
    "valid",
];

/// The fields a record may have.
pub const OPTIONAL: [&str; 3] = ["id", "revision", "corrected"];

fn small_int(o: &Map<String, Value>, f: &'static str, max: u64) -> Result<u8, FieldError> {
    let v = &o[f];
    let n = v
        .as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .ok_or_else(|| FieldError {
            field: f,
            reason: format!("{v} is not an integer"),
        })?;
    if n > max {
        return Err(FieldError {
            field: f,
            reason: format!("{n} is outside 0..={max}"),
        });
    }
    Ok(n as u8)
}

/// Checks one received record, field by field.
pub fn check(v: &Value) -> Result<Checked, FieldError> {
    let o = v.as_object().ok_or_else(|| FieldError {
        field: "record",
        reason: "not a JSON object".into(),
    })?;
    for f in FIELDS {
        if !o.contains_key(f) {
            return Err(FieldError {
                field: f,
                reason: "missing".into(),
            });
        }
    }
    if let Some(k) = o
        .keys()
        .find(|k| !FIELDS.contains(&k.as_str()) && !OPTIONAL.contains(&k.as_str()))
    {
        return Err(FieldError {
            field: "record",
            reason: format!("unknown field {k:?}"),
        });
    }
    let text = |f: &'static str| {
        o[f].as_str().ok_or_else(|| FieldError {
            field: f,
            reason: format!("{} is not a string", o[f]),
        })
    };
    let enterprise = text("enterpriseCode")?;
    check_uscc(enterprise).map_err(|reason| FieldError {
        field: "enterpriseCode",
        reason,
    })?;
    let data_code = text("dataCode")?;
    let code = DataCode::parse(data_code).map_err(|reason| FieldError {
        field: "dataCode",
        reason,
    })?;
    let dv = &o["dataValue"];
    let value = match dv {
        Value::String(s) => s.trim().parse::<f64>().ok(),
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
    .ok_or_else(|| FieldError {
        field: "dataValue",
        reason: format!("{dv} is not a number"),
    })?;
    if !value.is_finite() {
        return Err(FieldError {
            field: "dataValue",
            reason: format!("{dv} is not finite"),
        });
    }
    let input_type = small_int(o, "inputType", 3)?;
    if input_type == 0 {
        return Err(FieldError {
            field: "inputType",
            reason: "0 is not an input type (1 automatic, 2 manual, 3 estimated)".into(),
        });
    }
    let stat_type = small_int(o, "statType", 3)?;
    let stat_ts = parse_stat_date(stat_type, text("statDate")?).map_err(|reason| FieldError {
        field: "statDate",
        reason,
    })?;
    let upload_ts =
        parse_stat_date(STAT_REALTIME, text("uploadDate")?).map_err(|reason| FieldError {
            field: "uploadDate",
            reason,
        })?;
    let valid = small_int(o, "valid", 1)? == 1;
    let id = match o.get("id") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().ok_or_else(|| FieldError {
            field: "id",
            reason: format!("{v} is not a non-negative integer"),
        })?),
    };
    let revision = match o.get("revision") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().ok_or_else(|| FieldError {
            field: "revision",
            reason: format!("{v} is not a non-negative integer"),
        })?),
    };
    let corrected = o.contains_key("corrected") && small_int(o, "corrected", 1)? == 1;
    Ok(Checked {
        upload_ts,
        record: Record {
            enterprise: enterprise.to_string(),
            data_code: data_code.to_string(),
            value,
            input_type,
            stat_type,
            stat_ts,
            valid,
            id,
            revision,
            corrected,
        },
        code,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        let ts = 1_767_196_800_000 + 3_723_000; // 2026-01-01 01:02:03 +08:00
        assert_eq!(format_datetime(ts), "2026-01-01 01:02:03");
        for st in 0..=3 {
            let start = match st {
                0 => ts,
                _ => 1_767_196_800_000,
            };
            assert_eq!(
                parse_stat_date(st, &format_stat_date(st, start)).unwrap(),
                start
            );
        }
        assert!(parse_stat_date(1, "2026-02-30")
            .unwrap_err()
            .contains("no day 30"));
        assert!(parse_stat_date(0, "2026-01-01T01:02:03").is_err());
        assert!(parse_stat_date(0, "2026-01-01 24:00:00")
            .unwrap_err()
            .contains("hour"));
    }

    #[test]
    fn records_check_field_by_field() {
        let ent = crate::industry::uscc_with_check("91350100M000100Y4").unwrap();
        let r = Record {
            enterprise: ent,
            data_code: "3300400150020001".into(),
            value: 1234.5,
            input_type: 1,
            stat_type: 0,
            stat_ts: 1_767_196_800_000,
            valid: true,
            id: Some(42),
            revision: None,
            corrected: false,
        };
        let v = r.to_json(1_767_196_900_000);
        assert_eq!(check(&v).unwrap().record, r);
        let bad = |f: &str, x: Value| {
            let mut v = v.clone();
            v[f] = x;
            check(&v).unwrap_err()
        };
        assert_eq!(bad("dataValue", json!("12,5")).field, "dataValue");
        assert_eq!(bad("statType", json!(7)).field, "statType");
        assert_eq!(bad("statDate", json!("2026-01-01")).field, "statDate");
        assert_eq!(bad("enterpriseCode", json!("123")).field, "enterpriseCode");
        assert_eq!(bad("dataCode", json!("3300100102")).field, "dataCode");
        assert_eq!(bad("valid", json!(2)).field, "valid");
        assert_eq!(bad("extra", json!(1)).reason, "unknown field \"extra\"");
        assert_eq!(bad("revision", json!(-1)).field, "revision");
        assert_eq!(bad("corrected", json!(2)).field, "corrected");
        let st = Record {
            stat_type: STAT_DAY,
            revision: Some(7),
            corrected: true,
            input_type: 3,
            ..r.clone()
        };
        assert_eq!(check(&st.to_json(0)).unwrap().record, st);
        for (valid, it) in [(true, 1), (true, 2), (true, 3), (false, 1), (false, 3)] {
            let q = quality_of(valid, it);
            assert_eq!(
                (meterdb::Quality(q).is_valid(), input_type_of(q)),
                (valid, it)
            );
        }
        let mut v2 = v.clone();
        v2.as_object_mut().unwrap().remove("uploadDate");
        assert_eq!(check(&v2).unwrap_err().field, "uploadDate");
    }
}
