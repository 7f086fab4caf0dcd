//! `meterdb rollup`: one point's buckets at a tier as CSV.

use meterdb::sample::{MAX_TIMESTAMP, MIN_TIMESTAMP};
use meterdb::time::{format_offset, format_rfc3339, format_value};

use crate::out::{CliError, Stdout};
use crate::query::csv_field;
use crate::RollupArgs;

pub fn run(a: RollupArgs) -> Result<(), CliError> {
    let from = a.from.unwrap_or(MIN_TIMESTAMP);
    let to = a.to.unwrap_or(MAX_TIMESTAMP + 1);
    if from > to {
        return Err(CliError::Usage(format!(
            "--from {} is after --to {}",
            format_rfc3339(from, 0),
            format_rfc3339(to, 0)
        )));
    }
    let db = crate::open_existing(&a.db)?;
    let tz = db.tz_offset_min();
    if let Some(want) = a.tz {
        if want != tz {
            return Err(CliError::fail(format!(
                "{} keeps its buckets in UTC{}, not UTC{}",
                a.db.display(),
                format_offset(tz),
                format_offset(want)
            )));
        }
    }
    let id = db.point_id(&a.point).ok_or_else(|| {
        CliError::fail(format!("unknown point {:?} in {}", a.point, a.db.display()))
    })?;
    let rows = db
        .rollup(id, a.tier, from, to)
        .map_err(|e| CliError::fail(format!("rollup {}: {e}", a.point)))?;
    let mut out = Stdout::new();
    // New columns go at the end, so that the positions of the earlier ones stay.
    out.line(
        "point,bucket_start,count,sum,min,max,first,last,mean,consumption,\
         invalid,manual,estimated,backward",
    )?;
    let key = csv_field(&a.point);
    let opt = |v: Option<f64>| v.map(format_value).unwrap_or_default();
    for r in rows {
        let b = &r.bucket;
        let (min, max, first, last) = if b.count > 0 {
            (
                format_value(b.min),
                format_value(b.max),
                format_value(b.first),
                format_value(b.last),
            )
        } else {
            Default::default()
        };
        out.line(&format!(
            "{key},{},{},{},{min},{max},{first},{last},{},{},{},{},{},{}",
            format_rfc3339(b.start, tz),
            b.count,
            format_value(b.sum),
            opt(r.mean),
            opt(r.consumption),
            b.invalid,
            b.manual,
            b.estimated,
            b.backward
        ))?;
    }
    out.flush()?;
    db.close()
        .map_err(|e| CliError::fail(format!("close: {e}")))
}
