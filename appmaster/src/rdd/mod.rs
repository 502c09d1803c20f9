//! The RDD programming model: Spark's core API over lineage-as-data.
//!
//! The driver builds an [Rdd] from a [SparkContext] and applies
//! transformations; an action ships the lineage ([am_core::plan::Plan]) and runs
//! it on every partition through the context's [am_core::plan::JobRunner].
//! User functions are values of registered types (see [func]):
//!
//! ```ignore
//! use appmaster::rdd::{MapFn, SparkContext};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct AddN { n: i64 }                       // fields = captured arguments
//! impl MapFn for AddN {
//!     type In = i64;
//!     type Out = i64;
//!     fn call(&self, x: i64) -> i64 { x + self.n }
//! }
//! appmaster::register_map!(AddN);              // at module level, once
//!
//! fn user_main(sc: &SparkContext) -> anyhow::Result<()> {
//!     let total = sc.range(0, 100).map(AddN { n: 1 }).sum()?;
//!     println!("{total}");
//!     Ok(())
//! }
//! ```
//!
//! On an executor, [run_task] resolves each op's registered name to its code
//! and runs the partition as a streaming iterator pipeline.
//!
//! Wide operations (`reduce_by_key`, `group_by_key`, `sort_by_key`, `join`,
//! `partition_by`, `repartition`) put a shuffle in the lineage: the RDD's
//! source becomes `Source::Shuffled`, whose dependencies are run as shuffle
//! map stages first (see [stages]). Records cross a shuffle as registered
//! pair types: `(K, V)` with `K: Ord` (see [Key]), built in for common types,
//! else `appmaster::register_pair!(K, V)`; `join` also needs
//! `appmaster::register_join!(K, V, W)`. The block format and partitioners
//! are described in [shuffle].

mod context;
mod erased;
mod exec;
mod external;
pub mod func;
mod local;
mod memory;
pub mod python;
mod record;
mod registry;
pub mod shuffle;
mod sources;
mod spill;
pub mod stages;
mod task_context;
mod text;
mod typed;

/// A [MapFn] with its element types read off the signature:
/// `appmaster::map_fn!(Sq, |x: i64| -> i64 { x * x });`, or `|&self, x: i64|` where the
/// body reads the function's fields. The type itself is declared (and registered) as usual.
#[macro_export]
macro_rules! map_fn {
    ($f:ty, |&$me:ident, $x:tt: $in:ty| -> $out:ty $body:block) => {
        impl $crate::rdd::MapFn for $f {
            type In = $in;
            type Out = $out;
            fn call(&$me, $x: $in) -> $out $body
        }
    };
    ($f:ty, |$x:tt: $in:ty| -> $out:ty $body:block) => {
        $crate::map_fn!($f, |&self, $x: $in| -> $out $body);
    };
}

#[cfg(test)]
mod shuffle_tests;
#[cfg(test)]
mod spill_tests;
#[cfg(test)]
mod tests;

pub use context::SparkContext;
pub use exec::{run_task, run_task_with, BlockCache, NoShuffleEnv};
pub use func::{
    AddF32, AddF64, AddI32, AddI64, AddU32, AddU64, AddUsize, Data, Elements, FilterFn, FlatMapFn,
    ForeachFn, Function, MapFn, MapPartitionsFn, ReduceFn, Summable,
};
pub use local::{LocalJob, LocalMapStage, LocalRunner};
pub use memory::{MemoryManager, TaskMemory};
pub use python::PyPipe;
pub use shuffle::Key;
pub(crate) use task_context::KillSwitch;
pub use task_context::TaskContext;
pub use typed::Rdd;

/// What the `register_*!` macros expand to. Not public API.
#[doc(hidden)]
pub mod __private {
    pub use super::registry::Registration;
    pub use inventory;
}

/// What every `register_*!` macro expands to: `inventory::submit!` of
/// `Registration::KIND::<T..>()`, once (`KIND, T..`) or for each type
/// (`@each KIND, T, ..`). Not public API.
#[doc(hidden)]
#[macro_export]
macro_rules! __register {
    (@each $kind:ident, $($t:ty),+ $(,)?) => {
        $( $crate::__register!($kind, $t); )+
    };
    ($kind:ident, $($t:ty),+) => {
        $crate::rdd::__private::inventory::submit! {
            $crate::rdd::__private::Registration::$kind::<$($t),+>()
        }
    };
}

/// Registers [MapFn] types: `appmaster::register_map!(Square, Cube);`
#[macro_export]
macro_rules! register_map {
    ($($f:ty),+ $(,)?) => { $crate::__register!(@each map, $($f),+); };
}

/// Registers [FilterFn] types.
#[macro_export]
macro_rules! register_filter {
    ($($f:ty),+ $(,)?) => { $crate::__register!(@each filter, $($f),+); };
}

/// Registers [FlatMapFn] types.
#[macro_export]
macro_rules! register_flat_map {
    ($($f:ty),+ $(,)?) => { $crate::__register!(@each flat_map, $($f),+); };
}

/// Registers [MapPartitionsFn] types.
#[macro_export]
macro_rules! register_map_partitions {
    ($($f:ty),+ $(,)?) => { $crate::__register!(@each map_partitions, $($f),+); };
}

/// Registers [ReduceFn] types.
#[macro_export]
macro_rules! register_reduce {
    ($($f:ty),+ $(,)?) => { $crate::__register!(@each reduce, $($f),+); };
}

/// Registers [ForeachFn] types.
#[macro_export]
macro_rules! register_foreach {
    ($($f:ty),+ $(,)?) => { $crate::__register!(@each foreach, $($f),+); };
}

/// Registers element types for `parallelize` that are neither built in nor
/// the input/output of a registered function: `appmaster::register_data!(Point);`
#[macro_export]
macro_rules! register_data {
    ($($t:ty),+ $(,)?) => { $crate::__register!(@each data, $($t),+); };
}

/// Registers a pair type `(K, V)` that shuffles can carry (`reduce_by_key`,
/// `group_by_key`, `sort_by_key`, `partition_by`, `keys`, `values`):
/// `appmaster::register_pair!(MyKey, u64);`. K must be [Key] (`Ord`).
/// Built in: (String, u64 | i64 | String), (i64, i64 | u64 | String | f64),
/// (u64, u64 | i64 | String | Vec<u8>), (u32, u64).
#[macro_export]
macro_rules! register_pair {
    ($k:ty, $v:ty $(,)?) => {
        $crate::__register!(pair, $k, $v);
    };
}

/// Registers the join of `(K, V)` with `(K, W)` (and both pair types):
/// `appmaster::register_join!(MyKey, u64, String);`.
/// Built in: String keys with (u64, u64), (i64, i64), (String, String),
/// (u64, String); i64 keys with (i64, i64), (String, i64), (i64, String),
/// (String, String); u64 keys with (u64, u64).
#[macro_export]
macro_rules! register_join {
    ($k:ty, $v:ty, $w:ty $(,)?) => {
        $crate::__register!(join, $k, $v, $w);
    };
}
