//! `meterdb query`: one point's samples as CSV.

use meterdb::sample::{MAX_TIMESTAMP, MIN_TIMESTAMP};
use meterdb::time::{format_rfc3339, format_value};

use crate::out::{CliError, Stdout};
use crate::QueryArgs;

pub fn run(a: QueryArgs) -> Result<(), CliError> {
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
    let id = db.point_id(&a.point).ok_or_else(|| {
        CliError::fail(format!("unknown point {:?} in {}", a.point, a.db.display()))
    })?;
    let mut iter = db
        .range(id, from, to)
        .map_err(|e| CliError::fail(format!("query {}: {e}", a.point)))?;
    let mut out = Stdout::new();
    out.line("point,ts,value")?;
    let key = csv_field(&a.point);
    let mut line = String::with_capacity(key.len() + 64);
    while let Some(chunk) = iter.next_chunk() {
        let cols = chunk.map_err(|e| CliError::fail(format!("query {}: {e}", a.point)))?;
        for (&ts, &v) in cols.ts.iter().zip(&cols.values) {
            line.clear();
            line.push_str(&key);
            line.push(',');
            line.push_str(&format_rfc3339(ts, 0));
            line.push(',');
            line.push_str(&format_value(v));
            line.push('\n');
            out.write(&line)?;
        }
    }
    out.flush()?;
    db.close()
        .map_err(|e| CliError::fail(format!("close: {e}")))
}

/// A CSV field: quoted (quotes doubled) when it holds a comma, a quote or a line break.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn fields_are_quoted_only_when_needed() {
        assert_eq!(csv_field("plant-1/kwh"), "plant-1/kwh");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
