//! The column frame around every codec: the header (tag, scale, count), the zstd stage, and
//! the checks shared by all decoders.

use std::borrow::Cow;

use crate::error::{Error, Result};
use crate::format::{put_uvarint, Reader};

use super::{bits, decimal, zstage, Codec, CodecKind, CodecOptions};

/// Tag bit set when the body went through zstd.
const ZSTD_FLAG: u8 = 0x80;

/// Bodies shorter than this are never offered to zstd.
const ZSTD_MIN_BODY: usize = 64;

/// Bodies longer than twice this go to zstd only if their first this many bytes shrink by 10%.
const ZSTD_SAMPLE: usize = 4096;

/// Which kind of column a decoder reads, for the kinds it accepts.
#[derive(Clone, Copy, Debug)]
pub(super) enum Column {
    /// Timestamps: raw or delta-of-delta.
    Timestamps,
    /// Values: anything but delta-of-delta timestamps.
    Values,
    /// Quality: raw, constant or run-length.
    Quality,
}

impl Column {
    /// Whether a column of this type may use `kind`.
    pub(super) fn allows(self, kind: CodecKind) -> bool {
        use CodecKind::*;
        match self {
            Column::Timestamps => matches!(kind, Raw | DeltaOfDelta),
            Column::Values => !matches!(kind, DeltaOfDelta),
            Column::Quality => matches!(kind, Raw | Constant | Rle),
        }
    }
}

/// Reads the tag (and the scale of a decimal kind).
pub(super) fn read_codec(r: &mut Reader<'_>) -> Result<Codec> {
    let tag = r.u8("codec tag")?;
    let kind = CodecKind::from_tag(tag & !ZSTD_FLAG)
        .ok_or_else(|| Error::corrupt(format!("unknown codec tag {tag:#04x}")))?;
    let scale = if kind.is_decimal() {
        let s = r.u8("decimal scale")?;
        if s > decimal::MAX_SCALE {
            return Err(Error::corrupt(format!("decimal scale {s} exceeds 9")));
        }
        s
    } else {
        0
    };
    Ok(Codec {
        kind,
        zstd: tag & ZSTD_FLAG != 0,
        scale,
    })
}

/// Writes a column header and returns where the body starts.
pub(super) fn begin(out: &mut Vec<u8>, kind: CodecKind, scale: u8, count: usize) -> usize {
    out.push(kind as u8);
    if kind.is_decimal() {
        out.push(scale);
    }
    put_uvarint(out, count as u64);
    out.len()
}

/// The zstd stage: recompresses the body at `out[body..]` when that saves at least 10%.
pub(super) fn finish(
    out: &mut Vec<u8>,
    start: usize,
    body: usize,
    codec: Codec,
    opts: &CodecOptions,
) -> Codec {
    let Some(level) = opts.zstd_level else {
        return codec;
    };
    let raw_len = out.len() - body;
    if raw_len < ZSTD_MIN_BODY {
        return codec;
    }
    // Bit-packed bodies rarely compress: try a sample first, so that a miss costs little.
    if raw_len > 2 * ZSTD_SAMPLE {
        let sample = &out[body..body + ZSTD_SAMPLE];
        match zstage::compress(sample, level) {
            Some(z) if z.len() * 10 <= ZSTD_SAMPLE * 9 => {}
            _ => return codec,
        }
    }
    let Some(z) = zstage::compress(&out[body..], level) else {
        return codec;
    };
    if (bits::varint_len(raw_len as u64) + z.len()) * 10 > raw_len * 9 {
        return codec;
    }
    out.truncate(body);
    put_uvarint(out, raw_len as u64);
    out.extend_from_slice(&z);
    out[start] |= ZSTD_FLAG;
    Codec {
        zstd: true,
        ..codec
    }
}

/// An upper bound of any body's size for `count` values, which bounds what a zstd column may
/// claim to decompress to.
fn max_body(count: usize) -> usize {
    count.saturating_mul(32).saturating_add(64)
}

/// Reads the header, checks kind and count, undoes zstd, and hands the body to `decode`;
/// restores `out` on error.
pub(super) fn decode_with<T>(
    buf: &[u8],
    count: usize,
    out: &mut Vec<T>,
    column: Column,
    decode: impl FnOnce(Codec, &[u8], &mut Vec<T>) -> Result<()>,
) -> Result<Codec> {
    let len0 = out.len();
    let res = open(buf, count, column).and_then(|(codec, body)| {
        // The count matches the column's own; a count too large to allocate is an error, not
        // an abort.
        out.try_reserve(count)
            .map_err(|_| Error::corrupt(format!("cannot allocate {count} values")))?;
        decode(codec, &body, out)?;
        Ok(codec)
    });
    match res {
        Ok(codec) => {
            debug_assert_eq!(out.len() - len0, count);
            Ok(codec)
        }
        Err(e) => {
            out.truncate(len0);
            Err(e)
        }
    }
}

/// Reads the header, checks kind and count, and returns the body, decompressed if need be.
pub(super) fn open(buf: &[u8], count: usize, column: Column) -> Result<(Codec, Cow<'_, [u8]>)> {
    let mut r = Reader::new(buf);
    let codec = read_codec(&mut r)?;
    if !column.allows(codec.kind) {
        return Err(Error::corrupt(format!(
            "codec {codec} in a {column:?} column"
        )));
    }
    let stored = r.uvarint("value count")?;
    if stored != count as u64 {
        return Err(Error::corrupt(format!(
            "column holds {stored} values, {count} expected"
        )));
    }
    if !codec.zstd {
        return Ok((codec, Cow::Borrowed(r.rest())));
    }
    let raw_len = r.len(max_body(count), "zstd body length")?;
    let body = zstage::decompress(r.rest(), raw_len)
        .map_err(|e| Error::corrupt(format!("zstd body: {e}")))?;
    if body.len() != raw_len {
        return Err(Error::corrupt(format!(
            "zstd body of {} bytes, {raw_len} expected",
            body.len()
        )));
    }
    Ok((codec, Cow::Owned(body)))
}
