//! A user's own Spindle application: its own functions, registered in its own
//! binary, run through the public RDD API.
//!
//! Build: `cargo build --release --example user_app`; submit the binary with
//! `spindle-submit --master spindle://HOST:PORT --deploy-mode cluster
//! target/release/examples/user_app [N]`, or run it directly to run locally.

use appmaster::rdd::{AddU64, FilterFn, MapFn, SparkContext};
use serde::{Deserialize, Serialize};

/// `x³` (wrapping, so the sum is mod 2^64).
#[derive(Serialize, Deserialize)]
struct Cube;

impl MapFn for Cube {
    type In = i64;
    type Out = i64;
    fn call(&self, x: i64) -> i64 {
        x.wrapping_mul(x).wrapping_mul(x)
    }
}

/// Keeps even numbers.
#[derive(Serialize, Deserialize)]
struct IsEven;

impl FilterFn for IsEven {
    type In = i64;
    fn call(&self, x: &i64) -> bool {
        x % 2 == 0
    }
}

/// A cube's last decimal digit, and 1 (to count them).
#[derive(Serialize, Deserialize)]
struct LastDigit;

impl MapFn for LastDigit {
    type In = i64;
    type Out = (u8, u64);
    fn call(&self, x: i64) -> (u8, u64) {
        (x.rem_euclid(10) as u8, 1)
    }
}

appmaster::register_map!(Cube, LastDigit);
appmaster::register_filter!(IsEven);
// (u8, u64) is not a built-in pair type: shuffles need it registered.
appmaster::register_pair!(u8, u64);

fn user_main(sc: &SparkContext) -> anyhow::Result<()> {
    let n: i64 = match std::env::args().nth(1) {
        Some(a) => a
            .parse()
            .map_err(|_| anyhow::anyhow!("N must be an integer, not {a:?}"))?,
        None => 1_000_000,
    };
    let cubes = sc.range(0, n).map(Cube);
    let even = cubes.filter(IsEven).count()?;
    let sum = cubes.sum()? as u64;
    println!("even cubes in range(0, {n}): {even}");
    println!("sum of cubes mod 2^64: {sum}");
    // A shuffle: cubes counted by last digit, sorted by digit.
    let by_digit = cubes
        .map(LastDigit)
        .reduce_by_key(AddU64, None)
        .sort_by_key(true, None)?
        .collect()?;
    for (digit, count) in by_digit {
        println!("cubes ending in {digit}: {count}");
    }
    Ok(())
}

fn main() {
    appmaster::run_app(user_main)
}
