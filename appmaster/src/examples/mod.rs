//! The built-in example applications, run by the stock `appmaster` binary:
//! `spindle-submit --class NAME appmaster ARGS...` (a Spark-style qualified
//! name such as `org.apache.spark.examples.SparkPi` works too).

mod bursty;
mod failing;
mod group;
mod pi;
mod reuse;
mod seed;
mod sort;
mod stragglers;
mod wordcount;
mod words;

use crate::rdd::SparkContext;
use anyhow::{anyhow, bail};
use std::collections::BTreeMap;

pub use bursty::{Work, WorkKind};
pub use failing::Fail;
pub use group::{GroupStats, KeyedRecord, SummarizeGroups};
pub use pi::PiSampler;
pub use reuse::ModKey;
pub use seed::Square;
pub use sort::{generated_records, GenRecords, PartStats, Summarize};
pub use stragglers::{slow_tasks, Straggle};
pub use wordcount::{GenLine, SplitSpaces, TopWords, WordOne};
pub use words::{Longest, SplitWords, WordLen};

/// The examples: (class, arguments, what it does).
pub const EXAMPLES: &[(&str, &str, &str)] = &[
    (
        "SeedRangeSquareCount",
        "[N]",
        "range(0, N).map(x*x).count() and the sum of squares mod 2^64 (N default 10000000)",
    ),
    (
        "SparkPi",
        "[slices]",
        "estimates pi from 100000 random points per slice (slices default 2)",
    ),
    (
        "Bursty",
        "[--jobs J] [--tasks T] [--task-ms MS] [--gap-ms G] [--work sleep|cpu]",
        "J jobs of T tasks of MS ms each, G ms apart (defaults 3, 10, 500, 5000, sleep)",
    ),
    (
        "Stragglers",
        "[--tasks T] [--task-ms MS] [--slow-fraction F] [--slow-factor K] [--work sleep|cpu]",
        "one stage of T tasks of MS ms; the last round(F x T) take K x MS on their first attempt only, so speculative copies can win (defaults 40, 200, 0.05, 10, sleep)",
    ),
    (
        "FailingTask",
        "[--message M]",
        "a job whose every task fails with M (default \"task failed on purpose\")",
    ),
    (
        "WordLength",
        "[WORD...]",
        "counts the words of a text (default a built-in one), their total and longest length",
    ),
    (
        "WordCount",
        "INPUT | --generate N",
        "counts the words of a text file (or of N generated words: 5% alpha, 3% beta) with reduce_by_key; prints the top 20, distinct and total",
    ),
    (
        "Sort",
        "[--records N] [--partitions P]",
        "sorts N generated (u64, u64) records with sort_by_key and verifies the output is sorted and complete (N default 1000000)",
    ),
    (
        "GroupByKey",
        "[--records N] [--keys K] [--partitions P]",
        "groups N generated (key, value) records in K keys with group_by_key and verifies every group (defaults 1000000, 20000)",
    ),
    (
        "ShuffleReuse",
        "[--records N] [--keys K] [--partitions P] [--pause-ms MS] [--after-release-ms MS]",
        "reduce_by_key, then two jobs on its output MS ms apart, then releases the shuffle and waits",
    ),
];

/// Other names [`run_example`] answers to, as Spark's examples are named.
pub const ALIASES: &[&str] = &["JavaWordCount", "SortByKey"];

/// Every class name [`run_example`] runs (simple names; a qualified one runs by its last
/// part).
pub fn class_names() -> impl Iterator<Item = &'static str> {
    EXAMPLES.iter().map(|e| e.0).chain(ALIASES.iter().copied())
}

/// Runs the example `class` (its simple or qualified name) with `args`.
pub fn run_example(class: &str, sc: &SparkContext, args: &[String]) -> anyhow::Result<()> {
    let simple = class.trim().rsplit('.').next().unwrap_or_default();
    sc.set_call_site(Some(simple));
    match simple {
        "SeedRangeSquareCount" => seed::run(sc, args),
        "SparkPi" => pi::run(sc, args),
        "Bursty" => bursty::run(sc, args),
        "Stragglers" => stragglers::run(sc, args),
        "FailingTask" => failing::run(sc, args),
        "WordLength" => words::run(sc, args),
        "WordCount" | "JavaWordCount" => wordcount::run(sc, args),
        "Sort" | "SortByKey" => sort::run(sc, args),
        "GroupByKey" => group::run(sc, args),
        "ShuffleReuse" => reuse::run(sc, args),
        "" => bail!("no example class given (--class NAME); {}", known()),
        other => bail!("unknown example class {other:?}; {}", known()),
    }
}

fn known() -> String {
    let names: Vec<&str> = EXAMPLES.iter().map(|e| e.0).collect();
    format!("the built-in examples are {}", names.join(", "))
}

/// An example's `--flag value` / `--flag=value` arguments.
pub(crate) struct Flags {
    /// The example's class, for messages.
    class: &'static str,
    values: BTreeMap<String, String>,
}

impl Flags {
    /// Parses `args`, all of them flags in `known`.
    pub(crate) fn parse(
        class: &'static str,
        args: &[String],
        known: &[&str],
    ) -> anyhow::Result<Self> {
        let mut values = BTreeMap::new();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let Some(flag) = arg.strip_prefix("--") else {
                bail!(
                    "{class}: unexpected argument {arg:?} (flags: {})",
                    flag_list(known)
                );
            };
            let (name, value) = match flag.split_once('=') {
                Some((n, v)) => (n, v.to_string()),
                None => {
                    if !known.contains(&flag) {
                        bail!(
                            "{class}: unknown flag --{flag} (flags: {})",
                            flag_list(known)
                        );
                    }
                    let v = it
                        .next()
                        .ok_or_else(|| anyhow!("{class}: flag --{flag} needs a value"))?;
                    (flag, v.clone())
                }
            };
            if !known.contains(&name) {
                bail!(
                    "{class}: unknown flag --{name} (flags: {})",
                    flag_list(known)
                );
            }
            values.insert(name.to_string(), value);
        }
        Ok(Self { class, values })
    }

    /// A flag's value as given.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// A flag's value as a non-negative integer, or `default`.
    pub(crate) fn u64(&self, name: &str, default: u64) -> anyhow::Result<u64> {
        let class = self.class;
        match self.get(name) {
            None => Ok(default),
            Some(v) => v.trim().parse().map_err(|_| {
                anyhow!(
                    "{class}: invalid value for --{name}: {v:?} (expected a non-negative integer)"
                )
            }),
        }
    }
}

/// Records per shuffle partition by default: 8 million, about 128 MB of shuffle data
/// (Spark's input split size), so that a partition spills a few runs at most.
const RECORDS_PER_PARTITION: u64 = 8_000_000;

/// The partitions of an example shuffling `records` records: the default
/// parallelism, at least one per [RECORDS_PER_PARTITION].
fn default_partitions(sc: &SparkContext, records: u64) -> u64 {
    u64::from(sc.default_parallelism()).max(records.div_ceil(RECORDS_PER_PARTITION))
}

fn flag_list(known: &[&str]) -> String {
    known
        .iter()
        .map(|k| format!("--{k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// SplitMix64: a small, fast PRNG (good enough for sampling).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests;
