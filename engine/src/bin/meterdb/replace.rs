//! `meterdb replace-meter`: record (or forget) a counter's meter replacement.

use meterdb::time::{format_rfc3339, format_value};
use meterdb::{Db, Durability, ErrorKind, Options};

use crate::out::{CliError, Stdout};
use crate::ReplaceMeterArgs;

pub fn run(a: ReplaceMeterArgs) -> Result<(), CliError> {
    // Durable when the command returns: synced through the WAL before `replace_meter`
    // returns. No database is created where there is none.
    let opts = Options {
        background: false,
        create_if_missing: false,
        durability: Durability::Sync,
        ..Options::default()
    };
    let db = Db::open(&a.db, opts)
        .map_err(|e| CliError::fail(format!("open {}: {e}", a.db.display())))?;
    let id = db.point_id(&a.point).ok_or_else(|| {
        CliError::fail(format!("unknown point {:?} in {}", a.point, a.db.display()))
    })?;
    let at = format_rfc3339(a.ts, db.tz_offset_min());
    let msg = match (a.forget, a.old_final, a.new_initial) {
        (true, _, _) => {
            db.forget_meter_replacement(id, a.ts)
                .map_err(|e| match e.kind() {
                    ErrorKind::NotFound => {
                        CliError::fail(format!("{} has no meter replacement at {at}", a.point))
                    }
                    _ => CliError::fail(format!("forget replacement of {}: {e}", a.point)),
                })?;
            format!("{}: meter replacement at {at} removed", a.point)
        }
        (false, Some(old_final), Some(new_initial)) => {
            db.replace_meter(id, a.ts, old_final, new_initial)
                .map_err(|e| CliError::fail(format!("replace meter of {}: {e}", a.point)))?;
            format!(
                "{}: meter replaced at {at}, old final {}, new initial {}",
                a.point,
                format_value(old_final),
                format_value(new_initial)
            )
        }
        _ => {
            return Err(CliError::Usage(
                "--old-final and --new-initial are required (or --forget)".into(),
            ))
        }
    };
    db.close()
        .map_err(|e| CliError::fail(format!("close: {e}")))?;
    let mut out = Stdout::new();
    out.line(&msg)?;
    out.flush()
}
