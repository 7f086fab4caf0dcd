//! Codec baselines without a database: each series compressed alone by pco (timestamps as
//! i64; values as decimal-scaled integers and as f64) and by tsz (Gorilla, timestamps in
//! seconds), with decode speed.

use std::time::Instant;

use pco::standalone::{simple_compress, simple_decompress};
use pco::ChunkConfig;
use serde::{Deserialize, Serialize};
use tsz::stream::{BufferedReader, BufferedWriter};
use tsz::{DataPoint, Decode, Encode, StdDecoder, StdEncoder};

use crate::engines::Res;
use crate::workload::Workload;

/// One series' figures.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SeriesCodec {
    /// Workload name.
    pub workload: String,
    /// Point key.
    pub key: String,
    /// Samples.
    pub samples: usize,
    /// Decimal digits used for the integer form.
    pub decimals: u8,
    /// pco bytes of the timestamp column.
    pub pco_ts: usize,
    /// pco bytes of the values as decimal-scaled i64.
    pub pco_int: usize,
    /// pco bytes of the values as f64.
    pub pco_f64: usize,
    /// tsz bytes (timestamps and values together).
    pub tsz: usize,
    /// Decode time of timestamps plus integer values, ns per sample.
    pub pco_int_decode_ns: f64,
    /// Decode time of timestamps plus f64 values, ns per sample.
    pub pco_f64_decode_ns: f64,
    /// Decode time of tsz, ns per sample.
    pub tsz_decode_ns: f64,
    /// Whether the integer form reproduces every value exactly.
    pub int_exact: bool,
}

fn ns_per(t: Instant, n: usize) -> f64 {
    t.elapsed().as_nanos() as f64 / n.max(1) as f64
}

/// Figures of every non-empty series of a workload.
pub fn run(w: &Workload) -> Res<Vec<SeriesCodec>> {
    let cfg = ChunkConfig::default();
    let mut out = Vec::new();
    for (p, s) in w.truth.iter().enumerate() {
        if s.is_empty() {
            continue;
        }
        let dec = w.points[p].meta.precision.unwrap_or(3);
        let scale = 10f64.powi(i32::from(dec));
        let ts: Vec<i64> = s.iter().map(|x| x.0).collect();
        let vf: Vec<f64> = s.iter().map(|x| x.1).collect();
        let vi: Vec<i64> = vf.iter().map(|v| (v * scale).round() as i64).collect();
        let int_exact = vi
            .iter()
            .zip(&vf)
            .all(|(i, v)| (*i as f64 / scale).to_bits() == v.to_bits());
        let cts = simple_compress(&ts, &cfg)?;
        let ci = simple_compress(&vi, &cfg)?;
        let cf = simple_compress(&vf, &cfg)?;

        let t = Instant::now();
        let a: Vec<i64> = simple_decompress(&cts)?;
        let b: Vec<i64> = simple_decompress(&ci)?;
        let int_ns = ns_per(t, s.len());
        if a != ts || b != vi {
            return Err(format!("pco round trip failed on {}", w.points[p].meta.key).into());
        }
        let t = Instant::now();
        let a: Vec<i64> = simple_decompress(&cts)?;
        let b: Vec<f64> = simple_decompress(&cf)?;
        let f64_ns = ns_per(t, s.len());
        if a.len() != ts.len() || b.len() != vf.len() {
            return Err(format!("pco f64 round trip failed on {}", w.points[p].meta.key).into());
        }

        let mut enc = StdEncoder::new(
            (s[0].0 / 1000).max(0) as u64,
            BufferedWriter::with_capacity(s.len() * 4),
        );
        for &(t, v) in s {
            enc.encode(DataPoint::new((t / 1000).max(0) as u64, v));
        }
        let bytes = enc.close();
        let tsz_len = bytes.len();
        let t = Instant::now();
        let mut dec_ = StdDecoder::new(BufferedReader::new(bytes));
        let mut n = 0usize;
        let mut sum = 0.0;
        while let Ok(dp) = dec_.next() {
            sum += dp.get_value();
            n += 1;
        }
        let tsz_ns = ns_per(t, s.len());
        if n != s.len() || !sum.is_finite() {
            return Err(format!("tsz round trip failed on {}", w.points[p].meta.key).into());
        }
        out.push(SeriesCodec {
            workload: w.name.to_string(),
            key: w.points[p].meta.key.clone(),
            samples: s.len(),
            decimals: dec,
            pco_ts: cts.len(),
            pco_int: ci.len(),
            pco_f64: cf.len(),
            tsz: tsz_len,
            pco_int_decode_ns: int_ns,
            pco_f64_decode_ns: f64_ns,
            tsz_decode_ns: tsz_ns,
            int_exact,
        });
    }
    Ok(out)
}
