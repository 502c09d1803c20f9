//! Memory-bounded shuffles: every wide operation gives the same answer when it
//! spills (forced by `spark.shuffle.spill.numElementsForceSpillThreshold`, or by a
//! small memory region) as when it does not, spills on both sides of the shuffle,
//! and leaves no spill file behind.

use super::record::fmix64;
use super::*;
use am_core::plan::SpillMetrics;
use common::resource::ExecutorMemory;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

const N: i64 = 20_000;

/// `x` → (a scrambled key below `keys`, x).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Mix {
    keys: u64,
}
map_fn!(Mix, |&self, x: i64| -> (u64, u64) {
    (fmix64(x as u64) % self.keys, x as u64)
});

/// `x` → (a word for a scrambled key below `keys`, 1).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Word {
    keys: u64,
}
map_fn!(Word, |&self, x: i64| -> (String, u64) {
    (format!("w{}", fmix64(x as u64) % self.keys), 1)
});

crate::register_map!(Mix, Word);

/// 0..N in four partitions, keyed by [`Mix`]: the input of most tests.
fn mixed(sc: &SparkContext, keys: u64) -> Rdd<(u64, u64)> {
    sc.range_with(0, N, 1, Some(4)).map(Mix { keys })
}

struct Run {
    runner: Arc<LocalRunner>,
    sc: SparkContext,
    dir: tempfile::TempDir,
}

fn run(memory: Option<ExecutorMemory>) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let mut runner = LocalRunner::new(2);
    if let Some(m) = memory {
        runner = runner.with_memory(m, dir.path().join("spill"));
    }
    let runner = Arc::new(runner);
    let sc = SparkContext::new(
        runner.clone(),
        BTreeMap::new(),
        "app".into(),
        "spill".into(),
    );
    Run { runner, sc, dir }
}

/// What the map stages and the result stages of the runner's jobs spilled.
fn spilled(runner: &LocalRunner) -> (SpillMetrics, SpillMetrics) {
    let (mut map, mut result) = (SpillMetrics::default(), SpillMetrics::default());
    for job in runner.jobs() {
        for s in &job.map_stages {
            map.add(&s.spill);
        }
        for o in &job.outputs {
            result.add(&o.spill);
        }
    }
    (map, result)
}

/// Runs `job` without limits, then spilling two ways (forced every 50 elements; a
/// 16 KiB region, well below what any task holds, fetched 4 KiB at a time): the same answer, spills on the map and
/// the reduce side, no spill files left.
fn same_answer_spilling<T: PartialEq + Debug>(job: impl Fn(&SparkContext) -> T) {
    let plain = run(None);
    let want = job(&plain.sc);
    let (m, r) = spilled(&plain.runner);
    assert_eq!(
        (m.spills, r.spills),
        (0, 0),
        "nothing spills without a limit"
    );
    let ways = [
        ExecutorMemory {
            unified_pool_bytes: 1 << 40,
            force_spill_elements: Some(50),
            max_bytes_in_flight: 48 << 20,
        },
        ExecutorMemory {
            unified_pool_bytes: 16 << 10,
            force_spill_elements: None,
            max_bytes_in_flight: 4 << 10,
        },
    ];
    for way in ways {
        let r = run(Some(way));
        assert_eq!(job(&r.sc), want, "{way:?}");
        let (map, result) = spilled(&r.runner);
        for (side, m) in [("map", map), ("reduce", result)] {
            assert!(
                m.spills > 0 && m.memory_bytes_spilled > 0 && m.disk_bytes_spilled > 0,
                "the {side} side did not spill under {way:?}: {m:?}"
            );
        }
        let left: Vec<_> = std::fs::read_dir(r.dir.path().join("spill"))
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "spill files left: {left:?}");
        assert_eq!(r.runner.memory().execution_used(), 0);
    }
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

#[test]
fn reduce_by_key_with_map_side_combine() {
    same_answer_spilling(|sc| {
        let counts = sc
            .range_with(0, N, 1, Some(4))
            .map(Word { keys: 3000 })
            .reduce_by_key(AddU64, Some(3))
            .collect()
            .unwrap();
        assert_eq!(counts.iter().map(|c| c.1).sum::<u64>(), N as u64);
        sorted(counts)
    });
}

#[test]
fn group_by_key_keeps_the_order_values_came_in() {
    same_answer_spilling(|sc| {
        let groups = mixed(sc, 500).group_by_key(Some(3)).collect().unwrap();
        let mut groups = groups;
        // Keys come in any order; each key's values in the order they were read.
        groups.sort_by_key(|g| g.0);
        groups
    });
}

#[test]
fn sort_by_key_both_ways_with_equal_keys() {
    for ascending in [true, false] {
        same_answer_spilling(|sc| {
            let out = mixed(sc, 5000)
                .sort_by_key(ascending, Some(4))
                .unwrap()
                .collect()
                .unwrap();
            let keys: Vec<u64> = out.iter().map(|r| r.0).collect();
            let mut want = keys.clone();
            want.sort_by(|a, b| if ascending { a.cmp(b) } else { b.cmp(a) });
            assert_eq!(keys, want);
            out
        });
    }
}

#[test]
fn join_pairs_every_value_of_a_key() {
    same_answer_spilling(|sc| {
        let left = sc.range_with(0, N, 1, Some(3)).map(Mix { keys: 2000 });
        let right = sc.range_with(0, N / 2, 1, Some(2)).map(Mix { keys: 2000 });
        sorted(left.join(&right, Some(3)).collect().unwrap())
    });
}

#[test]
fn repartition_and_partition_by_keep_every_record_in_order() {
    same_answer_spilling(|sc| {
        let rdd = mixed(sc, 100);
        let dealt = rdd.repartition(3).collect().unwrap();
        assert_eq!(dealt.len(), N as usize);
        dealt
    });
    same_answer_spilling(|sc| {
        let rdd = mixed(sc, 100);
        rdd.partition_by(3).collect().unwrap()
    });
}
