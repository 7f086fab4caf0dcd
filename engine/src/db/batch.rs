//! Write batches and the WAL records that carry them.

use crate::catalog::{Catalog, PointId, PointMeta};
use crate::error::{Error, Result};
use crate::format::{put_i64, put_u32, put_uvarint, Reader};
use crate::sample::{validate, Timestamp};

/// Samples of many points, written together: either all are applied or none.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WriteBatch {
    pub(crate) points: Vec<PointId>,
    pub(crate) ts: Vec<Timestamp>,
    pub(crate) values: Vec<f64>,
    pub(crate) quality: Vec<u8>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }
    /// An empty batch with room for `n` samples.
    pub fn with_capacity(n: usize) -> Self {
        WriteBatch {
            points: Vec::with_capacity(n),
            ts: Vec::with_capacity(n),
            values: Vec::with_capacity(n),
            quality: Vec::with_capacity(n),
        }
    }
    /// Adds a valid sample.
    pub fn put(&mut self, point: PointId, ts: Timestamp, value: f64) {
        self.put_with_quality(point, ts, value, crate::Quality::GOOD.0);
    }
    /// Adds a sample with its quality byte.
    pub fn put_with_quality(&mut self, point: PointId, ts: Timestamp, value: f64, quality: u8) {
        self.points.push(point);
        self.ts.push(ts);
        self.values.push(value);
        self.quality.push(quality);
    }
    /// Adds many samples from parallel slices (all the same length).
    pub fn extend_from_slices(
        &mut self,
        points: &[PointId],
        ts: &[Timestamp],
        values: &[f64],
        quality: Option<&[u8]>,
    ) -> Result<()> {
        let n = points.len();
        if ts.len() != n || values.len() != n || quality.is_some_and(|q| q.len() != n) {
            return Err(Error::invalid(format!(
                "batch columns differ in length: {} points, {} timestamps, {} values{}",
                n,
                ts.len(),
                values.len(),
                quality
                    .map(|q| format!(", {} qualities", q.len()))
                    .unwrap_or_default()
            )));
        }
        self.points.extend_from_slice(points);
        self.ts.extend_from_slice(ts);
        self.values.extend_from_slice(values);
        match quality {
            Some(q) => self.quality.extend_from_slice(q),
            None => self
                .quality
                .extend(std::iter::repeat_n(crate::Quality::GOOD.0, n)),
        }
        Ok(())
    }
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.points.len()
    }
    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
    /// Removes every sample, keeping the allocation.
    pub fn clear(&mut self) {
        self.points.clear();
        self.ts.clear();
        self.values.clear();
        self.quality.clear();
    }

    /// Checks every sample against the catalog: known point, finite value, timestamp in range.
    pub(crate) fn validate(&self, catalog_len: usize) -> Result<()> {
        for i in 0..self.len() {
            let p = self.points[i];
            if p as usize >= catalog_len {
                return Err(Error::NotFound(format!(
                    "point id {p} (sample {i} of the batch) is not defined"
                )));
            }
            validate(self.ts[i], self.values[i]).map_err(|e| match e {
                Error::InvalidArgument(m) => {
                    Error::InvalidArgument(format!("sample {i} of the batch (point {p}): {m}"))
                }
                e => e,
            })?;
        }
        Ok(())
    }
}

const REC_SAMPLES: u8 = 1;
const REC_DEFINE: u8 = 2;
const REC_DELETE: u8 = 3;

/// One WAL record's content.
#[derive(Debug)]
pub(crate) enum Record<'a> {
    Samples(SamplesView<'a>),
    Define(PointId, PointMeta),
    Delete(PointId, Timestamp, Timestamp),
}

/// The columns of a samples record, still as bytes.
#[derive(Debug)]
pub(crate) struct SamplesView<'a> {
    pub n: usize,
    points: &'a [u8],
    ts: &'a [u8],
    values: &'a [u8],
    pub quality: &'a [u8],
}

impl SamplesView<'_> {
    #[inline]
    pub fn point(&self, i: usize) -> PointId {
        u32::from_le_bytes(self.points[i * 4..i * 4 + 4].try_into().unwrap_or_default())
    }
    #[inline]
    pub fn ts(&self, i: usize) -> Timestamp {
        i64::from_le_bytes(self.ts[i * 8..i * 8 + 8].try_into().unwrap_or_default())
    }
    #[inline]
    pub fn value(&self, i: usize) -> f64 {
        f64::from_bits(u64::from_le_bytes(
            self.values[i * 8..i * 8 + 8].try_into().unwrap_or_default(),
        ))
    }
}

pub(crate) fn encode_samples(b: &WriteBatch, out: &mut Vec<u8>) {
    let n = b.len();
    out.reserve(12 + n * 21);
    out.push(REC_SAMPLES);
    put_uvarint(out, n as u64);
    for &p in &b.points {
        out.extend_from_slice(&p.to_le_bytes());
    }
    for &t in &b.ts {
        out.extend_from_slice(&t.to_le_bytes());
    }
    for &v in &b.values {
        out.extend_from_slice(&v.to_bits().to_le_bytes());
    }
    out.extend_from_slice(&b.quality);
}

pub(crate) fn encode_define(id: PointId, meta: &PointMeta) -> Vec<u8> {
    let mut out = vec![REC_DEFINE];
    put_u32(&mut out, id);
    meta.encode(&mut out);
    out
}

pub(crate) fn encode_delete(id: PointId, from: Timestamp, to: Timestamp) -> Vec<u8> {
    let mut out = vec![REC_DELETE];
    put_u32(&mut out, id);
    put_i64(&mut out, from);
    put_i64(&mut out, to);
    out
}

/// Parses a WAL record; checks it against the catalog (points defined, values finite).
pub(crate) fn decode<'a>(buf: &'a [u8], catalog: &Catalog) -> Result<Record<'a>> {
    let mut r = Reader::new(buf);
    let rec = match r.u8("record type")? {
        REC_SAMPLES => {
            let n = r.len(buf.len() / 21, "sample count")?;
            let v = SamplesView {
                n,
                points: r.take(n * 4, "points")?,
                ts: r.take(n * 8, "timestamps")?,
                values: r.take(n * 8, "values")?,
                quality: r.take(n, "quality")?,
            };
            for i in 0..n {
                if v.point(i) as usize >= catalog.len() {
                    return Err(Error::corrupt(format!(
                        "WAL sample for undefined point {}",
                        v.point(i)
                    )));
                }
                validate(v.ts(i), v.value(i))
                    .map_err(|e| Error::corrupt(format!("WAL sample rejected: {e}")))?;
            }
            Record::Samples(v)
        }
        REC_DEFINE => {
            let id = r.u32("point id")?;
            Record::Define(id, PointMeta::decode(&mut r)?)
        }
        REC_DELETE => {
            let id = r.u32("point id")?;
            let (f, t) = (r.i64("from")?, r.i64("to")?);
            if id as usize >= catalog.len() || f >= t {
                return Err(Error::corrupt(
                    "WAL delete of an undefined point or empty range",
                ));
            }
            Record::Delete(id, f, t)
        }
        t => return Err(Error::corrupt(format!("unknown WAL record type {t}"))),
    };
    if !r.is_empty() {
        return Err(r.corrupt_here("trailing bytes in WAL record"));
    }
    Ok(rec)
}
