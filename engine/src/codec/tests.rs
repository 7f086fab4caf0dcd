//! Tests of the public codec API: which codec is chosen, round trips of edge values, property
//! tests, and never-panic tests over cut and bit-flipped columns.

use proptest::prelude::*;

use super::*;

fn no_zstd() -> CodecOptions {
    CodecOptions { zstd_level: None }
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn ts_round_trip(ts: &[i64], opts: &CodecOptions) -> (Codec, Vec<u8>) {
    let mut out = vec![0xAA]; // columns append: keep what was there
    let codec = encode_timestamps(ts, opts, &mut out);
    assert_eq!(out[0], 0xAA);
    let col = out[1..].to_vec();
    let mut back = vec![-5];
    assert_eq!(decode_timestamps(&col, ts.len(), &mut back).unwrap(), codec);
    assert_eq!(&back[1..], ts);
    assert_eq!(peek_codec(&col).unwrap(), codec);
    (codec, col)
}

fn val_round_trip(vals: &[f64], opts: &CodecOptions) -> (Codec, Vec<u8>) {
    let mut col = Vec::new();
    let codec = encode_values(vals, opts, &mut col);
    let mut back = vec![1.0];
    assert_eq!(decode_values(&col, vals.len(), &mut back).unwrap(), codec);
    assert_eq!(bits(&back[1..]), bits(vals), "codec {codec}");
    assert_eq!(peek_codec(&col).unwrap(), codec);
    (codec, col)
}

fn q_round_trip(q: &[u8], opts: &CodecOptions) -> (Codec, Vec<u8>) {
    let mut col = Vec::new();
    let codec = encode_quality(q, opts, &mut col);
    let mut back = Vec::new();
    assert_eq!(decode_quality(&col, q.len(), &mut back).unwrap(), codec);
    assert_eq!(back, q);
    (codec, col)
}

const T0: i64 = 1_700_000_000_000;

fn regular(n: i64, step: i64) -> Vec<i64> {
    (0..n).map(|i| T0 + i * step).collect()
}

/// A deterministic pseudo-random stream (splitmix64).
fn rng(seed: u64) -> impl FnMut() -> u64 {
    let mut s = seed;
    move || {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let z = (s ^ (s >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// A monotone kWh register with 3 decimals: random increments of 0..=5000 thousandths.
fn register(n: usize) -> Vec<f64> {
    let mut next = rng(1);
    let mut thousandths = 12_345_678i64;
    (0..n)
        .map(|_| {
            thousandths += (next() % 5001) as i64;
            thousandths as f64 / 1000.0
        })
        .collect()
}

/// kWh per interval with 3 decimals: random in 0..=5.
fn consumption(n: usize) -> Vec<f64> {
    let mut next = rng(6);
    (0..n).map(|_| (next() % 5001) as f64 / 1000.0).collect()
}

fn sin(n: usize) -> Vec<f64> {
    (0..n).map(|i| (i as f64 * 0.001).sin() * 100.0).collect()
}

#[test]
fn regular_timestamps_choose_dod_under_an_eighth_byte() {
    for step in [60_000, 900_000] {
        let ts = regular(100_000, step);
        // zstd may squeeze the runs of all-zero frames further; the codec is dod either way.
        let (codec, col) = ts_round_trip(&ts, &no_zstd());
        assert_eq!(codec.to_string(), "dod");
        let per = col.len() as f64 / ts.len() as f64;
        assert!(per < 0.125, "{per} bytes/sample");
        let (codec, col) = ts_round_trip(&ts, &CodecOptions::default());
        assert_eq!(codec.kind, CodecKind::DeltaOfDelta);
        let per = col.len() as f64 / ts.len() as f64;
        assert!(per < 0.125, "{per} bytes/sample");
    }
}

#[test]
fn timestamp_edges() {
    let opts = CodecOptions::default();
    assert_eq!(ts_round_trip(&[], &opts).1.len(), 2); // tag and count
    ts_round_trip(&[0], &opts);
    ts_round_trip(&[i64::MIN], &opts);
    ts_round_trip(&[i64::MAX], &opts);
    ts_round_trip(&[i64::MIN, i64::MAX], &opts);
    ts_round_trip(&[i64::MIN, 0, i64::MAX], &opts);
    ts_round_trip(&[i64::MIN, i64::MIN + 1, i64::MAX - 1, i64::MAX], &opts);
    // Huge increasing gaps still round-trip as delta-of-delta.
    let mut next = rng(2);
    let mut sorted: Vec<i64> = (0..200).map(|_| next() as i64).collect();
    sorted.sort_unstable();
    sorted.dedup();
    ts_round_trip(&sorted, &no_zstd());
    // Random i64s: delta-of-deltas need all 64 bits; never worse than raw.
    let wild: Vec<i64> = (0..200).map(|_| next() as i64).collect();
    assert!(ts_round_trip(&wild, &no_zstd()).1.len() <= 200 * 8 + 3);
    let wild: Vec<i64> = (0..3).map(|_| next() as i64).collect();
    assert_eq!(ts_round_trip(&wild, &no_zstd()).0.kind, CodecKind::Raw);
    // Gaps and jitter stay delta-of-delta.
    let mut ts: Vec<i64> = (0..5000)
        .map(|i| T0 + i * 60_000 + (i * 31 % 7) - 3)
        .collect();
    ts.retain(|t| (t / 60_000) % 500 != 7);
    assert_eq!(ts_round_trip(&ts, &opts).0.kind, CodecKind::DeltaOfDelta);
}

#[test]
fn values_choose_the_expected_codec() {
    let opts = CodecOptions::default();
    let (c, col) = val_round_trip(&register(100_000), &opts);
    assert_eq!(c.to_string(), "decimal-delta(3)");
    // 0..=5000 needs 13 bits.
    assert!(col.len() < 100_000 * 14 / 8, "{} bytes", col.len());
    assert!(col.len() < 100_000 * 2, "{} bytes", col.len());

    // Interval consumptions: bounded and unordered, stored as they are.
    let (c, col) = val_round_trip(&consumption(10_000), &opts);
    assert_eq!(c.to_string(), "decimal-plain(3)");
    assert!(
        col.len() < 10_000 * 14 / 8,
        "{} bytes: under the 14 bits of deltas",
        col.len()
    );

    let ramp: Vec<f64> = (0..10_000).map(|i| (i * i) as f64 / 10.0).collect();
    assert_eq!(
        val_round_trip(&ramp, &no_zstd()).0.to_string(),
        "decimal-dod(1)"
    );

    let (c, col) = val_round_trip(&[230.1; 5000], &opts);
    assert_eq!(c.to_string(), "const");
    assert!(col.len() <= 12, "{}", col.len());

    let steps: Vec<f64> = (0..10_000).map(|i| (i / 2000) as f64 / 3.0).collect();
    assert_eq!(val_round_trip(&steps, &opts).0.to_string(), "rle");

    assert_eq!(val_round_trip(&sin(10_000), &opts).0.to_string(), "gorilla");

    let mut next = rng(3);
    let noise: Vec<f64> = (0..1000).map(|_| f64::from_bits(next())).collect();
    assert_eq!(val_round_trip(&noise, &no_zstd()).0.kind, CodecKind::Raw);

    // A short pattern repeats: zstd finds it where the other codecs cannot.
    let pattern: Vec<f64> = (0..4000).map(|i| noise[i % 7]).collect();
    assert!(val_round_trip(&pattern, &opts).0.zstd);
    assert!(!val_round_trip(&pattern, &no_zstd()).0.zstd);
}

#[test]
fn zstd_levels_switch_per_call() {
    let pattern: Vec<f64> = (0..4000)
        .map(|i| f64::from_bits(0x4000_1234_5678_9ABC ^ (i % 5)))
        .collect();
    for level in [1, 3, 19, 3, -5, 1] {
        let (c, _) = val_round_trip(
            &pattern,
            &CodecOptions {
                zstd_level: Some(level),
            },
        );
        assert!(c.zstd, "level {level}: {c}");
    }
}

#[test]
fn value_edges() {
    let opts = CodecOptions::default();
    val_round_trip(&[], &opts);
    for v in [
        0.0,
        -0.0,
        1.0,
        f64::MIN_POSITIVE,
        5e-324,
        f64::MAX,
        f64::MIN,
        f64::NAN,
        f64::INFINITY,
        9_007_199_254_740_991.0,
        9_007_199_254_740_992.0,
        -9_007_199_254_740_991.0 / 1000.0,
    ] {
        val_round_trip(&[v], &opts);
        val_round_trip(&[v, 1.5], &opts);
        val_round_trip(&[1.5, v, 2.5], &opts);
    }
    // -0.0 among decimals must not come back as +0.0.
    let (c, _) = val_round_trip(&[1.0, -0.0, 2.0, 0.0], &opts);
    assert!(!c.kind.is_decimal(), "{c}");
    // Near 2^53 after scaling.
    val_round_trip(
        &[
            9_007_199_254_740_991.0 / 1e3,
            -9_007_199_254_740_991.0 / 1e3,
            0.001,
        ],
        &opts,
    );
    val_round_trip(&[9_007_199_254_740_991.0 / 1e8, 1e-8], &opts);
    let near: Vec<f64> = (0..300)
        .map(|i| (9_007_199_254_740_991i64 - i) as f64 / 1e9)
        .collect();
    assert!(val_round_trip(&near, &opts).0.kind.is_decimal());
    let subnormals: Vec<f64> = (1..300u64).map(f64::from_bits).collect();
    val_round_trip(&subnormals, &opts);
}

#[test]
fn quality_codecs() {
    let opts = CodecOptions::default();
    assert_eq!(q_round_trip(&[], &opts).0.kind, CodecKind::Raw);
    let (c, col) = q_round_trip(&[0; 100_000], &opts);
    assert_eq!(c.to_string(), "const");
    assert!(col.len() <= 6);
    let mut q = vec![0u8; 10_000];
    q[500..520].fill(3);
    assert_eq!(q_round_trip(&q, &opts).0.to_string(), "rle");
    let q: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
    assert_eq!(q_round_trip(&q, &no_zstd()).0.to_string(), "raw");
}

#[test]
fn display_names() {
    let c = |kind, zstd, scale| Codec { kind, zstd, scale }.to_string();
    assert_eq!(c(CodecKind::DecimalDelta, false, 3), "decimal-delta(3)");
    assert_eq!(
        c(CodecKind::DecimalDeltaOfDelta, true, 0),
        "decimal-dod(0)+zstd"
    );
    assert_eq!(c(CodecKind::Gorilla, true, 0), "gorilla+zstd");
    assert_eq!(c(CodecKind::DeltaOfDelta, false, 0), "dod");
    for tag in 0..=255u8 {
        if let Some(k) = CodecKind::from_tag(tag) {
            assert_eq!(k as u8, tag);
        }
    }
}

#[test]
fn wrong_kind_count_or_trailing_bytes_is_corruption() {
    let (_, ts) = ts_round_trip(&regular(1000, 60_000), &no_zstd());
    let (_, vals) = val_round_trip(&register(1000), &no_zstd());
    let (_, q) = q_round_trip(&[1; 1000], &no_zstd());
    let kind = |r: Result<Codec>| r.unwrap_err().kind();
    assert_eq!(
        kind(decode_values(&ts, 1000, &mut Vec::new())),
        crate::ErrorKind::Corruption
    );
    assert!(decode_timestamps(&vals, 1000, &mut Vec::new()).is_err());
    assert!(decode_quality(&vals, 1000, &mut Vec::new()).is_err());
    assert!(decode_timestamps(&q, 1000, &mut Vec::new()).is_err());
    for count in [0, 999, 1001, usize::MAX] {
        let mut out = vec![7];
        assert!(decode_timestamps(&ts, count, &mut out).is_err());
        assert_eq!(out, [7], "out is restored on error");
        assert!(decode_values(&vals, count, &mut Vec::new()).is_err());
        assert!(decode_quality(&q, count, &mut Vec::new()).is_err());
    }
    // A column claiming an absurd count is refused, not allocated.
    let mut huge = vec![CodecKind::Constant as u8];
    crate::format::put_uvarint(&mut huge, u64::MAX);
    huge.extend_from_slice(&1.0f64.to_bits().to_le_bytes());
    assert!(decode_values(&huge, usize::MAX, &mut Vec::new()).is_err());
    let mut long = vals.clone();
    long.push(0);
    assert!(decode_values(&long, 1000, &mut Vec::new()).is_err());
    assert!(peek_codec(&[]).is_err());
    assert!(peek_codec(&[0x7f]).is_err());
    assert!(peek_codec(&[CodecKind::DecimalDelta as u8]).is_err());
    assert!(peek_codec(&[CodecKind::DecimalDelta as u8, 10]).is_err());
}

/// One column of each codec (and some with zstd), small enough to flip every bit.
fn sample_columns() -> Vec<(&'static str, Vec<u8>, usize, Column)> {
    let opts = CodecOptions::default();
    let mut cols = Vec::new();
    let mut ts_col = |name, ts: &[i64], opts: &CodecOptions| {
        let mut col = Vec::new();
        encode_timestamps(ts, opts, &mut col);
        cols.push((name, col, ts.len(), Column::Timestamps));
    };
    let mut gappy = regular(400, 60_000);
    gappy.retain(|t| (t / 60_000) % 50 != 3);
    gappy[100] += 3;
    ts_col("ts-dod", &gappy, &opts);
    ts_col("ts-short", &[5, 9], &opts);
    let mut next = rng(5);
    let wild: Vec<i64> = (0..40).map(|_| next() as i64).collect();
    ts_col("ts-raw", &wild, &opts);
    ts_col(
        "ts-alternating",
        &[
            i64::MIN,
            0,
            i64::MIN,
            0,
            i64::MIN,
            0,
            i64::MIN,
            0,
            i64::MIN,
            0,
        ],
        &opts,
    );

    let mut next = rng(4);
    let noise: Vec<f64> = (0..60).map(|_| f64::from_bits(next())).collect();
    let val_col = |vals: &[f64]| {
        let mut col = Vec::new();
        let codec = encode_values(vals, &opts, &mut col);
        (codec, col, vals.len())
    };
    let value_sets: Vec<Vec<f64>> = vec![
        register(300),
        consumption(300),
        (0..300).map(|i| (i * i) as f64 / 10.0).collect(),
        vec![42.5; 300],
        (0..300).map(|i| (i / 70) as f64 / 3.0).collect(),
        sin(200),
        noise.clone(),
        (0..400).map(|i| noise[i % 3]).collect(),
        (0..400).map(|i| ((i % 3) * 1000) as f64).collect(),
    ];
    let mut vcols: Vec<_> = value_sets.iter().map(|v| val_col(v)).collect();
    vcols.sort_by_key(|c| c.0.to_string());
    for (codec, col, n) in vcols {
        let name: &'static str = Box::leak(codec.to_string().into_boxed_str());
        cols.push((name, col, n, Column::Values));
    }
    let mut q = vec![0u8; 300];
    q[7] = 4;
    for (name, q) in [
        ("q-const", vec![1u8; 50]),
        ("q-rle", q),
        ("q-raw", vec![1, 2, 3, 4]),
    ] {
        let mut col = Vec::new();
        encode_quality(&q, &opts, &mut col);
        cols.push((name, col, q.len(), Column::Quality));
    }
    cols
}

#[test]
fn sample_columns_cover_every_codec() {
    let names: Vec<&str> = sample_columns().iter().map(|c| c.0).collect();
    for want in [
        "decimal-delta(3)",
        "decimal-dod(1)",
        "decimal-plain(3)",
        "const",
        "rle",
        "gorilla",
        "raw",
        "+zstd",
    ] {
        assert!(
            names.iter().any(|n| n.contains(want)),
            "{want} missing in {names:?}"
        );
    }
}

/// Decodes `col` with `count` as whatever column type: must not panic; returns nothing.
fn decode_any(col: &[u8], count: usize) {
    let _ = peek_codec(col);
    let _ = decode_timestamps(col, count, &mut Vec::new());
    let _ = decode_values(col, count, &mut Vec::new());
    let _ = decode_quality(col, count, &mut Vec::new());
}

#[test]
fn cut_columns_never_panic() {
    for (name, col, n, column) in sample_columns() {
        for cut in 0..col.len() {
            let part = &col[..cut];
            decode_any(part, n);
            let err = match column {
                Column::Timestamps => decode_timestamps(part, n, &mut Vec::new()).is_err(),
                Column::Values => decode_values(part, n, &mut Vec::new()).is_err(),
                Column::Quality => decode_quality(part, n, &mut Vec::new()).is_err(),
            };
            assert!(err, "{name} cut at {cut} decoded");
        }
    }
}

#[test]
fn flipped_bits_never_panic() {
    for (_, col, n, _) in sample_columns() {
        for bit in 0..col.len() * 8 {
            let mut c = col.clone();
            c[bit / 8] ^= 1 << (bit % 8);
            for count in [n, n.saturating_sub(1), n + 1, 0, 1 << 40] {
                decode_any(&c, count);
            }
        }
    }
}

fn decimal_strategy() -> impl Strategy<Value = Vec<f64>> {
    (
        0u8..=9,
        prop::collection::vec(-1_000_000_000i64..1_000_000_000, 0..600),
    )
        .prop_map(|(s, ints)| {
            ints.iter()
                .map(|&i| i as f64 / 10f64.powi(s.into()))
                .collect()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn increasing_timestamps_round_trip(mut ts in prop::collection::vec(any::<i64>(), 0..600)) {
        ts.sort_unstable();
        ts.dedup();
        ts_round_trip(&ts, &CodecOptions::default());
    }

    #[test]
    fn any_timestamps_round_trip(ts in prop::collection::vec(any::<i64>(), 0..300)) {
        ts_round_trip(&ts, &no_zstd());
    }

    #[test]
    fn jittered_timestamps_round_trip(
        start in any::<i64>(),
        steps in prop::collection::vec(
            prop_oneof![8 => Just(60_000i64), 1 => 1i64..10_000_000],
            0..900,
        ),
    ) {
        let ts: Vec<i64> = steps
            .iter()
            .scan(start, |t, &s| {
                *t = t.wrapping_add(s);
                Some(*t)
            })
            .collect();
        ts_round_trip(&ts, &CodecOptions::default());
    }

    #[test]
    fn any_f64_bits_round_trip(
        vals in prop::collection::vec(any::<u64>().prop_map(f64::from_bits), 0..300),
    ) {
        val_round_trip(&vals, &CodecOptions::default());
    }

    #[test]
    fn decimals_round_trip(vals in decimal_strategy()) {
        val_round_trip(&vals, &CodecOptions::default());
    }

    #[test]
    fn runs_of_values_round_trip(
        runs in prop::collection::vec((any::<u64>(), 1usize..300), 0..20),
    ) {
        let vals: Vec<f64> = runs
            .iter()
            .flat_map(|&(b, n)| std::iter::repeat_n(f64::from_bits(b), n))
            .collect();
        val_round_trip(&vals, &CodecOptions::default());
    }

    #[test]
    fn quality_round_trips(
        q in prop::collection::vec(prop_oneof![9 => Just(0u8), 1 => any::<u8>()], 0..1000),
    ) {
        q_round_trip(&q, &CodecOptions::default());
    }

    #[test]
    fn random_bodies_never_panic(
        tag in 0u8..8,
        zstd in any::<bool>(),
        scale in 0u8..10,
        count in prop_oneof![0usize..4, 100usize..300],
        body in prop::collection::vec(
            prop_oneof![3 => Just(0u8), 1 => Just(0xFF), 6 => any::<u8>()],
            0..400,
        ),
    ) {
        // A valid header, so that the body decoders see the random bytes.
        let mut col = vec![tag | if zstd { 0x80 } else { 0 }];
        if CodecKind::from_tag(tag).is_some_and(CodecKind::is_decimal) {
            col.push(scale);
        }
        crate::format::put_uvarint(&mut col, count as u64);
        col.extend_from_slice(&body);
        decode_any(&col, count);
    }

    #[test]
    fn random_bytes_never_panic(
        col in prop::collection::vec(any::<u8>(), 0..200),
        count in 0usize..2000,
    ) {
        decode_any(&col, count);
    }
}

/// Exact bytes of small columns, as `docs/format/codecs.md` describes them: a change here is a
/// format change.
#[test]
fn golden_columns() {
    let opts = no_zstd();
    let mut col = Vec::new();
    encode_timestamps(&[1000, 2000, 3000], &opts, &mut col);
    assert_eq!(col, [0x01, 0x03, 0xD0, 0x0F, 0xD0, 0x0F, 0x00]);

    col.clear();
    encode_values(&[1.5, 2.5], &opts, &mut col);
    assert_eq!(col, [0x05, 0x01, 0x02, 0x1E, 0x14]); // decimal-dod(1): i0 = 15, d1 = 10

    col.clear();
    encode_values(&[0.9, 0.1, 0.5, 0.2], &opts, &mut col);
    // decimal-plain(1): ref 1, width 4, offsets 8 0 4 1
    assert_eq!(col, [0x07, 0x01, 0x04, 0x02, 0x04, 0x08, 0x14]);

    col.clear();
    encode_values(&[0.25; 5], &opts, &mut col);
    assert_eq!(col, [0x02, 0x05, 0, 0, 0, 0, 0, 0, 0xD0, 0x3F]);

    // At most 4 equal values of a short decimal: the decimal form, smaller than the constant.
    col.clear();
    let c = encode_values(&[0.25; 3], &opts, &mut col);
    assert_eq!(c.kind, CodecKind::DecimalPlain);
    assert_eq!(col, [0x07, 0x02, 0x03, 0x32, 0x00]); // decimal-plain(2): ref 25, width 0
    col.clear();
    let c = encode_values(&[1.0 / 3.0], &opts, &mut col);
    assert_eq!(
        c.kind,
        CodecKind::Constant,
        "no short decimal: the constant"
    );

    col.clear();
    encode_quality(&[0, 0, 0, 0, 0, 9], &opts, &mut col);
    assert_eq!(col, [0x03, 0x06, 0x00, 0x05, 0x09, 0x01]);

    col.clear();
    encode_values(&[-0.0, 1.0], &opts, &mut col);
    let mut expect = vec![0x06, 0x02];
    expect.extend_from_slice(&(-0.0f64).to_bits().to_le_bytes());
    // x = 0xBFF0_0000_0000_0000: lead 0, len 12, so the 14 bits 0b11 | 0 << 2 | 11 << 8,
    // then the 12 bits 0xBFF: 26 bits in 4 bytes.
    let bits: u64 = 0b11 | 11 << 8 | 0xBFF << 14;
    expect.extend_from_slice(&bits.to_le_bytes()[..4]);
    assert_eq!(col, expect);
}
