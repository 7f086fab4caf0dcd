//! Choice of codec for quality bytes: constant, run-length or raw.

use super::rle;
use super::CodecKind;

/// Appends the smallest body for `q` and returns its kind.
pub fn encode(q: &[u8], out: &mut Vec<u8>) -> CodecKind {
    let (runs, rle_bytes) = rle::measure(q);
    if runs == 1 {
        out.push(q[0]);
        CodecKind::Constant
    } else if rle_bytes < q.len() {
        rle::encode(q, out);
        CodecKind::Rle
    } else {
        out.extend_from_slice(q);
        CodecKind::Raw
    }
}

/// Decodes a quality body of a kind already checked by the caller.
pub fn decode(kind: CodecKind, body: &[u8], count: usize, out: &mut Vec<u8>) -> crate::Result<()> {
    match kind {
        CodecKind::Constant => rle::decode_constant(body, count, out),
        CodecKind::Rle => rle::decode(body, count, out),
        _ => rle::decode_raw(body, count, out),
    }
}
