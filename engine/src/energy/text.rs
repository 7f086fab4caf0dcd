//! The text form of a dictionary update (UTF-8 lines, TAB-separated fields):
//! [`UnitCatalogUpdate::parse_text`] and [`UnitCatalogUpdate::to_text`], the form the C
//! ABI takes.

use crate::{Error, PointKind, Result, Timestamp};

use super::catalog::{UnitCatalogUpdate, UpdateMode};
use super::codes::DataItemCode;
use super::records::{CoalCoefficient, CollectionConfig, Device, DeviceKind, Enterprise};

/// First line of the text form.
pub const TEXT_HEADER: &str = "meterdb-unit-catalog 1";

fn opt_field(s: &str) -> Option<&str> {
    if s.is_empty() || s == "-" {
        None
    } else {
        Some(s)
    }
}

impl UnitCatalogUpdate {
    /// Parses the text form of an update: UTF-8 lines, fields separated by TAB, `#` starts a
    /// comment line, blank lines are skipped; `-` or an empty field is "none".
    ///
    /// ```text
    /// meterdb-unit-catalog 1
    /// base        <version it applies on, 0 for the first>
    /// version     <version it makes>
    /// mode        full | delta
    /// enterprise  <credit code> <name> <region code> <industry> <address>
    /// device      <id> <gateway|collector|meter> <name> <model> <serial> <installed at>
    /// config      <point key> <data-item code> <counter|gauge> <energy type> <unit>
    ///             <precision> <interval ms> <multiplier> <device id> <coal>
    /// remove-device  <id>
    /// remove-config  <point key>
    /// ```
    ///
    /// (each line is one line; the keyword and every field are separated by one TAB).
    /// Times are ms since the epoch or RFC 3339. `<coal>` is a comma-separated list of
    /// `from/to/kgce` (`to` is `-` when open), e.g. `2025-01-01T00:00:00+08:00/-/0.1229`.
    /// An empty `<energy type>` takes the data-item code's. Errors name the line.
    pub fn parse_text(src: &str) -> Result<UnitCatalogUpdate> {
        let mut u = UnitCatalogUpdate {
            mode: UpdateMode::Delta,
            ..Default::default()
        };
        let (mut have_header, mut have_base, mut have_version, mut have_mode) =
            (false, false, false, false);
        for (no, line) in src.lines().enumerate() {
            let no = no + 1;
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let err = |m: String| Error::invalid(format!("unit catalog text, line {no}: {m}"));
            if !have_header {
                if line.trim() != TEXT_HEADER {
                    return Err(err(format!("expected the header {TEXT_HEADER:?}")));
                }
                have_header = true;
                continue;
            }
            let mut f: Vec<&str> = line.split('\t').collect();
            if f.len() == 1 {
                f = line.split_whitespace().collect();
            }
            let want = |n: usize| -> Result<()> {
                if f.len() != n {
                    return Err(err(format!(
                        "{}: expected {} fields after the keyword, found {}",
                        f[0],
                        n - 1,
                        f.len() - 1
                    )));
                }
                Ok(())
            };
            let num = |s: &str, what: &str| -> Result<u64> {
                s.parse::<u64>()
                    .map_err(|_| err(format!("{what} {s:?} is not a whole number")))
            };
            let ts = |s: &str| -> Result<Timestamp> {
                crate::time::parse_timestamp(s).map_err(|e| err(e.to_string()))
            };
            match f[0] {
                "base" => {
                    want(2)?;
                    u.base_version = num(f[1], "base version")?;
                    have_base = true;
                }
                "version" => {
                    want(2)?;
                    u.version = num(f[1], "version")?;
                    have_version = true;
                }
                "mode" => {
                    want(2)?;
                    u.mode = match f[1] {
                        "full" => UpdateMode::Full,
                        "delta" => UpdateMode::Delta,
                        m => return Err(err(format!("mode {m:?} is neither full nor delta"))),
                    };
                    have_mode = true;
                }
                "enterprise" => {
                    want(6)?;
                    if u.enterprise.is_some() {
                        return Err(err("a second enterprise line".into()));
                    }
                    u.enterprise = Some(Enterprise {
                        credit_code: f[1].into(),
                        name: f[2].into(),
                        region_code: f[3].into(),
                        industry: opt_field(f[4]).unwrap_or("").into(),
                        address: opt_field(f[5]).unwrap_or("").into(),
                    });
                }
                "device" => {
                    want(7)?;
                    u.devices.push(Device {
                        id: f[1].into(),
                        kind: DeviceKind::parse(f[2]).map_err(|e| err(e.to_string()))?,
                        name: opt_field(f[3]).unwrap_or("").into(),
                        model: opt_field(f[4]).unwrap_or("").into(),
                        serial: opt_field(f[5]).unwrap_or("").into(),
                        installed_at: opt_field(f[6]).map(ts).transpose()?,
                    });
                }
                "config" => {
                    want(11)?;
                    let code = DataItemCode::parse(f[2]).map_err(|e| err(e.to_string()))?;
                    let kind = PointKind::parse(f[3]).map_err(|e| err(e.to_string()))?;
                    let precision = opt_field(f[6])
                        .map(|p| {
                            p.parse::<u8>()
                                .map_err(|_| err(format!("precision {p:?} is not 0-255")))
                        })
                        .transpose()?;
                    let interval_ms = opt_field(f[7])
                        .map(|p| {
                            p.parse::<i64>()
                                .map_err(|_| err(format!("interval {p:?} is not a number")))
                        })
                        .transpose()?;
                    let multiplier = match opt_field(f[8]) {
                        None => 1.0,
                        Some(m) => m
                            .parse::<f64>()
                            .map_err(|_| err(format!("multiplier {m:?} is not a number")))?,
                    };
                    let mut coal = Vec::new();
                    if let Some(list) = opt_field(f[10]) {
                        for item in list.split(',') {
                            let p: Vec<&str> = item.split('/').collect();
                            if p.len() != 3 {
                                return Err(err(format!(
                                    "coal coefficient {item:?} is not from/to/kgce"
                                )));
                            }
                            coal.push(CoalCoefficient {
                                from: ts(p[0])?,
                                to: opt_field(p[1]).map(ts).transpose()?,
                                kgce_per_unit: p[2].parse::<f64>().map_err(|_| {
                                    err(format!("coal coefficient {:?} is not a number", p[2]))
                                })?,
                            });
                        }
                    }
                    u.configs.push(CollectionConfig {
                        point_key: f[1].into(),
                        data_item: code,
                        kind,
                        energy_type: opt_field(f[4])
                            .map_or_else(|| code.energy_type_code(), str::to_string),
                        unit: opt_field(f[5]).unwrap_or("").into(),
                        precision,
                        interval_ms,
                        multiplier,
                        coal,
                        device: opt_field(f[9]).map(str::to_string),
                    });
                }
                "remove-device" => {
                    want(2)?;
                    u.remove_devices.push(f[1].into());
                }
                "remove-config" => {
                    want(2)?;
                    u.remove_configs.push(f[1].into());
                }
                k => return Err(err(format!("unknown keyword {k:?}"))),
            }
        }
        if !have_header {
            return Err(Error::invalid(format!(
                "unit catalog text is empty (it starts with {TEXT_HEADER:?})"
            )));
        }
        for (have, what) in [
            (have_base, "base"),
            (have_version, "version"),
            (have_mode, "mode"),
        ] {
            if !have {
                return Err(Error::invalid(format!(
                    "unit catalog text has no {what} line"
                )));
            }
        }
        Ok(u)
    }

    /// Writes the update in the text form [`UnitCatalogUpdate::parse_text`] reads (times as
    /// ms). Text fields must not hold TAB or newlines (record checks refuse them anyway).
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let o = |s: &str| {
            if s.is_empty() {
                "-".to_string()
            } else {
                s.to_string()
            }
        };
        let on = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        let mut t = String::new();
        let _ = writeln!(t, "{TEXT_HEADER}");
        let _ = writeln!(t, "base\t{}", self.base_version);
        let _ = writeln!(t, "version\t{}", self.version);
        let mode = match self.mode {
            UpdateMode::Full => "full",
            UpdateMode::Delta => "delta",
        };
        let _ = writeln!(t, "mode\t{mode}");
        if let Some(e) = &self.enterprise {
            let _ = writeln!(
                t,
                "enterprise\t{}\t{}\t{}\t{}\t{}",
                e.credit_code,
                e.name,
                e.region_code,
                o(&e.industry),
                o(&e.address)
            );
        }
        for d in &self.devices {
            let _ = writeln!(
                t,
                "device\t{}\t{}\t{}\t{}\t{}\t{}",
                d.id,
                d.kind.as_str(),
                o(&d.name),
                o(&d.model),
                o(&d.serial),
                on(d.installed_at.map(|v| v.to_string()))
            );
        }
        for c in &self.configs {
            let coal: Vec<String> = c
                .coal
                .iter()
                .map(|k| {
                    format!(
                        "{}/{}/{}",
                        k.from,
                        on(k.to.map(|v| v.to_string())),
                        k.kgce_per_unit
                    )
                })
                .collect();
            let _ = writeln!(
                t,
                "config\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                c.point_key,
                c.data_item,
                c.kind.as_str(),
                o(&c.energy_type),
                o(&c.unit),
                on(c.precision.map(|v| v.to_string())),
                on(c.interval_ms.map(|v| v.to_string())),
                c.multiplier,
                on(c.device.clone()),
                if coal.is_empty() {
                    "-".into()
                } else {
                    coal.join(",")
                }
            );
        }
        for d in &self.remove_devices {
            let _ = writeln!(t, "remove-device\t{d}");
        }
        for k in &self.remove_configs {
            let _ = writeln!(t, "remove-config\t{k}");
        }
        t
    }
}
