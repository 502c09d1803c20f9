//! The compile-time registry: registered function name → type-erased code,
//! element type name → type-erased element operations.
//!
//! Registrations are collected with `inventory` (the `register_*!` macros), so
//! the driver and the executor sides of one binary see the same table without
//! any call from `main`. The crate's own built-ins are listed here explicitly
//! as well, so they are present whatever the linker keeps.

use super::func::{
    AddF32, AddF64, AddI32, AddI64, AddU32, AddU64, AddUsize, Data, Elements, FilterFn, FlatMapFn,
    ForeachFn, MapFn, MapPartitionsFn, ReduceFn,
};
use super::shuffle::{
    self, AnyCombiner, Combiner, JoinOf, JoinType, Key, PairOf, PairType, Written,
};
use super::text::TextSplit;
use am_core::plan::{Partitioner, Source, StageSpec};
use std::any::{type_name, Any, TypeId};
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};

/// A type-erased stream: a `Box<Elements<T>>` behind `Any`.
pub(crate) type AnyIter = Box<dyn Any + Send>;

/// A type-erased cached partition: an `Arc<Vec<T>>`.
pub(crate) type AnyBlock = Arc<dyn Any + Send + Sync>;

/// Encoded bytes and the number of elements they came from.
pub(crate) type Encoded = Result<(Vec<u8>, u64), String>;

/// Kinds of registration (the same type may be registered as several kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Map,
    Filter,
    FlatMap,
    MapPartitions,
    Reduce,
    Foreach,
    Data,
    Pair,
    Join,
}

impl Kind {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Map => "map",
            Self::Filter => "filter",
            Self::FlatMap => "flat_map",
            Self::MapPartitions => "map_partitions",
            Self::Reduce => "reduce",
            Self::Foreach => "foreach",
            Self::Data => "data",
            Self::Pair => "pair",
            Self::Join => "join",
        }
    }
}

/// Operations on streams of one element type.
pub(crate) struct ElemType {
    pub(crate) name: fn() -> &'static str,
    pub(crate) type_id: fn() -> TypeId,
    /// Drains the stream, counting.
    pub(crate) count: fn(AnyIter) -> Result<u64, String>,
    /// Encodes up to `limit` elements as a postcard `Vec<T>`; also returns how many.
    pub(crate) encode: fn(AnyIter, Option<u64>) -> Encoded,
    /// Streams partition `i` of a `Parallelize` source of this type.
    pub(crate) parallel: fn(Arc<StageSpec>, usize) -> Result<AnyIter, String>,
    /// Materializes a stream for the block cache; also returns its length.
    pub(crate) materialize: fn(AnyIter) -> Result<(AnyBlock, u64), String>,
    /// Streams a cached block.
    pub(crate) read_block: fn(AnyBlock) -> Result<AnyIter, String>,
    /// `type_name::<((), T)>()`: the pair type `repartition` writes.
    pub(crate) unit_pair: fn() -> &'static str,
    /// `repartition`'s map side: the elements as `((), T)` records.
    pub(crate) write_values: fn(AnyIter, &Partitioner, u32) -> Written,
    /// `repartition`'s reduce side: the values of fetched records.
    pub(crate) read_values: fn(Vec<Vec<u8>>) -> AnyIter,
}

impl ElemType {
    pub(crate) fn same_type(&self, other: &Self) -> bool {
        (self.type_id)() == (other.type_id)()
    }
}

pub(crate) struct ElemOf<T>(PhantomData<fn() -> T>);

impl<T: Data> ElemOf<T> {
    pub(crate) const TYPE: &'static ElemType = &ElemType {
        name: type_name::<T>,
        type_id: TypeId::of::<T>,
        count: count_impl::<T>,
        encode: encode_impl::<T>,
        parallel: parallel_impl::<T>,
        materialize: materialize_impl::<T>,
        read_block: read_block_impl::<T>,
        unit_pair: type_name::<((), T)>,
        write_values: shuffle::write_values_impl::<T>,
        read_values: shuffle::read_values_impl::<T>,
    };
}

/// The type-erased code of a registration.
#[derive(Clone, Copy)]
pub(crate) enum Code {
    /// A transformation: (function value, partition, input) → output stream.
    Transform(fn(&[u8], u32, AnyIter) -> Result<AnyIter, String>),
    /// A reduce action: → (postcard `Option<T>`, records); and the function
    /// as a [Combiner] of its `T` (for `reduce_by_key`).
    Reduce(
        fn(&[u8], AnyIter) -> Encoded,
        fn(&[u8]) -> Result<AnyCombiner, String>,
    ),
    /// A foreach action: → records.
    Foreach(fn(&[u8], AnyIter) -> Result<u64, String>),
    /// An element type only.
    Data,
    /// A pair type `(K, V)` that shuffles can carry.
    Pair(&'static PairType),
    /// A join `(K, V) ⋈ (K, W)`.
    Join(&'static JoinType),
}

/// One registered function or element type. Built by the `register_*!`
/// macros; not meant to be constructed by hand.
pub struct Registration {
    pub(crate) kind: Kind,
    pub(crate) name: fn() -> &'static str,
    pub(crate) input: &'static ElemType,
    pub(crate) output: &'static ElemType,
    pub(crate) code: Code,
}

inventory::collect!(Registration);

impl Registration {
    pub const fn map<F: MapFn>() -> Self {
        Self {
            kind: Kind::Map,
            name: type_name::<F>,
            input: ElemOf::<F::In>::TYPE,
            output: ElemOf::<F::Out>::TYPE,
            code: Code::Transform(map_impl::<F>),
        }
    }

    pub const fn filter<F: FilterFn>() -> Self {
        Self {
            kind: Kind::Filter,
            name: type_name::<F>,
            input: ElemOf::<F::In>::TYPE,
            output: ElemOf::<F::In>::TYPE,
            code: Code::Transform(filter_impl::<F>),
        }
    }

    pub const fn flat_map<F: FlatMapFn>() -> Self {
        Self {
            kind: Kind::FlatMap,
            name: type_name::<F>,
            input: ElemOf::<F::In>::TYPE,
            output: ElemOf::<F::Out>::TYPE,
            code: Code::Transform(flat_map_impl::<F>),
        }
    }

    pub const fn map_partitions<F: MapPartitionsFn>() -> Self {
        Self {
            kind: Kind::MapPartitions,
            name: type_name::<F>,
            input: ElemOf::<F::In>::TYPE,
            output: ElemOf::<F::Out>::TYPE,
            code: Code::Transform(map_partitions_impl::<F>),
        }
    }

    pub const fn reduce<F: ReduceFn>() -> Self {
        Self {
            kind: Kind::Reduce,
            name: type_name::<F>,
            input: ElemOf::<F::T>::TYPE,
            output: ElemOf::<F::T>::TYPE,
            code: Code::Reduce(reduce_impl::<F>, combiner_impl::<F>),
        }
    }

    pub const fn foreach<F: ForeachFn>() -> Self {
        Self {
            kind: Kind::Foreach,
            name: type_name::<F>,
            input: ElemOf::<F::In>::TYPE,
            output: ElemOf::<F::In>::TYPE,
            code: Code::Foreach(foreach_impl::<F>),
        }
    }

    pub const fn pair<K: Key, V: Data>() -> Self {
        Self {
            kind: Kind::Pair,
            name: type_name::<(K, V)>,
            input: ElemOf::<(K, V)>::TYPE,
            output: ElemOf::<(K, Vec<V>)>::TYPE,
            code: Code::Pair(PairOf::<K, V>::TYPE),
        }
    }

    pub const fn join<K: Key, V: Data, W: Data>() -> Self {
        Self {
            kind: Kind::Join,
            name: type_name::<(K, (V, W))>,
            input: ElemOf::<(K, V)>::TYPE,
            output: ElemOf::<(K, (V, W))>::TYPE,
            code: Code::Join(JoinOf::<K, V, W>::TYPE),
        }
    }

    pub const fn data<T: Data>() -> Self {
        Self {
            kind: Kind::Data,
            name: type_name::<T>,
            input: ElemOf::<T>::TYPE,
            output: ElemOf::<T>::TYPE,
            code: Code::Data,
        }
    }
}

/// The crate's own registrations.
static BUILTINS: &[Registration] = &[
    Registration::reduce::<AddI64>(),
    Registration::reduce::<AddU64>(),
    Registration::reduce::<AddI32>(),
    Registration::reduce::<AddU32>(),
    Registration::reduce::<AddUsize>(),
    Registration::reduce::<AddF64>(),
    Registration::reduce::<AddF32>(),
    Registration::data::<i64>(),
    Registration::data::<u64>(),
    Registration::data::<i32>(),
    Registration::data::<u32>(),
    Registration::data::<i16>(),
    Registration::data::<u16>(),
    Registration::data::<i8>(),
    Registration::data::<u8>(),
    Registration::data::<usize>(),
    Registration::data::<f64>(),
    Registration::data::<f32>(),
    Registration::data::<bool>(),
    Registration::data::<char>(),
    Registration::data::<()>(),
    Registration::data::<String>(),
    Registration::data::<Vec<u8>>(),
    Registration::data::<Vec<i64>>(),
    Registration::data::<Vec<String>>(),
    Registration::data::<(String, i64)>(),
    Registration::data::<(String, u64)>(),
    Registration::data::<(String, String)>(),
    Registration::data::<(i64, i64)>(),
    Registration::data::<(u64, u64)>(),
    Registration::data::<(i64, String)>(),
    Registration::data::<(i64, f64)>(),
    Registration::data::<(f64, f64)>(),
    Registration::map_partitions::<TextSplit>(),
    Registration::pair::<String, u64>(),
    Registration::pair::<String, i64>(),
    Registration::pair::<String, String>(),
    Registration::pair::<i64, i64>(),
    Registration::pair::<i64, u64>(),
    Registration::pair::<i64, String>(),
    Registration::pair::<i64, f64>(),
    Registration::pair::<u64, u64>(),
    Registration::pair::<u64, i64>(),
    Registration::pair::<u64, String>(),
    Registration::pair::<u64, Vec<u8>>(),
    Registration::pair::<u32, u64>(),
    Registration::join::<String, u64, u64>(),
    Registration::join::<String, i64, i64>(),
    Registration::join::<String, String, String>(),
    Registration::join::<String, u64, String>(),
    Registration::join::<i64, i64, i64>(),
    Registration::join::<i64, String, i64>(),
    Registration::join::<i64, i64, String>(),
    Registration::join::<i64, String, String>(),
    Registration::join::<u64, u64, u64>(),
];

#[derive(Default)]
struct Registry {
    funcs: HashMap<(Kind, &'static str), &'static Registration>,
    types: HashMap<&'static str, &'static ElemType>,
    pairs: HashMap<&'static str, &'static PairType>,
    joins: HashMap<&'static str, &'static JoinType>,
    /// `((), T)` → T: the pair types `repartition` writes.
    unit_pairs: HashMap<&'static str, &'static ElemType>,
}

impl Registry {
    fn add(&mut self, r: &'static Registration) {
        match r.code {
            Code::Data => {}
            Code::Pair(p) => self.add_pair(p),
            Code::Join(j) => {
                self.joins.insert((j.name)(), j);
                self.add_pair(j.left);
                self.add_pair(j.right);
                self.add_type(j.elem);
            }
            Code::Transform(_) | Code::Reduce(..) | Code::Foreach(_) => {
                self.funcs.insert((r.kind, (r.name)()), r);
            }
        }
        self.add_type(r.input);
        self.add_type(r.output);
    }

    fn add_pair(&mut self, p: &'static PairType) {
        if self.pairs.insert((p.name)(), p).is_some() {
            return;
        }
        for t in [p.elem, p.key_elem, p.value_elem, p.group_elem] {
            self.add_type(t);
        }
        for f in p.funcs {
            self.add(f);
        }
    }

    fn add_type(&mut self, t: &'static ElemType) {
        self.types.insert((t.name)(), t);
        self.unit_pairs.insert((t.unit_pair)(), t);
    }
}

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut reg = Registry::default();
        for r in BUILTINS.iter().chain(inventory::iter::<Registration>) {
            reg.add(r);
        }
        reg
    })
}

/// A registered pair type, by `type_name::<(K, V)>()`.
pub(crate) fn find_pair(name: &str) -> Option<&'static PairType> {
    registry().pairs.get(name).copied()
}

/// The element type T of a `((), T)` name (`repartition`'s records).
pub(crate) fn find_unit_pair(name: &str) -> Option<&'static ElemType> {
    registry().unit_pairs.get(name).copied()
}

/// The error for a pair type that is not registered.
pub(crate) fn pair_not_registered(name: &str) -> String {
    match shuffle::tuple_parts(name).as_slice() {
        ["()", t] => format!(
            "element type {t} is not registered in this binary (add appmaster::register_data!({}))",
            shuffle::short_type(t)
        ),
        _ => format!(
            "pair type {name} is not registered in this binary (add {})",
            shuffle::pair_macro(name)
        ),
    }
}

/// A registered join, by `type_name::<(K, (V, W))>()`.
pub(crate) fn lookup_join(name: &str) -> Result<&'static JoinType, String> {
    registry().joins.get(name).copied().ok_or_else(|| {
        format!(
            "join type {name} is not registered in this binary (add {})",
            shuffle::join_macro(name)
        )
    })
}

/// Whether `(K, V)` is a registered pair type (the driver's early check).
pub(crate) fn is_pair_registered<K: 'static, V: 'static>() -> bool {
    registry().pairs.contains_key(type_name::<(K, V)>())
}

/// Whether the join of `(K, V)` and `(K, W)` is registered.
pub(crate) fn is_join_registered<K: 'static, V: 'static, W: 'static>() -> bool {
    registry().joins.contains_key(type_name::<(K, (V, W))>())
}

pub(crate) fn lookup_fn(kind: Kind, name: &str) -> Result<&'static Registration, String> {
    registry().funcs.get(&(kind, name)).copied().ok_or_else(|| {
        format!(
            "{} function {name} is not registered in this binary (add appmaster::register_{}!({}))",
            kind.label(),
            kind.label(),
            name.rsplit("::").next().unwrap_or(name)
        )
    })
}

pub(crate) fn lookup_type(name: &str) -> Result<&'static ElemType, String> {
    registry().types.get(name).copied().ok_or_else(|| {
        format!(
            "element type {name} is not registered in this binary (add appmaster::register_data!({name}))"
        )
    })
}

/// Whether `F` is registered as `kind` (the driver's early check).
pub(crate) fn is_registered<F: 'static>(kind: Kind) -> bool {
    registry().funcs.contains_key(&(kind, type_name::<F>()))
}

/// Whether `T` can be decoded from a `Parallelize` source by name.
pub(crate) fn is_data_registered<T: 'static>() -> bool {
    registry().types.contains_key(type_name::<T>())
}

// ---- type-erased helpers ------------------------------------------------------

pub(crate) fn erase<T: Data>(it: Elements<T>) -> AnyIter {
    Box::new(it)
}

pub(crate) fn unerase<T: Data>(it: AnyIter) -> Result<Elements<T>, String> {
    it.downcast::<Elements<T>>()
        .map(|b| *b)
        .map_err(|_| format!("internal error: the stream is not of {}", type_name::<T>()))
}

fn decode_fn<F: serde::de::DeserializeOwned>(kind: Kind, value: &[u8]) -> Result<F, String> {
    postcard::from_bytes(value).map_err(|e| {
        format!(
            "cannot decode {} function {}: {e}",
            kind.label(),
            type_name::<F>()
        )
    })
}

fn encode<T: serde::Serialize + ?Sized>(v: &T) -> Result<Vec<u8>, String> {
    postcard::to_stdvec(v).map_err(|e| format!("cannot encode a {}: {e}", type_name::<T>()))
}

fn map_impl<F: MapFn>(value: &[u8], _part: u32, input: AnyIter) -> Result<AnyIter, String> {
    let f: F = decode_fn(Kind::Map, value)?;
    let it = unerase::<F::In>(input)?;
    Ok(erase::<F::Out>(Box::new(it.map(move |x| f.call(x)))))
}

fn filter_impl<F: FilterFn>(value: &[u8], _part: u32, input: AnyIter) -> Result<AnyIter, String> {
    let f: F = decode_fn(Kind::Filter, value)?;
    let it = unerase::<F::In>(input)?;
    Ok(erase::<F::In>(Box::new(it.filter(move |x| f.call(x)))))
}

fn flat_map_impl<F: FlatMapFn>(
    value: &[u8],
    _part: u32,
    input: AnyIter,
) -> Result<AnyIter, String> {
    let f: F = decode_fn(Kind::FlatMap, value)?;
    let it = unerase::<F::In>(input)?;
    Ok(erase::<F::Out>(Box::new(it.flat_map(move |x| f.call(x)))))
}

fn map_partitions_impl<F: MapPartitionsFn>(
    value: &[u8],
    part: u32,
    input: AnyIter,
) -> Result<AnyIter, String> {
    let f: F = decode_fn(Kind::MapPartitions, value)?;
    let it = unerase::<F::In>(input)?;
    Ok(erase::<F::Out>(f.call(part, it)))
}

fn reduce_impl<F: ReduceFn>(value: &[u8], input: AnyIter) -> Encoded {
    let f: F = decode_fn(Kind::Reduce, value)?;
    let it = unerase::<F::T>(input)?;
    let mut n = 0u64;
    let acc = it.inspect(|_| n += 1).reduce(|a, b| f.call(a, b));
    Ok((encode(&acc)?, n))
}

fn combiner_impl<F: ReduceFn>(value: &[u8]) -> Result<AnyCombiner, String> {
    let f: F = decode_fn(Kind::Reduce, value)?;
    let c: Combiner<F::T> = Arc::new(move |a, b| f.call(a, b));
    Ok(Box::new(c))
}

fn foreach_impl<F: ForeachFn>(value: &[u8], input: AnyIter) -> Result<u64, String> {
    let f: F = decode_fn(Kind::Foreach, value)?;
    let it = unerase::<F::In>(input)?;
    let mut n = 0u64;
    it.for_each(|x| {
        n += 1;
        f.call(x)
    });
    Ok(n)
}

fn count_impl<T: Data>(input: AnyIter) -> Result<u64, String> {
    Ok(unerase::<T>(input)?.count() as u64)
}

fn encode_impl<T: Data>(input: AnyIter, limit: Option<u64>) -> Encoded {
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

fn parallel_impl<T: Data>(stage: Arc<StageSpec>, part: usize) -> Result<AnyIter, String> {
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

fn materialize_impl<T: Data>(input: AnyIter) -> Result<(AnyBlock, u64), String> {
    let v: Vec<T> = unerase::<T>(input)?.collect();
    let n = v.len() as u64;
    Ok((Arc::new(v), n))
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

fn read_block_impl<T: Data>(block: AnyBlock) -> Result<AnyIter, String> {
    let block = block.downcast::<Vec<T>>().map_err(|_| {
        format!(
            "internal error: the cached block is not of {}",
            type_name::<T>()
        )
    })?;
    Ok(erase::<T>(Box::new(BlockIter { block, next: 0 })))
}
