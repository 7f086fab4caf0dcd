//! Consumption of a counter, defined once and shared: the harness's reference answers and
//! every engine that has no aggregation of its own (a KV scan, raw range reads) use it.
//!
//! Definition. Calendar days and months are those of UTC+8. A register `R` is read as the
//! running total `U` of its increases: between two consecutive samples `(t0, v0)` and
//! `(t1, v1)` the increase is `v1 - v0`, or `v1` when the register fell (a meter replacement:
//! the new meter counts from zero). `U` is linear between samples and constant before the
//! first and after the last. The consumption of a bucket `[b0, b1)` is `U(b1) - U(b0)`: the
//! register interpolated linearly at the bucket's end boundary minus at its start boundary,
//! between the last sample before each boundary and the first sample at or after it. So each
//! pair's increase is apportioned to the buckets it spans in proportion to the time in each;
//! an engine needs a bucket's samples plus the one before its start and the one at or after
//! its end.

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;
/// UTC+8, in milliseconds.
pub const TZ_MS: i64 = 8 * 3_600_000;

/// The UTC+8 midnight at or before `ts`.
pub fn day_floor(ts: i64) -> i64 {
    (ts + TZ_MS).div_euclid(DAY_MS) * DAY_MS - TZ_MS
}

/// Boundaries of `days` UTC+8 days from `start` (a UTC+8 midnight): `days + 1` values.
pub fn day_bounds(start: i64, days: usize) -> Vec<i64> {
    (0..=days as i64).map(|d| start + d * DAY_MS).collect()
}

/// Boundaries of the UTC+8 calendar months in `[start, end)`, clipped to it.
pub fn month_bounds(start: i64, end: i64) -> Vec<i64> {
    let mut out = vec![start];
    let mut day = (start + TZ_MS).div_euclid(DAY_MS);
    loop {
        let (y, m, _) = meterdb::time::civil_from_days(day);
        let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        day = meterdb::time::days_from_civil(ny, nm, 1);
        let b = day * DAY_MS - TZ_MS;
        if b >= end {
            break;
        }
        out.push(b);
    }
    out.push(end);
    out
}

/// The samples a consumption query over `[from, to)` needs: those inside, the last one before
/// `from` and the first at or after `to`. `series` is in time order.
pub fn window(series: &[(i64, f64)], from: i64, to: i64) -> &[(i64, f64)] {
    let lo = series.partition_point(|x| x.0 < from).saturating_sub(1);
    let hi = (series.partition_point(|x| x.0 < to) + 1).min(series.len());
    &series[lo..hi.max(lo)]
}

/// Consumption of each bucket `[bounds[k], bounds[k + 1])` from samples in time order (which
/// should include the boundary-adjacent ones, see [`window`]). Repeated timestamps (which a
/// correct engine never returns) count their increase in the bucket of the second one.
pub fn consumption(samples: &[(i64, f64)], bounds: &[i64]) -> Vec<f64> {
    let n = bounds.len().saturating_sub(1);
    let mut out = vec![0.0; n];
    if n == 0 {
        return out;
    }
    let bucket_of = |t: i64| bounds.partition_point(|&b| b <= t).checked_sub(1);
    for w in samples.windows(2) {
        let ((t0, v0), (t1, v1)) = (w[0], w[1]);
        let inc = if v1 >= v0 { v1 - v0 } else { v1 };
        if t1 <= t0 {
            if let Some(k) = bucket_of(t1).filter(|&k| k < n) {
                out[k] += inc;
            }
            continue;
        }
        if t1 <= bounds[0] || t0 >= bounds[n] {
            continue;
        }
        let mut k = bucket_of(t0.max(bounds[0])).unwrap_or(0);
        while k < n && bounds[k] < t1 {
            let overlap = t1.min(bounds[k + 1]) - t0.max(bounds[k]);
            if overlap > 0 {
                out[k] += inc * overlap as f64 / (t1 - t0) as f64;
            }
            k += 1;
        }
    }
    out
}

/// Whether two answers agree: relative tolerance 1e-9 (absolute 1e-9 near zero).
pub fn same(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Buckets that differ (a missing or extra bucket counts as wrong).
pub fn wrong_buckets(got: &[f64], want: &[f64]) -> usize {
    let common = got
        .iter()
        .zip(want)
        .filter(|(g, w)| !same(**g, **w))
        .count();
    common + got.len().abs_diff(want.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolates_at_boundaries_and_restarts_from_zero() {
        let b = [0, 10, 20];
        // Rising by 1 per unit of time, sampled every 4: boundaries interpolated.
        let s: Vec<(i64, f64)> = (0..7)
            .map(|i| (i * 4 - 2, 100.0 + (i * 4 - 2) as f64))
            .collect();
        let c = consumption(&s, &b);
        assert!(same(c[0], 10.0) && same(c[1], 10.0), "{c:?}");
        // A replacement: 150 -> 2 counts 2.
        let s = [(0, 100.0), (5, 150.0), (10, 2.0), (20, 12.0)];
        assert_eq!(consumption(&s, &b), vec![50.0 + 2.0, 10.0]);
    }

    #[test]
    fn months_and_windows() {
        let start = crate::workload::YEAR_START;
        let m = month_bounds(start, start + 365 * DAY_MS);
        assert_eq!(m.len(), 13);
        assert_eq!(m[1] - m[0], 31 * DAY_MS);
        let s = [(1, 1.0), (5, 2.0), (9, 3.0), (12, 4.0)];
        assert_eq!(window(&s, 5, 9), &s[0..3]);
        assert_eq!(window(&s, 6, 13), &s[1..4]);
    }
}
