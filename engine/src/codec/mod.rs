//! Pure compression of timestamp, value and quality columns.
//!
//! Each column is self-describing: a tag byte names its codec ([`CodecKind`], with a flag for
//! an extra zstd stage), decimal codecs add their scale, and the value count follows, so a
//! column cannot be decoded with the wrong count. The encoders try the candidate codecs for the
//! data at hand (sizing most of them analytically, without encoding) and keep the smallest;
//! [`Codec`] says which one was chosen.
//!
//! ```text
//! column := tag:u8  [scale:u8, decimal kinds only]  count:uvarint  body
//! tag    := kind (bits 0..=6, see CodecKind)  |  0x80 if the body is zstd-compressed
//! body   := the kind's body                         (no zstd flag)
//!         | raw_len:uvarint  zstd_frame             (zstd flag; the frame runs to the end)
//! ```
//!
//! A column must be passed to the decoder exactly: trailing bytes are corruption. Decoding
//! never panics, never loops beyond `count`, and allocates at most O(`count`) whatever the
//! bytes; a malformed column gives [`Error`] of kind `Corruption` and leaves `out` as it was.
//! The full byte layout of every codec is in `docs/format/codecs.md`.
//!
//! No I/O, no locks, no unsafe code: the module can be fuzzed and benchmarked alone. The only
//! state is a zstd context per thread, reused across calls (see `zstage.rs`).

mod bits;
mod column;
mod decimal;
mod gorilla;
mod quality;
mod rle;
mod timestamp;
mod zstage;

#[cfg(test)]
mod tests;

use std::fmt;

pub use decimal::Effort;
pub(crate) use decimal::POW10;

use crate::error::Result;
use crate::format::Reader;

use column::{begin, decode_with, finish, read_codec, Column};

/// Options of the encoders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodecOptions {
    /// zstd level of the optional last stage, or `None` to never try zstd.
    ///
    /// When set, the encoded body (if at least 64 bytes) is compressed with zstd at this level
    /// and the result kept only when it is at least 10% smaller. Bodies over 8 KiB are tried
    /// only if their first 4 KiB shrink by 10%, so a miss costs little. The default is `Some(3)`:
    /// zstd rarely wins over the bit-packed codecs, but when it does (repeating patterns,
    /// run-length bodies of few distinct values) it wins a lot, and level 3 costs little
    /// next to the rest of a flush. Use `None` where encoding speed matters most.
    pub zstd_level: Option<i32>,
}

impl Default for CodecOptions {
    fn default() -> Self {
        CodecOptions {
            zstd_level: Some(3),
        }
    }
}

crate::code_enum! {
    /// The codec family of a column. The numbers are the tag values on disk: fixed,
    /// documented, never renumbered; new codecs take new numbers.
    #[non_exhaustive]
    #[repr(u8)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum CodecKind {
        /// Every value stored whole, little-endian (8 bytes per timestamp or value, 1 per
        /// quality).
        Raw = 0 => "raw",
        /// Timestamps: delta-of-delta, zigzag, bit-packed in frames of 128.
        DeltaOfDelta = 1 => "dod",
        /// Values or quality: one value for the whole column.
        Constant = 2 => "const",
        /// Values or quality: runs of `(value, length)`.
        Rle = 3 => "rle",
        /// Values: decimal-scaled integers, deltas in frame-of-reference frames of 128.
        DecimalDelta = 4 => "decimal-delta",
        /// Values: decimal-scaled integers, delta-of-deltas in frame-of-reference frames of
        /// 128.
        DecimalDeltaOfDelta = 5 => "decimal-dod",
        /// Values: Gorilla XOR coding of the bits of each double.
        Gorilla = 6 => "gorilla",
        /// Values: decimal-scaled integers as they are, in frame-of-reference frames of 128.
        DecimalPlain = 7 => "decimal-plain",
    }
}

impl CodecKind {
    /// The kind with tag number `tag` (the zstd flag cleared), if any.
    pub fn from_tag(tag: u8) -> Option<CodecKind> {
        CodecKind::from_code(tag)
    }

    /// A short lowercase name, e.g. `"dod"`.
    pub fn name(self) -> &'static str {
        self.as_str()
    }

    /// Whether the kind stores decimal-scaled integers (and so a scale byte).
    pub fn is_decimal(self) -> bool {
        matches!(
            self,
            CodecKind::DecimalPlain | CodecKind::DecimalDelta | CodecKind::DecimalDeltaOfDelta
        )
    }
}

/// The codec of one column, as chosen by an encoder or read back by [`peek_codec`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Codec {
    /// The codec family.
    pub kind: CodecKind,
    /// Whether the body went through zstd.
    pub zstd: bool,
    /// Decimal digits for the decimal kinds, else 0.
    pub scale: u8,
}

impl Codec {
    fn plain(kind: CodecKind) -> Codec {
        Codec {
            kind,
            zstd: false,
            scale: 0,
        }
    }
}

impl fmt::Display for Codec {
    /// E.g. `dod`, `decimal-delta(3)`, `gorilla+zstd`, `const`, `rle`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.name())?;
        if self.kind.is_decimal() {
            write!(f, "({})", self.scale)?;
        }
        if self.zstd {
            f.write_str("+zstd")?;
        }
        Ok(())
    }
}

/// Strictly increasing timestamps (ms). Appends a self-describing column (first byte = tag) to
/// `out` and returns the codec chosen: delta-of-delta, or raw if that would be smaller.
///
/// Any `i64` sequence round-trips (the arithmetic wraps), increasing or not.
pub fn encode_timestamps(ts: &[i64], opts: &CodecOptions, out: &mut Vec<u8>) -> Codec {
    let start = out.len();
    let body = begin(out, CodecKind::DeltaOfDelta, 0, ts.len());
    timestamp::encode(ts, out);
    if out.len() - body > ts.len() * 8 {
        out.truncate(start);
        let body = begin(out, CodecKind::Raw, 0, ts.len());
        rle::encode_raw(ts, out);
        return finish(out, start, body, Codec::plain(CodecKind::Raw), opts);
    }
    finish(
        out,
        start,
        body,
        Codec::plain(CodecKind::DeltaOfDelta),
        opts,
    )
}

/// Decodes exactly `count` timestamps, appending to `out`.
///
/// Any malformed input, including a `count` other than the encoded one, gives a corruption
/// error; decoding never panics and never allocates more than O(`count`).
pub fn decode_timestamps(buf: &[u8], count: usize, out: &mut Vec<i64>) -> Result<Codec> {
    decode_with(
        buf,
        count,
        out,
        Column::Timestamps,
        |codec, body, out| match codec.kind {
            CodecKind::DeltaOfDelta => timestamp::decode(body, count, out),
            _ => rle::decode_raw(body, count, out),
        },
    )
}

/// Writes the header and body of a decimal column planned by `decimal::plan`; returns its
/// codec and where its body starts.
fn write_decimal(out: &mut Vec<u8>, p: &decimal::Plan, n: usize) -> (Codec, usize) {
    let kind = match p.form {
        decimal::Form::Plain => CodecKind::DecimalPlain,
        decimal::Form::Delta => CodecKind::DecimalDelta,
        decimal::Form::DeltaOfDelta => CodecKind::DecimalDeltaOfDelta,
    };
    let body = begin(out, kind, p.scale, n);
    decimal::write(p, out);
    let codec = Codec {
        kind,
        zstd: false,
        scale: p.scale,
    };
    (codec, body)
}

/// Most values of a constant column that are also sized as a decimal.
const SHORT_CONSTANT: usize = 4;

/// Any `f64` values: appends a self-describing column to `out` and returns the codec chosen.
///
/// Every bit pattern round-trips exactly, including `-0.0`, subnormals and NaN payloads.
/// Candidates: constant, decimal (plain, delta or delta-of-delta, the smallest scale 0..=9 that is
/// exact for every value), run-length, Gorilla (tried only when decimal does not apply or
/// costs more than 4 bytes a value) and raw; the smallest wins, then the zstd stage.
pub fn encode_values(vals: &[f64], opts: &CodecOptions, out: &mut Vec<u8>) -> Codec {
    encode_values_with(vals, opts, Effort::Full, out)
}

/// [`encode_values`] with the decimal forms compared with the given effort (the result
/// decodes the same either way).
pub fn encode_values_with(
    vals: &[f64],
    opts: &CodecOptions,
    effort: Effort,
    out: &mut Vec<u8>,
) -> Codec {
    let start = out.len();
    let n = vals.len();
    // Constant: a pass that stops at the first value that differs.
    if n > 0 && vals.iter().all(|v| v.to_bits() == vals[0].to_bits()) {
        // A few values (a rollup block of one bucket) of a short decimal take fewer bytes in
        // decimal-plain (scale, then about 3 to 6) than the constant's 8.
        if n <= SHORT_CONSTANT {
            if let Some(p) = decimal::plan(vals, effort).filter(|p| p.size + 1 < 8) {
                let (codec, body) = write_decimal(out, &p, n);
                return finish(out, start, body, codec, opts);
            }
        }
        let body = begin(out, CodecKind::Constant, 0, n);
        out.extend_from_slice(&vals[0].to_bits().to_le_bytes());
        return finish(out, start, body, Codec::plain(CodecKind::Constant), opts);
    }

    enum Choice {
        Raw,
        Rle,
        Decimal(decimal::Plan),
        Gorilla(Vec<u8>),
    }
    let mut best = (n * 8, Choice::Raw);
    let plan = if n > 0 {
        decimal::plan(vals, effort)
    } else {
        None
    };
    let try_gorilla = n > 0 && plan.as_ref().is_none_or(|p| p.size > 4 * n);
    if let Some(p) = plan {
        if p.size < best.0 {
            best = (p.size, Choice::Decimal(p));
        }
    }
    // Each run takes at least 9 bytes: measure only when that might win, counting runs
    // only until there are too many for it (a few chunks, for values that vary).
    if !rle::runs_reach(vals, best.0.div_ceil(9)) {
        let rle_bytes = rle::measure(vals).1;
        if rle_bytes < best.0 {
            best = (rle_bytes, Choice::Rle);
        }
    }
    if try_gorilla {
        let mut g = Vec::new();
        gorilla::encode(vals, &mut g);
        if g.len() < best.0 {
            best = (g.len(), Choice::Gorilla(g));
        }
    }

    let (codec, body) = match best.1 {
        Choice::Raw => {
            let body = begin(out, CodecKind::Raw, 0, n);
            rle::encode_raw(vals, out);
            (Codec::plain(CodecKind::Raw), body)
        }
        Choice::Rle => {
            let body = begin(out, CodecKind::Rle, 0, n);
            rle::encode(vals, out);
            (Codec::plain(CodecKind::Rle), body)
        }
        Choice::Decimal(p) => write_decimal(out, &p, n),
        Choice::Gorilla(g) => {
            let body = begin(out, CodecKind::Gorilla, 0, n);
            out.extend_from_slice(&g);
            (Codec::plain(CodecKind::Gorilla), body)
        }
    };
    finish(out, start, body, codec, opts)
}

/// Decodes exactly `count` values, appending to `out`; errors as [`decode_timestamps`].
pub fn decode_values(buf: &[u8], count: usize, out: &mut Vec<f64>) -> Result<Codec> {
    decode_with(
        buf,
        count,
        out,
        Column::Values,
        |codec, body, out| match codec.kind {
            CodecKind::Constant => rle::decode_constant(body, count, out),
            CodecKind::Rle => rle::decode(body, count, out),
            CodecKind::DecimalPlain => {
                decimal::decode(body, count, codec.scale, decimal::Form::Plain, out)
            }
            CodecKind::DecimalDelta => {
                decimal::decode(body, count, codec.scale, decimal::Form::Delta, out)
            }
            CodecKind::DecimalDeltaOfDelta => {
                decimal::decode(body, count, codec.scale, decimal::Form::DeltaOfDelta, out)
            }
            CodecKind::Gorilla => gorilla::decode(body, count, out),
            _ => rle::decode_raw(body, count, out),
        },
    )
}

/// Quality bytes (almost always all equal): appends a constant, run-length or raw column.
pub fn encode_quality(q: &[u8], opts: &CodecOptions, out: &mut Vec<u8>) -> Codec {
    let start = out.len();
    // The kind is known only after encoding; begin with a placeholder tag.
    let body = begin(out, CodecKind::Raw, 0, q.len());
    let kind = quality::encode(q, out);
    out[start] = kind as u8;
    finish(out, start, body, Codec::plain(kind), opts)
}

/// Decodes exactly `count` quality bytes, appending to `out`; errors as [`decode_timestamps`].
pub fn decode_quality(buf: &[u8], count: usize, out: &mut Vec<u8>) -> Result<Codec> {
    decode_with(buf, count, out, Column::Quality, |codec, body, out| {
        quality::decode(codec.kind, body, count, out)
    })
}

/// Which codec a column uses, read from its first byte(s), for stats.
pub fn peek_codec(buf: &[u8]) -> Result<Codec> {
    read_codec(&mut Reader::new(buf))
}
