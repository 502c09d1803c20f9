//! The driver's typed RDD: a lineage (`Plan`) with its element type.

use super::context::SparkContext;
use super::func::{
    Data, FilterFn, FlatMapFn, ForeachFn, Function, MapFn, MapPartitionsFn, ReduceFn, Summable,
};
use super::registry::{self, Kind};
use crate::plan::{Action, FuncRef, JobError, JobSpec, Op, Plan, RddId, Source, StageSpec};
use serde::de::DeserializeOwned;
use std::any::type_name;
use std::fmt;
use std::marker::PhantomData;
use std::panic::Location;
use std::sync::Arc;

/// A resilient distributed dataset of `T`: a source and the transformations
/// applied to it, evaluated lazily by actions. Cheap to clone.
pub struct Rdd<T> {
    sc: SparkContext,
    source: Arc<Source>,
    ops: Vec<Op>,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for Rdd<T> {
    fn clone(&self) -> Self {
        Self {
            sc: self.sc.clone(),
            source: self.source.clone(),
            ops: self.ops.clone(),
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
        stage: 0,
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
            _t: PhantomData,
        }
    }

    pub fn context(&self) -> &SparkContext {
        &self.sc
    }

    pub fn num_partitions(&self) -> u32 {
        match &*self.source {
            Source::Range { num_partitions, .. } => *num_partitions,
            Source::Parallelize { partitions, .. } => partitions.len() as u32,
        }
    }

    /// The lineage as it would be shipped now (without unpersisted caches).
    pub fn plan(&self) -> Plan {
        Plan {
            source: (*self.source).clone(),
            ops: self.sc.live_ops(&self.ops),
        }
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
    /// recompute it (every clone of it). The executors' copies are not freed
    /// yet (the runner interface has no way to tell them). No-op if this RDD
    /// is not cached.
    pub fn unpersist(&self) -> Self {
        if let Some(id) = self.cache_id() {
            self.sc.set_persisted(id, false);
        }
        self.clone()
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
        let results = self.run_all(Action::Collect, "collect", Location::caller())?;
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
        let conf = |k: &str, d: u32| {
            self.sc
                .conf_get(k)
                .and_then(|v| v.trim().parse::<u32>().ok())
                .unwrap_or(d)
        };
        let scale_up = conf("spark.rdd.limit.scaleUpFactor", 4).max(2);
        let initial = conf("spark.rdd.limit.initialNumPartitions", 1).max(1);
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
        stage: 0,
        partition: parts.first().copied().unwrap_or(0),
        attempts: 1,
        message: format!(
            "the job runner returned {} results for {} partitions",
            results.len(),
            parts.len()
        ),
    })
}
