//! Samples: a timestamp, a value and a quality byte.

use crate::error::{Error, Result};

/// Milliseconds since the Unix epoch, UTC.
pub type Timestamp = i64;

/// A half-open deleted range `[from, to)` of one point.
pub type Tombstone = (Timestamp, Timestamp);

/// Timestamps accepted by the engine: years 1000 to 9999 (RFC 3339 can print them).
pub const MIN_TIMESTAMP: Timestamp = -30_610_224_000_000; // 1000-01-01T00:00:00Z
/// See [`MIN_TIMESTAMP`].
pub const MAX_TIMESTAMP: Timestamp = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z

/// The quality byte of a sample: bit 0 valid, bit 1 entered by hand (manual), bit 2
/// estimated (the national record's `inputType` 2 and 3); the other bits are reserved,
/// stored and returned as given.
///
/// Raw reads return every sample with its quality. The rollup tiers use valid samples only:
/// a sample whose bit 0 is clear is counted in its bucket's `invalid` and enters nothing
/// else (see [`crate::rollup::Bucket`]); valid manual and estimated samples are used and
/// counted in `manual` and `estimated`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Quality(pub u8);

impl Quality {
    /// Bit set when the reading is valid.
    pub const VALID_BIT: u8 = 0b01;
    /// Bit set when the value was entered by hand rather than collected.
    pub const MANUAL_BIT: u8 = 0b10;
    /// Bit set when the value was estimated (e.g. filled in for a missing reading).
    pub const ESTIMATED_BIT: u8 = 0b100;
    /// A valid, collected reading: the default.
    pub const GOOD: Quality = Quality(Self::VALID_BIT);
    /// An invalid reading (every bit clear): stored, never used by the tiers.
    pub const INVALID: Quality = Quality(0);
    /// A valid reading entered by hand.
    pub const MANUAL: Quality = Quality(Self::VALID_BIT | Self::MANUAL_BIT);
    /// A valid estimated reading.
    pub const ESTIMATED: Quality = Quality(Self::VALID_BIT | Self::ESTIMATED_BIT);

    /// Whether the valid bit is set.
    pub fn is_valid(self) -> bool {
        self.0 & Self::VALID_BIT != 0
    }
    /// Whether the manual-input bit is set.
    pub fn is_manual(self) -> bool {
        self.0 & Self::MANUAL_BIT != 0
    }
    /// Whether the estimated bit is set.
    pub fn is_estimated(self) -> bool {
        self.0 & Self::ESTIMATED_BIT != 0
    }
}

impl Default for Quality {
    fn default() -> Self {
        Quality::GOOD
    }
}

/// One reading of a point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Milliseconds since the Unix epoch, UTC.
    pub ts: Timestamp,
    /// The value; always finite.
    pub value: f64,
    /// The quality byte.
    pub quality: Quality,
}

impl Sample {
    /// A valid sample.
    pub fn new(ts: Timestamp, value: f64) -> Self {
        Sample {
            ts,
            value,
            quality: Quality::GOOD,
        }
    }
}

/// Checks a value and timestamp before they are written.
pub fn validate(ts: Timestamp, value: f64) -> Result<()> {
    if !value.is_finite() {
        return Err(Error::invalid(format!(
            "value {value} at ts {ts} is not finite (NaN and infinities are not stored)"
        )));
    }
    check_ts(ts)
}

/// Parses a sample's value as text (as `meterdb import` reads it): a decimal or exponent
/// number, surrounding spaces ignored; empty text, other text and non-finite numbers are
/// refused (`InvalidArgument`, the message saying why).
pub fn parse_value(s: &str) -> Result<f64> {
    let s = s.trim();
    if s.is_empty() {
        return Err(Error::invalid("value is empty"));
    }
    let v: f64 = s
        .parse()
        .map_err(|_| Error::invalid(format!("value {s:?} is not a number")))?;
    if !v.is_finite() {
        return Err(Error::invalid(format!(
            "value {s:?} is not finite (NaN and infinities are not stored)"
        )));
    }
    Ok(v)
}

/// Parses a quality byte as text: an integer 0..=255, surrounding spaces ignored; empty
/// text means [`Quality::GOOD`].
pub fn parse_quality(s: &str) -> Result<u8> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(Quality::GOOD.0);
    }
    s.parse()
        .map_err(|_| Error::invalid(format!("quality {s:?} is not an integer 0..=255")))
}

/// Checks that a timestamp is within the supported range.
pub fn check_ts(ts: Timestamp) -> Result<()> {
    if !(MIN_TIMESTAMP..=MAX_TIMESTAMP).contains(&ts) {
        return Err(Error::invalid(format!(
            "timestamp {ts} ms is outside years 1000..=9999"
        )));
    }
    Ok(())
}

/// Samples as three parallel columns, sorted by timestamp without repeats where the engine
/// returns them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Columns {
    /// Timestamps.
    pub ts: Vec<Timestamp>,
    /// Values.
    pub values: Vec<f64>,
    /// Quality bytes.
    pub quality: Vec<u8>,
}

impl Columns {
    /// Empty columns with room for `n` samples.
    pub fn with_capacity(n: usize) -> Self {
        Columns {
            ts: Vec::with_capacity(n),
            values: Vec::with_capacity(n),
            quality: Vec::with_capacity(n),
        }
    }
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.ts.len()
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }
    /// Appends one sample.
    pub fn push(&mut self, ts: Timestamp, value: f64, quality: u8) {
        self.ts.push(ts);
        self.values.push(value);
        self.quality.push(quality);
    }
    /// Removes every sample.
    pub fn clear(&mut self) {
        self.ts.clear();
        self.values.clear();
        self.quality.clear();
    }
    /// The `i`-th sample.
    pub fn get(&self, i: usize) -> Sample {
        Sample {
            ts: self.ts[i],
            value: self.values[i],
            quality: Quality(self.quality[i]),
        }
    }
    /// Iterates the samples.
    pub fn iter(&self) -> impl Iterator<Item = Sample> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }
    /// Appends samples `range` of `other`.
    pub fn extend_from(&mut self, other: &Columns, range: std::ops::Range<usize>) {
        self.ts.extend_from_slice(&other.ts[range.clone()]);
        self.values.extend_from_slice(&other.values[range.clone()]);
        self.quality.extend_from_slice(&other.quality[range]);
    }
    /// Index range of the samples with `from <= ts < to` (the columns must be sorted).
    pub fn range_of(&self, from: Timestamp, to: Timestamp) -> std::ops::Range<usize> {
        let a = self.ts.partition_point(|&t| t < from);
        let b = self.ts.partition_point(|&t| t < to).max(a);
        a..b
    }
}

/// Removes from `acc` every sample inside one of `tombs`.
fn apply_tombstones(acc: &mut Columns, tombs: &[Tombstone]) {
    if tombs.is_empty() || acc.is_empty() {
        return;
    }
    let hidden = |t: Timestamp| tombs.iter().any(|&(f, e)| t >= f && t < e);
    if !acc.ts.iter().any(|&t| hidden(t)) {
        return;
    }
    let mut out = Columns::with_capacity(acc.len());
    for i in 0..acc.len() {
        if !hidden(acc.ts[i]) {
            out.push(acc.ts[i], acc.values[i], acc.quality[i]);
        }
    }
    *acc = out;
}

/// Merges `newer` (sorted, unique) over `acc` (sorted, unique): newer wins on equal
/// timestamps, and `tombs` (of the newer source) first hide samples of `acc`.
pub fn overlay(acc: &mut Columns, newer: Columns, tombs: &[Tombstone]) {
    apply_tombstones(acc, tombs);
    if newer.is_empty() {
        return;
    }
    if acc.is_empty() {
        *acc = newer;
        return;
    }
    if acc.ts[acc.len() - 1] < newer.ts[0] {
        acc.extend_from(&newer, 0..newer.len());
        return;
    }
    let mut out = Columns::with_capacity(acc.len() + newer.len());
    let (mut i, mut j) = (0, 0);
    while i < acc.len() && j < newer.len() {
        let (a, b) = (acc.ts[i], newer.ts[j]);
        if a < b {
            out.push(a, acc.values[i], acc.quality[i]);
            i += 1;
        } else {
            out.push(b, newer.values[j], newer.quality[j]);
            j += 1;
            if a == b {
                i += 1;
            }
        }
    }
    out.extend_from(acc, i..acc.len());
    out.extend_from(&newer, j..newer.len());
    *acc = out;
}
