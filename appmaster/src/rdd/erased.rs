//! Type erasure: the `Any` forms of streams, cached blocks and combiners,
//! and the type-erased code of each registered function and element type
//! (what the registry's tables point at). Nothing here knows the registry.

use super::func::{
    Data, Elements, FilterFn, FlatMapFn, ForeachFn, MapFn, MapPartitionsFn, ReduceFn,
};
use am_core::plan::{Source, StageSpec};
use std::any::{type_name, Any};
use std::marker::PhantomData;
use std::sync::Arc;

/// A type-erased stream: a `Box<Elements<T>>` behind `Any`.
pub(crate) type AnyIter = Box<dyn Any + Send>;

/// A type-erased cached partition: an `Arc<Vec<T>>`.
pub(crate) type AnyBlock = Arc<dyn Any + Send + Sync>;

/// A type-erased stream, or why there is none.
pub(crate) type IterResult = Result<AnyIter, String>;

/// Encoded bytes and the number of elements they came from.
pub(crate) type Encoded = Result<(Vec<u8>, u64), String>;

/// A value-combining function resolved from a registered `ReduceFn`.
pub(crate) type Combiner<V> = Arc<dyn Fn(V, V) -> V + Send + Sync>;

/// A type-erased [Combiner].
pub(crate) type AnyCombiner = Box<dyn Any + Send>;

pub(crate) fn erase<T: Data>(it: Elements<T>) -> AnyIter {
    Box::new(it)
}

pub(crate) fn unerase<T: Data>(it: AnyIter) -> Result<Elements<T>, String> {
    it.downcast::<Elements<T>>()
        .map(|b| *b)
        .map_err(|_| format!("internal error: the stream is not of {}", type_name::<T>()))
}

/// Recovers the [Combiner] of `V` from a type-erased one.
pub(crate) fn combiner_of<V: Data>(c: Option<AnyCombiner>) -> Result<Option<Combiner<V>>, String> {
    c.map(|c| {
        c.downcast::<Combiner<V>>().map(|b| *b).map_err(|_| {
            format!(
                "internal error: the reduce function does not combine {}",
                type_name::<V>()
            )
        })
    })
    .transpose()
}

// ---- the code of registered functions and element types ----------------------

fn decode_fn<F: serde::de::DeserializeOwned>(kind: &str, value: &[u8]) -> Result<F, String> {
    postcard::from_bytes(value)
        .map_err(|e| format!("cannot decode {kind} function {}: {e}", type_name::<F>()))
}

fn encode<T: serde::Serialize + ?Sized>(v: &T) -> Result<Vec<u8>, String> {
    postcard::to_stdvec(v).map_err(|e| format!("cannot encode a {}: {e}", type_name::<T>()))
}

/// A transformation's code: decodes the function value `F` (registered as
/// `kind`), runs `apply` over the typed input stream, erases the output.
fn transform<F, I, O>(
    kind: &str,
    value: &[u8],
    input: AnyIter,
    apply: impl FnOnce(F, Elements<I>) -> Elements<O>,
) -> IterResult
where
    F: serde::de::DeserializeOwned,
    I: Data,
    O: Data,
{
    let f: F = decode_fn(kind, value)?;
    Ok(erase::<O>(apply(f, unerase::<I>(input)?)))
}

pub(crate) fn map_impl<F: MapFn>(value: &[u8], _: u32, input: AnyIter) -> IterResult {
    transform("map", value, input, |f: F, it| {
        Box::new(it.map(move |x| f.call(x)))
    })
}

pub(crate) fn filter_impl<F: FilterFn>(value: &[u8], _: u32, input: AnyIter) -> IterResult {
    transform("filter", value, input, |f: F, it| {
        Box::new(it.filter(move |x| f.call(x)))
    })
}

pub(crate) fn flat_map_impl<F: FlatMapFn>(value: &[u8], _: u32, input: AnyIter) -> IterResult {
    transform("flat_map", value, input, |f: F, it| {
        Box::new(it.flat_map(move |x| f.call(x)))
    })
}

pub(crate) fn map_partitions_impl<F: MapPartitionsFn>(
    value: &[u8],
    part: u32,
    input: AnyIter,
) -> IterResult {
    transform("map_partitions", value, input, |f: F, it| f.call(part, it))
}

pub(crate) fn reduce_impl<F: ReduceFn>(value: &[u8], input: AnyIter) -> Encoded {
    let f: F = decode_fn("reduce", value)?;
    let it = unerase::<F::T>(input)?;
    let mut n = 0u64;
    let acc = it.inspect(|_| n += 1).reduce(|a, b| f.call(a, b));
    Ok((encode(&acc)?, n))
}

pub(crate) fn combiner_impl<F: ReduceFn>(value: &[u8]) -> Result<AnyCombiner, String> {
    let f: F = decode_fn("reduce", value)?;
    let c: Combiner<F::T> = Arc::new(move |a, b| f.call(a, b));
    Ok(Box::new(c))
}

pub(crate) fn foreach_impl<F: ForeachFn>(value: &[u8], input: AnyIter) -> Result<u64, String> {
    let f: F = decode_fn("foreach", value)?;
    let it = unerase::<F::In>(input)?;
    let mut n = 0u64;
    it.for_each(|x| {
        n += 1;
        f.call(x)
    });
    Ok(n)
}

pub(crate) fn count_impl<T: Data>(input: AnyIter) -> Result<u64, String> {
    Ok(unerase::<T>(input)?.count() as u64)
}

pub(crate) fn encode_impl<T: Data>(input: AnyIter, limit: Option<u64>) -> Encoded {
    let it = unerase::<T>(input)?;
    let limit = limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
    let mut body = Vec::new();
    let mut n = 0u64;
    if limit > 0 {
        for x in it.take(limit) {
            body = postcard::to_extend(&x, body)
                .map_err(|e| format!("cannot encode a {}: {e}", type_name::<T>()))?;
            n += 1;
        }
    }
    // postcard's Vec<T>: a varint length, then the elements.
    let mut out = encode(&n)?;
    out.extend_from_slice(&body);
    Ok((out, n))
}

/// Streams a postcard `Vec<T>` stored in a `Parallelize` source, decoding one
/// element at a time.
struct ParallelIter<T> {
    stage: Arc<StageSpec>,
    part: usize,
    offset: usize,
    remaining: u64,
    _t: PhantomData<fn() -> T>,
}

fn partition_bytes(stage: &StageSpec, part: usize) -> Option<&[u8]> {
    match &stage.plan.source {
        Source::Parallelize { partitions, .. } => partitions.get(part).map(Vec::as_slice),
        Source::Range { .. } | Source::Shuffled { .. } => None,
    }
}

impl<T: Data> Iterator for ParallelIter<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        if self.remaining == 0 {
            return None;
        }
        let bytes = partition_bytes(&self.stage, self.part).unwrap_or_default();
        let rest = bytes.get(self.offset..).unwrap_or_default();
        match postcard::take_from_bytes::<T>(rest) {
            Ok((x, after)) => {
                self.offset = bytes.len() - after.len();
                self.remaining -= 1;
                Some(x)
            }
            Err(e) => panic!(
                "partition {} holds undecodable {} data: {e}",
                self.part,
                type_name::<T>()
            ),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::try_from(self.remaining).unwrap_or(usize::MAX);
        (n, Some(n))
    }
}

pub(crate) fn parallel_impl<T: Data>(stage: Arc<StageSpec>, part: usize) -> IterResult {
    let bytes = partition_bytes(&stage, part).ok_or_else(|| {
        format!("partition {part} does not exist in this parallelized collection")
    })?;
    let (len, rest) = postcard::take_from_bytes::<u64>(bytes)
        .map_err(|e| format!("partition {part} is not an encoded Vec: {e}"))?;
    let offset = bytes.len() - rest.len();
    Ok(erase::<T>(Box::new(ParallelIter::<T> {
        stage,
        part,
        offset,
        remaining: len,
        _t: PhantomData,
    })))
}

/// A materialized partition: the block, its elements and its estimated bytes.
pub(crate) type Materialized = Result<(AnyBlock, u64, u64), String>;

pub(crate) fn materialize_impl<T: Data>(input: AnyIter) -> Materialized {
    let v: Vec<T> = unerase::<T>(input)?.collect();
    let n = v.len() as u64;
    let bytes = estimate_bytes(&v);
    Ok((Arc::new(v), n, bytes))
}

/// The estimated bytes of elements in memory: their size, plus (for what they hold
/// on the heap) the encoded length of a sample of them, scaled to all.
fn estimate_bytes<T: Data>(v: &[T]) -> u64 {
    if v.is_empty() {
        return 0;
    }
    let step = (v.len() / 64).max(1);
    let (mut sampled, mut encoded) = (0u64, 0u64);
    for x in v.iter().step_by(step) {
        encoded += postcard::to_stdvec(x).map_or(0, |b| b.len() as u64);
        sampled += 1;
    }
    let n = v.len() as u64;
    n * size_of::<T>() as u64 + encoded * n / sampled
}

/// Streams a cached block by cloning its elements.
struct BlockIter<T> {
    block: Arc<Vec<T>>,
    next: usize,
}

impl<T: Data> Iterator for BlockIter<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        let x = self.block.get(self.next)?.clone();
        self.next += 1;
        Some(x)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.block.len() - self.next;
        (n, Some(n))
    }
}

pub(crate) fn read_block_impl<T: Data>(block: AnyBlock) -> IterResult {
    let block = block.downcast::<Vec<T>>().map_err(|_| {
        format!(
            "internal error: the cached block is not of {}",
            type_name::<T>()
        )
    })?;
    Ok(erase::<T>(Box::new(BlockIter { block, next: 0 })))
}
