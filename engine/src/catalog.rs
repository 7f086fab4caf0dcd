//! Points: keys and metadata to [`PointId`] and back, and the catalog file.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::format::{self, put_bytes, put_f64, put_u32, put_uvarint, Reader};

/// A point's dense numeric id, assigned in order of definition, never reused.
pub type PointId = u32;

/// Longest point key, in bytes.
pub const MAX_KEY_LEN: usize = 255;

crate::code_enum! {
    /// What a point measures (codes: the catalog, the unit catalog, the C ABI's
    /// `MDB_KIND_*`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub enum PointKind {
        /// An instantaneous reading (kW, temperature, flow rate).
        #[default]
        Gauge = 0 => "gauge",
        /// A cumulative register (kWh, m³): consumption is its increase.
        Counter = 1 => "counter",
    }
}

impl PointKind {
    /// Parses `"gauge"` or `"counter"` (case-insensitive).
    pub fn parse(s: &str) -> Result<PointKind> {
        PointKind::from_name(s)
            .ok_or_else(|| Error::invalid(format!("point kind {s:?} is neither counter nor gauge")))
    }
}

crate::code_enum! {
    /// How a counter's register is read where it falls between two valid readings and the
    /// fall is neither a rollover nor a meter replacement (see [`crate::rollup::Rules`]).
    /// (Codes: the catalog's tag 12, the C ABI's `MDB_REGISTER_*`.)
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub enum Register {
        /// An import register (the default): it only counts up, so a backward step adds
        /// nothing to consumption (it is counted in the bucket's `backward`).
        #[default]
        Import = 0 => "import",
        /// A net (bidirectional) register: consumption is the signed change, a backward
        /// step subtracting what it fell by (it is still counted in `backward`).
        Net = 1 => "net",
    }
}

impl Register {
    /// Parses `"import"` or `"net"` (case-insensitive).
    pub fn parse(s: &str) -> Result<Register> {
        Register::from_name(s)
            .ok_or_else(|| Error::invalid(format!("register {s:?} is neither import nor net")))
    }
}

/// A meter replacement recorded for a counter: at `ts` the old meter's register read
/// `old_final` for the last time and the new one started at `new_initial`. Readings before
/// `ts` are the old meter's, readings at or after it the new one's, and the consumption
/// between the last reading before `ts` and the first at or after it is
/// `(old_final - before) + (after - new_initial)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Replacement {
    /// When the new meter took over (ms, UTC).
    pub ts: crate::sample::Timestamp,
    /// The old meter's last reading.
    pub old_final: f64,
    /// The new meter's first reading.
    pub new_initial: f64,
}

/// Most replacements one point records.
pub const MAX_REPLACEMENTS: usize = 4096;

/// A point's metadata. Build one with [`PointMeta::new`] and the `with_*` methods.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct PointMeta {
    /// The key, up to 255 bytes of UTF-8.
    pub key: String,
    /// Counter or gauge.
    pub kind: PointKind,
    /// Unit of the values, e.g. `kWh`.
    pub unit: String,
    /// Decimal digits of the values, when known.
    pub precision: Option<u8>,
    /// Energy type code (e.g. a national classification code), empty when unknown.
    pub energy_type: String,
    /// Expected collection interval in milliseconds, when known.
    pub interval_ms: Option<i64>,
    /// Factor applied to consumption (e.g. CT x PT ratio); 1 by default.
    pub multiplier: f64,
    /// Free key/value tags.
    pub tags: BTreeMap<String, String>,
    /// For a counter: the reading after which the register rolls over to zero. Without it, a
    /// falling reading is taken as a meter replacement or reset (counting from zero).
    pub rollover: Option<f64>,
    /// Standard-coal coefficients (kgce per unit of the point's consumption), each valid
    /// from its timestamp on, sorted by timestamp.
    pub coal: Vec<(crate::sample::Timestamp, f64)>,
    /// The rollup tiers this point keeps; `None` means the database's default.
    pub tiers: Option<crate::tier::TierSet>,
    /// For a counter: an import register (the default) or a net one.
    pub register: Register,
    /// For a counter: the meter replacements recorded ([`crate::Db::replace_meter`]),
    /// sorted by time, at most one at a time.
    pub replacements: Vec<Replacement>,
}

impl PointMeta {
    /// Metadata with a key and a kind, every other field at its default.
    pub fn new(key: impl Into<String>, kind: PointKind) -> Self {
        PointMeta {
            key: key.into(),
            kind,
            multiplier: 1.0,
            ..Default::default()
        }
    }
    /// Sets the unit.
    pub fn with_unit(mut self, unit: impl Into<String>) -> Self {
        self.unit = unit.into();
        self
    }
    /// Sets the decimal precision.
    pub fn with_precision(mut self, p: u8) -> Self {
        self.precision = Some(p);
        self
    }
    /// Sets the energy type code.
    pub fn with_energy_type(mut self, code: impl Into<String>) -> Self {
        self.energy_type = code.into();
        self
    }
    /// Sets the collection interval.
    pub fn with_interval_ms(mut self, ms: i64) -> Self {
        self.interval_ms = Some(ms);
        self
    }
    /// Sets the consumption multiplier.
    pub fn with_multiplier(mut self, m: f64) -> Self {
        self.multiplier = m;
        self
    }
    /// Sets the rollover maximum of a counter.
    pub fn with_rollover(mut self, max: f64) -> Self {
        self.rollover = Some(max);
        self
    }
    /// Sets how a counter's register is read ([`Register::Import`] by default).
    pub fn with_register(mut self, r: Register) -> Self {
        self.register = r;
        self
    }
    /// Records a meter replacement (replacing one recorded at the same time).
    pub fn with_replacement(mut self, r: Replacement) -> Self {
        self.replacements.retain(|x| x.ts != r.ts);
        let i = self.replacements.partition_point(|x| x.ts < r.ts);
        self.replacements.insert(i, r);
        self
    }
    /// Adds a standard-coal coefficient (kgce per unit) valid from `from` on.
    pub fn with_coal_coefficient(
        mut self,
        from: crate::sample::Timestamp,
        kgce_per_unit: f64,
    ) -> Self {
        self.coal.push((from, kgce_per_unit));
        self.coal.sort_by_key(|c| c.0);
        self
    }
    /// Sets the tiers the point keeps.
    pub fn with_tiers(mut self, tiers: crate::tier::TierSet) -> Self {
        self.tiers = Some(tiers);
        self
    }
    /// The standard-coal coefficient in force at `ts`, if any.
    pub fn coal_at(&self, ts: crate::sample::Timestamp) -> Option<f64> {
        let i = self.coal.partition_point(|c| c.0 <= ts);
        i.checked_sub(1).map(|i| self.coal[i].1)
    }
    /// Adds a tag.
    pub fn with_tag(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.tags.insert(k.into(), v.into());
        self
    }

    /// Checks the metadata before it is stored.
    pub fn validate(&self) -> Result<()> {
        validate_key(&self.key)?;
        if let Some(p) = self.precision {
            if p > 18 {
                return Err(Error::invalid(format!(
                    "point {}: precision {p} is above 18",
                    self.key
                )));
            }
        }
        if let Some(i) = self.interval_ms {
            if i <= 0 {
                return Err(Error::invalid(format!(
                    "point {}: interval {i} ms is not positive",
                    self.key
                )));
            }
        }
        if !self.multiplier.is_finite() || self.multiplier == 0.0 {
            return Err(Error::invalid(format!(
                "point {}: multiplier {} must be finite and non-zero",
                self.key, self.multiplier
            )));
        }
        if let Some(r) = self.rollover {
            if !r.is_finite() || r <= 0.0 {
                return Err(Error::invalid(format!(
                    "point {}: rollover {r} must be finite and positive",
                    self.key
                )));
            }
        }
        if self.replacements.len() > MAX_REPLACEMENTS {
            return Err(Error::invalid(format!(
                "point {}: more than {MAX_REPLACEMENTS} meter replacements",
                self.key
            )));
        }
        if self
            .replacements
            .iter()
            .any(|r| !r.old_final.is_finite() || !r.new_initial.is_finite())
            || self.replacements.windows(2).any(|w| w[0].ts >= w[1].ts)
        {
            return Err(Error::invalid(format!(
                "point {}: meter replacements must have finite readings and distinct times",
                self.key
            )));
        }
        if let Some(r) = self
            .replacements
            .iter()
            .find(|r| crate::sample::check_ts(r.ts).is_err())
        {
            return Err(Error::invalid(format!(
                "point {}: meter replacement at {} ms is outside years 1000..=9999",
                self.key, r.ts
            )));
        }
        if self.coal.iter().any(|c| !c.1.is_finite() || c.1 < 0.0)
            || self.coal.windows(2).any(|w| w[0].0 >= w[1].0)
        {
            return Err(Error::invalid(format!(
                "point {}: coal coefficients must be finite, non-negative, with distinct dates",
                self.key
            )));
        }
        for (k, v) in &self.tags {
            if k.is_empty() || k.len() > MAX_KEY_LEN || v.len() > 4096 {
                return Err(Error::invalid(format!(
                    "point {}: tag {k:?} has an empty or overlong name or an overlong value",
                    self.key
                )));
            }
        }
        Ok(())
    }

    /// Serializes as a list of tagged fields (unknown tags are skipped by older readers).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut fields: Vec<(u8, Vec<u8>)> = Vec::new();
        fields.push((1, self.key.as_bytes().to_vec()));
        fields.push((2, vec![self.kind.code()]));
        if !self.unit.is_empty() {
            fields.push((3, self.unit.as_bytes().to_vec()));
        }
        if let Some(p) = self.precision {
            fields.push((4, vec![p]));
        }
        if !self.energy_type.is_empty() {
            fields.push((5, self.energy_type.as_bytes().to_vec()));
        }
        if let Some(i) = self.interval_ms {
            fields.push((6, i.to_le_bytes().to_vec()));
        }
        if self.multiplier != 1.0 {
            let mut b = Vec::new();
            put_f64(&mut b, self.multiplier);
            fields.push((7, b));
        }
        for (k, v) in &self.tags {
            let mut b = Vec::new();
            put_bytes(&mut b, k.as_bytes());
            put_bytes(&mut b, v.as_bytes());
            fields.push((8, b));
        }
        if let Some(r) = self.rollover {
            let mut b = Vec::new();
            put_f64(&mut b, r);
            fields.push((9, b));
        }
        for &(from, k) in &self.coal {
            let mut b = from.to_le_bytes().to_vec();
            put_f64(&mut b, k);
            fields.push((10, b));
        }
        if let Some(t) = self.tiers {
            fields.push((11, vec![t.0]));
        }
        if self.register == Register::Net {
            fields.push((12, vec![self.register.code()]));
        }
        for r in &self.replacements {
            let mut b = r.ts.to_le_bytes().to_vec();
            put_f64(&mut b, r.old_final);
            put_f64(&mut b, r.new_initial);
            fields.push((13, b));
        }
        format::put_fields(out, &fields);
    }

    /// Parses what [`PointMeta::encode`] wrote.
    pub fn decode(r: &mut Reader<'_>) -> Result<PointMeta> {
        let fields = format::get_fields(r, 1024 + MAX_REPLACEMENTS, "point field")?;
        let mut m = PointMeta::new("", PointKind::Gauge);
        let mut have_key = false;
        for (tag, body) in fields {
            let mut b = Reader::new(body);
            let text = |b: &[u8]| {
                std::str::from_utf8(b)
                    .map(str::to_string)
                    .map_err(|_| Error::corrupt("point field is not UTF-8"))
            };
            match tag {
                1 => {
                    m.key = text(body)?;
                    have_key = true;
                }
                2 => {
                    let k = b.u8("kind")?;
                    m.kind = PointKind::from_code(k)
                        .ok_or_else(|| Error::corrupt(format!("unknown point kind {k}")))?;
                }
                3 => m.unit = text(body)?,
                4 => m.precision = Some(b.u8("precision")?),
                5 => m.energy_type = text(body)?,
                6 => m.interval_ms = Some(b.i64("interval")?),
                7 => m.multiplier = b.f64("multiplier")?,
                8 => {
                    let k = b.str(1 << 16, "tag name")?.to_string();
                    let v = b.str(1 << 16, "tag value")?.to_string();
                    m.tags.insert(k, v);
                }
                9 => m.rollover = Some(b.f64("rollover")?),
                10 => {
                    let from = b.i64("coal from")?;
                    m.coal.push((from, b.f64("coal coefficient")?));
                }
                11 => m.tiers = Some(crate::tier::TierSet(b.u8("tiers")? & 0b11111)),
                12 => {
                    let k = b.u8("register")?;
                    m.register = Register::from_code(k)
                        .ok_or_else(|| Error::corrupt(format!("unknown register kind {k}")))?;
                }
                13 => m.replacements.push(Replacement {
                    ts: b.i64("replacement time")?,
                    old_final: b.f64("replacement old reading")?,
                    new_initial: b.f64("replacement new reading")?,
                }),
                _ => {} // a field of a newer version: skipped
            }
        }
        if !have_key {
            return Err(Error::corrupt("point without a key"));
        }
        m.validate()
            .map_err(|e| Error::corrupt(format!("stored point metadata is invalid: {e}")))?;
        Ok(m)
    }
}

/// Checks a point key.
pub fn validate_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::invalid("point key is empty"));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(Error::invalid(format!(
            "point key of {} bytes is longer than {MAX_KEY_LEN}",
            key.len()
        )));
    }
    if key.chars().any(char::is_control) {
        return Err(Error::invalid(format!(
            "point key {key:?} contains a control character"
        )));
    }
    Ok(())
}

/// A filter on point metadata; every field set must match.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PointFilter {
    /// Key starts with this (e.g. an enterprise code).
    pub key_prefix: Option<String>,
    /// Kind equals.
    pub kind: Option<PointKind>,
    /// Energy type code equals.
    pub energy_type: Option<String>,
    /// Unit equals.
    pub unit: Option<String>,
    /// Every (name, value) tag is present with that value.
    pub tags: Vec<(String, String)>,
}

impl PointFilter {
    /// Whether a point's metadata passes the filter.
    pub fn matches(&self, m: &PointMeta) -> bool {
        self.key_prefix
            .as_deref()
            .is_none_or(|p| m.key.starts_with(p))
            && self.kind.is_none_or(|k| m.kind == k)
            && self
                .energy_type
                .as_deref()
                .is_none_or(|e| m.energy_type == e)
            && self.unit.as_deref().is_none_or(|u| m.unit == u)
            && self
                .tags
                .iter()
                .all(|(k, v)| m.tags.get(k).is_some_and(|x| x == v))
    }
}

/// All points of a database. A clone is cheap (it shares the points until either copy
/// changes), so a flush keeps the catalog as of its freeze without copying 200,000 points.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    points: Arc<Vec<PointMeta>>,
    by_key: Arc<KeyIndex>,
    /// Changes made by [`Catalog::set`] since this catalog was made or decoded: a flush
    /// writes a new catalog file when it differs from the one it last wrote.
    changes: u64,
}

/// The ids of the catalog's keys without a second copy of each key: a point is found by the
/// hash of its key and its key compared with the point's own; the rare key whose hash another
/// key already holds goes to `collided`. (A map from key strings cost about 75 bytes a point,
/// a fifth of the catalog's memory.)
#[derive(Clone, Debug, Default)]
struct KeyIndex {
    by_hash: HashMap<u64, PointId>,
    collided: HashMap<String, PointId>,
}

impl KeyIndex {
    fn hash(key: &str) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        h.finish()
    }

    fn get(&self, points: &[PointMeta], key: &str) -> Option<PointId> {
        match self.by_hash.get(&Self::hash(key)) {
            Some(&id) if points.get(id as usize).is_some_and(|m| m.key == key) => Some(id),
            Some(_) => self.collided.get(key).copied(),
            None => None,
        }
    }

    /// Adds a key that is not in the index yet.
    fn insert(&mut self, points: &[PointMeta], key: &str, id: PointId) {
        match self.by_hash.entry(Self::hash(key)) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(id);
            }
            std::collections::hash_map::Entry::Occupied(e) => {
                debug_assert!(points.get(*e.get() as usize).is_some_and(|m| m.key != key));
                self.collided.insert(key.to_string(), id);
            }
        }
    }
}

const CATALOG_MAGIC: &[u8; 8] = b"MDBCAT\0\0";
const CATALOG_VERSION: u32 = 1;

impl Catalog {
    /// Number of points.
    pub fn len(&self) -> usize {
        self.points.len()
    }
    /// Number of changes made by [`Catalog::set`] (new points and updated metadata).
    pub fn changes(&self) -> u64 {
        self.changes
    }
    /// Whether there are no points.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
    /// The id of a key.
    pub fn id(&self, key: &str) -> Option<PointId> {
        self.by_key.get(&self.points, key)
    }
    /// The metadata of an id.
    pub fn get(&self, id: PointId) -> Option<&PointMeta> {
        self.points.get(id as usize)
    }
    /// Every point, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (PointId, &PointMeta)> {
        self.points
            .iter()
            .enumerate()
            .map(|(i, m)| (i as PointId, m))
    }

    /// Defines `meta` as point `id` (a new id must be the next one; an existing id takes the
    /// new metadata, its key unchanged). Used by the database and by WAL replay.
    pub fn set(&mut self, id: PointId, meta: PointMeta) -> Result<()> {
        let idx = id as usize;
        if idx == self.points.len() {
            if self.id(&meta.key).is_some() {
                return Err(Error::corrupt(format!(
                    "point key {:?} defined twice",
                    meta.key
                )));
            }
            Arc::make_mut(&mut self.by_key).insert(&self.points, &meta.key, id);
            Arc::make_mut(&mut self.points).push(meta);
            self.changes += 1;
            Ok(())
        } else if idx < self.points.len() {
            if self.points[idx].key != meta.key {
                return Err(Error::corrupt(format!(
                    "point {id} redefined with another key"
                )));
            }
            if self.points[idx] != meta {
                Arc::make_mut(&mut self.points)[idx] = meta;
                self.changes += 1;
            }
            Ok(())
        } else {
            Err(Error::corrupt(format!(
                "point id {id} skips ids (only {} defined)",
                self.points.len()
            )))
        }
    }

    /// Serializes the whole catalog as a file.
    pub fn encode_file(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.points.len() * 48);
        out.extend_from_slice(CATALOG_MAGIC);
        put_u32(&mut out, CATALOG_VERSION);
        put_uvarint(&mut out, self.points.len() as u64);
        for m in self.points.iter() {
            m.encode(&mut out);
        }
        let crc = format::crc32(&[&out]);
        put_u32(&mut out, crc);
        out
    }

    /// Parses a catalog file.
    pub fn decode_file(buf: &[u8]) -> Result<Catalog> {
        if buf.len() < 16 {
            return Err(Error::corrupt("catalog file is too short"));
        }
        let (body, crc) = buf.split_at(buf.len() - 4);
        let crc = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
        let mut r = Reader::new(body);
        if r.take(8, "magic")? != CATALOG_MAGIC {
            return Err(Error::corrupt("not a catalog file (bad magic)"));
        }
        let version = r.u32("version")?;
        if version != CATALOG_VERSION {
            // The caller names the file (`Error::in_file`).
            return Err(Error::UnsupportedVersion {
                file: std::path::PathBuf::new(),
                version,
            });
        }
        if format::crc32(&[body]) != crc {
            return Err(Error::Corruption {
                file: None,
                offset: Some(body.len() as u64),
                msg: "catalog checksum mismatch".into(),
            });
        }
        let n = r.len(body.len(), "point count")?;
        let mut c = Catalog::default();
        for i in 0..n {
            let m = PointMeta::decode(&mut r)?;
            c.set(i as PointId, m)?;
        }
        if !r.is_empty() {
            return Err(r.corrupt_here("trailing bytes after the catalog"));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_whose_hash_is_taken_is_found_in_the_collided_map() {
        let points = vec![
            PointMeta::new("a", PointKind::Gauge),
            PointMeta::new("b", PointKind::Gauge),
        ];
        let mut ix = KeyIndex::default();
        // As if "a" had the hash of "b".
        ix.by_hash.insert(KeyIndex::hash("b"), 0);
        ix.insert(&points, "b", 1);
        assert_eq!(ix.collided.len(), 1);
        assert_eq!(ix.get(&points, "b"), Some(1));
        assert_eq!(ix.get(&points, "c"), None);
        ix.insert(&points, "a", 0);
        assert_eq!(ix.get(&points, "a"), Some(0));
    }

    fn sample_meta() -> PointMeta {
        PointMeta::new("91350100MA2XXXXX0X0101000000000001", PointKind::Counter)
            .with_unit("kWh")
            .with_precision(2)
            .with_energy_type("0100")
            .with_interval_ms(900_000)
            .with_multiplier(40.0)
            .with_tag("workshop", "rolling")
            .with_rollover(1e8)
            .with_coal_coefficient(0, 0.1229)
            .with_coal_coefficient(1_000_000, 0.1300)
            .with_tiers(crate::tier::TierSet::ALL)
    }

    #[test]
    fn catalog_file_round_trips_and_rejects_damage() {
        let mut c = Catalog::default();
        c.set(0, sample_meta()).unwrap();
        c.set(1, PointMeta::new("b", PointKind::Gauge)).unwrap();
        let f = c.encode_file();
        let d = Catalog::decode_file(&f).unwrap();
        assert_eq!(d.get(0), Some(&sample_meta()));
        assert_eq!(d.id("b"), Some(1));
        for i in 0..f.len() {
            assert!(Catalog::decode_file(&f[..i]).is_err());
            let mut g = f.clone();
            g[i] ^= 0x10;
            assert!(Catalog::decode_file(&g).is_err(), "flip at {i}");
        }
    }

    #[test]
    fn keys_are_checked() {
        assert!(validate_key("").is_err());
        assert!(validate_key(&"x".repeat(256)).is_err());
        assert!(validate_key(&"x".repeat(255)).is_ok());
        assert!(validate_key("a\nb").is_err());
        assert!(validate_key("电表-1").is_ok());
    }

    #[test]
    fn filters_match_metadata() {
        let m = sample_meta();
        let f = PointFilter {
            key_prefix: Some("91350100".into()),
            kind: Some(PointKind::Counter),
            tags: vec![("workshop".into(), "rolling".into())],
            ..Default::default()
        };
        assert!(f.matches(&m));
        let g = PointFilter {
            energy_type: Some("0200".into()),
            ..Default::default()
        };
        assert!(!g.matches(&m));
    }
}
