//! The driver's typed RDD: a lineage (`Plan`) with its element type.

use super::context::SparkContext;
use super::func::{
    Data, FilterFn, FlatMapFn, ForeachFn, Function, MapFn, MapPartitionsFn, ReduceFn, Summable,
};
use super::registry::{self, Kind};
use super::shuffle::{self, Key, PairKey, PairValue, SampleKeys};
use am_core::ids::{RddId, ShuffleId, StageId};
use am_core::plan::{
    Action, FuncRef, JobError, JobRunner, JobSpec, Op, Partitioner, Plan, ShuffleDep, ShuffleRead,
    ShuffleWrite, Source, StageSpec,
};
use serde::de::DeserializeOwned;
use std::any::type_name;
use std::fmt;
use std::marker::PhantomData;
use std::panic::Location;
use std::sync::Arc;

/// A resilient distributed dataset of `T`: a source and the transformations
/// applied to it, evaluated lazily by actions. Cheap to clone.
///
/// An RDD made by a wide operation (`reduce_by_key`, `sort_by_key`, ...)
/// owns its shuffle: the shuffle's map output is kept (and reused by later
/// jobs) while that RDD, a clone of it or an RDD derived from it is alive;
/// when the last one is dropped the runner is told to release it.
pub struct Rdd<T> {
    sc: SparkContext,
    source: Arc<Source>,
    ops: Vec<Op>,
    /// The shuffles this lineage reads (its own and its ancestors').
    shuffles: Vec<Arc<ShuffleHandle>>,
    _t: PhantomData<fn() -> T>,
}

/// Keeps a shuffle alive; the last reference releases it.
struct ShuffleHandle {
    id: ShuffleId,
    runner: Arc<dyn JobRunner>,
}

impl Drop for ShuffleHandle {
    fn drop(&mut self) {
        self.runner.release_shuffle(self.id);
    }
}

impl<T> Clone for Rdd<T> {
    fn clone(&self) -> Self {
        Self {
            sc: self.sc.clone(),
            source: self.source.clone(),
            ops: self.ops.clone(),
            shuffles: self.shuffles.clone(),
            _t: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Rdd<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rdd")
            .field("type", &type_name::<T>())
            .field("partitions", &self.num_partitions())
            .field("ops", &self.ops)
            .field("shuffles", &self.shuffle_ids())
            .finish_non_exhaustive()
    }
}

fn func_ref<F: Function>(kind: Kind, f: &F) -> FuncRef {
    let name = type_name::<F>();
    assert!(
        registry::is_registered::<F>(kind),
        "{} function {name} is not registered in this binary: add appmaster::register_{}!({})",
        kind.label(),
        kind.label(),
        name.rsplit("::").next().unwrap_or(name),
    );
    FuncRef {
        name: name.to_string(),
        value: postcard::to_stdvec(f).expect("postcard encodes into a Vec"),
    }
}

fn bad_result(partition: u32, what: &str, e: impl fmt::Display) -> JobError {
    JobError::TaskFailed {
        stage: StageId(0),
        partition,
        attempts: 1,
        message: format!("the task's result is not a valid {what}: {e}"),
    }
}

fn decode<R: DeserializeOwned>(partition: u32, bytes: &[u8]) -> Result<R, JobError> {
    postcard::from_bytes(bytes).map_err(|e| bad_result(partition, type_name::<R>(), e))
}

impl<T> Rdd<T> {
    pub(crate) fn from_source(sc: SparkContext, source: Source) -> Self {
        Self {
            sc,
            source: Arc::new(source),
            ops: Vec::new(),
            shuffles: Vec::new(),
            _t: PhantomData,
        }
    }

    fn with_op<U>(&self, op: Op) -> Rdd<U> {
        let mut ops = self.ops.clone();
        ops.push(op);
        Rdd {
            sc: self.sc.clone(),
            source: self.source.clone(),
            ops,
            shuffles: self.shuffles.clone(),
            _t: PhantomData,
        }
    }

    pub fn context(&self) -> &SparkContext {
        &self.sc
    }

    pub fn num_partitions(&self) -> u32 {
        match &*self.source {
            Source::Range { num_partitions, .. } | Source::Shuffled { num_partitions, .. } => {
                *num_partitions
            }
            Source::Parallelize { partitions, .. } => partitions.len() as u32,
        }
    }

    /// The lineage as it would be shipped now (without unpersisted caches).
    pub fn plan(&self) -> Plan {
        self.sc.live_plan(&self.source, &self.ops)
    }

    /// The shuffles this RDD's lineage reads, oldest first.
    pub fn shuffle_ids(&self) -> Vec<ShuffleId> {
        self.shuffles.iter().map(|h| h.id).collect()
    }

    /// A shuffle dependency on this RDD's records, with a fresh shuffle id
    /// and the handle that keeps it alive.
    fn shuffle_dep(
        &self,
        pair_type: &str,
        partitioner: Partitioner,
        map_side_combine: Option<FuncRef>,
    ) -> (ShuffleDep, Arc<ShuffleHandle>) {
        let shuffle_id = self.sc.new_shuffle_id();
        let dep = ShuffleDep {
            write: ShuffleWrite {
                shuffle_id,
                pair_type: pair_type.to_string(),
                partitioner,
                map_side_combine,
            },
            parent: Box::new(self.plan()),
        };
        let handle = Arc::new(ShuffleHandle {
            id: shuffle_id,
            runner: self.sc.runner().clone(),
        });
        (dep, handle)
    }

    /// The reduce side of `deps`: an RDD that keeps the shuffles of `parents`
    /// (and its own, `handles`) alive.
    fn shuffled<U>(
        &self,
        deps: Vec<ShuffleDep>,
        handles: Vec<Arc<ShuffleHandle>>,
        other: Option<&[Arc<ShuffleHandle>]>,
        read: ShuffleRead,
        num_partitions: u32,
    ) -> Rdd<U> {
        let mut shuffles = self.shuffles.clone();
        for h in other.unwrap_or_default().iter().chain(&handles) {
            if !shuffles.iter().any(|s| s.id == h.id) {
                shuffles.push(h.clone());
            }
        }
        Rdd {
            sc: self.sc.clone(),
            source: Arc::new(Source::Shuffled {
                deps,
                read,
                num_partitions,
            }),
            ops: Vec::new(),
            shuffles,
            _t: PhantomData,
        }
    }

    /// The reduce side of one shuffle of this RDD, whose records are of
    /// `pair_type`, split by `partitioner` and read back as `read`.
    fn shuffle_one<U>(
        &self,
        pair_type: &str,
        partitioner: Partitioner,
        map_side_combine: Option<FuncRef>,
        read: ShuffleRead,
    ) -> Rdd<U> {
        let n = partitioner.partitions();
        let (dep, handle) = self.shuffle_dep(pair_type, partitioner, map_side_combine);
        self.shuffled(vec![dep], vec![handle], None, read, n)
    }

    /// The id this RDD is cached under, if `cache()` made it.
    pub fn cache_id(&self) -> Option<RddId> {
        match self.ops.last() {
            Some(Op::Cache { rdd }) => Some(*rdd),
            _ => None,
        }
    }
}

impl<T: Data> Rdd<T> {
    /// # Panics
    /// If `F` is not registered (`appmaster::register_map!(F)`), like Spark's
    /// eager "Task not serializable".
    pub fn map<F: MapFn<In = T>>(&self, f: F) -> Rdd<F::Out> {
        self.with_op(Op::Map(func_ref(Kind::Map, &f)))
    }

    /// # Panics
    /// If `F` is not registered (`appmaster::register_filter!(F)`).
    pub fn filter<F: FilterFn<In = T>>(&self, f: F) -> Self {
        self.with_op(Op::Filter(func_ref(Kind::Filter, &f)))
    }

    /// # Panics
    /// If `F` is not registered (`appmaster::register_flat_map!(F)`).
    pub fn flat_map<F: FlatMapFn<In = T>>(&self, f: F) -> Rdd<F::Out> {
        self.with_op(Op::FlatMap(func_ref(Kind::FlatMap, &f)))
    }

    /// # Panics
    /// If `F` is not registered (`appmaster::register_map_partitions!(F)`).
    pub fn map_partitions<F: MapPartitionsFn<In = T>>(&self, f: F) -> Rdd<F::Out> {
        self.with_op(Op::MapPartitions(func_ref(Kind::MapPartitions, &f)))
    }

    /// Keeps this RDD's partitions in executor memory once computed, so later
    /// jobs start from them. Returns the cached RDD: use it (not `self`) in
    /// later code. Calling it on an already cached RDD returns it unchanged.
    pub fn cache(&self) -> Self {
        if let Some(id) = self.cache_id() {
            self.sc.set_persisted(id, true);
            return self.clone();
        }
        self.with_op(Op::Cache {
            rdd: self.sc.new_rdd_id(),
        })
    }

    /// Same as [Rdd::cache] (memory only).
    pub fn persist(&self) -> Self {
        self.cache()
    }

    /// Stops using and storing the cached partitions of this RDD: later jobs
    /// recompute it (every clone of it), and the runner is told it may free
    /// the executors' copies. No-op if this RDD is not cached.
    pub fn unpersist(&self) -> Self {
        if let Some(id) = self.cache_id() {
            self.sc.set_persisted(id, false);
            self.sc.runner().unpersist(id);
        }
        self.clone()
    }

    /// Spark's `repartition(n)`: the same elements in `num_partitions`
    /// partitions, dealt round-robin (a shuffle of `((), T)` records read
    /// back as values).
    ///
    /// # Panics
    /// If `num_partitions` is 0, or T is not a registered element type.
    pub fn repartition(&self, num_partitions: u32) -> Self {
        assert!(num_partitions > 0, "Positive number of partitions required");
        assert!(
            registry::is_data_registered::<T>(),
            "element type {} is not registered in this binary: add appmaster::register_data!({})",
            type_name::<T>(),
            registry::short_type(type_name::<T>())
        );
        let partitioner = Partitioner::RoundRobin {
            partitions: num_partitions,
        };
        self.shuffle_one(
            type_name::<((), T)>(),
            partitioner,
            None,
            ShuffleRead::Values,
        )
    }

    fn job(
        &self,
        action: Action,
        partitions: Vec<u32>,
        name: &str,
        caller: &Location<'_>,
    ) -> JobSpec {
        JobSpec {
            stage: StageSpec {
                inputs: Default::default(),
                plan: self.plan(),
                action,
            },
            partitions,
            description: self.sc.describe(name, caller),
        }
    }

    fn run_all(
        &self,
        action: Action,
        name: &str,
        caller: &Location<'_>,
    ) -> Result<Vec<Vec<u8>>, JobError> {
        let parts: Vec<u32> = (0..self.num_partitions()).collect();
        let results = self
            .sc
            .run_job(self.job(action, parts.clone(), name, caller))?;
        check_len(&parts, &results)?;
        Ok(results)
    }

    /// Number of elements.
    #[track_caller]
    pub fn count(&self) -> Result<u64, JobError> {
        let results = self.run_all(Action::Count, "count", Location::caller())?;
        let mut total = 0u64;
        for (i, r) in results.iter().enumerate() {
            total += decode::<u64>(i as u32, r)?;
        }
        Ok(total)
    }

    /// All elements, in partition order.
    #[track_caller]
    pub fn collect(&self) -> Result<Vec<T>, JobError> {
        self.collect_as("collect", Location::caller())
    }

    fn collect_as(&self, name: &str, caller: &Location<'_>) -> Result<Vec<T>, JobError> {
        let results = self.run_all(Action::Collect, name, caller)?;
        let mut out = Vec::new();
        for (i, r) in results.iter().enumerate() {
            out.extend(decode::<Vec<T>>(i as u32, r)?);
        }
        Ok(out)
    }

    /// The first `n` elements. As Spark, scans one partition first, then more
    /// (`spark.rdd.limit.scaleUpFactor`, default 4) until it has enough.
    #[track_caller]
    pub fn take(&self, n: usize) -> Result<Vec<T>, JobError> {
        let caller = Location::caller();
        let mut buf: Vec<T> = Vec::new();
        let total = self.num_partitions();
        let (initial, scale_up) = self.sc.spark_conf().take_scan();
        let mut scanned = 0u32;
        while buf.len() < n && scanned < total {
            let left = n - buf.len();
            let mut to_try = initial as u64;
            if scanned > 0 {
                to_try = if buf.is_empty() {
                    scanned as u64 * scale_up as u64
                } else {
                    let est = (1.5 * left as f64 * scanned as f64 / buf.len() as f64).ceil() as u64;
                    est.min(scanned as u64 * scale_up as u64).max(1)
                };
            }
            let hi = (scanned as u64 + to_try).min(total as u64) as u32;
            let parts: Vec<u32> = (scanned..hi).collect();
            let action = Action::Take { n: left as u64 };
            let results = self
                .sc
                .run_job(self.job(action, parts.clone(), "take", caller))?;
            check_len(&parts, &results)?;
            for (p, r) in parts.iter().zip(&results) {
                let v: Vec<T> = decode(*p, r)?;
                let room = n - buf.len();
                buf.extend(v.into_iter().take(room));
            }
            scanned = hi;
        }
        Ok(buf)
    }

    /// The first element, if any.
    #[track_caller]
    pub fn first(&self) -> Result<Option<T>, JobError> {
        Ok(self.take(1)?.into_iter().next())
    }

    /// Combines all elements with `f` (per partition on the executors, then
    /// across partitions here); `None` if the RDD is empty (where Spark
    /// throws "empty collection").
    #[track_caller]
    pub fn reduce<F: ReduceFn<T = T>>(&self, f: F) -> Result<Option<T>, JobError> {
        self.reduce_as(f, "reduce", Location::caller())
    }

    fn reduce_as<F: ReduceFn<T = T>>(
        &self,
        f: F,
        name: &str,
        caller: &Location<'_>,
    ) -> Result<Option<T>, JobError> {
        let action = Action::Reduce(func_ref(Kind::Reduce, &f));
        let results = self.run_all(action, name, caller)?;
        let mut acc: Option<T> = None;
        for (i, r) in results.iter().enumerate() {
            if let Some(x) = decode::<Option<T>>(i as u32, r)? {
                acc = Some(match acc {
                    Some(a) => f.call(a, x),
                    None => x,
                });
            }
        }
        Ok(acc)
    }

    /// Runs `f` on every element, on the executors.
    #[track_caller]
    pub fn foreach<F: ForeachFn<In = T>>(&self, f: F) -> Result<(), JobError> {
        let action = Action::Foreach(func_ref(Kind::Foreach, &f));
        self.run_all(action, "foreach", Location::caller())?;
        Ok(())
    }
}

fn assert_pair<K: 'static, V: 'static>() {
    let name = type_name::<(K, V)>();
    assert!(
        registry::is_pair_registered::<K, V>(),
        "pair type {name} is not registered in this binary: add {}",
        registry::pair_macro(name)
    );
}

/// Wide operations on pair RDDs. `(K, V)` must be a registered pair type
/// (built-in ones, or `appmaster::register_pair!(K, V)`). When
/// `num_partitions` is `None`, the result has `spark.default.parallelism`
/// partitions if that is set, else as many as the largest parent (Spark's
/// default partitioner).
impl<K: Key, V: Data> Rdd<(K, V)> {
    /// Merges the values of each key with `f` (also on the map side before
    /// the shuffle, as Spark does). Output order within a partition is
    /// unspecified (but the same on every run).
    ///
    /// # Panics
    /// If `(K, V)` or `F` is not registered, or `num_partitions` is `Some(0)`.
    pub fn reduce_by_key<F: ReduceFn<T = V>>(&self, f: F, num_partitions: Option<u32>) -> Self {
        assert_pair::<K, V>();
        let f = func_ref(Kind::Reduce, &f);
        let n = self
            .sc
            .shuffle_partitions(num_partitions, &[self.num_partitions()]);
        self.hash_shuffle(n, Some(f.clone()), ShuffleRead::ReduceByKey(f))
    }

    /// Groups the values of each key (no map-side combine, as Spark).
    ///
    /// # Panics
    /// If `(K, V)` is not registered, or `num_partitions` is `Some(0)`.
    pub fn group_by_key(&self, num_partitions: Option<u32>) -> Rdd<(K, Vec<V>)> {
        assert_pair::<K, V>();
        let n = self
            .sc
            .shuffle_partitions(num_partitions, &[self.num_partitions()]);
        self.hash_shuffle(n, None, ShuffleRead::GroupByKey)
    }

    /// The pairs hash-partitioned by key into `num_partitions` partitions
    /// (Spark's `partitionBy(new HashPartitioner(n))`).
    ///
    /// # Panics
    /// If `(K, V)` is not registered, or `num_partitions` is 0.
    pub fn partition_by(&self, num_partitions: u32) -> Self {
        assert_pair::<K, V>();
        let n = self.sc.shuffle_partitions(Some(num_partitions), &[]);
        self.hash_shuffle(n, None, ShuffleRead::Pairs)
    }

    /// These pairs hash-partitioned by key into `n` partitions, read back as `read`.
    fn hash_shuffle<U>(&self, n: u32, combine: Option<FuncRef>, read: ShuffleRead) -> Rdd<U> {
        let (dep, handle) = self.hash_dep(n, combine);
        self.shuffled(vec![dep], vec![handle], None, read, n)
    }

    /// The map side of a hash shuffle of these pairs into `n` partitions.
    fn hash_dep(&self, n: u32, combine: Option<FuncRef>) -> (ShuffleDep, Arc<ShuffleHandle>) {
        self.shuffle_dep(
            type_name::<(K, V)>(),
            Partitioner::Hash { partitions: n },
            combine,
        )
    }

    /// Sorts by key with Spark's RangePartitioner: a job samples the keys
    /// of this RDD (up to 20 per output partition overall, 3x oversampled),
    /// bounds are chosen from the weighted sample, and each output partition
    /// is sorted; partition `i` holds keys before partition `i + 1`'s (after
    /// them when descending). May produce fewer partitions than asked if the
    /// keys have fewer distinct values. Default: as many partitions as this RDD.
    ///
    /// # Errors
    /// If the sampling job fails.
    ///
    /// # Panics
    /// If `(K, V)` is not registered, or `num_partitions` is `Some(0)`.
    #[track_caller]
    pub fn sort_by_key(
        &self,
        ascending: bool,
        num_partitions: Option<u32>,
    ) -> Result<Self, JobError> {
        assert_pair::<K, V>();
        let caller = Location::caller();
        let n = match num_partitions {
            Some(0) => panic!("Positive number of partitions required"),
            Some(n) => n,
            None => self.num_partitions().max(1),
        };
        let bounds = if n > 1 {
            self.range_bounds(n, caller)?
        } else {
            Vec::new()
        };
        let partitions = bounds.len() as u32 + 1;
        let bounds = postcard::to_stdvec(&bounds).expect("postcard encodes into a Vec");
        let partitioner = Partitioner::Range {
            partitions,
            bounds,
            ascending,
        };
        let read = ShuffleRead::SortByKey { ascending };
        Ok(self.shuffle_one(type_name::<(K, V)>(), partitioner, None, read))
    }

    /// Spark's `RangePartitioner` sketch: sample, weigh, pick bounds.
    fn range_bounds(&self, partitions: u32, caller: &Location<'_>) -> Result<Vec<K>, JobError> {
        let parents = self.num_partitions().max(1);
        let sample_size = (20.0 * f64::from(partitions)).min(1e6);
        let per_partition = (3.0 * sample_size / f64::from(parents)).ceil() as u32;
        let sampler = SampleKeys::<K, V> {
            size: per_partition,
            seed: 0x005E_ED0F_5A4D_9E75,
            _t: PhantomData,
        };
        let sketch = self
            .map_partitions(sampler)
            .collect_as("sortByKey", caller)?;
        let mut candidates = Vec::new();
        for (count, sample) in sketch {
            if sample.is_empty() {
                continue;
            }
            let weight = count as f64 / sample.len() as f64;
            candidates.extend(sample.into_iter().map(|k| (k, weight)));
        }
        Ok(shuffle::determine_bounds(candidates, partitions))
    }

    /// The inner join with `other` on keys: `(k, (v, w))` for every pair of
    /// a value of `k` here and one there.
    ///
    /// # Panics
    /// If the join of `(K, V)` and `(K, W)` is not registered
    /// (`appmaster::register_join!(K, V, W)`), or `num_partitions` is `Some(0)`.
    pub fn join<W: Data>(
        &self,
        other: &Rdd<(K, W)>,
        num_partitions: Option<u32>,
    ) -> Rdd<(K, (V, W))> {
        let result_type = type_name::<(K, (V, W))>();
        assert!(
            registry::is_join_registered::<K, V, W>(),
            "join type {result_type} is not registered in this binary: add {}",
            registry::join_macro(result_type)
        );
        let n = self.sc.shuffle_partitions(
            num_partitions,
            &[self.num_partitions(), other.num_partitions()],
        );
        let (left, lh) = self.hash_dep(n, None);
        let (right, rh) = other.hash_dep(n, None);
        self.shuffled(
            vec![left, right],
            vec![lh, rh],
            Some(&other.shuffles),
            ShuffleRead::Join {
                result_type: result_type.to_string(),
            },
            n,
        )
    }

    /// The keys.
    pub fn keys(&self) -> Rdd<K> {
        assert_pair::<K, V>();
        self.map(PairKey::<K, V>::default())
    }

    /// The values.
    pub fn values(&self) -> Rdd<V> {
        assert_pair::<K, V>();
        self.map(PairValue::<K, V>::default())
    }
}

/// The shuffle of a front end that partitions records itself (the Python
/// API: PySpark's `partitionBy` computes each key's partition in Python): a
/// record `(p, v)` goes to reduce partition `p`, and the reduce side reads
/// the values. The partitioner is a range partitioner over the bounds
/// `0, 1, .., n - 2`, which sends key `p < n` to partition `p` (and larger
/// keys to the last).
impl<V: Data> Rdd<(u64, V)> {
    /// The values, each in the partition its key names.
    ///
    /// # Panics
    /// If `num_partitions` is 0 or `(u64, V)` is not registered.
    pub fn partition_by_index(&self, num_partitions: u32) -> Rdd<V> {
        self.union_by_index(&[], num_partitions)
    }

    /// The values of this RDD and `others`, each in the partition its key
    /// names: one reduce side reading every shuffle (a union across the
    /// shuffle, what a cogroup needs).
    ///
    /// # Panics
    /// If `num_partitions` is 0 or `(u64, V)` is not registered.
    pub fn union_by_index(&self, others: &[&Self], num_partitions: u32) -> Rdd<V> {
        assert!(num_partitions > 0, "Positive number of partitions required");
        assert_pair::<u64, V>();
        let bounds: Vec<u64> = (0..u64::from(num_partitions) - 1).collect();
        let partitioner = Partitioner::Range {
            partitions: num_partitions,
            bounds: postcard::to_stdvec(&bounds).expect("postcard encodes into a Vec"),
            ascending: true,
        };
        let (mut deps, mut handles, mut kept) = (Vec::new(), Vec::new(), Vec::new());
        for rdd in std::iter::once(self).chain(others.iter().copied()) {
            let (dep, handle) = rdd.shuffle_dep(type_name::<(u64, V)>(), partitioner.clone(), None);
            deps.push(dep);
            handles.push(handle);
            kept.extend(rdd.shuffles.iter().cloned());
        }
        self.shuffled(
            deps,
            handles,
            Some(&kept),
            ShuffleRead::Values,
            num_partitions,
        )
    }
}

impl<T: Summable> Rdd<T> {
    /// The sum of the elements (integers wrap around); zero if empty.
    #[track_caller]
    pub fn sum(&self) -> Result<T, JobError> {
        Ok(self
            .reduce_as(T::adder(), "sum", Location::caller())?
            .unwrap_or_else(T::zero))
    }
}

fn check_len(parts: &[u32], results: &[Vec<u8>]) -> Result<(), JobError> {
    if parts.len() == results.len() {
        return Ok(());
    }
    Err(JobError::TaskFailed {
        stage: StageId(0),
        partition: parts.first().copied().unwrap_or(0),
        attempts: 1,
        message: format!(
            "the job runner returned {} results for {} partitions",
            results.len(),
            parts.len()
        ),
    })
}
