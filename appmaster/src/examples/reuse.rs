//! `ShuffleReuse`: one shuffle, two jobs with a pause between them, then the
//! shuffle is released and the driver waits again. It shows (and the tests
//! check) that map output outlives an executor with the shuffle service, is
//! recomputed without it, keeps executors under shuffle tracking while live,
//! and lets them go once released.

use super::Flags;
use crate::rdd::{AddI64, SparkContext};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// `x -> (x mod keys, 1)`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct ModKey {
    pub keys: i64,
}

crate::map_fn!(ModKey, |&self, x: i64| -> (i64, i64) { (x % self.keys, 1) });

crate::register_map!(ModKey);

pub(crate) fn run(sc: &SparkContext, args: &[String]) -> anyhow::Result<()> {
    let flags = Flags::parse(
        "ShuffleReuse",
        args,
        &[
            "records",
            "keys",
            "partitions",
            "pause-ms",
            "after-release-ms",
        ],
    )?;
    let records = flags.u64("records", 100_000)? as i64;
    let keys = flags.u64("keys", 100)?.max(1) as i64;
    let parts = flags.u64("partitions", 4)?.max(1) as u32;
    let pause = flags.u64("pause-ms", 3000)?;
    let after = flags.u64("after-release-ms", 0)?;
    {
        let counts = sc
            .range_with(0, records, 1, Some(parts))
            .map(ModKey { keys })
            .reduce_by_key(AddI64, Some(parts));
        let n = counts.count()?;
        println!("job 1: {n} keys");
        println!("map stage done; pausing {pause} ms");
        std::thread::sleep(Duration::from_millis(pause));
        let all = counts.collect()?;
        let expected = |k: i64| records / keys + i64::from(k < records % keys);
        let wrong = all.iter().filter(|(k, c)| *c != expected(*k)).count();
        if all.len() as i64 != keys.min(records) || wrong > 0 {
            anyhow::bail!("job 2: {} keys, {wrong} wrong counts", all.len());
        }
        println!("job 2: {} keys, all counts right", all.len());
    }
    // The RDDs are dropped: their shuffle is released.
    println!("shuffle released; waiting {after} ms");
    std::thread::sleep(Duration::from_millis(after));
    Ok(())
}
