//! Wide operations, the shuffle task side and the local runner's stages.

use super::erased::Combiner;
use super::record::{fmix64, put_record, Records};
use super::registry::join_macro;
use super::shuffle::{self, determine_bounds, hash_partition, key_hash};
use super::*;
use am_core::ids::ShuffleId;
use am_core::plan::{
    Action, Block, BlockFetch, BlocksWriter, FetchFailed, FetchFailure, FuncRef, MapLocation,
    MapOutputId, MapOutputWriter, NewMapOutput, Op, Partitioner, Plan, ShuffleDep, ShuffleRead,
    ShuffleWrite, Source, StageSpec, TaskEnv, TaskSpec,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

fn ctx(threads: usize) -> (Arc<LocalRunner>, SparkContext) {
    ctx_with(threads, BTreeMap::new())
}

fn ctx_with(threads: usize, conf: BTreeMap<String, String>) -> (Arc<LocalRunner>, SparkContext) {
    let runner = Arc::new(LocalRunner::new(threads));
    let sc = SparkContext::new(runner.clone(), conf, "app-test".into(), "shuffle".into());
    (runner, sc)
}

/// `x` → (`"k{x % m}"`, 1).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct ModKey {
    m: i64,
}
map_fn!(ModKey, |&self, x: i64| -> (String, u64) {
    (format!("k{}", x % self.m), 1)
});

/// `x` → (`x % m`, x).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct ModPair {
    m: i64,
}
map_fn!(ModPair, |&self, x: i64| -> (i64, i64) { (x % self.m, x) });

/// A pseudo-random key for each `x`, and `x`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Scramble;
map_fn!(Scramble, |x: i64| -> (u64, u64) {
    (fmix64(x as u64) % 1_000_000, x as u64)
});

/// (word, count) → (count, word).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Swap;
map_fn!(Swap, |(w, n): (String, u64)| -> (u64, String) { (n, w) });

/// (k, v) → (k, "v{v}").
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Label;
map_fn!(Label, |(k, v): (String, u64)| -> (String, String) {
    (k, format!("v{v}"))
});

/// A user pair type with its own key type.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
struct Day(u16);

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct ToDay;
map_fn!(ToDay, |x: i64| -> (Day, i64) { (Day((x % 7) as u16), x) });

/// A pair type nobody registered.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct ToUnregistered;
map_fn!(ToUnregistered, |x: i64| -> (u8, i64) { (x as u8, x) });

/// The number of elements of each partition (one element per partition).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct Count<T>(PhantomData<T>);
impl<T: Data> MapPartitionsFn for Count<T> {
    type In = T;
    type Out = u64;
    fn call(self, _partition: u32, input: Elements<T>) -> Elements<u64> {
        Box::new(std::iter::once_with(move || input.count() as u64))
    }
}

crate::register_map!(
    ModKey,
    ModPair,
    Scramble,
    Swap,
    Label,
    ToDay,
    ToUnregistered
);
crate::register_map_partitions!(Count<i64>, Count<(u64, u64)>);
crate::register_pair!(Day, i64);
crate::register_join!(Day, i64, i64);

/// `range(0, n)` in 4 partitions, counted by key `"k{x % m}"` into `partitions`: what
/// [word_counts] says.
fn counted(sc: &SparkContext, n: i64, m: i64, partitions: u32) -> Rdd<(String, u64)> {
    sc.range_with(0, n, 1, Some(4))
        .map(ModKey { m })
        .reduce_by_key(AddU64, Some(partitions))
}

fn word_counts(n: i64, m: i64) -> BTreeMap<String, u64> {
    let mut want = BTreeMap::new();
    for x in 0..n {
        *want.entry(format!("k{}", x % m)).or_insert(0u64) += 1;
    }
    want
}

#[test]
fn reduce_by_key_counts_like_a_single_thread() {
    let (runner, sc) = ctx(3);
    let counts = counted(&sc, 10_000, 37, 5);
    assert_eq!(counts.num_partitions(), 5);
    let got: BTreeMap<String, u64> = counts.collect().unwrap().into_iter().collect();
    assert_eq!(got, word_counts(10_000, 37));
    // One map stage of 4 tasks, then the result stage.
    let job = runner.last_job().unwrap();
    assert_eq!(job.map_stages.len(), 1);
    assert_eq!(job.map_stages[0].partitions, vec![0, 1, 2, 3]);
    assert_eq!(job.partitions, vec![0, 1, 2, 3, 4]);
    // Map-side combine: each map task wrote at most one record per key.
    let sizes = runner.map_output_sizes(counts.shuffle_ids()[0]).unwrap();
    assert_eq!(sizes.len(), 4);
    let bytes: u64 = sizes.values().flatten().sum();
    assert!(
        bytes < 4 * 37 * 8,
        "{bytes} bytes for at most 4 x 37 records"
    );
    // Every key is in the partition the hash partitioner gives it.
    let parts = counts.map_partitions(KeysOfPartition).collect().unwrap();
    for (p, keys) in parts {
        for k in keys {
            let bytes = postcard::to_stdvec(&k).unwrap();
            assert_eq!(hash_partition(&bytes, 5), p, "{k}");
        }
    }
}

/// (partition, its keys).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct KeysOfPartition;
impl MapPartitionsFn for KeysOfPartition {
    type In = (String, u64);
    type Out = (u32, Vec<String>);
    fn call(self, partition: u32, input: Elements<(String, u64)>) -> Elements<(u32, Vec<String>)> {
        Box::new(std::iter::once_with(move || {
            (partition, input.map(|(k, _)| k).collect())
        }))
    }
}
crate::register_map_partitions!(KeysOfPartition);

#[test]
fn default_partitions_follow_spark() {
    let (_runner, sc) = ctx(2);
    let a = sc.range_with(0, 100, 1, Some(3)).map(ModKey { m: 5 });
    let b = sc.range_with(0, 100, 1, Some(7)).map(ModKey { m: 5 });
    // The parent's partitions, the larger parent's for a join.
    assert_eq!(a.reduce_by_key(AddU64, None).num_partitions(), 3);
    assert_eq!(a.group_by_key(None).num_partitions(), 3);
    assert_eq!(a.join(&b, None).num_partitions(), 7);
    // spark.default.parallelism wins when set.
    let conf = BTreeMap::from([("spark.default.parallelism".to_string(), "11".to_string())]);
    let (_runner, sc) = ctx_with(2, conf);
    let a = sc.range_with(0, 100, 1, Some(3)).map(ModKey { m: 5 });
    assert_eq!(a.reduce_by_key(AddU64, None).num_partitions(), 11);
    assert_eq!(a.reduce_by_key(AddU64, Some(2)).num_partitions(), 2);
    // Shuffle ids are fresh per wide op.
    let x = a.reduce_by_key(AddU64, None);
    let y = a.reduce_by_key(AddU64, None);
    assert_ne!(x.shuffle_ids(), y.shuffle_ids());
}

#[test]
fn group_by_key_and_partition_by() {
    let (_runner, sc) = ctx(2);
    let pairs = sc.range_with(0, 1000, 1, Some(3)).map(ModPair { m: 10 });
    let mut groups = pairs.group_by_key(Some(4)).collect().unwrap();
    groups.sort();
    assert_eq!(groups.len(), 10);
    for (k, mut vs) in groups {
        vs.sort();
        let want: Vec<i64> = (0..1000).filter(|x| x % 10 == k).collect();
        assert_eq!(vs, want);
    }
    let parted = pairs.partition_by(4);
    let mut all = parted.collect().unwrap();
    assert_eq!(all.len(), 1000);
    all.sort();
    let mut want: Vec<(i64, i64)> = (0..1000).map(|x| (x % 10, x)).collect();
    want.sort();
    assert_eq!(all, want);
    assert_eq!(parted.keys().count().unwrap(), 1000);
    assert_eq!(parted.values().sum().unwrap(), 499_500);
    // A user pair type.
    let days = sc.range_with(0, 70, 1, Some(2)).map(ToDay);
    let mut per_day = days.group_by_key(None).collect().unwrap();
    per_day.sort();
    assert_eq!(per_day.len(), 7);
    assert_eq!(per_day[3].0, Day(3));
    assert_eq!(per_day[3].1.len(), 10);
}

#[test]
fn sort_by_key_ascending_and_descending() {
    let (runner, sc) = ctx(3);
    let records = sc.range_with(0, 20_000, 1, Some(4)).map(Scramble);
    let mut want = records.collect().unwrap();
    want.sort_by_key(|r| r.0);
    let sorted = records.sort_by_key(true, Some(5)).unwrap();
    // The sampling job ran, then nothing else yet.
    assert!(runner
        .last_job()
        .unwrap()
        .description
        .starts_with("sortByKey at shuffle_tests.rs:"));
    assert_eq!(sorted.num_partitions(), 5);
    let got = sorted.collect().unwrap();
    assert_eq!(got.len(), want.len());
    let keys: Vec<u64> = got.iter().map(|r| r.0).collect();
    assert!(keys.windows(2).all(|w| w[0] <= w[1]));
    let mut got_sorted = got.clone();
    got_sorted.sort();
    let mut want_sorted = want.clone();
    want_sorted.sort();
    assert_eq!(got_sorted, want_sorted);
    // Balanced-ish: no partition holds more than twice its share.
    let sizes: Vec<u64> = sorted.map_partitions(Count::default()).collect().unwrap();
    assert_eq!(sizes.iter().sum::<u64>(), 20_000);
    assert!(sizes.iter().all(|&s| s < 8_000), "{sizes:?}");

    let desc = records
        .sort_by_key(false, Some(3))
        .unwrap()
        .collect()
        .unwrap();
    let keys: Vec<u64> = desc.iter().map(|r| r.0).collect();
    assert!(keys.windows(2).all(|w| w[0] >= w[1]));
    assert_eq!(keys.len(), 20_000);

    // One partition: no sampling job, one sorted partition.
    let before = runner.jobs().len();
    let one = records.sort_by_key(true, Some(1)).unwrap();
    assert_eq!(runner.jobs().len(), before);
    assert_eq!(one.num_partitions(), 1);
    assert_eq!(one.collect().unwrap().len(), 20_000);
}

#[test]
fn sort_with_few_distinct_keys_and_empty_input() {
    let (_runner, sc) = ctx(2);
    // 3 distinct keys cannot fill 8 partitions: fewer partitions (one per
    // distinct bound, plus the last), all sorted.
    let pairs = sc.range_with(0, 300, 1, Some(4)).map(ModPair { m: 3 });
    let sorted = pairs.sort_by_key(true, Some(8)).unwrap();
    assert!(sorted.num_partitions() <= 4, "{}", sorted.num_partitions());
    let keys: Vec<i64> = sorted.keys().collect().unwrap();
    assert_eq!(keys.len(), 300);
    assert!(keys.windows(2).all(|w| w[0] <= w[1]));
    // An empty RDD sorts to one empty partition.
    let empty = sc.range_with(0, 0, 1, Some(3)).map(ModPair { m: 3 });
    let sorted = empty.sort_by_key(true, None).unwrap();
    assert_eq!(sorted.num_partitions(), 1);
    assert!(sorted.collect().unwrap().is_empty());
    assert_eq!(empty.reduce_by_key(AddI64, None).count().unwrap(), 0);
}

#[test]
fn multi_level_reduce_then_sort_by_count() {
    let (runner, sc) = ctx(3);
    let counts = counted(&sc, 5_000, 13, 3);
    let by_count = counts.map(Swap).sort_by_key(false, Some(2)).unwrap();
    // The sampling job ran the reduce_by_key shuffle's map stage.
    let maps_before = runner.map_tasks_run();
    assert_eq!(maps_before, 4);
    let got = by_count.collect().unwrap();
    let job = runner.last_job().unwrap();
    // Only the new shuffle's map stage ran (3 tasks: the reduce side of the first).
    assert_eq!(job.map_stages.len(), 1);
    assert_eq!(job.map_stages[0].partitions, vec![0, 1, 2]);
    assert_eq!(runner.map_tasks_run(), maps_before + 3);
    let mut want: Vec<(u64, String)> = word_counts(5_000, 13)
        .into_iter()
        .map(|(w, n)| (n, w))
        .collect();
    want.sort_by_key(|x| std::cmp::Reverse(x.0));
    let got_counts: Vec<u64> = got.iter().map(|x| x.0).collect();
    let want_counts: Vec<u64> = want.iter().map(|x| x.0).collect();
    assert_eq!(got_counts, want_counts);
    let mut a = got.clone();
    a.sort();
    want.sort();
    assert_eq!(a, want);
    assert_eq!(by_count.shuffle_ids().len(), 2);
}

#[test]
fn join_is_an_inner_join() {
    let (runner, sc) = ctx(2);
    let pairs = |kvs: [(&str, u64); 4]| kvs.map(|(k, v)| (k.to_string(), v)).to_vec();
    let left = sc.parallelize(pairs([("a", 1), ("b", 2), ("a", 3), ("c", 4)]), Some(2));
    let right = sc.parallelize(pairs([("a", 10), ("a", 20), ("b", 30), ("d", 40)]), Some(3));
    let joined = left.join(&right, None);
    assert_eq!(joined.num_partitions(), 3);
    let mut got = joined.collect().unwrap();
    got.sort();
    let want: Vec<(String, (u64, u64))> = vec![
        ("a".into(), (1, 10)),
        ("a".into(), (1, 20)),
        ("a".into(), (3, 10)),
        ("a".into(), (3, 20)),
        ("b".into(), (2, 30)),
    ];
    assert_eq!(got, want);
    // Two map stages (one per side) before the result stage.
    let job = runner.last_job().unwrap();
    assert_eq!(job.map_stages.len(), 2);
    assert_eq!(job.map_stages[0].partitions, vec![0, 1]);
    assert_eq!(job.map_stages[1].partitions, vec![0, 1, 2]);
    // Different value types, and a join of two shuffled RDDs.
    let labels = right.map(Label);
    let mut got = left.join(&labels, Some(2)).collect().unwrap();
    got.sort();
    assert_eq!(got.len(), 5);
    assert_eq!(got[0], ("a".into(), (1, "v10".into())));
    let sums = left.reduce_by_key(AddU64, None);
    let mut got = sums
        .join(&right.reduce_by_key(AddU64, None), None)
        .collect()
        .unwrap();
    got.sort();
    assert_eq!(got, vec![("a".into(), (4, 30)), ("b".into(), (2, 30))]);
    // A user join type.
    let days = sc.range_with(0, 14, 1, Some(2)).map(ToDay);
    assert_eq!(days.join(&days, None).count().unwrap(), 28);
}

#[test]
fn repartition_keeps_every_element() {
    let (_runner, sc) = ctx(2);
    let rdd = sc.range_with(0, 1000, 1, Some(2));
    let more = rdd.repartition(7);
    assert_eq!(more.num_partitions(), 7);
    let mut all = more.collect().unwrap();
    all.sort();
    assert_eq!(all, (0..1000).collect::<Vec<i64>>());
    // Dealt round-robin: balanced within one element per map task.
    let sizes = more.map_partitions(Count::default()).collect().unwrap();
    assert_eq!(sizes.iter().sum::<u64>(), 1000);
    let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
    assert!(hi - lo <= 2, "{sizes:?}");
    // Fewer partitions, other element types.
    let words = sc
        .parallelize(
            (0..50).map(|i| format!("w{i}")).collect::<Vec<_>>(),
            Some(5),
        )
        .repartition(2);
    let mut got = words.collect().unwrap();
    got.sort();
    let mut want: Vec<String> = (0..50).map(|i| format!("w{i}")).collect();
    want.sort();
    assert_eq!(got, want);
    // Pairs repartition too.
    let pairs = sc.range_with(0, 100, 1, Some(3)).map(ModPair { m: 4 });
    assert_eq!(pairs.repartition(5).count().unwrap(), 100);
}

#[test]
fn partitioners_are_deterministic() {
    // The hash is pinned: it must be the same on every executor and release.
    assert_eq!(key_hash(b""), fmix64(0xcbf2_9ce4_8422_2325));
    assert_eq!(key_hash(b"a"), fmix64(0xaf63_dc4c_8601_ec8c));
    let records: Vec<(String, u64)> = (0..500).map(|i| (format!("key{}", i % 61), i)).collect();
    let write = |p: &Partitioner, map_id| {
        write_blocks(records.clone().into_iter(), p, map_id, None).unwrap()
    };
    for p in [
        Partitioner::Hash { partitions: 7 },
        Partitioner::RoundRobin { partitions: 7 },
        Partitioner::Range {
            partitions: 3,
            bounds: postcard::to_stdvec(&vec!["key2".to_string(), "key4".to_string()]).unwrap(),
            ascending: true,
        },
    ] {
        let (a, n) = write(&p, 3);
        let (b, _) = write(&p, 3);
        assert_eq!(n, 500);
        assert_eq!(a, b, "{p:?}");
        assert_eq!(a.len(), p.partitions() as usize);
    }
    // Range: keys up to a bound (inclusive) go below it.
    let bounds = postcard::to_stdvec(&vec![10i64, 20]).unwrap();
    let range = |ascending| Partitioner::Range {
        partitions: 3,
        bounds: bounds.clone(),
        ascending,
    };
    let pairs: Vec<(i64, i64)> = vec![(5, 0), (10, 0), (11, 0), (20, 0), (21, 0)];
    let (blocks, _) = write_blocks(pairs.clone().into_iter(), &range(true), 0, None).unwrap();
    let keys_of = |b: &Vec<u8>| -> Vec<i64> {
        let mut out = Vec::new();
        let mut recs = Records::new(vec![b.clone().into()]);
        while let Some(r) = recs.next_record() {
            out.push(postcard::from_bytes(r.unwrap().0).unwrap());
        }
        out
    };
    let got: Vec<Vec<i64>> = blocks.iter().map(keys_of).collect();
    assert_eq!(got, vec![vec![5, 10], vec![11, 20], vec![21]]);
    let (blocks, _) = write_blocks(pairs.into_iter(), &range(false), 0, None).unwrap();
    let got: Vec<Vec<i64>> = blocks.iter().map(keys_of).collect();
    assert_eq!(got, vec![vec![21], vec![11, 20], vec![5, 10]]);
    // Round-robin starts at a map-dependent position, then deals in turn.
    let rr = Partitioner::RoundRobin { partitions: 4 };
    let starts: Vec<usize> = (0..8u32)
        .map(|m| {
            let (b, _) = write_blocks(std::iter::once(((), 1u8)), &rr, m, None).unwrap();
            b.iter().position(|b| !b.is_empty()).unwrap()
        })
        .collect();
    assert!(starts.iter().any(|&s| s != starts[0]), "{starts:?}");
    // And the same job twice gives the same partitions in the same order.
    let (_runner, sc) = ctx(3);
    let counts = sc.range_with(0, 3000, 1, Some(3)).map(ModKey { m: 101 });
    let a = counts.reduce_by_key(AddU64, Some(4)).collect().unwrap();
    let b = counts.reduce_by_key(AddU64, Some(4)).collect().unwrap();
    assert_eq!(a, b);
}

#[test]
fn block_format_round_trips_and_detects_corruption() {
    let mut block = Vec::new();
    put_record(&mut block, b"k", b"value");
    put_record(&mut block, &[7u8; 200], b"");
    // varint(1) 'k' varint(5) "value" | varint(200) = [0xC8, 0x01] ...
    assert_eq!(&block[..8], &[1, b'k', 5, b'v', b'a', b'l', b'u', b'e']);
    assert_eq!(&block[8..10], &[0xC8, 0x01]);
    let mut recs = Records::new(vec![Block::new(), block.clone().into(), Block::new()]);
    assert_eq!(
        recs.next_record().unwrap().unwrap(),
        (&b"k"[..], &b"value"[..])
    );
    let (k, v) = recs.next_record().unwrap().unwrap();
    assert_eq!((k.len(), v.len()), (200, 0));
    assert!(recs.next_record().is_none());
    block.truncate(block.len() - 5);
    let mut recs = Records::new(vec![block.into()]);
    recs.next_record().unwrap().unwrap();
    let e = recs.next_record().unwrap().unwrap_err();
    assert!(e.contains("corrupt"), "{e}");
    assert!(recs.next_record().is_none());
}

#[test]
fn bounds_follow_the_weighted_sample() {
    let cands: Vec<(u32, f64)> = (0..100).map(|k| (k, 1.0)).collect();
    assert_eq!(determine_bounds(cands.clone(), 4), vec![24, 49, 74]);
    assert_eq!(determine_bounds(cands, 1), Vec::<u32>::new());
    // Heavier candidates take more of the weight.
    let cands = vec![(1u32, 10.0), (2, 1.0), (3, 1.0), (4, 10.0)];
    assert_eq!(determine_bounds(cands, 2), vec![2]);
    // Duplicates never repeat a bound.
    let cands: Vec<(u32, f64)> = (0..100).map(|k| (k / 50, 1.0)).collect();
    assert_eq!(determine_bounds(cands, 4), vec![0, 1]);
}

type Blocks = Vec<Vec<u8>>;

/// The map side's blocks of `records` and how many were written (memory unbounded).
fn write_blocks<K: Key, V: Data>(
    records: impl Iterator<Item = (K, V)>,
    p: &Partitioner,
    map_id: u32,
    combine: Option<Combiner<V>>,
) -> Result<(Blocks, u64), String> {
    let mem = Arc::new(MemoryManager::unbounded(None)).local_task();
    let out = Mutex::new(Vec::new());
    let mut w = BlocksWriter::new(p.partitions(), |b| {
        *out.lock().unwrap() = b;
        Ok(())
    });
    let n = shuffle::write_pairs(records, p, map_id, combine, &mem, &mut w)?;
    Box::new(w).commit()?;
    Ok((out.into_inner().unwrap(), n))
}

/// A [TaskEnv] that records writes and serves (or fails) fetches.
#[derive(Default)]
struct TestEnv {
    written: Mutex<Vec<(ShuffleId, u32, Blocks)>>,
    serve: Mutex<HashMap<(ShuffleId, u32), Blocks>>,
    fail_map: Option<u32>,
}

impl TaskEnv for TestEnv {
    fn map_output_writer(&self, id: MapOutputId) -> NewMapOutput<'_> {
        Ok(Box::new(BlocksWriter::new(id.partitions, move |blocks| {
            let mut written = self.written.lock().unwrap();
            written.push((id.shuffle_id, id.map_id, blocks));
            Ok(())
        })))
    }

    fn fetch(&self, f: BlockFetch<'_>) -> Result<Vec<Block>, FetchFailure> {
        let serve = self.serve.lock().unwrap();
        let block = |l: &MapLocation| match Some(l.map_id) == self.fail_map {
            true => Err(FetchFailure::new(l.map_id, "connection refused")),
            false => Ok(serve[&(f.shuffle_id, l.map_id)][f.reduce_id as usize]
                .clone()
                .into()),
        };
        f.locations.iter().map(block).collect()
    }
}

fn location(map_id: u32) -> MapLocation {
    MapLocation {
        map_id,
        executor: format!("exec-{map_id}").into(),
        host: format!("host{map_id}"),
        server: format!("host{map_id}:7337"),
        dir: "/tmp".into(),
        sizes: vec![],
    }
}

fn pairs_parent(maps: u32) -> Plan {
    Plan {
        source: Source::Range {
            start: 0,
            end: 100,
            step: 1,
            num_partitions: maps,
        },
        ops: vec![Op::Map(FuncRef {
            name: std::any::type_name::<ModKey>().into(),
            value: postcard::to_stdvec(&ModKey { m: 10 }).unwrap(),
        })],
    }
}

fn dep(shuffle_id: ShuffleId, maps: u32, reduces: u32) -> ShuffleDep {
    ShuffleDep {
        write: ShuffleWrite {
            shuffle_id,
            pair_type: std::any::type_name::<(String, u64)>().into(),
            partitioner: Partitioner::Hash {
                partitions: reduces,
            },
            map_side_combine: None,
        },
        parent: Box::new(pairs_parent(maps)),
    }
}

#[test]
fn task_side_write_then_read_and_fetch_failure() {
    let env = TestEnv::default();
    let cache = BlockCache::default();
    let d = dep(ShuffleId(9), 2, 3);
    // Map side: each map task writes 3 blocks through the env.
    let map_stage = Arc::new(stages::map_stage(&d, BTreeMap::new()));
    for m in 0..2 {
        let out = run_task(
            &TaskSpec {
                stage: map_stage.clone(),
                partition: m,
            },
            &cache,
            &env,
        )
        .unwrap();
        assert_eq!(out.records, 50);
        let sizes = out.map_sizes.unwrap();
        assert_eq!(sizes.len(), 3);
        assert!(out.result.is_empty());
        let written = env.written.lock().unwrap();
        let (s, map, blocks) = written.last().unwrap();
        assert_eq!((*s, *map), (ShuffleId(9), m));
        assert_eq!(
            sizes,
            blocks.iter().map(|b| b.len() as u64).collect::<Vec<_>>()
        );
        env.serve
            .lock()
            .unwrap()
            .insert((ShuffleId(9), m), blocks.clone());
    }
    // Reduce side: partition p reads block p of both map outputs.
    let reduce = |fail_map, read: ShuffleRead| {
        let stage = Arc::new(StageSpec {
            plan: Plan {
                source: Source::Shuffled {
                    deps: vec![d.clone()],
                    read,
                    num_partitions: 3,
                },
                ops: vec![],
            },
            action: Action::Collect,
            inputs: BTreeMap::from([(ShuffleId(9), vec![location(0), location(1)])]),
        });
        let env = TestEnv {
            serve: Mutex::new(env.serve.lock().unwrap().clone()),
            fail_map,
            ..Default::default()
        };
        (0..3)
            .map(|p| {
                run_task(
                    &TaskSpec {
                        stage: stage.clone(),
                        partition: p,
                    },
                    &cache,
                    &env,
                )
            })
            .collect::<Vec<_>>()
    };
    let mut total = BTreeMap::new();
    for out in reduce(
        None,
        ShuffleRead::ReduceByKey(FuncRef {
            name: std::any::type_name::<AddU64>().into(),
            value: postcard::to_stdvec(&AddU64).unwrap(),
        }),
    ) {
        let part: Vec<(String, u64)> = postcard::from_bytes(&out.unwrap().result).unwrap();
        for (k, n) in part {
            assert!(total.insert(k, n).is_none());
        }
    }
    assert_eq!(total, word_counts(100, 10));
    // A failed fetch names the map output and where it was.
    for r in reduce(Some(1), ShuffleRead::Pairs) {
        let e = r.unwrap_err();
        assert_eq!(
            e.fetch_failed,
            Some(FetchFailed {
                shuffle_id: ShuffleId(9),
                map_id: 1,
                executor: "exec-1".into(),
                server: "host1:7337".into(),
            })
        );
        assert!(e.message.contains("connection refused"), "{}", e.message);
    }
    // Missing inputs are an error, not a silent empty partition.
    let stage = Arc::new(StageSpec {
        plan: Plan {
            source: Source::Shuffled {
                deps: vec![d.clone()],
                read: ShuffleRead::Pairs,
                num_partitions: 3,
            },
            ops: vec![],
        },
        action: Action::Count,
        inputs: BTreeMap::from([(ShuffleId(9), vec![location(0)])]),
    });
    let e = run_task(
        &TaskSpec {
            stage,
            partition: 0,
        },
        &cache,
        &env,
    )
    .unwrap_err();
    assert!(e.message.contains("2 map outputs"), "{}", e.message);
    assert!(e.fetch_failed.is_none());
}

#[test]
fn unregistered_pair_types_are_named() {
    let cache = BlockCache::default();
    let mut d = dep(ShuffleId(1), 1, 2);
    d.write.pair_type = std::any::type_name::<(u8, i64)>().into();
    let map_stage = Arc::new(stages::map_stage(&d, BTreeMap::new()));
    let e = run_task(
        &TaskSpec {
            stage: map_stage,
            partition: 0,
        },
        &cache,
        &TestEnv::default(),
    )
    .unwrap_err();
    assert!(
        e.message.contains("add appmaster::register_pair!(u8, i64)"),
        "{}",
        e.message
    );
    // The wrong element type for a registered pair type.
    let mut d = dep(ShuffleId(1), 1, 2);
    d.write.pair_type = std::any::type_name::<(i64, i64)>().into();
    let e = run_task(
        &TaskSpec {
            stage: Arc::new(stages::map_stage(&d, BTreeMap::new())),
            partition: 0,
        },
        &cache,
        &TestEnv::default(),
    )
    .unwrap_err();
    assert!(e.message.contains("but the elements are"), "{}", e.message);
    assert_eq!(
        join_macro(std::any::type_name::<(String, (u64, Vec<u8>))>()),
        "appmaster::register_join!(String, u64, Vec<u8>)"
    );
}

#[test]
#[should_panic(expected = "add appmaster::register_pair!(u8, i64)")]
fn unregistered_pair_type_is_refused_by_the_driver() {
    let (_runner, sc) = ctx(1);
    let _ = sc.range(0, 10).map(ToUnregistered).group_by_key(None);
}

#[test]
fn map_output_is_reused_across_jobs_and_released_on_drop() {
    let (runner, sc) = ctx(2);
    let counts = counted(&sc, 1000, 7, 3);
    let id = counts.shuffle_ids()[0];
    assert_eq!(counts.count().unwrap(), 7);
    assert_eq!(runner.map_tasks_run(), 4);
    assert_eq!(runner.live_shuffles(), vec![id]);
    // A second job (and a derived RDD's job) reuse the map output.
    assert_eq!(counts.values().sum().unwrap(), 1000);
    assert_eq!(counts.keys().count().unwrap(), 7);
    assert_eq!(runner.map_tasks_run(), 4);
    assert!(runner.last_job().unwrap().map_stages.is_empty());
    // A lost map output: only that map task runs again.
    assert!(runner.lose_map_output(id, 2));
    assert_eq!(counts.count().unwrap(), 7);
    assert_eq!(runner.map_tasks_run(), 5);
    assert_eq!(runner.last_job().unwrap().map_stages[0].partitions, vec![2]);
    // A child keeps the shuffle alive after its parent RDD is dropped.
    let child = counts.map(Swap);
    let clone = counts.clone();
    drop(counts);
    assert!(runner.released_shuffles().is_empty());
    drop(clone);
    assert!(runner.released_shuffles().is_empty());
    assert_eq!(child.count().unwrap(), 7);
    assert_eq!(runner.map_tasks_run(), 5);
    drop(child);
    assert_eq!(runner.released_shuffles(), vec![id]);
    assert!(runner.live_shuffles().is_empty());
    // Both shuffles of a two-level lineage go when it does.
    let two = sc
        .range_with(0, 100, 1, Some(2))
        .map(ModKey { m: 5 })
        .reduce_by_key(AddU64, None)
        .map(Swap)
        .group_by_key(None);
    assert_eq!(two.count().unwrap(), 1);
    let ids = two.shuffle_ids();
    assert_eq!(runner.live_shuffles(), ids);
    drop(two);
    assert!(runner.live_shuffles().is_empty());
    assert_eq!(runner.released_shuffles()[1..], ids[..]);
}

#[test]
fn stages_of_a_plan() {
    let (_runner, sc) = ctx(1);
    let a = sc.range_with(0, 10, 1, Some(2)).map(ModKey { m: 3 });
    let r = a.reduce_by_key(AddU64, None);
    let j = r.join(&a.map(Label).reduce_by_key_strings(), None);
    let plan = j.plan();
    let direct: Vec<ShuffleId> = stages::shuffle_deps(&plan)
        .iter()
        .map(|d| d.write.shuffle_id)
        .collect();
    assert_eq!(direct.len(), 2);
    let all: Vec<ShuffleId> = stages::all_shuffle_deps(&plan)
        .iter()
        .map(|d| d.write.shuffle_id)
        .collect();
    assert_eq!(all.len(), 4);
    // Parents come before the shuffles that read them.
    let r_id = r.shuffle_ids()[0];
    let pos = |id| all.iter().position(|&x| x == id).unwrap();
    assert!(pos(r_id) < pos(direct[0]));
    assert!(stages::shuffle_deps(&a.plan()).is_empty());
    let d = &stages::shuffle_deps(&plan)[0];
    let spec = stages::map_stage(d, BTreeMap::new());
    assert_eq!(spec.plan, *d.parent);
    assert_eq!(spec.action, Action::ShuffleWrite(d.write.clone()));
    assert_eq!(stages::map_tasks(d), 2);
}

/// Concatenates strings (a ReduceFn over String).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Concat;
impl ReduceFn for Concat {
    type T = String;
    fn call(&self, a: String, b: String) -> String {
        if a <= b {
            a + &b
        } else {
            b + &a
        }
    }
}
crate::register_reduce!(Concat);

trait ReduceStrings {
    fn reduce_by_key_strings(&self) -> Rdd<(String, String)>;
}

impl ReduceStrings for Rdd<(String, String)> {
    fn reduce_by_key_strings(&self) -> Rdd<(String, String)> {
        self.reduce_by_key(Concat, None)
    }
}

#[test]
fn text_file_splits_cover_every_line_once() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<String> = vec![
        String::new(),
        "one line no newline".into(),
        "a\nbb\n\nccc\r\ndddd\n".into(),
        (0..500)
            .map(|i| format!("line {i} {}\n", "x".repeat(i % 37)))
            .collect(),
        "\n\n\n".into(),
    ];
    let (_runner, sc) = ctx(2);
    for (i, text) in cases.iter().enumerate() {
        let path = dir.path().join(format!("t{i}.txt"));
        std::fs::write(&path, text).unwrap();
        let want: Vec<String> = text.lines().map(str::to_string).collect();
        for splits in [1, 2, 3, 7, 64] {
            let got = sc
                .text_file(path.to_str().unwrap(), Some(splits))
                .collect()
                .unwrap();
            assert_eq!(got, want, "case {i} with {splits} splits");
        }
    }
    let e = sc
        .text_file("/nonexistent/spindle.txt", Some(2))
        .count()
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("cannot read /nonexistent/spindle.txt"),
        "{e}"
    );
}

/// `x` → (`x % m` as the reduce partition, x as bytes): a front end's own partitioning.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct ToPartition {
    m: i64,
}
map_fn!(ToPartition, |&self, x: i64| -> (u64, Vec<u8>) {
    ((x % self.m) as u64, x.to_le_bytes().to_vec())
});

/// Bytes back to the number.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct FromBytes;
map_fn!(FromBytes, |b: Vec<u8>| -> i64 {
    i64::from_le_bytes(b.try_into().expect("8 bytes"))
});

/// Each partition's elements as one vector (to see where records went).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Glom;
impl MapPartitionsFn for Glom {
    type In = i64;
    type Out = Vec<i64>;
    fn call(self, _: u32, input: Elements<i64>) -> Elements<Vec<i64>> {
        Box::new(std::iter::once(input.collect()))
    }
}

crate::register_map!(ToPartition, FromBytes);
crate::register_map_partitions!(Glom);

#[test]
fn partition_by_index_sends_each_record_to_the_partition_its_key_names() {
    let (_, sc) = ctx(2);
    let pairs = sc.range_with(0, 40, 1, Some(3)).map(ToPartition { m: 4 });
    let parts = pairs
        .partition_by_index(4)
        .map(FromBytes)
        .map_partitions(Glom)
        .collect()
        .unwrap();
    assert_eq!(parts.len(), 4);
    for (p, xs) in parts.iter().enumerate() {
        let mut xs = xs.clone();
        xs.sort_unstable();
        let want: Vec<i64> = (0..40).filter(|x| x % 4 == p as i64).collect();
        assert_eq!(xs, want, "partition {p}");
    }
    // Two lineages written into one reduce side: their union, by partition.
    let other = sc
        .range_with(100, 110, 1, Some(2))
        .map(ToPartition { m: 2 });
    let union = pairs.union_by_index(&[&other], 4).map(FromBytes);
    let parts = union.map_partitions(Glom).collect().unwrap();
    let mut all: Vec<i64> = parts.concat();
    all.sort_unstable();
    let want: Vec<i64> = (0..40).chain(100..110).collect();
    assert_eq!(all, want);
    assert!(parts[0].contains(&100) && parts[1].contains(&101));
    assert!(!parts[2].iter().chain(&parts[3]).any(|x| *x >= 100));
}
