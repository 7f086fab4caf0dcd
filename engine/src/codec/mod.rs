//! Placeholder raw codecs with the final API; replaced by the real codec module.
#![allow(missing_docs)]
use crate::error::{Error, Result};
use crate::format::Reader;

#[derive(Clone, Debug, Default)]
pub struct CodecOptions {
    pub zstd_level: Option<i32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodecKind {
    Raw,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Codec {
    pub kind: CodecKind,
    pub zstd: bool,
    pub scale: u8,
}

impl std::fmt::Display for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "raw")
    }
}

const RAW: Codec = Codec {
    kind: CodecKind::Raw,
    zstd: false,
    scale: 0,
};

pub fn encode_timestamps(ts: &[i64], _o: &CodecOptions, out: &mut Vec<u8>) -> Codec {
    out.push(0);
    for t in ts {
        out.extend_from_slice(&t.to_le_bytes());
    }
    RAW
}
pub fn decode_timestamps(buf: &[u8], count: usize, out: &mut Vec<i64>) -> Result<Codec> {
    let mut r = Reader::new(buf);
    r.u8("tag")?;
    for _ in 0..count {
        out.push(r.i64("ts")?);
    }
    if !r.is_empty() {
        return Err(Error::corrupt("trailing"));
    }
    Ok(RAW)
}
pub fn encode_values(v: &[f64], _o: &CodecOptions, out: &mut Vec<u8>) -> Codec {
    out.push(0);
    for t in v {
        out.extend_from_slice(&t.to_bits().to_le_bytes());
    }
    RAW
}
pub fn decode_values(buf: &[u8], count: usize, out: &mut Vec<f64>) -> Result<Codec> {
    let mut r = Reader::new(buf);
    r.u8("tag")?;
    for _ in 0..count {
        out.push(r.f64("v")?);
    }
    Ok(RAW)
}
pub fn encode_quality(q: &[u8], _o: &CodecOptions, out: &mut Vec<u8>) -> Codec {
    out.push(0);
    out.extend_from_slice(q);
    RAW
}
pub fn decode_quality(buf: &[u8], count: usize, out: &mut Vec<u8>) -> Result<Codec> {
    let mut r = Reader::new(buf);
    r.u8("tag")?;
    out.extend_from_slice(r.take(count, "q")?);
    Ok(RAW)
}
pub fn peek_codec(_buf: &[u8]) -> Result<Codec> {
    Ok(RAW)
}
