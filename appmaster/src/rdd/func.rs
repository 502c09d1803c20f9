//! User function traits and the built-in functions.
//!
//! A user function is a value of a type that implements one of the traits
//! below and is registered in the binary with one of the `register_*!` macros
//! (see the [crate::rdd] docs). Its fields are its "captured" arguments: the
//! driver serializes the value with postcard and the executor decodes it and
//! calls it. Functions never travel as code; driver and executor are the same
//! binary, so they resolve the same registered name to the same type.

use serde::{de::DeserializeOwned, Deserialize, Serialize};

/// An element type of an RDD: anything that can be shipped and copied.
pub trait Data: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {}

impl<T> Data for T where T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {}

/// What every user function is: a serde value that can be shared by threads.
pub trait Function: Serialize + DeserializeOwned + Send + Sync + 'static {}

impl<F> Function for F where F: Serialize + DeserializeOwned + Send + Sync + 'static {}

/// A partition's elements, as a stream (see [MapPartitionsFn]).
pub type Elements<T> = Box<dyn Iterator<Item = T> + Send>;

/// `rdd.map(f)`: one output element per input element.
pub trait MapFn: Function {
    type In: Data;
    type Out: Data;
    fn call(&self, x: Self::In) -> Self::Out;
}

/// `rdd.filter(f)`: keeps the elements for which `call` is true.
pub trait FilterFn: Function {
    type In: Data;
    fn call(&self, x: &Self::In) -> bool;
}

/// `rdd.flat_map(f)`: any number of output elements per input element.
pub trait FlatMapFn: Function {
    type In: Data;
    type Out: Data;
    fn call(&self, x: Self::In) -> Vec<Self::Out>;
}

/// `rdd.map_partitions(f)`: a whole partition in, a stream out (Spark's
/// `mapPartitionsWithIndex`). The function value is decoded afresh for each
/// task, so `call` takes it by value and the returned stream may own it.
/// Return `Box::new(iter)`; to return a `Vec`, `Box::new(v.into_iter())`.
/// Keep the output lazy (e.g. `std::iter::once_with`) so work happens while
/// the action pulls elements.
pub trait MapPartitionsFn: Function {
    type In: Data;
    type Out: Data;
    fn call(self, partition: u32, input: Elements<Self::In>) -> Elements<Self::Out>;
}

/// `rdd.reduce(f)`: an associative and commutative combination of two elements.
/// Runs on executors (per partition) and on the driver (across partitions).
pub trait ReduceFn: Function {
    type T: Data;
    fn call(&self, a: Self::T, b: Self::T) -> Self::T;
}

/// `rdd.foreach(f)`: runs on the executors for every element, for its effects.
pub trait ForeachFn: Function {
    type In: Data;
    fn call(&self, x: Self::In);
}

/// Element types `Rdd::sum` works on, with the built-in reduce function that
/// adds them (integers wrap around, as on the JVM).
pub trait Summable: Data {
    type Adder: ReduceFn<T = Self>;
    fn adder() -> Self::Adder;
    fn zero() -> Self;
}

macro_rules! adders {
    ($($name:ident: $t:ty = $add:expr, $zero:expr;)*) => {
        $(
            #[doc = concat!("Adds two `", stringify!($t), "` (the reduce function behind `sum`).")]
            #[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
            pub struct $name;

            impl ReduceFn for $name {
                type T = $t;
                fn call(&self, a: $t, b: $t) -> $t {
                    let add: fn($t, $t) -> $t = $add;
                    add(a, b)
                }
            }

            impl Summable for $t {
                type Adder = $name;
                fn adder() -> $name {
                    $name
                }
                fn zero() -> $t {
                    $zero
                }
            }
        )*
    };
}

adders! {
    AddI64: i64 = i64::wrapping_add, 0;
    AddU64: u64 = u64::wrapping_add, 0;
    AddI32: i32 = i32::wrapping_add, 0;
    AddU32: u32 = u32::wrapping_add, 0;
    AddUsize: usize = usize::wrapping_add, 0;
    AddF64: f64 = |a, b| a + b, 0.0;
    AddF32: f32 = |a, b| a + b, 0.0;
}
