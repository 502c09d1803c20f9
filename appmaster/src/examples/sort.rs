//! `Sort --records N [--partitions P]`: sorts N generated key/value records
//! with `sort_by_key` and verifies the result is sorted and complete.
//!
//! The records are made on the executors: partition `p` of `range(0, N)`
//! (P partitions) maps record `i` to `(key, i)`, the key drawn from a
//! generator seeded by `p`. Nothing is collected: each partition of the input
//! and of the sorted output is summarized on the executors (count, min, max,
//! checksums, sorted or not), and the driver checks the summaries: every
//! output partition sorted, each one's keys not below the previous one's,
//! and the count and checksums equal to the input's. P defaults to the
//! default parallelism, at least one partition per 8 million records (about
//! 128 MB of shuffle data, Spark's input split size; a partition larger than
//! its task's memory spills and merges).

use super::{Flags, SplitMix64};
use crate::rdd::{Elements, MapPartitionsFn, Rdd, SparkContext};
use anyhow::bail;
use serde::{Deserialize, Serialize};

const SEED: u64 = 0x50F7_0000_0000_0001;

/// Record `i` of partition `p`: a key from the partition's generator, and `i`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct GenRecords {
    pub seed: u64,
}

impl MapPartitionsFn for GenRecords {
    type In = i64;
    type Out = (u64, u64);
    fn call(self, partition: u32, input: Elements<i64>) -> Elements<(u64, u64)> {
        let mut rng = SplitMix64::new(
            self.seed ^ (u64::from(partition) + 1).wrapping_mul(0xA24B_AED4_963E_E407),
        );
        Box::new(input.map(move |i| (rng.next_u64(), i as u64)))
    }
}

/// A partition's summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartStats {
    pub partition: u32,
    pub count: u64,
    pub min: Option<u64>,
    pub max: Option<u64>,
    /// Wrapping sum of `mix(key)`.
    pub key_sum: u64,
    /// Wrapping sum of `mix(key ^ mix(value))`: records stay whole.
    pub pair_sum: u64,
    /// Keys never decrease.
    pub sorted: bool,
}

/// Summarizes each partition into one [PartStats].
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Summarize;

impl MapPartitionsFn for Summarize {
    type In = (u64, u64);
    type Out = PartStats;
    fn call(self, partition: u32, input: Elements<(u64, u64)>) -> Elements<PartStats> {
        Box::new(std::iter::once_with(move || {
            let mut s = PartStats {
                partition,
                count: 0,
                min: None,
                max: None,
                key_sum: 0,
                pair_sum: 0,
                sorted: true,
            };
            let mut last: Option<u64> = None;
            for (k, v) in input {
                s.count += 1;
                s.min = Some(s.min.map_or(k, |m| m.min(k)));
                s.max = Some(s.max.map_or(k, |m| m.max(k)));
                s.key_sum = s.key_sum.wrapping_add(mix(k));
                s.pair_sum = s.pair_sum.wrapping_add(mix(k ^ mix(v)));
                if last.is_some_and(|l| k < l) {
                    s.sorted = false;
                }
                last = Some(k);
            }
            s
        }))
    }
}

crate::register_map_partitions!(GenRecords, Summarize);

fn mix(x: u64) -> u64 {
    SplitMix64::new(x).next_u64()
}

/// The generated records.
pub(crate) fn records(sc: &SparkContext, n: u64, partitions: u32) -> Rdd<(u64, u64)> {
    sc.range_with(0, n as i64, 1, Some(partitions))
        .map_partitions(GenRecords { seed: SEED })
}

/// The records `Sort --records n --partitions partitions` sorts, in partition
/// order, made here (for comparisons outside Spindle: the sort bench).
pub fn generated_records(n: u64, partitions: u32) -> impl Iterator<Item = (u64, u64)> {
    let parts = u64::from(partitions.max(1));
    (0..parts).flat_map(move |p| {
        // range(0, n)'s slice p of `parts`, as `SparkContext::range` splits it.
        let (lo, hi) = (
            (u128::from(n) * u128::from(p) / u128::from(parts)) as i64,
            (u128::from(n) * u128::from(p + 1) / u128::from(parts)) as i64,
        );
        GenRecords { seed: SEED }.call(p as u32, Box::new(lo..hi))
    })
}

/// What the check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SortCheck {
    pub(crate) records: u64,
    pub(crate) partitions: u32,
}

/// Sorts `n` records in `partitions` partitions and checks the output.
pub(crate) fn sort_and_check(
    sc: &SparkContext,
    n: u64,
    partitions: u32,
) -> anyhow::Result<SortCheck> {
    let input = records(sc, n, partitions);
    let before = input.map_partitions(Summarize).collect()?;
    let sorted = input.sort_by_key(true, Some(partitions))?;
    let after = sorted.map_partitions(Summarize).collect()?;
    check(&before, &after)?;
    Ok(SortCheck {
        records: after.iter().map(|s| s.count).sum(),
        partitions: sorted.num_partitions(),
    })
}

/// Checks the sorted output's summaries against the input's.
pub(crate) fn check(input: &[PartStats], output: &[PartStats]) -> anyhow::Result<()> {
    let total = |s: &[PartStats]| {
        s.iter().fold((0u64, 0u64, 0u64), |(c, k, p), x| {
            (
                c + x.count,
                k.wrapping_add(x.key_sum),
                p.wrapping_add(x.pair_sum),
            )
        })
    };
    let (want, got) = (total(input), total(output));
    if want.0 != got.0 {
        bail!("the output has {} records, the input {}", got.0, want.0);
    }
    if want.1 != got.1 || want.2 != got.2 {
        bail!("the output's records differ from the input's (checksums differ)");
    }
    let mut prev: Option<(u32, u64)> = None;
    for s in output {
        if !s.sorted {
            bail!("output partition {} is not sorted", s.partition);
        }
        if let (Some((p, max)), Some(min)) = (prev, s.min) {
            if min < max {
                bail!(
                    "output partition {} starts at {min}, below the end of partition {p} ({max})",
                    s.partition
                );
            }
        }
        if let Some(max) = s.max {
            prev = Some((s.partition, max));
        }
    }
    Ok(())
}

pub(crate) fn run(sc: &SparkContext, args: &[String]) -> anyhow::Result<()> {
    let flags = Flags::parse("Sort", args, &["records", "partitions"])?;
    let n = flags.u64("records", 1_000_000)?;
    if n > i64::MAX as u64 {
        bail!("Sort: --records is too large");
    }
    let p = flags.u64("partitions", super::default_partitions(sc, n))?;
    if p == 0 || p > u64::from(u32::MAX) {
        bail!("Sort: --partitions must be a positive number, not {p}");
    }
    let r = sort_and_check(sc, n, p as u32)?;
    println!("partitions: {}", r.partitions);
    println!("sorted {} records: ok", r.records);
    Ok(())
}
