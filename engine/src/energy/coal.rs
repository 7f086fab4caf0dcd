//! Standard coal (标准煤): consumption converted with each point's coefficient in force at
//! each bucket's start, summed over points.
//!
//! The coefficients are point metadata ([`PointMeta::coal`], stored in the catalog's tags,
//! set from the unit catalog's [`super::CoalCoefficient`]s); the conversion is this layer's,
//! made through the core's [`Db::rollup_sum_converted`], so that a coal sum reads the stored
//! buckets as fast as a plain [`Db::rollup_sum`].

use crate::{Db, PointId, PointMeta, Result, SumRow, Tier, Timestamp};

crate::code_enum! {
    /// Units of standard coal (codes: the C ABI's `MDB_COAL_*`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum CoalUnit {
        /// Kilograms of standard coal equivalent.
        Kgce = 0 => "kgce",
        /// Tonnes of standard coal equivalent.
        Tce = 1 => "tce",
    }
}

impl CoalUnit {
    /// `consumption` (in the point's unit) in this unit, with a coefficient of
    /// `kgce_per_unit`.
    pub fn convert(self, consumption: f64, kgce_per_unit: f64) -> f64 {
        let div = if self == CoalUnit::Tce { 1000.0 } else { 1.0 };
        consumption * kgce_per_unit / div
    }
}

impl Db {
    /// Consumption of several points converted to standard coal with each point's
    /// coefficient in force at each bucket's start, summed into one series. A point without
    /// a coefficient for a bucket contributes nothing to that bucket's consumption.
    pub fn coal_sum(
        &self,
        points: &[PointId],
        tier: Tier,
        from: Timestamp,
        to: Timestamp,
        unit: CoalUnit,
    ) -> Result<Vec<SumRow>> {
        // An undefined point has no coefficients here; the sum refuses it.
        let metas: Vec<Option<PointMeta>> = points.iter().map(|&p| self.point(p)).collect();
        let convert = |i: usize, start: Timestamp, c: f64| {
            let k = metas[i].as_ref()?.coal_at(start)?;
            Some(unit.convert(c, k))
        };
        self.rollup_sum_converted(points, tier, from, to, &convert)
    }
}
