//! Calendar arithmetic and RFC 3339 text for millisecond timestamps, without a time zone
//! database: offsets are fixed (MeterDB's zones are fixed UTC offsets such as `+08:00`).

use crate::error::{Error, Result};
use crate::sample::{check_ts, Timestamp};

const MS_PER_DAY: i64 = 86_400_000;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date `(year, month, day)` of a day number since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Formats a timestamp as RFC 3339 with the given offset in minutes east of UTC:
/// `2026-11-24T08:00:00Z` for offset 0, `2026-11-24T16:00:00+08:00` otherwise.
/// Milliseconds are printed only when not zero. RFC 3339 years have four digits: where
/// the local date would fall after year 9999 (the last hours of the supported range, east
/// of UTC), the same instant is printed in UTC instead, so the text always parses back.
pub fn format_rfc3339(ts: Timestamp, offset_min: i32) -> String {
    let local = ts.saturating_add(i64::from(offset_min) * 60_000);
    let days = local.div_euclid(MS_PER_DAY);
    let ms_of_day = local.rem_euclid(MS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    if offset_min != 0 && !(0..=9999).contains(&y) {
        return format_rfc3339(ts, 0);
    }
    let (hh, mm, ss, ms) = (
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000,
    );
    let mut s = format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}");
    if ms != 0 {
        s.push_str(&format!(".{ms:03}"));
    }
    if offset_min == 0 {
        s.push('Z');
    } else {
        let sign = if offset_min < 0 { '-' } else { '+' };
        let a = offset_min.unsigned_abs();
        s.push_str(&format!("{sign}{:02}:{:02}", a / 60, a % 60));
    }
    s
}

/// Formats an offset in minutes as `+08:00` (`+00:00` for zero).
pub fn format_offset(offset_min: i32) -> String {
    let sign = if offset_min < 0 { '-' } else { '+' };
    let a = offset_min.unsigned_abs();
    format!("{sign}{:02}:{:02}", a / 60, a % 60)
}

/// Parses an offset such as `Z`, `+08:00`, `-05:30` or `+0800` into minutes east of UTC.
pub fn parse_offset(s: &str) -> Result<i32> {
    let bad = || Error::invalid(format!("bad UTC offset {s:?} (expected Z or +HH:MM)"));
    if s == "Z" || s == "z" {
        return Ok(0);
    }
    // Byte offsets below slice the text: other than ASCII, it is refused first.
    if !s.is_ascii() {
        return Err(bad());
    }
    let b = s.as_bytes();
    if b.len() < 3 || (b[0] != b'+' && b[0] != b'-') {
        return Err(bad());
    }
    let rest = &s[1..];
    let (h, m) = match rest.len() {
        2 => (rest, "00"),
        4 => (&rest[..2], &rest[2..]),
        5 if rest.as_bytes()[2] == b':' => (&rest[..2], &rest[3..]),
        _ => return Err(bad()),
    };
    let h: i32 = parse_digits(h).ok_or_else(bad)?;
    let m: i32 = parse_digits(m).ok_or_else(bad)?;
    if h > 23 || m > 59 {
        return Err(bad());
    }
    let v = h * 60 + m;
    Ok(if b[0] == b'-' { -v } else { v })
}

fn parse_digits<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses an RFC 3339 timestamp (`2026-11-24T08:00:00Z`, `2026-11-24 16:00:00.5+08:00`;
/// fractions beyond milliseconds are refused rather than rounded) or integer epoch milliseconds.
pub fn parse_timestamp(s: &str) -> Result<Timestamp> {
    let s = s.trim();
    let bad = |why: &str| Error::invalid(format!("bad timestamp {s:?}: {why}"));
    if !s.is_empty()
        && s.bytes()
            .enumerate()
            .all(|(i, c)| c.is_ascii_digit() || (i == 0 && c == b'-'))
    {
        let v: i64 = s.parse().map_err(|_| bad("integer out of range"))?;
        check_ts(v)?;
        return Ok(v);
    }
    // Byte offsets below slice the text: other than ASCII, it is refused first.
    if !s.is_ascii() {
        return Err(bad("not ASCII text"));
    }
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(bad(
            "expected YYYY-MM-DDTHH:MM:SS followed by Z or an offset, or epoch milliseconds",
        ));
    }
    let num = |r: std::ops::Range<usize>| -> Result<u32> {
        parse_digits(&s[r]).ok_or_else(|| bad("not a number where digits belong"))
    };
    let (y, mo, d, h, mi, se) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    let y = i64::from(y);
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 59
    {
        return Err(bad("a field is out of range"));
    }
    let mut i = 19;
    let mut ms = 0i64;
    if b[i] == b'.' || b[i] == b',' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let frac = &s[start..i];
        if frac.is_empty() {
            return Err(bad("empty fraction"));
        }
        let (keep, extra) = frac.split_at(frac.len().min(3));
        if extra.bytes().any(|c| c != b'0') {
            return Err(bad("precision finer than a millisecond"));
        }
        ms = i64::from(parse_digits::<u32>(keep).ok_or_else(|| bad("fraction"))?)
            * 10i64.pow(3 - keep.len() as u32);
    }
    let off = parse_offset(&s[i..])
        .map_err(|_| bad("expected Z or an offset such as +08:00 at the end"))?;
    let days = days_from_civil(y, mo, d);
    let ts = days * MS_PER_DAY
        + i64::from(h) * 3_600_000
        + i64::from(mi) * 60_000
        + i64::from(se) * 1000
        + ms
        - i64::from(off) * 60_000;
    check_ts(ts)?;
    Ok(ts)
}

/// The shortest decimal text of an `f64` that parses back to the same value.
pub fn format_value(v: f64) -> String {
    // Rust's `Display` and `LowerExp` for f64 both print the shortest digits that
    // round-trip; take whichever form is shorter (plain on a tie).
    let plain = format!("{v}");
    let exp = format!("{v:e}");
    if exp.len() < plain.len() {
        exp
    } else {
        plain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for z in [-719_468i64, -1, 0, 1, 10_957, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn rfc3339_round_trip() {
        let ts = parse_timestamp("2026-11-24T08:00:00Z").unwrap();
        assert_eq!(ts, 1_795_507_200_000);
        assert_eq!(format_rfc3339(ts, 0), "2026-11-24T08:00:00Z");
        assert_eq!(format_rfc3339(ts, 480), "2026-11-24T16:00:00+08:00");
        assert_eq!(parse_timestamp("2026-11-24T16:00:00+08:00").unwrap(), ts);
        assert_eq!(
            parse_timestamp("2026-11-24 16:00:00.250+08:00").unwrap(),
            ts + 250
        );
        assert_eq!(parse_timestamp("1795507200000").unwrap(), ts);
        assert_eq!(format_rfc3339(ts + 5, -90), "2026-11-24T06:30:00.005-01:30");
        for bad in [
            "",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-11-24T08:00:00",
            "x",
            "2026-11-24T08:00:00.0001Z",
            "99999999999999999999",
        ] {
            assert!(parse_timestamp(bad).is_err(), "{bad}");
        }
        assert!(parse_timestamp("2024-02-29T00:00:00Z").is_ok());
    }

    #[test]
    fn values_print_shortest() {
        for v in [0.1, 1.0, 123.456, 1e-300, -0.0, 5e300, 0.30000000000000004] {
            let s = format_value(v);
            assert_eq!(s.parse::<f64>().unwrap().to_bits(), v.to_bits(), "{s}");
        }
        assert_eq!(format_value(1.0), "1");
        assert_eq!(format_value(0.125), "0.125");
        assert_eq!(format_value(-0.0), "-0");
        assert_eq!(format_value(5e300), "5e300");
    }
}
