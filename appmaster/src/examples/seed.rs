//! `SeedRangeSquareCount [N]`: the seed workload.

use crate::rdd::SparkContext;
use anyhow::Context as _;
use serde::{Deserialize, Serialize};

/// `x * x` (wrapping).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Square;

crate::map_fn!(Square, |x: i64| -> i64 { x.wrapping_mul(x) });

crate::register_map!(Square);

/// The count and the sum of squares mod 2^64 of `range(0, n)`.
pub(crate) fn compute(sc: &SparkContext, n: i64) -> anyhow::Result<(u64, u64)> {
    // Two streaming jobs: caching the squares would hold the whole range in
    // executor memory, and recomputing them is cheaper than that.
    let squares = sc.range(0, n).map(Square);
    let count = squares.count()?;
    let sum = squares.sum()? as u64;
    Ok((count, sum))
}

pub(crate) fn run(sc: &SparkContext, args: &[String]) -> anyhow::Result<()> {
    let n: i64 = match args {
        [] => 10_000_000,
        [n] => n
            .trim()
            .parse()
            .with_context(|| format!("SeedRangeSquareCount: N must be an integer, not {n:?}"))?,
        _ => anyhow::bail!("SeedRangeSquareCount takes at most one argument, N; got {args:?}"),
    };
    let (count, sum) = compute(sc, n)?;
    println!("count: {count}");
    println!("sum of squares mod 2^64: {sum}");
    Ok(())
}
