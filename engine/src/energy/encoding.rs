//! The bytes of `UNITCAT` (docs/format/unit-catalog.md): [`UnitCatalog::encode_file`] and
//! [`UnitCatalog::decode_file`], every record as tagged fields.

use std::collections::BTreeMap;

use crate::format::{self, put_f64, put_i64, put_u32, put_u64, put_uvarint, Reader};
use crate::{Error, PointKind, Result};

use super::catalog::{AppliedVersion, UnitCatalog};
use super::codes::{DataItemCode, ObjectType, ProcessStage};
use super::records::{
    CoalCoefficient, CollectionConfig, Device, DeviceKind, Enterprise, HISTORY_KEEP, MAX_COAL,
};

/// Magic of a unit catalog file.
pub const UNIT_MAGIC: &[u8; 8] = b"MDBUNIT\0";
/// Format version of a unit catalog file.
pub const UNIT_FORMAT_VERSION: u32 = 1;
/// Bytes before the body: magic, format version, body length.
pub const UNIT_HEADER_LEN: usize = 8 + 4 + 8;

/// Most fields of one stored record (a config has 10 kinds, the coefficients repeated).
const MAX_FIELDS: usize = 16 + MAX_COAL;

/// A record's tagged fields ([`format::get_fields`]), at most [`MAX_FIELDS`].
fn get_fields<'a>(r: &mut Reader<'a>, what: &str) -> Result<Vec<(u8, &'a [u8])>> {
    format::get_fields(r, MAX_FIELDS, what)
}

fn text(b: &[u8], what: &str) -> Result<String> {
    std::str::from_utf8(b)
        .map(str::to_string)
        .map_err(|_| Error::corrupt(format!("{what} is not UTF-8")))
}

fn fixed<const N: usize>(b: &[u8], what: &str) -> Result<[u8; N]> {
    b.try_into()
        .map_err(|_| Error::corrupt(format!("{what} has {} bytes, not {N}", b.len())))
}

fn s(v: &str) -> Vec<u8> {
    v.as_bytes().to_vec()
}

fn i64b(v: i64) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}

fn encode_enterprise(e: &Enterprise, out: &mut Vec<u8>) {
    format::put_fields(
        out,
        &[
            (1, s(&e.credit_code)),
            (2, s(&e.name)),
            (3, s(&e.region_code)),
            (4, s(&e.industry)),
            (5, s(&e.address)),
        ],
    );
}

fn decode_enterprise(r: &mut Reader<'_>) -> Result<Enterprise> {
    let mut e = Enterprise::default();
    for (tag, b) in get_fields(r, "enterprise")? {
        match tag {
            1 => e.credit_code = text(b, "credit code")?,
            2 => e.name = text(b, "enterprise name")?,
            3 => e.region_code = text(b, "region code")?,
            4 => e.industry = text(b, "industry")?,
            5 => e.address = text(b, "address")?,
            _ => {} // a field of a newer version
        }
    }
    Ok(e)
}

fn encode_device(d: &Device, out: &mut Vec<u8>) {
    let mut f = vec![
        (1, s(&d.id)),
        (2, vec![d.kind.code()]),
        (3, s(&d.name)),
        (4, s(&d.model)),
        (5, s(&d.serial)),
    ];
    if let Some(t) = d.installed_at {
        f.push((6, i64b(t)));
    }
    format::put_fields(out, &f);
}

fn decode_device(r: &mut Reader<'_>) -> Result<Device> {
    let mut d = Device::default();
    for (tag, b) in get_fields(r, "device")? {
        match tag {
            1 => d.id = text(b, "device id")?,
            2 => {
                let [k] = fixed::<1>(b, "device kind")?;
                d.kind = DeviceKind::from_code(k)
                    .ok_or_else(|| Error::corrupt(format!("unknown device kind {k}")))?;
            }
            3 => d.name = text(b, "device name")?,
            4 => d.model = text(b, "device model")?,
            5 => d.serial = text(b, "device serial")?,
            6 => d.installed_at = Some(i64::from_le_bytes(fixed(b, "installed at")?)),
            _ => {}
        }
    }
    Ok(d)
}

fn encode_config(c: &CollectionConfig, out: &mut Vec<u8>) {
    let mut f = vec![
        (1, s(&c.point_key)),
        (2, s(&c.data_item.to_string())),
        (3, vec![c.kind.code()]),
        (4, s(&c.energy_type)),
        (5, s(&c.unit)),
    ];
    if let Some(p) = c.precision {
        f.push((6, vec![p]));
    }
    if let Some(i) = c.interval_ms {
        f.push((7, i64b(i)));
    }
    let mut m = Vec::new();
    put_f64(&mut m, c.multiplier);
    f.push((8, m));
    for k in &c.coal {
        let mut b = i64b(k.from);
        put_i64(&mut b, k.to.unwrap_or(i64::MIN));
        put_f64(&mut b, k.kgce_per_unit);
        f.push((9, b));
    }
    if let Some(d) = &c.device {
        f.push((10, s(d)));
    }
    format::put_fields(out, &f);
}

fn decode_config(r: &mut Reader<'_>) -> Result<CollectionConfig> {
    let mut key = None;
    let mut code = None;
    let mut kind = PointKind::Gauge;
    let mut c = CollectionConfig {
        point_key: String::new(),
        data_item: DataItemCode {
            energy_type: 0,
            stage: ProcessStage::Purchase,
            unit_code: 0,
            object_type: ObjectType::Unit,
            object_code: 0,
            item_type: 0,
        },
        kind,
        energy_type: String::new(),
        unit: String::new(),
        precision: None,
        interval_ms: None,
        multiplier: 1.0,
        coal: Vec::new(),
        device: None,
    };
    for (tag, b) in get_fields(r, "config")? {
        match tag {
            1 => key = Some(text(b, "point key")?),
            2 => {
                let t = text(b, "data-item code")?;
                code = Some(
                    DataItemCode::parse(&t)
                        .map_err(|e| Error::corrupt(format!("stored data-item code: {e}")))?,
                );
            }
            3 => {
                let [k] = fixed::<1>(b, "point kind")?;
                kind = PointKind::from_code(k)
                    .ok_or_else(|| Error::corrupt(format!("unknown point kind {k}")))?;
            }
            4 => c.energy_type = text(b, "energy type")?,
            5 => c.unit = text(b, "unit")?,
            6 => c.precision = Some(fixed::<1>(b, "precision")?[0]),
            7 => c.interval_ms = Some(i64::from_le_bytes(fixed(b, "interval")?)),
            8 => c.multiplier = f64::from_le_bytes(fixed(b, "multiplier")?),
            9 => {
                let v: [u8; 24] = fixed(b, "coal coefficient")?;
                let from = i64::from_le_bytes(fixed(&v[..8], "coal from")?);
                let to = i64::from_le_bytes(fixed(&v[8..16], "coal to")?);
                let k = f64::from_le_bytes(fixed(&v[16..], "coal value")?);
                c.coal.push(CoalCoefficient {
                    from,
                    to: (to != i64::MIN).then_some(to),
                    kgce_per_unit: k,
                });
            }
            10 => c.device = Some(text(b, "device id")?),
            _ => {}
        }
    }
    c.point_key = key.ok_or_else(|| Error::corrupt("config without a point key"))?;
    c.data_item = code.ok_or_else(|| Error::corrupt("config without a data-item code"))?;
    c.kind = kind;
    Ok(c)
}

fn encode_history(h: &AppliedVersion, out: &mut Vec<u8>) {
    put_u64(out, h.version);
    put_u64(out, h.base_version);
    put_i64(out, h.applied_at);
    out.push(u8::from(h.full));
    put_uvarint(out, h.changes);
    put_uvarint(out, h.devices);
    put_uvarint(out, h.configs);
}

fn decode_history(r: &mut Reader<'_>) -> Result<AppliedVersion> {
    Ok(AppliedVersion {
        version: r.u64("history version")?,
        base_version: r.u64("history base version")?,
        applied_at: r.i64("history time")?,
        full: match r.u8("history mode")? {
            0 => false,
            1 => true,
            m => return Err(r.corrupt_here(format!("unknown history mode {m}"))),
        },
        changes: r.uvarint("history changes")?,
        devices: r.uvarint("history devices")?,
        configs: r.uvarint("history configs")?,
    })
}

impl UnitCatalog {
    /// Serializes the catalog as a file: header (magic, format version, body length), body,
    /// CRC-32 of everything before it (see `docs/format/unit-catalog.md`).
    pub fn encode_file(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(256 + 96 * (self.devices.len() + self.configs.len()));
        put_u64(&mut body, self.version);
        encode_enterprise(&self.enterprise, &mut body);
        put_uvarint(&mut body, self.devices.len() as u64);
        for d in self.devices.values() {
            encode_device(d, &mut body);
        }
        put_uvarint(&mut body, self.configs.len() as u64);
        for c in self.configs.values() {
            encode_config(c, &mut body);
        }
        put_uvarint(&mut body, self.history.len() as u64);
        for h in &self.history {
            encode_history(h, &mut body);
        }
        let mut out = Vec::with_capacity(UNIT_HEADER_LEN + body.len() + 4);
        out.extend_from_slice(UNIT_MAGIC);
        put_u32(&mut out, UNIT_FORMAT_VERSION);
        put_u64(&mut out, body.len() as u64);
        out.extend_from_slice(&body);
        let crc = format::crc32(&[&out]);
        put_u32(&mut out, crc);
        out
    }

    /// Parses a unit catalog file, and checks what it holds as [`UnitCatalog::validate`]
    /// does. Any damage (truncation, a flipped bit, a wrong length) is a corruption error
    /// (with the offset where it was found), never a panic; a newer format version is
    /// [`Error::UnsupportedVersion`].
    pub fn decode_file(buf: &[u8]) -> Result<UnitCatalog> {
        if buf.len() < UNIT_HEADER_LEN + 4 {
            return Err(Error::corrupt(format!(
                "unit catalog file of {} bytes is too short",
                buf.len()
            )));
        }
        let mut r = Reader::new(buf);
        if r.take(8, "magic")? != UNIT_MAGIC {
            return Err(Error::corrupt("not a unit catalog file (bad magic)"));
        }
        let version = r.u32("format version")?;
        let len = r.u64("body length")?;
        if version != UNIT_FORMAT_VERSION {
            return Err(Error::UnsupportedVersion {
                file: std::path::PathBuf::new(),
                version,
            });
        }
        let want = (buf.len() - UNIT_HEADER_LEN - 4) as u64;
        if len != want {
            return Err(Error::Corruption {
                file: None,
                offset: Some(12),
                msg: format!("body length {len} does not match the file ({want} bytes)"),
            });
        }
        let (all, crc) = buf.split_at(buf.len() - 4);
        if format::crc32(&[all]) != u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]) {
            return Err(Error::Corruption {
                file: None,
                offset: Some(all.len() as u64),
                msg: "unit catalog checksum mismatch".into(),
            });
        }
        let body = &all[UNIT_HEADER_LEN..];
        let mut r = Reader::new(body);
        let at = |e: Error| match e {
            Error::Corruption { file, offset, msg } => Error::Corruption {
                file,
                offset: Some(offset.unwrap_or(0) + UNIT_HEADER_LEN as u64),
                msg,
            },
            e => e,
        };
        let parse = |r: &mut Reader<'_>| -> Result<UnitCatalog> {
            let version = r.u64("catalog version")?;
            let enterprise = decode_enterprise(r)?;
            let n = r.len(body.len(), "device count")?;
            let mut devices = BTreeMap::new();
            for _ in 0..n {
                let d = decode_device(r)?;
                if devices.insert(d.id.clone(), d).is_some() {
                    return Err(r.corrupt_here("a device id is stored twice"));
                }
            }
            let n = r.len(body.len(), "config count")?;
            let mut configs = BTreeMap::new();
            for _ in 0..n {
                let c = decode_config(r)?;
                if configs.insert(c.point_key.clone(), c).is_some() {
                    return Err(r.corrupt_here("a point's config is stored twice"));
                }
            }
            let n = r.len(HISTORY_KEEP, "history length")?;
            let mut history = Vec::with_capacity(n);
            for _ in 0..n {
                history.push(decode_history(r)?);
            }
            if !r.is_empty() {
                return Err(r.corrupt_here("trailing bytes after the unit catalog"));
            }
            Ok(UnitCatalog {
                version,
                enterprise,
                devices,
                configs,
                history,
            })
        };
        let c = parse(&mut r).map_err(at)?;
        c.validate()
            .map_err(|e| Error::corrupt(format!("stored unit catalog is invalid: {e}")))?;
        Ok(c)
    }
}
