//! Shuffle block ids in Spark's string form, `shuffle_<shuffleId>_<mapId>_<reduceId>`.
//!
//! The wire carries ids as strings, and the service parses them strictly:
//! three canonical decimal numbers and nothing else. The file names the
//! service opens are then built from the numbers alone, so no byte of a
//! peer's string ever reaches a path.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Longest id accepted (`shuffle_` + three numbers fit in 60 bytes).
const MAX_LEN: usize = 64;

/// One reduce partition of one map output of one shuffle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BlockId {
    pub shuffle_id: u32,
    pub map_id: u64,
    pub reduce_id: u32,
}

impl BlockId {
    pub fn new(shuffle_id: u32, map_id: u64, reduce_id: u32) -> Self {
        Self {
            shuffle_id,
            map_id,
            reduce_id,
        }
    }
}

impl fmt::Display for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "shuffle_{}_{}_{}",
            self.shuffle_id, self.map_id, self.reduce_id
        )
    }
}

/// A block id that is not `shuffle_<shuffleId>_<mapId>_<reduceId>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("block id {shown:?} refused: {reason}")]
pub struct BlockIdError {
    /// The id as received (cut to 64 characters for display).
    pub shown: String,
    pub reason: &'static str,
}

impl BlockIdError {
    fn new(text: &str, reason: &'static str) -> Self {
        let shown = if text.chars().count() > MAX_LEN {
            let mut s: String = text.chars().take(MAX_LEN).collect();
            s.push('…');
            s
        } else {
            text.to_string()
        };
        Self { shown, reason }
    }
}

/// Parses a canonical decimal: digits only, no sign, no leading zero.
fn number<T: FromStr>(s: &str) -> Option<T> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if canonical {
        s.parse().ok()
    } else {
        None
    }
}

impl FromStr for BlockId {
    type Err = BlockIdError;

    fn from_str(text: &str) -> Result<Self, BlockIdError> {
        let err = |reason| BlockIdError::new(text, reason);
        if text.contains('/') || text.contains('\\') || text.contains("..") || text.contains('\0') {
            return Err(err(
                "a path, not a block id (it would escape the application's directories)",
            ));
        }
        if text.len() > MAX_LEN {
            return Err(err("too long for a block id"));
        }
        let shape = "expected shuffle_<shuffleId>_<mapId>_<reduceId> in decimal";
        let rest = text.strip_prefix("shuffle_").ok_or_else(|| err(shape))?;
        let mut fields = rest.split('_');
        let (Some(s), Some(m), Some(r), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(err(shape));
        };
        match (number(s), number(m), number(r)) {
            (Some(shuffle_id), Some(map_id), Some(reduce_id)) => Ok(Self {
                shuffle_id,
                map_id,
                reduce_id,
            }),
            _ => Err(err(shape)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_spark_form() {
        let b = BlockId::new(3, 17, 0);
        assert_eq!(b.to_string(), "shuffle_3_17_0");
        assert_eq!("shuffle_3_17_0".parse::<BlockId>().unwrap(), b);
        let big = BlockId::new(u32::MAX, u64::MAX, u32::MAX);
        assert_eq!(big.to_string().parse::<BlockId>().unwrap(), big);
    }

    #[test]
    fn strict_parse_refuses_everything_else() {
        for bad in [
            "",
            "shuffle_",
            "shuffle_1_2",
            "shuffle_1_2_3_4",
            "shuffle_1__3",
            "shuffle_01_2_3",
            "shuffle_+1_2_3",
            "shuffle_-1_2_3",
            "shuffle_1_2_3 ",
            " shuffle_1_2_3",
            "shuffle_1_2_x",
            "shuffle_4294967296_2_3",
            "shuffle_1_18446744073709551616_3",
            "SHUFFLE_1_2_3",
            "rdd_1_2",
            "shuffle_1_2_3.data",
            "shuffle_1_2_٣",
        ] {
            let e = bad.parse::<BlockId>().unwrap_err();
            assert!(e.to_string().contains("refused"), "{bad}: {e}");
            assert!(e.to_string().contains(&format!("{bad:?}")), "{bad}: {e}");
        }
    }

    #[test]
    fn escaping_ids_are_named_as_paths() {
        for bad in [
            "../shuffle_1_2_3",
            "shuffle_1_2_3/..",
            "/etc/passwd",
            "shuffle_1_2_..",
            "..",
            "a\\b",
            "shuffle_1\0_2_3",
        ] {
            let e = bad.parse::<BlockId>().unwrap_err();
            assert!(e.reason.contains("escape"), "{bad}: {e}");
        }
    }

    #[test]
    fn long_ids_are_cut_in_the_message() {
        let long = format!("shuffle_{}", "1".repeat(10_000));
        let e = long.parse::<BlockId>().unwrap_err();
        assert!(e.to_string().len() < 200, "{e}");
    }
}
