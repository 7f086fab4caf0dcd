//! The meters of a key energy-consuming unit of one industry, as the gateway collects them.
//!
//! Every reading is a pure function of (seed, point, timestamp), so a test can recompute
//! exactly what a gateway collected, whatever it was interrupted by. Registers rise with a
//! daily load cycle and noise; gauges swing around a level; some points have gaps (whole
//! hours missing); one register is replaced during the run (its reading drops to near zero
//! and counts on from there).
//!
//! A point's data code (`dataCode`) is the engine's 16-digit data-item code
//! ([`meterdb::DataItemCode`]): energy type (4 digits), process stage (1), energy-using unit
//! (3: the production unit), collection-object type (1: `5`, a metering instrument),
//! collection-object code (3: the point's sequence in its production unit) and data-item
//! type (4: this example's item types, [`ITEM_TYPES`]: `0001` a consumption register, `0002`
//! a production or throughput register, `0003` an instantaneous reading). The energy type
//! codes and the standard-coal coefficients follow GB/T 2589 (equivalent values); the code
//! numbers are this example's own, not an official dictionary.

use meterdb::{DataItemCode, ObjectType, PointKind, PointMeta, ProcessStage};

use crate::sim::Rng;

/// Standard-coal coefficients are valid from 2000-01-01 (+08:00) in this example.
pub const COAL_VALID_FROM: i64 = 946_656_000_000;

/// An energy type: code, name, unit, standard-coal coefficient (kgce per unit; 0 when the
/// quantity is not an energy carrier).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EnergyType {
    /// Four-digit code.
    pub code: &'static str,
    /// Name.
    pub name: &'static str,
    /// Unit of the readings.
    pub unit: &'static str,
    /// kgce per unit (GB/T 2589 equivalent values); 0 for a process parameter.
    pub kgce_per_unit: f64,
}

/// The energy types known to this example's dictionary.
pub const ENERGY_TYPES: &[EnergyType] = &[
    EnergyType {
        code: "0100",
        name: "raw coal",
        unit: "t",
        kgce_per_unit: 714.3,
    },
    EnergyType {
        code: "1100",
        name: "crude oil",
        unit: "t",
        kgce_per_unit: 1428.6,
    },
    EnergyType {
        code: "1300",
        name: "coke",
        unit: "t",
        kgce_per_unit: 971.4,
    },
    EnergyType {
        code: "2000",
        name: "natural gas",
        unit: "m3",
        kgce_per_unit: 1.2143,
    },
    EnergyType {
        code: "3100",
        name: "blast-furnace gas",
        unit: "m3",
        kgce_per_unit: 0.1286,
    },
    EnergyType {
        code: "3200",
        name: "refinery fuel gas",
        unit: "t",
        kgce_per_unit: 1571.4,
    },
    EnergyType {
        code: "3300",
        name: "electricity",
        unit: "kWh",
        kgce_per_unit: 0.1229,
    },
    EnergyType {
        code: "3400",
        name: "oxygen",
        unit: "m3",
        kgce_per_unit: 0.4,
    },
    EnergyType {
        code: "3500",
        name: "steam",
        unit: "GJ",
        kgce_per_unit: 34.12,
    },
    EnergyType {
        code: "3600",
        name: "fresh water",
        unit: "t",
        kgce_per_unit: 0.0857,
    },
    EnergyType {
        code: "9110",
        name: "product: hot metal",
        unit: "t",
        kgce_per_unit: 0.0,
    },
    EnergyType {
        code: "9120",
        name: "product: crude steel",
        unit: "t",
        kgce_per_unit: 0.0,
    },
    EnergyType {
        code: "9130",
        name: "product: castings",
        unit: "t",
        kgce_per_unit: 0.0,
    },
    EnergyType {
        code: "9900",
        name: "process parameter",
        unit: "",
        kgce_per_unit: 0.0,
    },
];

/// The energy type of a code.
pub fn energy_type(code: &str) -> Option<&'static EnergyType> {
    ENERGY_TYPES.iter().find(|e| e.code == code)
}

/// What a point measures, as the data-item type (digits 13-16) of its code says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// A register of energy consumed (item type `0001`).
    Consumption,
    /// A register of output or throughput (`0002`).
    Production,
    /// An instantaneous reading (`0003`).
    Instant,
}

/// The data-item types of this example's dictionary: (code, name, statistic kept per bucket).
pub const ITEM_TYPES: &[(u16, &str, &str)] = &[
    (1, "consumption register", "consumption"),
    (2, "production or throughput register", "consumption"),
    (3, "instantaneous reading", "mean"),
];

impl Measure {
    /// The data-item type of a code with this measure.
    pub fn item_type(self) -> u16 {
        match self {
            Measure::Consumption => 1,
            Measure::Production => 2,
            Measure::Instant => 3,
        }
    }
    /// The measure of a data-item type.
    pub fn from_item_type(t: u16) -> Option<Measure> {
        match t {
            1 => Some(Measure::Consumption),
            2 => Some(Measure::Production),
            3 => Some(Measure::Instant),
            _ => None,
        }
    }
    /// The process stage of this example's codes: end use for consumption, processing and
    /// conversion for production and process readings.
    pub fn stage(self) -> ProcessStage {
        match self {
            Measure::Consumption => ProcessStage::EndUse,
            _ => ProcessStage::Conversion,
        }
    }
    /// `counter` or `gauge`.
    pub fn kind(self) -> PointKind {
        match self {
            Measure::Instant => PointKind::Gauge,
            _ => PointKind::Counter,
        }
    }
}

/// A data code, decoded, with the dictionary entries it names.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DataCode {
    /// The 16-digit code's fields.
    pub item: DataItemCode,
    /// Energy type (digits 1-4).
    pub energy: &'static EnergyType,
    /// Measure (the data-item type, digits 13-16).
    pub measure: Measure,
}

impl DataCode {
    /// The code of a point of production unit `unit_no` (1-999), sequence `seq` (1-999).
    pub fn new(energy: &'static EnergyType, measure: Measure, unit_no: u16, seq: u16) -> DataCode {
        DataCode {
            item: DataItemCode {
                energy_type: energy.code.parse().unwrap_or(0),
                stage: measure.stage(),
                unit_code: unit_no.min(999),
                object_type: ObjectType::Instrument,
                object_code: seq.min(999),
                item_type: measure.item_type(),
            },
            energy,
            measure,
        }
    }
    /// Decodes a 16-digit data code against this example's dictionary; the error says
    /// what is wrong.
    pub fn parse(s: &str) -> Result<DataCode, String> {
        let item = DataItemCode::parse(s).map_err(|e| {
            e.to_string()
                .trim_start_matches("invalid argument: ")
                .to_string()
        })?;
        let e = item.energy_type_code();
        let energy = energy_type(&e).ok_or_else(|| {
            format!("{s:?}: energy type {e:?} (digits 1-4) is not in the dictionary")
        })?;
        let measure = Measure::from_item_type(item.item_type).ok_or_else(|| {
            format!(
                "{s:?}: data-item type {:04} (digits 13-16) is not in the dictionary (0001-0003)",
                item.item_type
            )
        })?;
        Ok(DataCode {
            item,
            energy,
            measure,
        })
    }
    /// Production unit number (digits 6-8).
    pub fn unit_no(&self) -> u16 {
        self.item.unit_code
    }
    /// Sequence in the production unit (digits 10-12).
    pub fn seq(&self) -> u16 {
        self.item.object_code
    }
    /// The code's 16 digits.
    pub fn text(&self) -> String {
        self.item.to_string()
    }
    /// The MeterDB metadata of a point with this code, under `key`.
    pub fn meta(&self, key: String) -> PointMeta {
        let mut m = PointMeta::new(key, self.measure.kind())
            .with_unit(self.energy.unit)
            .with_energy_type(self.energy.code)
            .with_tag("itemType", format!("{:04}", self.item.item_type));
        if self.measure == Measure::Consumption && self.energy.kgce_per_unit > 0.0 {
            m = m.with_coal_coefficient(COAL_VALID_FROM, self.energy.kgce_per_unit);
        }
        m
    }
}

/// An industry's sub-scope: the kind of key energy-consuming unit a simulated plant is.
/// `power`, `steel` and `petrochemical` name the first sub-scope of their industry (thermal
/// generation, integrated works, refining), as before sub-scopes existed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Industry {
    /// Power: a coal-fired power plant (thermal generation).
    Power,
    /// Power: a power supply company (electricity received and delivered).
    PowerSupply,
    /// Power: heat production and supply.
    HeatSupply,
    /// Steel: an integrated steel works.
    Steel,
    /// Steel: ironmaking (blast furnaces).
    Ironmaking,
    /// Steel: steelmaking (converters).
    Steelmaking,
    /// Steel: coking.
    Coking,
    /// Steel: casting.
    Casting,
    /// Petrochemical: a refinery.
    Petrochemical,
    /// Petrochemical: oil and gas extraction.
    OilGasExtraction,
}

/// What an indicator term takes of a point's day: its consumption (increase) in its own
/// unit, or that converted to standard coal (kgce, with the point's coefficient).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantity {
    /// The register's increase, in its unit (t, kWh, GJ, m3...).
    Amount,
    /// The register's increase in kgce.
    Kgce,
}

/// A term of an indicator: `factor` times the quantity of the points at template sequence
/// `seq` (digits 10-12 of the data code), summed over every production unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Term {
    /// Sequence of the point in its production unit.
    pub seq: u16,
    /// Amount or kgce.
    pub quantity: Quantity,
    /// Factor (a sign, a unit conversion).
    pub factor: f64,
}

const fn kgce(seq: u16) -> Term {
    Term {
        seq,
        quantity: Quantity::Kgce,
        factor: 1.0,
    }
}

const fn amount(seq: u16, factor: f64) -> Term {
    Term {
        seq,
        quantity: Quantity::Amount,
        factor,
    }
}

/// An industry indicator: Σ numerator terms / Σ denominator terms, over a day or a range of
/// days, from the day tier.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IndicatorDef {
    /// Short name (stable, used in the API).
    pub code: &'static str,
    /// What it is.
    pub name: &'static str,
    /// Its unit.
    pub unit: &'static str,
    /// Numerator terms.
    pub numerator: &'static [Term],
    /// Denominator terms.
    pub denominator: &'static [Term],
}

/// Every sub-scope, industry by industry.
pub const INDUSTRIES: [Industry; 10] = [
    Industry::Power,
    Industry::PowerSupply,
    Industry::HeatSupply,
    Industry::Steel,
    Industry::Ironmaking,
    Industry::Steelmaking,
    Industry::Coking,
    Industry::Casting,
    Industry::Petrochemical,
    Industry::OilGasExtraction,
];

/// A point of a template: (name, energy code, measure, decimals, rate per hour for a
/// register or level for a gauge (negative: that fraction of the previous point's), gappy).
type TemplatePoint = (&'static str, &'static str, Measure, u32, f64, bool);

impl Industry {
    /// Parses a sub-scope's name ([`Industry::as_str`]; `thermal-power`, `integrated-steel`
    /// and `refining` are also taken for `power`, `steel`, `petrochemical`).
    pub fn parse(s: &str) -> Result<Industry, String> {
        let alias = match s {
            "thermal-power" => "power",
            "integrated-steel" => "steel",
            "refining" => "petrochemical",
            s => s,
        };
        INDUSTRIES
            .iter()
            .copied()
            .find(|i| i.as_str() == alias)
            .ok_or_else(|| {
                let all: Vec<&str> = INDUSTRIES.iter().map(|i| i.as_str()).collect();
                format!("unknown industry {s:?}: use one of {}", all.join(", "))
            })
    }
    /// The sub-scope's name: `power` (thermal generation), `power-supply`, `heat-supply`,
    /// `steel` (integrated works), `ironmaking`, `steelmaking`, `coking`, `casting`,
    /// `petrochemical` (refining), `oil-gas-extraction`.
    pub fn as_str(self) -> &'static str {
        match self {
            Industry::Power => "power",
            Industry::PowerSupply => "power-supply",
            Industry::HeatSupply => "heat-supply",
            Industry::Steel => "steel",
            Industry::Ironmaking => "ironmaking",
            Industry::Steelmaking => "steelmaking",
            Industry::Coking => "coking",
            Industry::Casting => "casting",
            Industry::Petrochemical => "petrochemical",
            Industry::OilGasExtraction => "oil-gas-extraction",
        }
    }
    /// The industry: `power`, `steel` or `petrochemical`.
    pub fn sector(self) -> &'static str {
        use Industry::*;
        match self {
            Power | PowerSupply | HeatSupply => "power",
            Steel | Ironmaking | Steelmaking | Coking | Casting => "steel",
            Petrochemical | OilGasExtraction => "petrochemical",
        }
    }
    /// The sub-scope in words.
    pub fn scope_name(self) -> &'static str {
        match self {
            Industry::Power => "thermal power generation",
            Industry::PowerSupply => "power supply",
            Industry::HeatSupply => "heat production and supply",
            Industry::Steel => "integrated iron and steel works",
            Industry::Ironmaking => "ironmaking",
            Industry::Steelmaking => "steelmaking",
            Industry::Coking => "coking",
            Industry::Casting => "casting",
            Industry::Petrochemical => "crude oil refining",
            Industry::OilGasExtraction => "oil and gas extraction",
        }
    }
    /// The classification code (GB/T 4754-2017) of the simulated unit.
    pub fn classification(self) -> &'static str {
        match self {
            Industry::Power => "D4411",
            Industry::PowerSupply => "D4420",
            Industry::HeatSupply => "D4430",
            Industry::Steel => "C3120",
            Industry::Ironmaking => "C3110",
            Industry::Steelmaking => "C3120",
            Industry::Coking => "C2521",
            Industry::Casting => "C3391",
            Industry::Petrochemical => "C2511",
            Industry::OilGasExtraction => "B0711",
        }
    }
    /// Points of one production unit of this sub-scope's simulated plant.
    pub fn points_per_unit(self) -> usize {
        self.template().len()
    }
    /// The template index of the meter with this code (production units repeat the
    /// industry's points), when the code is one of this industry's.
    pub fn meter_index(self, code: &DataCode) -> Option<usize> {
        let tpl = self.template();
        let (u, q) = (usize::from(code.unit_no()), usize::from(code.seq()));
        if u == 0 || q == 0 || q > tpl.len() {
            return None;
        }
        let (_, energy, measure, ..) = tpl[q - 1];
        (energy == code.energy.code && measure == code.measure)
            .then_some((u - 1) * tpl.len() + q - 1)
    }
    /// The industry indicators the platform computes for a unit of this sub-scope, from
    /// the day tier (the terms name this sub-scope's template sequences).
    pub fn indicators(self) -> &'static [IndicatorDef] {
        match self {
            Industry::Power => {
                const D: &[IndicatorDef] = &[
                    IndicatorDef {
                        code: "supplyCoalRate",
                        name: "standard coal per kWh supplied (generation less auxiliary power)",
                        unit: "gce/kWh",
                        numerator: &[Term {
                            seq: 3,
                            quantity: Quantity::Kgce,
                            factor: 1000.0,
                        }],
                        denominator: &[amount(1, 1.0), amount(2, -1.0)],
                    },
                    IndicatorDef {
                        code: "auxiliaryPowerRate",
                        name: "auxiliary power as a share of generation",
                        unit: "%",
                        numerator: &[amount(2, 100.0)],
                        denominator: &[amount(1, 1.0)],
                    },
                ];
                D
            }
            Industry::PowerSupply => {
                const D: &[IndicatorDef] = &[IndicatorDef {
                    code: "lineLossRate",
                    name: "line loss: electricity received less delivered, as a share of received",
                    unit: "%",
                    numerator: &[amount(1, 100.0), amount(2, -100.0)],
                    denominator: &[amount(1, 1.0)],
                }];
                D
            }
            Industry::HeatSupply => {
                const D: &[IndicatorDef] = &[IndicatorDef {
                    code: "energyPerGjHeat",
                    name: "energy per GJ of heat supplied",
                    unit: "kgce/GJ",
                    numerator: &[kgce(2), kgce(3), kgce(4), kgce(5)],
                    denominator: &[amount(1, 1.0)],
                }];
                D
            }
            Industry::Steel => {
                const D: &[IndicatorDef] = &[IndicatorDef {
                    code: "energyPerTonneSteel",
                    name: "comprehensive energy per tonne of crude steel",
                    unit: "kgce/t",
                    numerator: &[kgce(1), kgce(2), kgce(3), kgce(4), kgce(5)],
                    denominator: &[amount(8, 1.0)],
                }];
                D
            }
            Industry::Ironmaking => {
                const D: &[IndicatorDef] = &[IndicatorDef {
                    code: "energyPerTonneIron",
                    name: "energy per tonne of hot metal",
                    unit: "kgce/t",
                    numerator: &[kgce(2), kgce(3), kgce(4), kgce(5)],
                    denominator: &[amount(1, 1.0)],
                }];
                D
            }
            Industry::Steelmaking => {
                const D: &[IndicatorDef] = &[IndicatorDef {
                    code: "energyPerTonneSteel",
                    name: "steelmaking process energy per tonne of crude steel",
                    unit: "kgce/t",
                    numerator: &[kgce(2), kgce(3), kgce(4), kgce(5)],
                    denominator: &[amount(1, 1.0)],
                }];
                D
            }
            Industry::Coking => {
                const D: &[IndicatorDef] = &[IndicatorDef {
                    code: "energyPerTonneCoke",
                    name: "process energy per tonne of coke (coal charged excluded)",
                    unit: "kgce/t",
                    numerator: &[kgce(2), kgce(3), kgce(4)],
                    denominator: &[amount(1, 1.0)],
                }];
                D
            }
            Industry::Casting => {
                const D: &[IndicatorDef] = &[IndicatorDef {
                    code: "energyPerTonneCastings",
                    name: "energy per tonne of good castings",
                    unit: "kgce/t",
                    numerator: &[kgce(2), kgce(3), kgce(4)],
                    denominator: &[amount(1, 1.0)],
                }];
                D
            }
            Industry::Petrochemical => {
                const D: &[IndicatorDef] = &[IndicatorDef {
                    code: "energyPerTonneCrude",
                    name: "energy per tonne of crude oil processed",
                    unit: "kgce/t",
                    numerator: &[kgce(2), kgce(3), kgce(4), kgce(5)],
                    denominator: &[amount(1, 1.0)],
                }];
                D
            }
            Industry::OilGasExtraction => {
                const D: &[IndicatorDef] = &[IndicatorDef {
                    code: "energyPerTonneOilEquivalent",
                    name: "energy per tonne of oil equivalent produced (1,255 m3 of gas = 1 t)",
                    unit: "kgce/toe",
                    numerator: &[kgce(3), kgce(4), kgce(5)],
                    denominator: &[amount(1, 1.0), amount(2, 1.0 / 1255.0)],
                }];
                D
            }
        }
    }
    /// The points of one production unit.
    fn template(self) -> &'static [TemplatePoint] {
        use Measure::*;
        match self {
            Industry::Power => &[
                ("generator output", "3300", Production, 1, 600_000.0, false),
                ("auxiliary power", "3300", Consumption, 1, 33_000.0, false),
                ("coal feed", "0100", Consumption, 2, 250.0, false),
                ("steam export", "3500", Production, 2, 900.0, false),
                ("makeup water", "3600", Consumption, 2, 80.0, true),
                (
                    "generator active power MW",
                    "9900",
                    Instant,
                    2,
                    600.0,
                    false,
                ),
                ("main steam pressure MPa", "9900", Instant, 2, 16.7, true),
            ],
            Industry::PowerSupply => &[
                (
                    "electricity received",
                    "3300",
                    Production,
                    1,
                    500_000.0,
                    false,
                ),
                // 95 % of what is received: a line loss of about 5 %.
                ("electricity delivered", "3300", Production, 1, -0.95, false),
                ("own use", "3300", Consumption, 1, 4_000.0, false),
                (
                    "transformer oil temperature C",
                    "9900",
                    Instant,
                    1,
                    55.0,
                    false,
                ),
                ("bus voltage kV", "9900", Instant, 2, 110.0, true),
            ],
            Industry::HeatSupply => &[
                ("heat supplied", "3500", Production, 2, 400.0, false),
                ("coal", "0100", Consumption, 2, 20.0, false),
                ("natural gas", "2000", Consumption, 1, 500.0, false),
                ("electricity", "3300", Consumption, 1, 3_000.0, false),
                ("makeup water", "3600", Consumption, 2, 30.0, true),
                (
                    "supply water temperature C",
                    "9900",
                    Instant,
                    1,
                    110.0,
                    false,
                ),
            ],
            Industry::Steel => &[
                ("coke", "1300", Consumption, 2, 60.0, false),
                (
                    "blast-furnace gas",
                    "3100",
                    Consumption,
                    0,
                    300_000.0,
                    false,
                ),
                ("oxygen", "3400", Consumption, 0, 20_000.0, true),
                ("electricity", "3300", Consumption, 1, 80_000.0, false),
                ("natural gas", "2000", Consumption, 1, 3_000.0, false),
                ("hot blast temperature C", "9900", Instant, 1, 1200.0, false),
                ("top pressure kPa", "9900", Instant, 1, 220.0, true),
                ("crude steel output", "9120", Production, 2, 200.0, false),
            ],
            Industry::Ironmaking => &[
                ("hot metal output", "9110", Production, 2, 300.0, false),
                ("coke", "1300", Consumption, 2, 110.0, false),
                (
                    "pulverized coal injected",
                    "0100",
                    Consumption,
                    2,
                    45.0,
                    false,
                ),
                ("oxygen", "3400", Consumption, 0, 15_000.0, true),
                ("electricity", "3300", Consumption, 1, 30_000.0, false),
                ("hot blast temperature C", "9900", Instant, 1, 1200.0, false),
                ("top pressure kPa", "9900", Instant, 1, 220.0, true),
            ],
            Industry::Steelmaking => &[
                ("crude steel output", "9120", Production, 2, 250.0, false),
                ("oxygen", "3400", Consumption, 0, 14_000.0, false),
                ("electricity", "3300", Consumption, 1, 20_000.0, false),
                ("natural gas", "2000", Consumption, 1, 1_500.0, true),
                ("steam", "3500", Consumption, 2, 20.0, false),
                (
                    "molten steel temperature C",
                    "9900",
                    Instant,
                    1,
                    1650.0,
                    false,
                ),
            ],
            Industry::Coking => &[
                ("coke produced", "1300", Production, 2, 150.0, false),
                ("heating gas", "3100", Consumption, 0, 120_000.0, false),
                ("electricity", "3300", Consumption, 1, 5_000.0, false),
                ("steam", "3500", Consumption, 2, 30.0, true),
                ("coking coal charged", "0100", Consumption, 2, 200.0, false),
                ("flue temperature C", "9900", Instant, 1, 1300.0, true),
            ],
            Industry::Casting => &[
                ("good castings", "9130", Production, 2, 20.0, false),
                ("electricity", "3300", Consumption, 1, 12_000.0, false),
                ("natural gas", "2000", Consumption, 1, 400.0, false),
                ("foundry coke", "1300", Consumption, 3, 1.5, true),
                ("melt temperature C", "9900", Instant, 1, 1450.0, false),
            ],
            Industry::Petrochemical => &[
                ("crude throughput", "1100", Production, 2, 1_000.0, false),
                ("fuel gas", "3200", Consumption, 3, 12.0, false),
                ("steam", "3500", Consumption, 2, 400.0, false),
                ("electricity", "3300", Consumption, 1, 40_000.0, false),
                ("natural gas", "2000", Consumption, 1, 5_000.0, true),
                (
                    "furnace outlet temperature C",
                    "9900",
                    Instant,
                    1,
                    360.0,
                    false,
                ),
                ("fuel gas flow t/h", "9900", Instant, 2, 12.0, true),
            ],
            Industry::OilGasExtraction => &[
                ("crude oil produced", "1100", Production, 2, 80.0, false),
                (
                    "natural gas produced",
                    "2000",
                    Production,
                    1,
                    20_000.0,
                    false,
                ),
                ("electricity", "3300", Consumption, 1, 15_000.0, false),
                ("natural gas used", "2000", Consumption, 1, 800.0, true),
                ("crude oil used", "1100", Consumption, 3, 0.5, false),
                ("wellhead pressure MPa", "9900", Instant, 2, 8.0, true),
            ],
        }
    }
}

/// One simulated meter.
#[derive(Debug, Clone)]
pub struct Meter {
    /// Its data code.
    pub code: DataCode,
    /// What it measures, in words.
    pub name: String,
    /// Decimal digits of its readings.
    pub decimals: u32,
    /// Rate per hour (register) or level (gauge).
    pub scale: f64,
    /// Whether whole hours go missing now and then.
    pub gappy: bool,
    /// For the replaced register: when the new meter was fitted.
    pub replaced_at: Option<i64>,
    base: f64,
    seed: u64,
}

fn mix(a: u64, b: u64) -> u64 {
    Rng::new(a ^ b.wrapping_mul(0xA24B_AED4_963E_E407)).next_u64()
}

fn unit_of(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

fn round_to(v: f64, decimals: u32) -> f64 {
    // Text round trip: the value a meter reports as decimal text.
    format!("{:.*}", decimals as usize, v).parse().unwrap_or(v)
}

const HOUR: f64 = 3_600_000.0;

impl Meter {
    /// A register's reading from the plant's start, before noise: the daily load cycle
    /// integrated (load 1 + 0.3 sin), in hours of full load.
    fn cum_hours(&self, since_start: i64) -> f64 {
        let h = since_start as f64 / HOUR;
        h + 0.3 * 24.0 / std::f64::consts::TAU * (1.0 - (std::f64::consts::TAU * h / 24.0).cos())
    }

    /// The reading at `ts` for a plant that started at `start` and collects every
    /// `interval_ms`, or `None` in a gap.
    pub fn value(&self, start: i64, interval_ms: i64, ts: i64) -> Option<f64> {
        if self.gappy && mix(self.seed, ts.div_euclid(3_600_000) as u64).is_multiple_of(40) {
            return None;
        }
        let u = unit_of(mix(self.seed ^ 0x5EED, ts as u64));
        let v = match self.code.measure {
            Measure::Instant => {
                let h = (ts - start) as f64 / HOUR;
                let cycle = 1.0 + 0.1 * (std::f64::consts::TAU * h / 24.0).sin();
                self.scale * cycle + self.scale * 0.02 * (u - 0.5)
            }
            _ => {
                // Noise of at most 0.4 interval's worth: the reading never falls, since the
                // load is at least 0.7.
                let noise = 0.4 * u * interval_ms as f64 / HOUR;
                match self.replaced_at {
                    Some(r) if ts >= r => {
                        2.0 + self.scale
                            * (self.cum_hours(ts - start) - self.cum_hours(r - start) + noise)
                    }
                    _ => self.base + self.scale * (self.cum_hours(ts - start) + noise),
                }
            }
        };
        Some(round_to(v, self.decimals))
    }
}

/// A template point's rate (or level), drawn within ±20 % of the template's with `u`; a
/// negative template rate is that fraction of the previous point's drawn rate (electricity
/// delivered follows electricity received).
fn relative_scale(template: f64, previous: Option<&Meter>, u: f64) -> f64 {
    match previous {
        Some(p) if template < 0.0 => -template * p.scale,
        _ => template.abs() * (0.8 + 0.4 * u),
    }
}

/// A plant: its enterprise code and meters.
#[derive(Debug, Clone)]
pub struct Plant {
    /// The unified social credit code.
    pub enterprise: String,
    /// The industry.
    pub industry: Industry,
    /// Its meters.
    pub meters: Vec<Meter>,
    /// First collection time (ms).
    pub start: i64,
    /// Collection interval (ms).
    pub interval_ms: i64,
}

impl Plant {
    /// A plant of `industry` with `points` meters (production units repeat the industry's
    /// points), collecting every `interval_ms` from `start` for `days`; the first
    /// consumption register is replaced 40% of the way through.
    pub fn new(
        industry: Industry,
        enterprise: &str,
        seed: u64,
        points: usize,
        start: i64,
        interval_ms: i64,
        days: u32,
    ) -> Plant {
        let tpl = industry.template();
        let mut rng = Rng::new(seed);
        let span = i64::from(days) * 86_400_000;
        let replace = start + (span * 2 / 5) / interval_ms * interval_ms;
        let mut meters = Vec::with_capacity(points);
        let mut replaced = false;
        for i in 0..points {
            let (name, energy, measure, decimals, scale, gappy) = tpl[i % tpl.len()];
            let unit_no = (i / tpl.len() + 1) as u16;
            let seq = (i % tpl.len() + 1) as u16;
            let replaced_at = (!replaced && measure == Measure::Consumption).then_some(replace);
            replaced |= replaced_at.is_some();
            meters.push(Meter {
                code: DataCode::new(
                    energy_type(energy).expect("template codes are in the dictionary"),
                    measure,
                    unit_no,
                    seq,
                ),
                name: format!("unit {unit_no} {name}"),
                decimals,
                scale: relative_scale(scale, meters.last(), rng.unit()),
                gappy,
                replaced_at,
                base: 10_000.0 + rng.unit() * 900_000.0,
                seed: rng.next_u64(),
            });
        }
        Plant {
            enterprise: enterprise.to_string(),
            industry,
            meters,
            start,
            interval_ms,
        }
    }

    /// Every sample collected at ticks `[from, to)`, per meter, as (ts, value).
    pub fn samples(&self, from: i64, to: i64) -> Vec<Vec<(i64, f64)>> {
        self.meters
            .iter()
            .map(|m| {
                let mut t = from;
                let mut out = Vec::new();
                while t < to {
                    if let Some(v) = m.value(self.start, self.interval_ms, t) {
                        out.push((t, v));
                    }
                    t += self.interval_ms;
                }
                out
            })
            .collect()
    }
}

const USCC_CHARS: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// Checks an 18-character unified social credit code (GB 32100-2015): its alphabet and
/// its check character. The error says what is wrong.
pub fn check_uscc(code: &str) -> Result<(), String> {
    let b = code.as_bytes();
    if b.len() != 18 {
        return Err(format!("{} characters, not 18", code.chars().count()));
    }
    let mut sum = 0;
    for (i, c) in b.iter().enumerate() {
        let Some(v) = USCC_CHARS.iter().position(|x| x == c) else {
            return Err(format!(
                "character {} ({:?}) is not one of 0-9 A-H J-N P-R T U W-Y",
                i + 1,
                *c as char
            ));
        };
        if i < 17 {
            sum += USCC_WEIGHTS[i] * v as u32;
        } else {
            let want = (31 - sum % 31) % 31;
            if v as u32 != want {
                return Err(format!(
                    "check character is {:?}, expected {:?}",
                    *c as char, USCC_CHARS[want as usize] as char
                ));
            }
        }
    }
    Ok(())
}

/// A valid unified social credit code whose first 17 characters are `body` (which must use
/// the code's alphabet).
pub fn uscc_with_check(body: &str) -> Result<String, String> {
    check_uscc(&format!("{body}0")).or_else(|e| {
        if e.starts_with("check") {
            Ok(())
        } else {
            Err(e)
        }
    })?;
    let sum: u32 = body
        .bytes()
        .enumerate()
        .map(|(i, c)| USCC_WEIGHTS[i] * USCC_CHARS.iter().position(|&x| x == c).unwrap_or(0) as u32)
        .sum();
    Ok(format!(
        "{body}{}",
        USCC_CHARS[((31 - sum % 31) % 31) as usize] as char
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uscc_check_character() {
        // A published example code (an ordinary format example of GB 32100).
        let c = uscc_with_check("91350100M000100Y4").unwrap();
        assert_eq!(c.len(), 18);
        check_uscc(&c).unwrap();
        let mut bad = c.clone().into_bytes();
        bad[17] = if bad[17] == b'0' { b'1' } else { b'0' };
        let e = check_uscc(std::str::from_utf8(&bad).unwrap()).unwrap_err();
        assert!(e.contains("check character"), "{e}");
        assert!(check_uscc("91350100M000100Y4").unwrap_err().contains("17"));
        assert!(check_uscc("91350100M000100YIO")
            .unwrap_err()
            .contains("not one of"));
    }

    #[test]
    fn every_sub_scope_names_itself_and_its_indicators_name_its_registers() {
        for ind in INDUSTRIES {
            assert_eq!(Industry::parse(ind.as_str()), Ok(ind));
            assert!(!ind.indicators().is_empty(), "{ind:?}");
            let p = Plant::new(ind, "x", 1, ind.points_per_unit(), 0, 60_000, 1);
            for d in ind.indicators() {
                for t in d.numerator.iter().chain(d.denominator) {
                    let m = &p.meters[usize::from(t.seq) - 1];
                    assert_ne!(m.code.measure, Measure::Instant, "{ind:?} {}", d.code);
                    if t.quantity == Quantity::Kgce {
                        assert_eq!(m.code.measure, Measure::Consumption, "{ind:?} {}", d.code);
                        assert!(m.code.energy.kgce_per_unit > 0.0, "{ind:?} {}", d.code);
                    }
                }
            }
        }
        assert_eq!(Industry::parse("refining"), Ok(Industry::Petrochemical));
        assert!(Industry::parse("mining")
            .unwrap_err()
            .contains("oil-gas-extraction"));
    }

    #[test]
    fn registers_rise_except_at_the_replacement() {
        let p = Plant::new(Industry::Steel, "x", 7, 14, 0, 60_000, 3);
        for m in &p.meters {
            if m.code.measure == Measure::Instant {
                continue;
            }
            let s = &p.samples(0, 3 * 86_400_000)
                [p.meters.iter().position(|x| x.code == m.code).unwrap()];
            let drops: Vec<_> = s.windows(2).filter(|w| w[1].1 < w[0].1).collect();
            match m.replaced_at {
                Some(r) => {
                    assert_eq!(drops.len(), 1, "{}", m.name);
                    assert_eq!(drops[0][1].0, r);
                    assert!(drops[0][1].1 < 100.0);
                }
                None => assert!(drops.is_empty(), "{}", m.name),
            }
        }
        assert_eq!(
            p.meters.iter().filter(|m| m.replaced_at.is_some()).count(),
            1
        );
    }

    #[test]
    fn codes_round_trip_and_gaps_happen() {
        let p = Plant::new(Industry::Power, "x", 1, 7, 0, 60_000, 10);
        for m in &p.meters {
            assert_eq!(DataCode::parse(&m.code.text()).unwrap(), m.code);
        }
        let s = p.samples(0, 10 * 86_400_000);
        let full = 10 * 1440;
        assert!(s.iter().any(|x| x.len() < full), "some gaps");
        assert!(s.iter().any(|x| x.len() == full));
        assert_eq!(p.samples(0, 10 * 86_400_000), s, "deterministic");
        for (i, m) in p.meters.iter().enumerate() {
            assert_eq!(m.code.text().len(), 16);
            assert_eq!(Industry::Power.meter_index(&m.code), Some(i));
            assert_eq!(
                Industry::Steel.meter_index(&m.code).is_some(),
                i == 5 || i == 6
            );
        }
        assert_eq!(p.meters[1].code.text(), "3300400150020001");
        assert!(DataCode::parse("12345").unwrap_err().contains("not 16"));
        assert!(DataCode::parse("7777400150020001")
            .unwrap_err()
            .contains("energy type"));
        assert!(DataCode::parse("3300400150020009")
            .unwrap_err()
            .contains("data-item type"));
        assert!(DataCode::parse("3300900150020001")
            .unwrap_err()
            .contains("process stage"));
    }
}
