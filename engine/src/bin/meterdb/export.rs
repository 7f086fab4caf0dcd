//! `meterdb export`: raw samples or a tier's buckets as Hive-partitioned Parquet files.

use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use meterdb::export::{export, ExportOptions, ExportProgress, Selection};
use meterdb::sample::{MAX_TIMESTAMP, MIN_TIMESTAMP};
use meterdb::time::format_rfc3339;
use meterdb::PointFilter;

use crate::out::{CliError, Stdout};
use crate::ExportArgs;

pub fn run(a: ExportArgs) -> Result<(), CliError> {
    let from = a.from.unwrap_or(MIN_TIMESTAMP);
    let to = a.to.unwrap_or(MAX_TIMESTAMP + 1);
    if from >= to {
        return Err(CliError::Usage(format!(
            "--from {} is not before --to {}",
            format_rfc3339(from, 0),
            format_rfc3339(to, 0)
        )));
    }
    if !a.point.is_empty() && a.prefix.is_some() {
        return Err(CliError::Usage(
            "give either --point or --prefix, not both".into(),
        ));
    }
    let selection = if a.point.is_empty() {
        Selection::Filter(PointFilter {
            key_prefix: a.prefix.clone(),
            ..PointFilter::default()
        })
    } else {
        Selection::Keys(a.point.clone())
    };
    let opts = ExportOptions {
        row_group_rows: a.row_group_rows,
        zstd_level: a.zstd_level,
        partition: a.partition,
        ..ExportOptions::default()
    };
    let db = crate::open_existing(&a.db)?;
    let start = Instant::now();
    let bar = (std::io::stderr().is_terminal()).then(|| {
        let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "partitions [{bar:30}] {pos}/{len} {msg} ({elapsed}, {eta})",
        ) {
            b.set_style(style.progress_chars("=> "));
        }
        b
    });
    let mut progress = |p: ExportProgress| {
        if let Some(b) = &bar {
            b.set_length(p.partitions_total);
            b.set_position(p.partitions_done);
            b.set_message(format!("{} rows", p.rows));
        }
    };
    let r = export(
        &db,
        &selection,
        a.tier,
        from,
        to,
        &a.out,
        &opts,
        &mut progress,
    );
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let sum = r.map_err(|e| CliError::fail(format!("export: {e}")))?;
    let secs = start.elapsed().as_secs_f64();
    let per_row = if sum.rows > 0 {
        sum.bytes as f64 / sum.rows as f64
    } else {
        0.0
    };
    let mut out = Stdout::new();
    for l in [
        format!("tier             {}", a.tier.as_str()),
        format!("points           {}", sum.points),
        format!(
            "partitions       {} written, {} removed",
            sum.partitions, sum.removed
        ),
        format!("files            {}", sum.files),
        format!("rows             {}", sum.rows),
        format!("bytes            {} ({per_row:.2} per row)", sum.bytes),
        format!(
            "elapsed          {secs:.2} s ({:.0} rows/s)",
            sum.rows as f64 / secs.max(1e-9)
        ),
    ] {
        out.line(&l)?;
    }
    out.flush()?;
    db.close()
        .map_err(|e| CliError::fail(format!("close: {e}")))
}
