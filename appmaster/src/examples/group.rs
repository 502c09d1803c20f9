//! `GroupByKey [--records N] [--keys K] [--partitions P]`: groups N generated
//! `(key, value)` records in K keys with `group_by_key` and checks every group.
//!
//! Record `i` (made on the executors from `range(0, N)`) is `(key(i % K), i)`, where
//! `key` scrambles its argument one-to-one; so with N ≥ K there are exactly K groups,
//! each of N / K or N / K + 1 values. Nothing is collected: each output partition is
//! summarized on the executors (groups, values, a checksum of the values, values
//! filed under the wrong key, the largest group), and the driver checks the sums.
//! P defaults as `Sort`'s: the default parallelism, at least one partition per 8
//! million records.

use super::{Flags, SplitMix64};
use crate::rdd::{Elements, MapPartitionsFn, SparkContext};
use anyhow::bail;
use serde::{Deserialize, Serialize};

/// The key of record `i`: `i % keys`, scrambled.
fn key_of(i: u64, keys: u64) -> u64 {
    SplitMix64::new(i % keys).next_u64()
}

/// `i` → `(key(i % keys), i)`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct KeyedRecord {
    pub keys: u64,
}

crate::map_fn!(KeyedRecord, |&self, i: i64| -> (u64, u64) {
    (key_of(i as u64, self.keys), i as u64)
});

/// An output partition's summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupStats {
    pub groups: u64,
    pub values: u64,
    /// Wrapping sum of the values.
    pub value_sum: u64,
    /// Values in a group that is not their key's.
    pub misfiled: u64,
    /// Groups holding a key seen in an earlier group of the partition.
    pub repeated_keys: u64,
    pub largest: u64,
}

/// Summarizes each partition of groups into one [GroupStats].
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct SummarizeGroups {
    pub keys: u64,
}

impl MapPartitionsFn for SummarizeGroups {
    type In = (u64, Vec<u64>);
    type Out = GroupStats;
    fn call(self, _partition: u32, input: Elements<(u64, Vec<u64>)>) -> Elements<GroupStats> {
        Box::new(std::iter::once_with(move || {
            let mut s = GroupStats::default();
            let mut seen = std::collections::HashSet::new();
            for (k, vs) in input {
                s.groups += 1;
                if !seen.insert(k) {
                    s.repeated_keys += 1;
                }
                s.values += vs.len() as u64;
                s.largest = s.largest.max(vs.len() as u64);
                for v in vs {
                    s.value_sum = s.value_sum.wrapping_add(v);
                    if key_of(v, self.keys) != k {
                        s.misfiled += 1;
                    }
                }
            }
            s
        }))
    }
}

crate::register_map!(KeyedRecord);
crate::register_map_partitions!(SummarizeGroups);

/// Checks the partitions' summaries of grouping `records` records in `keys` keys;
/// returns the totals.
pub(crate) fn check(records: u64, keys: u64, parts: &[GroupStats]) -> anyhow::Result<GroupStats> {
    let mut t = GroupStats::default();
    for p in parts {
        t.groups += p.groups;
        t.values += p.values;
        t.value_sum = t.value_sum.wrapping_add(p.value_sum);
        t.misfiled += p.misfiled;
        t.repeated_keys += p.repeated_keys;
        t.largest = t.largest.max(p.largest);
    }
    let want_groups = records.min(keys);
    // 0 + 1 + ... + (N - 1), wrapping as the executors add.
    let want_sum = if records.is_multiple_of(2) {
        (records / 2).wrapping_mul(records.wrapping_sub(1))
    } else {
        records.wrapping_mul((records - 1) / 2)
    };
    if t.values != records {
        bail!("the groups hold {} values, not {records}", t.values);
    }
    if t.groups != want_groups {
        bail!("{} groups, not {want_groups}", t.groups);
    }
    if t.misfiled > 0 || t.repeated_keys > 0 {
        bail!(
            "{} values under the wrong key, {} keys in two groups",
            t.misfiled,
            t.repeated_keys
        );
    }
    if t.value_sum != want_sum {
        bail!("the values differ from the records' (checksums differ)");
    }
    if t.largest != records.div_ceil(keys.max(1)) {
        bail!(
            "the largest group has {} values, not {}",
            t.largest,
            records.div_ceil(keys.max(1))
        );
    }
    Ok(t)
}

pub(crate) fn run(sc: &SparkContext, args: &[String]) -> anyhow::Result<()> {
    let flags = Flags::parse("GroupByKey", args, &["records", "keys", "partitions"])?;
    let n = flags.u64("records", 1_000_000)?;
    let keys = flags.u64("keys", 20_000)?;
    if n > i64::MAX as u64 {
        bail!("GroupByKey: --records is too large");
    }
    if keys == 0 {
        bail!("GroupByKey: --keys must be a positive number");
    }
    let p = flags.u64("partitions", super::default_partitions(sc, n))?;
    if p == 0 || p > u64::from(u32::MAX) {
        bail!("GroupByKey: --partitions must be a positive number, not {p}");
    }
    let groups = sc
        .range_with(0, n as i64, 1, Some(p as u32))
        .map(KeyedRecord { keys })
        .group_by_key(Some(p as u32));
    let parts = groups.map_partitions(SummarizeGroups { keys }).collect()?;
    let t = check(n, keys, &parts)?;
    println!("groups: {}", t.groups);
    println!("largest group: {}", t.largest);
    println!("grouped {n} records in {} keys: ok", t.groups);
    Ok(())
}
