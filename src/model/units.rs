//! Durations (`30s`, `5m`, `1h30m`) and Kubernetes quantities (`200m`, `0.5`, `256Mi`).
//!
//! Both are kept as the user wrote them (so configs can echo them) and parsed on
//! demand; the analyzer reports every one that does not parse.

use std::borrow::Cow;
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The pattern every duration must match (also written into the JSON Schema).
pub const DURATION_PATTERN: &str = "^([0-9]+(ms|s|m|h|d))+$";
/// The pattern every quantity written as a string must match.
pub const QUANTITY_PATTERN: &str = "^[0-9]+(\\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$";

/// The longest duration any setting takes: a week.
pub const MAX_DURATION_MS: u64 = 7 * 86_400_000;

/// Why a duration is not usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationError {
    /// The text is not a duration.
    NotADuration,
    /// Zero, where the setting needs time to pass.
    Zero,
    /// Longer than [`MAX_DURATION_MS`].
    TooLong,
}

/// A length of time such as `500ms`, `30s`, `5m`, `1h30m`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Duration(pub String);

impl Duration {
    /// Milliseconds, or `None` when the text is not a duration.
    pub fn millis(&self) -> Option<u64> {
        parse_duration_ms(&self.0)
    }

    /// Milliseconds, when the text is a duration of at most [`MAX_DURATION_MS`] and,
    /// when `positive`, longer than zero: the one check every duration setting gets.
    pub fn checked_millis(&self, positive: bool) -> Result<u64, DurationError> {
        match self.millis() {
            None => Err(DurationError::NotADuration),
            Some(0) if positive => Err(DurationError::Zero),
            Some(ms) if ms > MAX_DURATION_MS => Err(DurationError::TooLong),
            Some(ms) => Ok(ms),
        }
    }

    /// Whole seconds, rounded up (`500ms` → 1).
    pub fn seconds(&self) -> Option<u64> {
        self.millis().map(|ms| ms.div_ceil(1000))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "A length of time: a number and a unit (ms, s, m, h, d), or several such as `1h30m`.",
            "examples": ["500ms", "30s", "5m", "1h30m"]
        })
    }
}

/// Parses `1h30m`, `500ms`, `30s` into milliseconds.
pub fn parse_duration_ms(text: &str) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    let bytes = text.as_bytes();
    let mut total: u64 = 0;
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return None;
        }
        let number: u64 = text[start..i].parse().ok()?;
        let unit_start = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let factor = match &text[unit_start..i] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return None,
        };
        total = total.checked_add(number.checked_mul(factor)?)?;
    }
    Some(total)
}

/// A Kubernetes resource quantity: CPU as cores (`2`, `0.5`) or millicores (`200m`),
/// memory as bytes with a suffix (`256Mi`, `4Gi`, `1G`).
#[derive(Debug, Clone, PartialEq)]
pub struct Quantity(pub String);

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Int(u64),
            Float(f64),
        }
        Ok(Quantity(match Raw::deserialize(d)? {
            Raw::Text(s) => s,
            Raw::Int(i) => i.to_string(),
            Raw::Float(f) => f.to_string(),
        }))
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl JsonSchema for Quantity {
    fn schema_name() -> Cow<'static, str> {
        "Quantity".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": ["string", "number"],
            "pattern": QUANTITY_PATTERN,
            "minimum": 0,
            "description": "A Kubernetes quantity. CPU: cores (`2`, `0.5`) or millicores (`200m`). Memory: bytes with a binary (`Ki`, `Mi`, `Gi`, `Ti`) or decimal (`k`, `M`, `G`, `T`) suffix.",
            "examples": ["200m", "2", "256Mi", "4Gi"]
        })
    }
}

/// What a quantity measures, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    Cpu,
    Memory,
    /// A machine's disk: at least 1 GiB.
    Disk,
}

/// Why a quantity is not usable as the measure asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantityError {
    pub message: String,
    pub hint: Option<String>,
}

impl Quantity {
    /// CPU in millicores.
    pub fn millicores(&self) -> Result<u64, QuantityError> {
        let (number, suffix) = split_quantity(&self.0).ok_or_else(|| not_a_quantity(&self.0))?;
        let factor = match suffix {
            "" => 1000.0,
            "m" => 1.0,
            "k" | "M" | "G" | "T" | "Ki" | "Mi" | "Gi" | "Ti" => {
                return Err(QuantityError {
                    message: format!("`{}` is a memory size, not a CPU amount", self.0),
                    hint: Some("write CPU as cores (`2`, `0.5`) or millicores (`500m`)".into()),
                })
            }
            _ => return Err(not_a_quantity(&self.0)),
        };
        let millis = number * factor;
        if millis.fract() != 0.0 {
            return Err(QuantityError {
                message: format!("`{}` is finer than one millicore", self.0),
                hint: Some("round it to whole millicores, like `250m`".into()),
            });
        }
        if !(1.0..=1.0e9).contains(&millis) {
            return Err(QuantityError {
                message: format!("`{}` is not a usable CPU amount", self.0),
                hint: Some("use a value between `1m` and `1000000` cores".into()),
            });
        }
        Ok(millis as u64)
    }

    /// Memory in bytes: at least 1 MiB (a bare number is almost always a forgotten
    /// suffix).
    pub fn bytes(&self) -> Result<u64, QuantityError> {
        let bytes = self.size_bytes()?;
        if bytes < 1024 * 1024 {
            return Err(QuantityError {
                message: format!("`{}` is less than 1 MiB of memory", self.0),
                hint: Some("memory needs a suffix: `512Mi`, `4Gi`".into()),
            });
        }
        Ok(bytes)
    }

    /// A machine's disk in bytes: from 1 GB (less is almost always a forgotten or
    /// mistaken suffix: no system and its images fit) to 1 PiB.
    pub fn disk_bytes(&self) -> Result<u64, QuantityError> {
        let bytes = self.size_bytes()?;
        if bytes < 1_000_000_000 {
            return Err(QuantityError {
                message: format!("`{}` is less than 1 GB of disk", self.0),
                hint: Some("a disk needs a suffix: `100Gi`, `1Ti`".into()),
            });
        }
        Ok(bytes)
    }

    /// A size in bytes, any from 0 to 1 PiB (a request body: `64Ki`, `10Mi`).
    pub fn size_bytes(&self) -> Result<u64, QuantityError> {
        let (number, suffix) = split_quantity(&self.0).ok_or_else(|| not_a_quantity(&self.0))?;
        let factor: f64 = match suffix {
            "" => 1.0,
            "k" => 1e3,
            "M" => 1e6,
            "G" => 1e9,
            "T" => 1e12,
            "Ki" => 1024.0,
            "Mi" => 1024.0 * 1024.0,
            "Gi" => 1024.0 * 1024.0 * 1024.0,
            "Ti" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
            "m" => {
                return Err(QuantityError {
                    message: format!(
                        "`{}` is {} thousandths of a byte: `m` means milli, not mega",
                        self.0, number
                    ),
                    hint: Some(format!("did you mean `{}Mi`?", &self.0[..self.0.len() - 1])),
                })
            }
            _ => return Err(not_a_quantity(&self.0)),
        };
        let bytes = number * factor;
        if bytes > 1024.0_f64.powi(5) {
            return Err(QuantityError {
                message: format!("`{}` is more than 1 PiB", self.0),
                hint: None,
            });
        }
        Ok(bytes as u64)
    }

    pub fn check(&self, measure: Measure) -> Result<u64, QuantityError> {
        match measure {
            Measure::Cpu => self.millicores(),
            Measure::Memory => self.bytes(),
            Measure::Disk => self.disk_bytes(),
        }
    }
}

fn not_a_quantity(text: &str) -> QuantityError {
    QuantityError {
        message: format!("`{text}` is not a quantity"),
        hint: Some("CPU like `500m` or `2`; memory like `256Mi` or `4Gi`".into()),
    }
}

fn split_quantity(text: &str) -> Option<(f64, &str)> {
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(end);
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return None;
    }
    let value: f64 = number.parse().ok()?;
    value.is_finite().then_some((value, suffix))
}

/// Formats bytes the way a person writes memory: `512Mi`, `4Gi`, `1536Mi`.
pub fn format_bytes(bytes: u64) -> String {
    const GI: u64 = 1024 * 1024 * 1024;
    const MI: u64 = 1024 * 1024;
    if bytes >= GI && bytes % GI == 0 {
        format!("{}Gi", bytes / GI)
    } else if bytes >= MI && bytes % MI == 0 {
        format!("{}Mi", bytes / MI)
    } else if bytes % 1024 == 0 {
        format!("{}Ki", bytes / 1024)
    } else {
        bytes.to_string()
    }
}

/// A machine's network bandwidth: 10 to 99999 megabits or 1 to 999 gigabits per second.
pub const BANDWIDTH_PATTERN: &str = "^([1-9][0-9]{1,4}Mbps|[1-9][0-9]{0,2}Gbps)$";

/// A bandwidth as [`BANDWIDTH_PATTERN`] writes it, in bits per second.
pub fn bandwidth_bps(text: &str) -> Option<u64> {
    let (n, unit) = match text.strip_suffix("Gbps") {
        Some(n) => (n, 1_000_000_000),
        None => (text.strip_suffix("Mbps")?, 1_000_000),
    };
    n.parse::<u64>().ok()?.checked_mul(unit)
}

/// Bits per second as people write a link's speed: `1Gbps`, `500Mbps`, `2.5Gbps`.
pub fn format_bandwidth(bps: u64) -> String {
    if bps >= 1_000_000_000 {
        let g = bps as f64 / 1e9;
        format!("{}Gbps", (g * 10.0).round() / 10.0)
    } else {
        format!("{}Mbps", bps / 1_000_000)
    }
}

/// Formats a disk's size the way its blueprint likely wrote it: `200Gi`, `2Ti`, or
/// with a decimal suffix where that is exact (`250G`, `1T`), else in GiB to a tenth.
pub fn format_disk(bytes: u64) -> String {
    const GI: u64 = 1 << 30;
    for (size, unit) in [
        (1u64 << 40, "Ti"),
        (GI, "Gi"),
        (1_000_000_000_000, "T"),
        (1_000_000_000, "G"),
    ] {
        if bytes % size == 0 {
            return format!("{}{unit}", bytes / size);
        }
    }
    let tenths = (u128::from(bytes) * 10).div_ceil(u128::from(GI));
    format!("{}.{}Gi", tenths / 10, tenths % 10)
}

/// Two sizes compared with each other, said in one unit (the larger's, `Gi` or `Mi`)
/// with at most one decimal: `(10.5Gi, 8Gi)`, not `(10752Mi, 8Gi)`.
pub fn format_bytes_pair(a: u64, b: u64) -> (String, String) {
    const GI: u64 = 1024 * 1024 * 1024;
    const MI: u64 = 1024 * 1024;
    let (unit, name) = match a.max(b) {
        n if n >= GI => (GI, "Gi"),
        n if n >= MI => (MI, "Mi"),
        _ => return (format_bytes(a), format_bytes(b)),
    };
    let say = |n: u64| {
        // Tenths, rounded up: a request is never said smaller than it is.
        let tenths = (u128::from(n) * 10).div_ceil(u128::from(unit));
        if tenths % 10 == 0 {
            format!("{}{name}", tenths / 10)
        } else {
            format!("{}.{}{name}", tenths / 10, tenths % 10)
        }
    };
    (say(a), say(b))
}

/// Milliseconds as the shortest exact duration with a unit.
pub fn format_duration(ms: u64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000)] {
        if ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// Formats millicores as Kubernetes does: `500m`, `2`.
pub fn format_millicores(m: u64) -> String {
    if m % 1000 == 0 {
        (m / 1000).to_string()
    } else {
        format!("{m}m")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("30s"), Some(30_000));
        assert_eq!(parse_duration_ms("1h30m"), Some(5_400_000));
        assert_eq!(parse_duration_ms("500ms"), Some(500));
        assert_eq!(parse_duration_ms("5"), None);
        assert_eq!(parse_duration_ms("5x"), None);
        assert_eq!(parse_duration_ms(""), None);
        assert_eq!(parse_duration_ms("99999999999999999999d"), None);
        assert_eq!(Duration("500ms".into()).seconds(), Some(1));
    }

    #[test]
    fn checked_durations() {
        let d = |t: &str| Duration(t.into());
        assert_eq!(d("30s").checked_millis(true), Ok(30_000));
        assert_eq!(d("0s").checked_millis(false), Ok(0));
        assert_eq!(d("0s").checked_millis(true), Err(DurationError::Zero));
        assert_eq!(d("7d").checked_millis(true), Ok(MAX_DURATION_MS));
        assert_eq!(d("8d").checked_millis(false), Err(DurationError::TooLong));
        assert_eq!(
            d("5").checked_millis(false),
            Err(DurationError::NotADuration)
        );
    }

    #[test]
    fn cpu() {
        assert_eq!(Quantity("200m".into()).millicores(), Ok(200));
        assert_eq!(Quantity("0.5".into()).millicores(), Ok(500));
        assert_eq!(Quantity("2".into()).millicores(), Ok(2000));
        assert!(Quantity("256Mi".into()).millicores().is_err());
        assert!(Quantity("0.0001".into()).millicores().is_err());
    }

    #[test]
    fn memory() {
        assert_eq!(Quantity("256Mi".into()).bytes(), Ok(256 * 1024 * 1024));
        assert_eq!(Quantity("1G".into()).bytes(), Ok(1_000_000_000));
        let err = Quantity("512m".into()).bytes().unwrap_err();
        assert_eq!(err.hint.as_deref(), Some("did you mean `512Mi`?"));
        assert!(Quantity("512".into()).bytes().is_err());
        assert_eq!(format_bytes(4 * 1024 * 1024 * 1024), "4Gi");
        assert_eq!(format_bytes(1536 * 1024 * 1024), "1536Mi");
        assert_eq!(format_millicores(1500), "1500m");
    }

    #[test]
    fn bandwidth() {
        assert_eq!(bandwidth_bps("1Gbps"), Some(1_000_000_000));
        assert_eq!(bandwidth_bps("500Mbps"), Some(500_000_000));
        assert_eq!(bandwidth_bps("2500Mbps"), Some(2_500_000_000));
        assert_eq!(bandwidth_bps("1GB"), None);
        assert_eq!(format_bandwidth(1_000_000_000), "1Gbps");
        assert_eq!(format_bandwidth(2_500_000_000), "2.5Gbps");
        assert_eq!(format_bandwidth(500_000_000), "500Mbps");
        let re = regex::Regex::new(BANDWIDTH_PATTERN).unwrap();
        for ok in ["10Mbps", "1Gbps", "400Gbps", "99999Mbps"] {
            assert!(re.is_match(ok), "{ok}");
        }
        for bad in ["0Gbps", "5Mbps", "1gbps", "1 Gbps", "1.5Gbps", "1000Gbps"] {
            assert!(!re.is_match(bad), "{bad}");
        }
    }

    #[test]
    fn disk() {
        assert_eq!(format_disk(200 << 30), "200Gi");
        assert_eq!(format_disk(2 << 40), "2Ti");
        assert_eq!(format_disk(250_000_000_000), "250G");
        assert_eq!(format_disk(1_000_000_000_000), "1T");
        assert_eq!(format_disk(1_500_000_000), "1.4Gi");
        assert_eq!(Quantity("200Gi".into()).disk_bytes(), Ok(200 << 30));
        assert_eq!(Quantity("1G".into()).disk_bytes(), Ok(1_000_000_000));
        assert_eq!(Quantity("2Ti".into()).disk_bytes(), Ok(2 << 40));
        assert!(
            Quantity("200".into()).disk_bytes().is_err(),
            "a forgotten suffix"
        );
        assert!(Quantity("512Mi".into()).disk_bytes().is_err());
        assert!(
            Quantity("2048Ti".into()).disk_bytes().is_err(),
            "over 1 PiB"
        );
    }
}
