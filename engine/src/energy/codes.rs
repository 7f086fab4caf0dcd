//! Codes of the energy layer: the unified social credit code of an enterprise (GB
//! 32100-2015) and the 16-digit data-item code of a collected quantity (its layout, and the
//! caveat about it, in the `energy` module docs).

use std::fmt;

use crate::{Error, Result};

// Unified social credit code (GB 32100-2015)

/// The 31 characters of a unified social credit code, in order of their value (0 to 30).
pub const CREDIT_CODE_CHARSET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const CREDIT_CODE_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

fn credit_value(c: u8) -> Option<u32> {
    CREDIT_CODE_CHARSET
        .iter()
        .position(|&x| x == c)
        .map(|p| p as u32)
}

/// The check character (the 18th) of the first 17 characters of a unified social credit
/// code: `31 - (Σ value·weight mod 31)`, where 31 gives 0. Errors when a character is not in
/// the code's character set or there are not exactly 17.
pub fn credit_code_check_char(first17: &str) -> Result<char> {
    if first17.chars().count() != 17 {
        return Err(Error::invalid(format!(
            "credit code prefix {first17:?} has {} characters, not 17",
            first17.chars().count()
        )));
    }
    let mut sum = 0u32;
    for (i, c) in first17.chars().enumerate() {
        let v = char_value(c).ok_or_else(|| bad_char(first17, i, c))?;
        sum += v * CREDIT_CODE_WEIGHTS[i];
    }
    let check = (31 - sum % 31) % 31;
    Ok(CREDIT_CODE_CHARSET[check as usize] as char)
}

fn char_value(c: char) -> Option<u32> {
    u8::try_from(c).ok().and_then(credit_value)
}

fn bad_char(code: &str, i: usize, c: char) -> Error {
    let hint = if c.is_ascii_lowercase() {
        " (letters must be upper case)"
    } else {
        ""
    };
    Error::invalid(format!(
        "credit code {code:?}: character {} ({c:?}) is not allowed{hint}; a unified social \
         credit code uses 0-9 and A-H J-N P Q R T U W X Y",
        i + 1
    ))
}

/// Checks an 18-character unified social credit code (GB 32100-2015): its character set
/// (`0-9A-HJ-NPQRTUWXY`) and its check character. The error says which character is wrong,
/// or that the check character does not match.
pub fn validate_credit_code(code: &str) -> Result<()> {
    let n = code.chars().count();
    if n != 18 {
        return Err(Error::invalid(format!(
            "credit code {code:?} has {n} characters, not 18"
        )));
    }
    for (i, c) in code.chars().enumerate() {
        if char_value(c).is_none() {
            return Err(bad_char(code, i, c));
        }
    }
    let want = credit_code_check_char(&code[..17])?;
    let got = code.as_bytes()[17] as char;
    if want != got {
        return Err(Error::invalid(format!(
            "credit code {code:?}: the check character (18th) is {got:?} but the first 17 \
             characters give {want:?}"
        )));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Data-item code

crate::code_enum! {
    /// Digit 5 of a [`DataItemCode`]: the stage of the unit's energy flow.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum ProcessStage {
        /// 1: purchase and storage (购入存储).
        Purchase = 1 => "purchase",
        /// 2: processing and conversion (加工转换).
        Conversion = 2 => "conversion",
        /// 3: transport and distribution (输送分配).
        Distribution = 3 => "distribution",
        /// 4: end use (终端使用).
        EndUse = 4 => "end use",
        /// 5: recovery and reuse (回收利用).
        Recovery = 5 => "recovery",
        /// 6: supplied to others (外供).
        ExternalSupply = 6 => "external supply",
    }
}

impl ProcessStage {
    /// The stage of a digit ([`ProcessStage::from_code`]).
    pub fn from_digit(d: u8) -> Option<ProcessStage> {
        ProcessStage::from_code(d)
    }
}

crate::code_enum! {
    /// Digit 9 of a [`DataItemCode`]: what the data item is collected on.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum ObjectType {
        /// 1: the whole unit.
        Unit = 1 => "unit",
        /// 2: a branch factory or workshop.
        Branch = 2 => "branch",
        /// 3: a process or system.
        Process = 3 => "process",
        /// 4: a key energy-using equipment.
        Equipment = 4 => "equipment",
        /// 5: a metering instrument.
        Instrument = 5 => "instrument",
    }
}

impl ObjectType {
    /// The object type of a digit ([`ObjectType::from_code`]).
    pub fn from_digit(d: u8) -> Option<ObjectType> {
        ObjectType::from_code(d)
    }
}

/// A 16-digit data-item code decoded into its fields (see the module documentation for the
/// layout, and its caveat). `Display` writes the 16 digits back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DataItemCode {
    /// Digits 1-4: the energy-type code (0-9999).
    pub energy_type: u16,
    /// Digit 5: the process stage.
    pub stage: ProcessStage,
    /// Digits 6-8: the energy-using unit code (0-999).
    pub unit_code: u16,
    /// Digit 9: the collection-object type.
    pub object_type: ObjectType,
    /// Digits 10-12: the collection-object code (0-999).
    pub object_code: u16,
    /// Digits 13-16: the data-item type (0-9999).
    pub item_type: u16,
}

/// Number of digits of a [`DataItemCode`].
pub const DATA_ITEM_CODE_LEN: usize = 16;

impl DataItemCode {
    /// Parses 16 ASCII digits. Errors (`InvalidArgument`) name the position and field that
    /// is wrong.
    pub fn parse(s: &str) -> Result<DataItemCode> {
        let b = s.as_bytes();
        if b.len() != DATA_ITEM_CODE_LEN {
            return Err(Error::invalid(format!(
                "data-item code {s:?} has {} bytes, not {DATA_ITEM_CODE_LEN} digits",
                b.len()
            )));
        }
        if let Some(i) = b.iter().position(|c| !c.is_ascii_digit()) {
            return Err(Error::invalid(format!(
                "data-item code {s:?}: position {} is not a digit",
                i + 1
            )));
        }
        let num = |r: std::ops::Range<usize>| {
            b[r].iter()
                .fold(0u16, |acc, &c| acc * 10 + u16::from(c - b'0'))
        };
        let stage = ProcessStage::from_digit(b[4] - b'0').ok_or_else(|| {
            Error::invalid(format!(
                "data-item code {s:?}: process stage (digit 5) is {}, not 1-6",
                b[4] - b'0'
            ))
        })?;
        let object_type = ObjectType::from_digit(b[8] - b'0').ok_or_else(|| {
            Error::invalid(format!(
                "data-item code {s:?}: collection-object type (digit 9) is {}, not 1-5",
                b[8] - b'0'
            ))
        })?;
        Ok(DataItemCode {
            energy_type: num(0..4),
            stage,
            unit_code: num(5..8),
            object_type,
            object_code: num(9..12),
            item_type: num(12..16),
        })
    }

    /// Checks the numeric fields' ranges (a code built by hand may exceed them).
    pub fn validate(&self) -> Result<()> {
        if self.energy_type > 9999
            || self.unit_code > 999
            || self.object_code > 999
            || self.item_type > 9999
        {
            return Err(Error::invalid(format!(
                "data-item code fields out of range: {self:?}"
            )));
        }
        Ok(())
    }

    /// The energy-type field as its 4 digits, e.g. `"0100"`.
    pub fn energy_type_code(&self) -> String {
        format!("{:04}", self.energy_type)
    }
}

impl fmt::Display for DataItemCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}{}{:03}{}{:03}{:04}",
            self.energy_type,
            self.stage.code(),
            self.unit_code,
            self.object_type.code(),
            self.object_code,
            self.item_type
        )
    }
}

impl std::str::FromStr for DataItemCode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        DataItemCode::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_character_matches_the_standard_weights() {
        // The check character makes Σ value·weight (all 18, the 18th weighing 1) ≡ 0 mod 31.
        for prefix in [
            "91350100M000100Y4",
            "91110000600001760",
            "12100000400000624",
        ] {
            let c = credit_code_check_char(prefix).unwrap();
            let code = format!("{prefix}{c}");
            validate_credit_code(&code).unwrap();
            let mut sum = 0;
            for (i, b) in code.bytes().enumerate() {
                let w = if i < 17 { CREDIT_CODE_WEIGHTS[i] } else { 1 };
                sum += credit_value(b).unwrap() * w;
            }
            assert_eq!(sum % 31, 0, "{code}");
        }
    }

    #[test]
    fn data_item_code_round_trips() {
        let c = DataItemCode::parse("0100400120030001").unwrap();
        assert_eq!(c.energy_type, 100);
        assert_eq!(c.stage, ProcessStage::EndUse);
        assert_eq!(c.unit_code, 1);
        assert_eq!(c.object_type, ObjectType::Branch);
        assert_eq!(c.object_code, 3);
        assert_eq!(c.item_type, 1);
        assert_eq!(c.to_string(), "0100400120030001");
    }
}
