//! Tiers and calendar buckets in a fixed UTC offset.

use crate::error::{Error, Result};
use crate::time::{civil_from_days, days_from_civil};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;

crate::code_enum! {
    /// A rollup tier (codes: the rollup files' kind, the C ABI's `MDB_TIER_*`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum Tier {
        /// Calendar minutes.
        Minute = 1 => "minute",
        /// Calendar hours.
        Hour = 2 => "hour",
        /// Calendar days in the database's time zone.
        Day = 3 => "day",
        /// Calendar months.
        Month = 4 => "month",
        /// Calendar years.
        Year = 5 => "year",
    }
}

impl Tier {
    /// Parses a tier name.
    pub fn parse(s: &str) -> Result<Tier> {
        Tier::from_name(s).ok_or_else(|| {
            Error::invalid(format!(
                "tier {s:?} is not one of minute, hour, day, month, year"
            ))
        })
    }

    /// The tier with this number (1 minute ..= 5 year): [`Tier::from_code`].
    pub fn from_kind(k: u8) -> Option<Tier> {
        Tier::from_code(k)
    }

    /// The file partition `[start, end)` that stores the bucket starting at `start`:
    /// minute buckets by 7 days (aligned to the Unix epoch), hour buckets by calendar month,
    /// day buckets by calendar year, month and year buckets by calendar century, so that the
    /// usual questions (a day's hours, a year's days) read one partition.
    pub fn partition_of(self, start: i64, offset_min: i32) -> (i64, i64) {
        match self {
            Tier::Minute => {
                let p = 7 * DAY;
                let s = start.div_euclid(p) * p;
                (s, s + p)
            }
            Tier::Hour => {
                let s = Tier::Month.bucket_start(start, offset_min);
                (s, Tier::Month.bucket_end(s, offset_min))
            }
            Tier::Day => {
                let s = Tier::Year.bucket_start(start, offset_min);
                (s, Tier::Year.bucket_end(s, offset_min))
            }
            Tier::Month | Tier::Year => {
                let y = Tier::Year.bucket_start(start, offset_min);
                let off = i64::from(offset_min) * MINUTE;
                let (year, _, _) = civil_from_days((y + off).div_euclid(DAY));
                let c = year.div_euclid(100) * 100;
                (
                    days_from_civil(c, 1, 1) * DAY - off,
                    days_from_civil(c + 100, 1, 1) * DAY - off,
                )
            }
        }
    }

    /// The length of every bucket of the tier, for the tiers whose buckets are all alike
    /// (minutes, hours, and days in a fixed offset); `None` for months and years.
    #[inline]
    pub fn fixed_len(self) -> Option<i64> {
        match self {
            Tier::Minute => Some(MINUTE),
            Tier::Hour => Some(HOUR),
            Tier::Day => Some(DAY),
            Tier::Month | Tier::Year => None,
        }
    }

    /// Start of the bucket holding `ts`, in a zone `offset_min` minutes east of UTC.
    #[inline]
    pub fn bucket_start(self, ts: i64, offset_min: i32) -> i64 {
        let off = i64::from(offset_min) * MINUTE;
        let local = ts + off;
        let l = match self {
            Tier::Minute => local.div_euclid(MINUTE) * MINUTE,
            Tier::Hour => local.div_euclid(HOUR) * HOUR,
            Tier::Day => local.div_euclid(DAY) * DAY,
            Tier::Month => {
                let (y, m, _) = civil_from_days(local.div_euclid(DAY));
                days_from_civil(y, m, 1) * DAY
            }
            Tier::Year => {
                let (y, _, _) = civil_from_days(local.div_euclid(DAY));
                days_from_civil(y, 1, 1) * DAY
            }
        };
        l - off
    }

    /// End (exclusive) of the bucket that starts at `start`.
    #[inline]
    pub fn bucket_end(self, start: i64, offset_min: i32) -> i64 {
        self.shift(start, 1, offset_min)
    }

    /// The start of the bucket `n` buckets after (or, negative, before) the one starting
    /// at `start`.
    #[inline]
    pub fn shift(self, start: i64, n: i64, offset_min: i32) -> i64 {
        let off = i64::from(offset_min) * MINUTE;
        let local = start + off;
        let l = match self {
            Tier::Minute => local + n * MINUTE,
            Tier::Hour => local + n * HOUR,
            Tier::Day => local + n * DAY,
            Tier::Month => {
                let (y, m, _) = civil_from_days(local.div_euclid(DAY));
                let idx = y * 12 + i64::from(m) - 1 + n;
                days_from_civil(idx.div_euclid(12), (idx.rem_euclid(12) + 1) as u32, 1) * DAY
            }
            Tier::Year => {
                let (y, _, _) = civil_from_days(local.div_euclid(DAY));
                days_from_civil(y + n, 1, 1) * DAY
            }
        };
        l - off
    }

    /// The same bucket one year earlier (for year-over-year comparison).
    pub fn year_earlier(self, start: i64, offset_min: i32) -> i64 {
        match self {
            Tier::Month => self.shift(start, -12, offset_min),
            Tier::Year => self.shift(start, -1, offset_min),
            _ => {
                // Same local date and time one calendar year earlier (29 February maps to
                // 28 February).
                let off = i64::from(offset_min) * MINUTE;
                let local = start + off;
                let days = local.div_euclid(DAY);
                let tod = local.rem_euclid(DAY);
                let (y, m, d) = civil_from_days(days);
                let d2 = if m == 2 && d == 29 { 28 } else { d };
                days_from_civil(y - 1, m, d2) * DAY + tod - off
            }
        }
    }
}

/// A set of tiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TierSet(pub u8);

impl TierSet {
    /// Every tier.
    pub const ALL: TierSet = TierSet(0b11111);
    /// No tier.
    pub const NONE: TierSet = TierSet(0);

    /// Whether `t` is in the set.
    pub fn contains(self, t: Tier) -> bool {
        self.0 & (1 << (t as u8 - 1)) != 0
    }
    /// The set with `t` added.
    pub fn with(self, t: Tier) -> TierSet {
        TierSet(self.0 | (1 << (t as u8 - 1)))
    }
    /// The tiers in the set, finest first.
    pub fn iter(self) -> impl Iterator<Item = Tier> {
        Tier::ALL.into_iter().filter(move |t| self.contains(*t))
    }
    /// The finest tier of the set coarser than nothing finer than `t`: the tier `t` is
    /// derived from (`None`: from raw samples).
    pub fn finer_than(self, t: Tier) -> Option<Tier> {
        self.iter().filter(|x| *x < t).last()
    }
}

impl Default for TierSet {
    fn default() -> Self {
        TierSet::ALL
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_timestamp;

    #[test]
    fn calendar_buckets_in_utc_plus_8() {
        let t = parse_timestamp("2026-03-31T23:30:00+08:00").unwrap();
        let d = Tier::Day.bucket_start(t, 480);
        assert_eq!(d, parse_timestamp("2026-03-31T00:00:00+08:00").unwrap());
        assert_eq!(
            Tier::Day.bucket_end(d, 480),
            parse_timestamp("2026-04-01T00:00:00+08:00").unwrap()
        );
        let m = Tier::Month.bucket_start(t, 480);
        assert_eq!(m, parse_timestamp("2026-03-01T00:00:00+08:00").unwrap());
        assert_eq!(
            Tier::Month.bucket_end(m, 480),
            parse_timestamp("2026-04-01T00:00:00+08:00").unwrap()
        );
        let feb = parse_timestamp("2024-02-01T00:00:00+08:00").unwrap();
        assert_eq!(Tier::Month.bucket_end(feb, 480) - feb, 29 * DAY);
        let y = Tier::Year.bucket_start(t, 480);
        assert_eq!(y, parse_timestamp("2026-01-01T00:00:00+08:00").unwrap());
        assert_eq!(
            Tier::Year.shift(y, -1, 480),
            parse_timestamp("2025-01-01T00:00:00+08:00").unwrap()
        );
        assert_eq!(
            Tier::Month.shift(m, -3, 480),
            parse_timestamp("2025-12-01T00:00:00+08:00").unwrap()
        );
        assert_eq!(
            Tier::Hour.bucket_start(t, 480),
            parse_timestamp("2026-03-31T23:00:00+08:00").unwrap()
        );
        let leap = parse_timestamp("2024-02-29T00:00:00+08:00").unwrap();
        assert_eq!(
            Tier::Day.year_earlier(leap, 480),
            parse_timestamp("2023-02-28T00:00:00+08:00").unwrap()
        );
        // Offsets that are not whole hours.
        let t = parse_timestamp("2026-01-01T00:10:00+05:45").unwrap();
        assert_eq!(
            Tier::Hour.bucket_start(t, 345),
            parse_timestamp("2026-01-01T00:00:00+05:45").unwrap()
        );
    }

    #[test]
    fn tier_sets() {
        let s = TierSet::NONE.with(Tier::Hour).with(Tier::Month);
        assert!(s.contains(Tier::Hour) && !s.contains(Tier::Day));
        assert_eq!(s.finer_than(Tier::Month), Some(Tier::Hour));
        assert_eq!(s.finer_than(Tier::Hour), None);
        assert_eq!(TierSet::ALL.iter().count(), 5);
    }
}
