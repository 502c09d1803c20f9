//! `SparkPi [slices]`: Spark's Monte Carlo estimate of pi.

use super::SplitMix64;
use crate::rdd::{Elements, MapPartitionsFn, SparkContext};
use anyhow::Context as _;
use serde::{Deserialize, Serialize};

/// Throws one random point in [-1, 1]^2 per input element and emits how many
/// fell inside the unit circle (one element per partition). Each partition
/// draws from its own generator, seeded from `seed` and the partition index.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct PiSampler {
    pub seed: u64,
}

impl MapPartitionsFn for PiSampler {
    type In = i64;
    type Out = u64;
    fn call(self, partition: u32, input: Elements<i64>) -> Elements<u64> {
        let seed = self.seed ^ (u64::from(partition) + 1).wrapping_mul(0xD1B5_4A32_D192_ED03);
        Box::new(std::iter::once_with(move || {
            let mut rng = SplitMix64::new(seed);
            let mut inside = 0u64;
            for _ in input {
                let x = rng.next_f64() * 2.0 - 1.0;
                let y = rng.next_f64() * 2.0 - 1.0;
                if x * x + y * y <= 1.0 {
                    inside += 1;
                }
            }
            inside
        }))
    }
}

crate::register_map_partitions!(PiSampler);

/// Spark's estimate with `slices` partitions of 100000 points each.
pub(crate) fn estimate(sc: &SparkContext, slices: u32) -> anyhow::Result<f64> {
    let n = (100_000i64 * i64::from(slices)).min(i64::from(i32::MAX));
    let inside = sc
        .range_with(1, n, 1, Some(slices))
        .map_partitions(PiSampler {
            seed: 0x5EED_5A4B_0000_0001,
        })
        .sum()?;
    Ok(4.0 * inside as f64 / (n - 1) as f64)
}

pub(crate) fn run(sc: &SparkContext, args: &[String]) -> anyhow::Result<()> {
    let slices: u32 =
        match args {
            [] => 2,
            [s] => s.trim().parse().ok().filter(|&s| s > 0).with_context(|| {
                format!("SparkPi: slices must be a positive integer, not {s:?}")
            })?,
            _ => anyhow::bail!("SparkPi takes at most one argument, slices; got {args:?}"),
        };
    println!("Pi is roughly {}", estimate(sc, slices)?);
    Ok(())
}
