use super::exec::range_partition;
use super::*;
use am_core::ids::RddId;
use am_core::plan::{Action, FuncRef, JobError, JobRunner, Op, Plan, Source, StageSpec, TaskSpec};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

fn ctx(threads: usize) -> (Arc<LocalRunner>, SparkContext) {
    let runner = Arc::new(LocalRunner::new(threads));
    let sc = SparkContext::new(
        runner.clone(),
        BTreeMap::new(),
        "app-test".into(),
        "test".into(),
    );
    (runner, sc)
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Sq;
map_fn!(Sq, |x: i64| -> i64 { x.wrapping_mul(x) });

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct AddN {
    n: i64,
}
map_fn!(AddN, |&self, x: i64| -> i64 { x + self.n });

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct ToText;
map_fn!(ToText, |x: i64| -> String { format!("n{x}") });

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Len;
map_fn!(Len, |s: String| -> u64 { s.len() as u64 });

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct MultipleOf {
    k: i64,
}
impl FilterFn for MultipleOf {
    type In = i64;
    fn call(&self, x: &i64) -> bool {
        x % self.k == 0
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Repeat;
impl FlatMapFn for Repeat {
    type In = i64;
    type Out = i64;
    fn call(&self, x: i64) -> Vec<i64> {
        vec![x; x.max(0) as usize]
    }
}

/// Emits (partition, number of elements) once per partition.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct PartSize;
impl MapPartitionsFn for PartSize {
    type In = i64;
    type Out = (i64, i64);
    fn call(self, partition: u32, input: Elements<i64>) -> Elements<(i64, i64)> {
        Box::new(std::iter::once_with(move || {
            (partition as i64, input.count() as i64)
        }))
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct MaxI64;
impl ReduceFn for MaxI64 {
    type T = i64;
    fn call(&self, a: i64, b: i64) -> i64 {
        a.max(b)
    }
}

static FOREACH_SUM: AtomicU64 = AtomicU64::new(0);

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct AddToStatic;
impl ForeachFn for AddToStatic {
    type In = i64;
    fn call(&self, x: i64) {
        FOREACH_SUM.fetch_add(x as u64, Ordering::SeqCst);
    }
}

static CACHE_CALLS: AtomicU64 = AtomicU64::new(0);

/// Identity that counts its calls (to see recomputation).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Counted;
map_fn!(Counted, |x: i64| -> i64 {
    CACHE_CALLS.fetch_add(1, Ordering::SeqCst);
    x
});

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PanicAt {
    at: i64,
    message: String,
}
map_fn!(PanicAt, |&self, x: i64| -> i64 {
    if x == self.at {
        panic!("{} (at {x})", self.message);
    }
    x
});

/// Registered as a function nowhere: `map` must refuse it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct NotRegistered;
map_fn!(NotRegistered, |x: i64| -> i64 { x });

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Point {
    x: f64,
    y: f64,
    label: String,
}

crate::register_map!(Sq, AddN, ToText, Len, Counted, PanicAt);
crate::register_filter!(MultipleOf);
crate::register_flat_map!(Repeat);
crate::register_map_partitions!(PartSize);
crate::register_reduce!(MaxI64);
crate::register_foreach!(AddToStatic);
crate::register_data!(Point);

fn stage(source: Source, ops: Vec<Op>, action: Action) -> Arc<StageSpec> {
    Arc::new(StageSpec {
        plan: Plan { source, ops },
        action,
        inputs: Default::default(),
    })
}

fn range_src(start: i64, end: i64, step: i64, n: u32) -> Source {
    Source::Range {
        start,
        end,
        step,
        num_partitions: n,
    }
}

fn task(stage: &Arc<StageSpec>, partition: u32) -> TaskSpec {
    TaskSpec {
        stage: stage.clone(),
        partition,
    }
}

/// Each partition of a range, collected through `run_task`.
fn range_parts(start: i64, end: i64, step: i64, n: u32) -> Vec<Vec<i64>> {
    let st = stage(range_src(start, end, step, n), vec![], Action::Collect);
    let cache = BlockCache::default();
    (0..n)
        .map(|p| {
            let out = run_task(&task(&st, p), &cache, &NoShuffleEnv).unwrap();
            let v: Vec<i64> = postcard::from_bytes(&out.result).unwrap();
            assert_eq!(out.records, v.len() as u64);
            v
        })
        .collect()
}

#[test]
fn range_slicing_matches_spark() {
    assert_eq!(
        range_parts(0, 10, 1, 3),
        vec![vec![0, 1, 2], vec![3, 4, 5], vec![6, 7, 8, 9]]
    );
    // Uneven split: Spark gives [i*len/n, (i+1)*len/n).
    assert_eq!(
        range_parts(0, 5, 1, 3),
        vec![vec![0], vec![1, 2], vec![3, 4]]
    );
    assert_eq!(
        range_parts(0, 2, 1, 4),
        vec![vec![], vec![0], vec![], vec![1]]
    );
    // Steps: 10 is not reached, so 0, 3, 6, 9.
    assert_eq!(range_parts(0, 10, 3, 2), vec![vec![0, 3], vec![6, 9]]);
    assert_eq!(
        range_parts(10, 0, -3, 3),
        vec![vec![10], vec![7], vec![4, 1]]
    );
    assert_eq!(range_parts(-5, 5, 5, 1), vec![vec![-5, 0]]);
    // Wrong direction or empty: no elements.
    assert_eq!(range_parts(5, 0, 1, 2), vec![Vec::<i64>::new(), vec![]]);
    assert_eq!(range_parts(3, 3, 1, 1), vec![Vec::<i64>::new()]);
    // The whole i64 range without overflow.
    let p = 1i64 << 62;
    assert_eq!(
        range_parts(i64::MIN, i64::MAX, p, 2),
        vec![vec![i64::MIN, i64::MIN + p], vec![0, p]]
    );
    let last = range_partition(i64::MAX - 2, i64::MAX, 1, 1, 0)
        .unwrap()
        .collect::<Vec<_>>();
    assert_eq!(last, vec![i64::MAX - 2, i64::MAX - 1]);
    // Sizes for a large uneven split.
    let sizes: Vec<usize> = (0..7)
        .map(|i| range_partition(0, 100, 1, 7, i).unwrap().count())
        .collect();
    assert_eq!(sizes, vec![14, 14, 14, 15, 14, 14, 15]);
}

#[test]
fn default_parallelism_is_used_when_no_partitions_given() {
    let runner = Arc::new(LocalRunner::new(1).with_default_parallelism(5));
    let sc = SparkContext::new(runner, BTreeMap::new(), "a".into(), "b".into());
    assert_eq!(sc.default_parallelism(), 5);
    assert_eq!(sc.range(0, 10).num_partitions(), 5);
    assert_eq!(sc.parallelize(vec![1i64, 2, 3], None).num_partitions(), 5);
    assert_eq!(sc.range_with(0, 10, 1, Some(3)).num_partitions(), 3);
    // spark.default.parallelism wins over the runner.
    let conf = BTreeMap::from([("spark.default.parallelism".to_string(), "7".to_string())]);
    let sc = SparkContext::new(Arc::new(LocalRunner::new(1)), conf, "a".into(), "b".into());
    assert_eq!(sc.range(0, 10).num_partitions(), 7);
    assert_eq!(sc.conf_get("spark.default.parallelism"), Some("7"));
    // Spark's rule: at least 2.
    assert_eq!(LocalRunner::new(1).default_parallelism(), 2);
}

#[test]
fn parallelize_round_trips_several_types() {
    let (runner, sc) = ctx(2);
    let ints: Vec<i64> = (-5..20).collect();
    assert_eq!(
        sc.parallelize(ints.clone(), Some(4)).collect().unwrap(),
        ints
    );
    let strings: Vec<String> = (0..11).map(|i| format!("s{i}")).collect();
    assert_eq!(
        sc.parallelize(strings.clone(), Some(3)).collect().unwrap(),
        strings
    );
    let pairs: Vec<(String, i64)> = (0..9).map(|i| (format!("k{i}"), i * 10)).collect();
    assert_eq!(
        sc.parallelize(pairs.clone(), Some(2)).collect().unwrap(),
        pairs
    );
    let bytes: Vec<Vec<u8>> = vec![vec![], vec![1, 2, 3], vec![255; 300]];
    assert_eq!(
        sc.parallelize(bytes.clone(), Some(2)).collect().unwrap(),
        bytes
    );
    let floats = vec![0.5f64, -1.25, f64::MAX, 3.0];
    assert_eq!(
        sc.parallelize(floats.clone(), Some(3)).collect().unwrap(),
        floats
    );
    let points: Vec<Point> = (0..5)
        .map(|i| Point {
            x: i as f64,
            y: -(i as f64),
            label: "p".repeat(i),
        })
        .collect();
    assert_eq!(
        sc.parallelize(points.clone(), Some(2)).collect().unwrap(),
        points
    );
    assert_eq!(sc.parallelize(points, Some(2)).count().unwrap(), 5);
    // Slices as Spark's: 10 elements in 3 slices hold 3, 3, 4.
    let r = sc.parallelize((0..10i64).collect(), Some(3));
    assert_eq!(r.count().unwrap(), 10);
    let records: Vec<u64> = runner
        .last_job()
        .unwrap()
        .outputs
        .iter()
        .map(|o| o.records)
        .collect();
    assert_eq!(records, vec![3, 3, 4]);
    // Empty data, more slices than elements.
    assert_eq!(
        sc.parallelize(Vec::<i64>::new(), Some(3))
            .collect()
            .unwrap(),
        Vec::<i64>::new()
    );
    assert_eq!(
        sc.parallelize(vec![1i64, 2], Some(5)).collect().unwrap(),
        vec![1, 2]
    );
}

#[test]
fn transformations_and_actions() {
    let (_runner, sc) = ctx(2);
    let r = sc.range_with(0, 20, 1, Some(3));
    assert_eq!(
        r.map(Sq).collect().unwrap(),
        (0..20).map(|x| x * x).collect::<Vec<i64>>()
    );
    assert_eq!(r.map(AddN { n: 100 }).take(3).unwrap(), vec![100, 101, 102]);
    assert_eq!(
        r.filter(MultipleOf { k: 5 }).collect().unwrap(),
        vec![0, 5, 10, 15]
    );
    assert_eq!(
        sc.range(0, 4).flat_map(Repeat).collect().unwrap(),
        vec![1, 2, 2, 3, 3, 3]
    );
    assert_eq!(
        r.map_partitions(PartSize).collect().unwrap(),
        vec![(0, 6), (1, 7), (2, 7)]
    );
    // Changing the element type along the way.
    assert_eq!(r.map(ToText).map(Len).sum().unwrap(), 10 * 2 + 10 * 3);
    assert_eq!(r.map(ToText).first().unwrap(), Some("n0".to_string()));
    assert_eq!(r.count().unwrap(), 20);
    assert_eq!(r.filter(MultipleOf { k: 7 }).count().unwrap(), 3);
    assert_eq!(r.map(Sq).reduce(MaxI64).unwrap(), Some(361));
    assert_eq!(r.sum().unwrap(), 190);
    assert_eq!(
        r.filter(MultipleOf { k: 1000 })
            .filter(MultipleOf { k: 3 })
            .sum()
            .unwrap(),
        0
    );
    assert_eq!(sc.range(5, 5).reduce(MaxI64).unwrap(), None);
    assert_eq!(sc.range(0, 0).first().unwrap(), None);
    assert_eq!(r.take(0).unwrap(), Vec::<i64>::new());
    assert_eq!(r.take(100).unwrap().len(), 20);
    assert_eq!(
        sc.parallelize(vec![0.5f64, 0.25], None).sum().unwrap(),
        0.75
    );
    assert_eq!(sc.parallelize(vec![u64::MAX, 2], None).sum().unwrap(), 1);
    assert_eq!(
        sc.parallelize(vec![i32::MAX, 1], None).sum().unwrap(),
        i32::MIN
    );
    FOREACH_SUM.store(0, Ordering::SeqCst);
    r.foreach(AddToStatic).unwrap();
    assert_eq!(FOREACH_SUM.load(Ordering::SeqCst), 190);
}

#[test]
fn take_scans_partitions_progressively() {
    let (runner, sc) = ctx(2);
    let r = sc.range_with(0, 100, 1, Some(10));
    assert_eq!(r.take(5).unwrap(), vec![0, 1, 2, 3, 4]);
    assert_eq!(runner.last_job().unwrap().partitions, vec![0]);
    let before = runner.jobs().len();
    assert_eq!(r.take(25).unwrap(), (0..25).collect::<Vec<i64>>());
    let jobs = runner.jobs();
    let parts: Vec<Vec<u32>> = jobs[before..]
        .iter()
        .map(|j| j.partitions.clone())
        .collect();
    // 10 from the first partition; then ceil(1.5 * 15 * 1 / 10) = 3 more.
    assert_eq!(parts, vec![vec![0], vec![1, 2, 3]]);
    // Nothing found yet: scale up by 4.
    let before = runner.jobs().len();
    let late = r.filter(MultipleOf { k: 95 });
    assert_eq!(late.take(2).unwrap(), vec![0, 95]);
    let before2 = runner.jobs().len();
    let none = sc
        .range_with(0, 100, 1, Some(10))
        .filter(MultipleOf { k: 1000 });
    assert_eq!(none.take(1).unwrap(), vec![0]);
    let never = sc
        .range_with(1, 100, 1, Some(10))
        .filter(MultipleOf { k: 1000 });
    assert_eq!(never.take(1).unwrap(), Vec::<i64>::new());
    let jobs = runner.jobs();
    assert!(jobs.len() > before2);
    let parts: Vec<Vec<u32>> = jobs[before2 + 1..]
        .iter()
        .map(|j| j.partitions.clone())
        .collect();
    assert_eq!(parts, vec![vec![0], vec![1, 2, 3, 4], vec![5, 6, 7, 8, 9]]);
    assert!(before2 > before);
}

#[test]
fn cache_hits_skip_recomputation() {
    let (runner, sc) = ctx(2);
    CACHE_CALLS.store(0, Ordering::SeqCst);
    let cached = sc.range_with(0, 100, 1, Some(4)).map(Counted).cache();
    let id = cached.cache_id().unwrap();
    assert_eq!(
        cached.cache().cache_id(),
        Some(id),
        "cache() twice keeps the id"
    );
    assert_eq!(cached.persist().cache_id(), Some(id));
    assert_eq!(cached.count().unwrap(), 100);
    assert_eq!(CACHE_CALLS.load(Ordering::SeqCst), 100);
    let stored = last_cached(&runner);
    assert_eq!(stored, vec![(id, 0), (id, 1), (id, 2), (id, 3)]);
    assert_eq!(runner.cache().blocks(), stored);
    assert_eq!(runner.cache().block_len(id, 3), Some(25));
    // Later jobs read the blocks: no calls, nothing stored again.
    assert_eq!(cached.sum().unwrap(), 4950);
    assert_eq!(cached.filter(MultipleOf { k: 10 }).count().unwrap(), 10);
    assert_eq!(cached.map(Sq).take(3).unwrap(), vec![0, 1, 4]);
    assert_eq!(CACHE_CALLS.load(Ordering::SeqCst), 100);
    assert!(last_cached(&runner).is_empty());
    // Unpersisted: the runner frees the blocks; recomputed and not stored.
    cached.unpersist();
    assert!(runner.cache().is_empty());
    assert!(cached
        .plan()
        .ops
        .iter()
        .all(|op| !matches!(op, Op::Cache { .. })));
    assert_eq!(cached.count().unwrap(), 100);
    assert_eq!(CACHE_CALLS.load(Ordering::SeqCst), 200);
    assert!(last_cached(&runner).is_empty());
    assert_eq!(runner.unpersist(id), 0);
    // Persisting again works.
    let again = cached.cache();
    assert_eq!(again.cache_id(), Some(id));
    assert_eq!(again.count().unwrap(), 100);
    assert_eq!(again.count().unwrap(), 100);
    assert_eq!(CACHE_CALLS.load(Ordering::SeqCst), 300);
}

#[test]
fn cache_resumes_from_the_last_cached_point() {
    let cache = BlockCache::default();
    let ops = vec![
        Op::Map(FuncRef {
            name: std::any::type_name::<Sq>().into(),
            value: postcard::to_stdvec(&Sq).unwrap(),
        }),
        Op::Cache { rdd: RddId(7) },
        Op::Map(FuncRef {
            name: std::any::type_name::<ToText>().into(),
            value: postcard::to_stdvec(&ToText).unwrap(),
        }),
        Op::Cache { rdd: RddId(8) },
    ];
    let st = stage(range_src(0, 10, 1, 2), ops.clone(), Action::Collect);
    let out = run_task(&task(&st, 1), &cache, &NoShuffleEnv).unwrap();
    assert_eq!(out.cached, vec![(RddId(7), 1), (RddId(8), 1)]);
    let v: Vec<String> = postcard::from_bytes(&out.result).unwrap();
    assert_eq!(v, vec!["n25", "n36", "n49", "n64", "n81"]);
    assert!(
        cache.contains(RddId(7), 1) && cache.contains(RddId(8), 1) && !cache.contains(RddId(7), 0)
    );
    // Only the inner block left: resumes from it and stores the outer one.
    cache.remove_rdd(RddId(8));
    let out = run_task(&task(&st, 1), &cache, &NoShuffleEnv).unwrap();
    assert_eq!(out.cached, vec![(RddId(8), 1)]);
    assert_eq!(postcard::from_bytes::<Vec<String>>(&out.result).unwrap(), v);
    // Both there: nothing stored. Even a plan whose source is gone works.
    let out = run_task(&task(&st, 1), &cache, &NoShuffleEnv).unwrap();
    assert!(out.cached.is_empty());
    let bogus = stage(range_src(0, 10, 1, 2), ops, Action::Take { n: 2 });
    let out = run_task(&task(&bogus, 1), &cache, &NoShuffleEnv).unwrap();
    assert_eq!(
        postcard::from_bytes::<Vec<String>>(&out.result).unwrap(),
        vec!["n25", "n36"]
    );
    assert_eq!(out.records, 2);
    assert_eq!(cache.blocks(), vec![(RddId(7), 1), (RddId(8), 1)]);
}

#[test]
fn partially_cached_rdd() {
    let (runner, sc) = ctx(1);
    let cached = sc.range_with(0, 40, 1, Some(4)).map(Sq).cache();
    let id = cached.cache_id().unwrap();
    assert_eq!(cached.take(2).unwrap(), vec![0, 1]);
    assert_eq!(
        runner.cache().blocks(),
        vec![(id, 0)],
        "take caches the whole scanned partition"
    );
    assert_eq!(runner.cache().block_len(id, 0), Some(10));
    assert_eq!(cached.count().unwrap(), 40);
    let stored = last_cached(&runner);
    assert_eq!(stored, vec![(id, 1), (id, 2), (id, 3)]);
}

#[test]
fn unknown_function_is_a_task_error_naming_it() {
    let cache = BlockCache::default();
    let f = FuncRef {
        name: "my_app::Square".into(),
        value: vec![],
    };
    let st = stage(
        range_src(0, 10, 1, 1),
        vec![Op::Map(f.clone())],
        Action::Count,
    );
    assert_task_error(
        &st,
        &cache,
        &["function my_app::Square is not registered in this binary"],
    );
    let st = stage(range_src(0, 10, 1, 1), vec![], Action::Reduce(f.clone()));
    assert_task_error(
        &st,
        &cache,
        &["reduce function my_app::Square is not registered"],
    );
    // Found out before anything is computed or cached.
    let st = stage(
        range_src(0, 10, 1, 1),
        vec![Op::Cache { rdd: RddId(1) }, Op::Map(f.clone())],
        Action::Count,
    );
    assert!(run_task(&task(&st, 0), &cache, &NoShuffleEnv).is_err());
    assert!(cache.is_empty());
    // Registered, but as another kind.
    let g = FuncRef {
        name: std::any::type_name::<Sq>().into(),
        value: vec![],
    };
    let st = stage(range_src(0, 10, 1, 1), vec![Op::Filter(g)], Action::Count);
    assert_task_error(&st, &cache, &["filter function", "not registered"]);
    // Unknown element type.
    let st = stage(
        Source::Parallelize {
            type_name: "my_app::Thing".into(),
            partitions: vec![vec![0]],
        },
        vec![],
        Action::Count,
    );
    assert_task_error(
        &st,
        &cache,
        &["element type my_app::Thing is not registered"],
    );
}

#[test]
fn bad_plans_are_task_errors() {
    let cache = BlockCache::default();
    // A String function on i64 elements.
    let f = FuncRef {
        name: std::any::type_name::<Len>().into(),
        value: postcard::to_stdvec(&Len).unwrap(),
    };
    let st = stage(range_src(0, 10, 1, 1), vec![Op::Map(f)], Action::Count);
    assert_task_error(
        &st,
        &cache,
        &["takes alloc::string::String but the elements are i64"],
    );
    // An undecodable function value.
    let f = FuncRef {
        name: std::any::type_name::<AddN>().into(),
        value: vec![],
    };
    let st = stage(range_src(0, 10, 1, 1), vec![Op::Map(f)], Action::Count);
    assert_task_error(&st, &cache, &["cannot decode map function"]);
    // A partition that does not exist.
    let st = stage(range_src(0, 10, 1, 2), vec![], Action::Count);
    let e = run_task(&task(&st, 2), &cache, &NoShuffleEnv).unwrap_err();
    assert!(e.message.contains("partition 2 does not exist"), "{e}");
    // Corrupt parallelized data.
    let st = stage(
        Source::Parallelize {
            type_name: "alloc::string::String".into(),
            partitions: vec![vec![3, 200, 200]],
        },
        vec![],
        Action::Collect,
    );
    assert_task_error(&st, &cache, &["undecodable"]);
}

#[test]
#[should_panic(
    expected = "is not registered in this binary: add appmaster::register_map!(NotRegistered)"
)]
fn unregistered_function_is_refused_by_the_driver() {
    let (_runner, sc) = ctx(1);
    let _ = sc.range(0, 3).map(NotRegistered);
}

#[test]
fn user_panic_is_a_task_error_with_its_message() {
    let cache = BlockCache::default();
    let f = PanicAt {
        at: 7,
        message: "boom".into(),
    };
    let op = Op::Map(FuncRef {
        name: std::any::type_name::<PanicAt>().into(),
        value: postcard::to_stdvec(&f).unwrap(),
    });
    let st = stage(range_src(0, 10, 1, 2), vec![op], Action::Count);
    assert!(run_task(&task(&st, 0), &cache, &NoShuffleEnv).is_ok());
    let e = run_task(&task(&st, 1), &cache, &NoShuffleEnv).unwrap_err();
    assert_eq!(e.message, "boom (at 7)");

    let (_runner, sc) = ctx(2);
    let err = sc.range_with(0, 10, 1, Some(2)).map(f).count().unwrap_err();
    match &err {
        JobError::TaskFailed {
            partition, message, ..
        } => {
            assert_eq!(*partition, 1);
            assert_eq!(message, "boom (at 7)");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string().contains("most recent failure: boom (at 7)"),
        "{err}"
    );
}

#[test]
fn job_descriptions() {
    let (runner, sc) = ctx(1);
    let r = sc.range(0, 3);
    r.count().unwrap();
    let line = line!() - 1;
    assert_eq!(
        runner.last_job().unwrap().description,
        format!("count at tests.rs:{line}")
    );
    sc.set_call_site(Some("MyApp"));
    r.sum().unwrap();
    assert_eq!(runner.last_job().unwrap().description, "sum at MyApp");
    sc.set_job_description(Some("the big one"));
    r.collect().unwrap();
    assert_eq!(runner.last_job().unwrap().description, "the big one");
    sc.set_job_description(None);
    r.take(1).unwrap();
    assert_eq!(runner.last_job().unwrap().description, "take at MyApp");
}

const SEED_N: i64 = 10_000_000;

#[test]
fn seed_job_count_and_sum() {
    let (_runner, sc) = ctx(2);
    let squares = sc.range_with(0, SEED_N, 1, Some(2)).map(Sq);
    assert_eq!(squares.count().unwrap(), SEED_N as u64);
    assert_eq!(squares.sum().unwrap() as u64, 1_291_890_006_563_070_912);
}

/// The pipeline streams: one partition of 5,000,000 elements through a map
/// into a count stores nothing (the design never collects a partition unless
/// the plan caches it), and a take stops pulling at its limit.
#[test]
fn seed_partition_streams() {
    let cache = BlockCache::default();
    let op = Op::Map(FuncRef {
        name: std::any::type_name::<Sq>().into(),
        value: postcard::to_stdvec(&Sq).unwrap(),
    });
    let st = stage(range_src(0, SEED_N, 1, 2), vec![op.clone()], Action::Count);
    let out = run_task(&task(&st, 1), &cache, &NoShuffleEnv).unwrap();
    assert_eq!(postcard::from_bytes::<u64>(&out.result).unwrap(), 5_000_000);
    assert_eq!(out.records, 5_000_000);
    assert!(out.cached.is_empty() && cache.is_empty());
    let st = stage(
        range_src(0, i64::MAX, 1, 1),
        vec![op],
        Action::Take { n: 3 },
    );
    let out = run_task(&task(&st, 0), &cache, &NoShuffleEnv).unwrap();
    assert_eq!(
        postcard::from_bytes::<Vec<i64>>(&out.result).unwrap(),
        vec![0, 1, 4]
    );
    assert_eq!(out.records, 3);
}

#[test]
fn local_runner_runs_partition_subsets_in_order() {
    let runner = LocalRunner::new(3);
    let job = am_core::plan::JobSpec {
        stage: StageSpec {
            plan: Plan {
                source: range_src(0, 100, 1, 10),
                ops: vec![],
            },
            action: Action::Count,
            inputs: Default::default(),
        },
        partitions: vec![9, 2, 5],
        description: "subset".into(),
    };
    let results = runner.run_job(job).unwrap();
    let counts: Vec<u64> = results
        .iter()
        .map(|r| postcard::from_bytes(r).unwrap())
        .collect();
    assert_eq!(counts, vec![10, 10, 10]);
    assert_eq!(runner.last_job().unwrap().partitions, vec![9, 2, 5]);
}

/// The blocks the last job's tasks stored in the cache.
fn last_cached(runner: &LocalRunner) -> Vec<(RddId, u32)> {
    runner
        .last_job()
        .expect("a job ran")
        .outputs
        .iter()
        .flat_map(|o| o.cached.clone())
        .collect()
}

/// Running partition 0 of `st` fails with a task error whose message holds every `part`.
fn assert_task_error(st: &Arc<StageSpec>, cache: &BlockCache, parts: &[&str]) {
    let e = run_task(&task(st, 0), cache, &NoShuffleEnv).unwrap_err();
    for part in parts {
        assert!(e.message.contains(part), "{e}");
    }
}
