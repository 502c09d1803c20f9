//! Property values with Spark's semantics: sizes (`512m`, `2g`), 32- and 64-bit integers,
//! doubles, booleans and time strings (`60s`, `500ms`, `2min`), each error naming the key.

use super::error::SparkConfError;

/// Units of Spark size strings (binary multiples, as Spark's `ByteUnit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ByteUnit {
    /// `b`
    Byte,
    /// `k`, `kb`
    KiB,
    /// `m`, `mb`
    MiB,
    /// `g`, `gb`
    GiB,
    /// `t`, `tb`
    TiB,
    /// `p`, `pb`
    PiB,
}

impl ByteUnit {
    fn shift(self) -> u32 {
        match self {
            Self::Byte => 0,
            Self::KiB => 10,
            Self::MiB => 20,
            Self::GiB => 30,
            Self::TiB => 40,
            Self::PiB => 50,
        }
    }

    fn from_suffix(suffix: &str) -> Option<Self> {
        Some(match suffix {
            "b" => Self::Byte,
            "k" | "kb" => Self::KiB,
            "m" | "mb" => Self::MiB,
            "g" | "gb" => Self::GiB,
            "t" | "tb" => Self::TiB,
            "p" | "pb" => Self::PiB,
            _ => return None,
        })
    }
}

/// Why a size string was refused (see [`parse_byte_string`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SizeError {
    /// Not a number with an optional unit.
    Malformed,
    /// `1.5g`: Spark refuses fractions.
    Fractional,
    /// An unknown unit suffix.
    BadSuffix(String),
    /// The value does not fit in 64 bits.
    Overflow,
}

impl SizeError {
    fn detail(&self) -> String {
        match self {
            Self::Malformed | Self::BadSuffix(_) => String::new(),
            Self::Fractional => ": fractional values are not supported".into(),
            Self::Overflow => ": too large".into(),
        }
    }
}

/// Parses a Spark size string (`"512m"`, `"2g"`, `"2048k"`, `"1t"`; units b, k, m, g, t, p,
/// optionally followed by `b`, case-insensitive; a plain number is in `unit`) and returns it in
/// `unit`, truncating as Spark's `JavaUtils.byteStringAs` does (`"2047k"` in MiB is 1).
pub fn parse_byte_string(value: &str, unit: ByteUnit) -> Result<u64, SizeError> {
    let lower = value.trim().to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    if digits_end == 0 {
        return Err(SizeError::Malformed);
    }
    let rest = &lower[digits_end..];
    if let Some(frac) = rest.strip_prefix('.') {
        let frac_digits = frac
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(frac.len());
        let suffix = &frac[frac_digits..];
        if frac_digits > 0 && suffix.bytes().all(|b| b.is_ascii_lowercase()) {
            return Err(SizeError::Fractional);
        }
        return Err(SizeError::Malformed);
    }
    if !rest.bytes().all(|b| b.is_ascii_lowercase()) {
        return Err(SizeError::Malformed);
    }
    let number: u64 = lower[..digits_end]
        .parse()
        .map_err(|_| SizeError::Overflow)?;
    let from = if rest.is_empty() {
        unit
    } else {
        ByteUnit::from_suffix(rest).ok_or_else(|| SizeError::BadSuffix(rest.to_owned()))?
    };
    let (fs, ts) = (from.shift(), unit.shift());
    if fs >= ts {
        number
            .checked_mul(1u64 << (fs - ts))
            .filter(|v| *v <= i64::MAX as u64)
            .ok_or(SizeError::Overflow)
    } else {
        Ok(number >> (ts - fs))
    }
}

/// Parses a size property (see [`parse_byte_string`]) with an error naming the key.
pub fn parse_size(key: &str, value: &str, unit: ByteUnit) -> Result<u64, SparkConfError> {
    parse_byte_string(value, unit).map_err(|e| SparkConfError::InvalidSize {
        key: key.to_owned(),
        value: value.to_owned(),
        detail: e.detail(),
    })
}

/// Parses a memory property the way Spark's `bytesConf(ByteUnit.MiB)` does: a plain number is
/// MiB; the result is MiB.
pub fn parse_memory_mb(key: &str, value: &str) -> Result<u64, SparkConfError> {
    parse_size(key, value, ByteUnit::MiB)
}

/// Parses a Spark `int` property (32-bit, surrounding whitespace ignored).
pub fn parse_int(key: &str, value: &str) -> Result<i64, SparkConfError> {
    value
        .trim()
        .parse::<i32>()
        .map(i64::from)
        .map_err(|_| SparkConfError::InvalidInt {
            key: key.to_owned(),
            value: value.to_owned(),
        })
}

/// Parses a Spark `long` property.
pub fn parse_long(key: &str, value: &str) -> Result<i64, SparkConfError> {
    value
        .trim()
        .parse::<i64>()
        .map_err(|_| SparkConfError::InvalidInt {
            key: key.to_owned(),
            value: value.to_owned(),
        })
}

/// Parses a Spark `double` property (finite values only).
pub fn parse_double(key: &str, value: &str) -> Result<f64, SparkConfError> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| SparkConfError::InvalidNumber {
            key: key.to_owned(),
            value: value.to_owned(),
        })
}

/// Parses a Spark boolean: `true` or `false`, case-insensitive.
pub fn parse_bool(key: &str, value: &str) -> Result<bool, SparkConfError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(SparkConfError::InvalidBool {
            key: key.to_owned(),
            value: value.to_owned(),
        }),
    }
}

/// Parses a Spark time string (`60s`, `500ms`, `2min`, `1h`; a plain number is in `unit`),
/// returned in milliseconds; Spark's truncation to `unit` applies (`1500ms` read in seconds is
/// 1000 ms, as Spark's `timeConf(TimeUnit.SECONDS)` reads it).
pub fn parse_time_ms(key: &str, value: &str, unit: TimeUnit) -> Result<i64, SparkConfError> {
    let in_unit = parse_time_string(value, unit).map_err(|_| SparkConfError::InvalidTime {
        key: key.to_owned(),
        value: value.to_owned(),
    })?;
    let ms = i128::from(in_unit) * unit.nanos() / TimeUnit::Milliseconds.nanos();
    Ok(ms.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
}

/// Units of Spark time strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeUnit {
    /// `us`
    Microseconds,
    /// `ms`
    Milliseconds,
    /// `s`
    Seconds,
    /// `m` or `min`
    Minutes,
    /// `h`
    Hours,
    /// `d`
    Days,
}

impl TimeUnit {
    fn nanos(self) -> i128 {
        match self {
            Self::Microseconds => 1_000,
            Self::Milliseconds => 1_000_000,
            Self::Seconds => 1_000_000_000,
            Self::Minutes => 60_000_000_000,
            Self::Hours => 3_600_000_000_000,
            Self::Days => 86_400_000_000_000,
        }
    }

    fn from_suffix(suffix: &str) -> Option<Self> {
        Some(match suffix {
            "us" => Self::Microseconds,
            "ms" => Self::Milliseconds,
            "s" => Self::Seconds,
            "m" | "min" => Self::Minutes,
            "h" => Self::Hours,
            "d" => Self::Days,
            _ => return None,
        })
    }
}

/// Parses a Spark time string (`"3s"`, `"500ms"`, `"1min"`, `"2h"`, or a plain number in
/// `default_unit`) into `unit`, truncating toward zero and saturating as Java's
/// `TimeUnit.convert` does.
pub fn parse_time_string(value: &str, default_unit: TimeUnit) -> Result<i64, String> {
    let lower = value.trim().to_ascii_lowercase();
    let digits_start = usize::from(lower.starts_with('-'));
    let digits_end = lower[digits_start..]
        .find(|c: char| !c.is_ascii_digit())
        .map_or(lower.len(), |i| i + digits_start);
    if digits_end == digits_start {
        return Err(format!("failed to parse time string {value:?}"));
    }
    let number: i64 = lower[..digits_end]
        .parse()
        .map_err(|_| format!("failed to parse time string {value:?}"))?;
    let suffix = &lower[digits_end..];
    let unit = if suffix.is_empty() {
        default_unit
    } else if suffix.bytes().all(|b| b.is_ascii_lowercase()) {
        TimeUnit::from_suffix(suffix).ok_or_else(|| format!("invalid suffix {suffix:?}"))?
    } else {
        return Err(format!("failed to parse time string {value:?}"));
    };
    let nanos = i128::from(number) * unit.nanos();
    let converted = nanos / default_unit.nanos();
    Ok(converted.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sparkconf::{conf_of as conf, keys};

    #[test]
    fn sizes_follow_spark() {
        use ByteUnit::*;
        use SizeError::*;
        let cases = [
            ("1g", MiB, Ok(1024)),
            ("512m", MiB, Ok(512)),
            ("512", MiB, Ok(512)),
            ("2048k", MiB, Ok(2)),
            ("2047k", MiB, Ok(1)),
            (" 2G ", MiB, Ok(2048)),
            ("1gb", MiB, Ok(1024)),
            ("1MB", MiB, Ok(1)),
            ("1t", MiB, Ok(1 << 20)),
            ("1p", MiB, Ok(1 << 30)),
            ("1048576b", MiB, Ok(1)),
            ("1k", Byte, Ok(1024)),
            ("100", Byte, Ok(100)),
            ("12x", MiB, Err(BadSuffix("x".into()))),
            ("1.5g", MiB, Err(Fractional)),
            ("g", MiB, Err(Malformed)),
            ("", MiB, Err(Malformed)),
            ("-1g", MiB, Err(Malformed)),
            ("1 g", MiB, Err(Malformed)),
            ("9999999999p", MiB, Err(Overflow)),
            ("99999999999999999999999", MiB, Err(Overflow)),
        ];
        for (text, unit, want) in cases {
            assert_eq!(parse_byte_string(text, unit), want, "{text:?}");
        }
    }

    #[test]
    fn size_errors_name_key_and_value() {
        let e = parse_memory_mb(keys::EXECUTOR_MEMORY, "12x").unwrap_err();
        assert_eq!(
            e.to_string(),
            "spark.executor.memory: invalid size '12x' (e.g. 512m, 2g)"
        );
        let e = parse_memory_mb(keys::EXECUTOR_MEMORY, "lots").unwrap_err();
        assert_eq!(
            e.to_string(),
            "spark.executor.memory: invalid size 'lots' (e.g. 512m, 2g)"
        );
        let e = parse_memory_mb(keys::DRIVER_MEMORY, "1.5g").unwrap_err();
        assert!(e.to_string().contains("fractional"), "{e}");
        assert_eq!(e.keys(), vec![keys::DRIVER_MEMORY.to_owned()]);
    }

    #[test]
    fn ints_bools_doubles_times() {
        assert_eq!(parse_int("k", " 42 "), Ok(42));
        assert_eq!(parse_int("k", "-3"), Ok(-3));
        assert!(parse_int("k", "3000000000").is_err());
        assert_eq!(
            parse_int("spark.executor.cores", "two")
                .unwrap_err()
                .to_string(),
            "spark.executor.cores: invalid integer 'two'"
        );
        assert_eq!(parse_long("k", "3000000000"), Ok(3_000_000_000));
        assert_eq!(parse_bool("k", "TRUE"), Ok(true));
        assert_eq!(parse_bool("k", " false"), Ok(false));
        assert_eq!(
            parse_bool("spark.shuffle.service.enabled", "yes")
                .unwrap_err()
                .to_string(),
            "spark.shuffle.service.enabled: invalid boolean 'yes' (true or false)"
        );
        assert_eq!(parse_double("k", "0.25"), Ok(0.25));
        assert!(parse_double("k", "NaN").is_err());
        assert!(parse_double("k", "x").is_err());
        assert_eq!(parse_time_ms("k", "60s", TimeUnit::Seconds), Ok(60_000));
        assert_eq!(parse_time_ms("k", "60", TimeUnit::Seconds), Ok(60_000));
        assert_eq!(parse_time_ms("k", "1500ms", TimeUnit::Seconds), Ok(1000));
        assert_eq!(parse_time_ms("k", "1500", TimeUnit::Milliseconds), Ok(1500));
        assert_eq!(
            parse_time_ms("k", "2min", TimeUnit::Milliseconds),
            Ok(120_000)
        );
        assert_eq!(
            parse_time_ms("spark.network.timeout", "soon", TimeUnit::Seconds)
                .unwrap_err()
                .to_string(),
            "spark.network.timeout: invalid time 'soon' (e.g. 60s, 500ms, 2min)"
        );
        let c = conf(&[("spark.x", "3s")]);
        assert_eq!(c.get_time_ms("spark.x", TimeUnit::Seconds, 7), Ok(3000));
        assert_eq!(c.get_time_ms("spark.y", TimeUnit::Seconds, 7), Ok(7));
    }

    #[test]
    fn time_strings() {
        use TimeUnit::*;
        let cases = [
            ("3s", Milliseconds, 3000),
            ("500ms", Seconds, 0),
            ("1min", Seconds, 60),
            ("1m", Seconds, 60),
            ("2h", Seconds, 7200),
            ("1d", Seconds, 86_400),
            ("1500us", Milliseconds, 1),
            (" 7 ", Seconds, 7),
            ("-3s", Seconds, -3),
            ("9223372036854775807d", Milliseconds, i64::MAX),
        ];
        for (text, unit, want) in cases {
            assert_eq!(parse_time_string(text, unit), Ok(want), "{text:?}");
        }
        for text in ["3 s", "3sec", "", "s"] {
            assert!(parse_time_string(text, Seconds).is_err(), "{text:?}");
        }
    }
}
