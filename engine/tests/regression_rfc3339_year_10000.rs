//! Regression (found by the `import_row` fuzz target): the last supported instant,
//! 9999-12-31T23:59:59.999Z, printed at +08:00 became `10000-01-01T07:59:59.999+08:00`,
//! which is not RFC 3339 and which `parse_timestamp` (and so `meterdb import`) refused: a
//! timestamp the engine stores could be exported (`meterdb query --tz`, `meterdb rollup`)
//! as text that does not import again. Such instants are now printed in UTC.

use meterdb::sample::MAX_TIMESTAMP;
use meterdb::time::{format_rfc3339, parse_timestamp};

#[test]
fn every_stored_timestamp_prints_as_text_that_parses_back() {
    for off in [0, 60, 480, 840, -720, -330] {
        for ts in [
            MAX_TIMESTAMP,
            MAX_TIMESTAMP - 8 * 3_600_000,
            meterdb::sample::MIN_TIMESTAMP,
        ] {
            let s = format_rfc3339(ts, off);
            assert_eq!(parse_timestamp(&s).ok(), Some(ts), "{s} at offset {off}");
        }
    }
    assert_eq!(
        format_rfc3339(MAX_TIMESTAMP, 480),
        "9999-12-31T23:59:59.999Z"
    );
    // An instant whose local year stays within four digits keeps its offset.
    assert_eq!(
        format_rfc3339(MAX_TIMESTAMP - 9 * 3_600_000, 480),
        "9999-12-31T22:59:59.999+08:00"
    );
}
