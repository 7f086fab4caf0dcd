//! The optional zstd stage, with one compression and one decompression context kept per
//! thread: creating a zstd context costs about 10 µs, more than decoding a whole block, while
//! reusing one costs nothing. The price is memory: a thread that has encoded keeps a
//! compression context (about 1 MiB at level 3), one that has decoded a zstd column a
//! decompression context (about 100 KiB).

use std::cell::RefCell;

thread_local! {
    static COMPRESSOR: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
        const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { RefCell::new(None) };
}

/// `data` compressed at `level`, or `None` if zstd failed.
pub fn compress(data: &[u8], level: i32) -> Option<Vec<u8>> {
    COMPRESSOR.with(|cell| {
        let Ok(mut slot) = cell.try_borrow_mut() else {
            return zstd::bulk::compress(data, level).ok();
        };
        match slot.as_mut() {
            Some((l, _)) if *l == level => {}
            Some((l, c)) => {
                c.set_compression_level(level).ok()?;
                *l = level;
            }
            None => *slot = Some((level, zstd::bulk::Compressor::new(level).ok()?)),
        }
        slot.as_mut()?.1.compress(data).ok()
    })
}

/// `data` decompressed, failing if it is not one zstd frame of at most `capacity` bytes.
pub fn decompress(data: &[u8], capacity: usize) -> std::io::Result<Vec<u8>> {
    DECOMPRESSOR.with(|cell| {
        let Ok(mut slot) = cell.try_borrow_mut() else {
            return zstd::bulk::decompress(data, capacity);
        };
        if slot.is_none() {
            *slot = Some(zstd::bulk::Decompressor::new()?);
        }
        match slot.as_mut() {
            Some(d) => d.decompress(data, capacity),
            None => zstd::bulk::decompress(data, capacity),
        }
    })
}
