//! The compile-time registry: registered function name → type-erased code,
//! element type name → type-erased element operations, pair type and join
//! name → their shuffle code.
//!
//! Registrations are collected with `inventory` (the `register_*!` macros), so
//! the driver and the executor sides of one binary see the same table without
//! any call from `main`. The crate's own built-ins are listed here explicitly
//! as well, so they are present whatever the linker keeps.
//!
//! The tables point at the code (in `erased` and `shuffle`); the code does
//! not point back.

use super::erased::{
    combiner_impl, count_impl, encode_impl, filter_impl, flat_map_impl, foreach_impl, map_impl,
    map_partitions_impl, materialize_impl, parallel_impl, read_block_impl, reduce_impl, AnyBlock,
    AnyCombiner, AnyIter, Encoded, Materialized,
};
use super::func::{
    AddF32, AddF64, AddI32, AddI64, AddU32, AddU64, AddUsize, Data, FilterFn, FlatMapFn, ForeachFn,
    MapFn, MapPartitionsFn, ReduceFn,
};
use super::memory::TaskMemory;
use super::python::PyPipe;
use super::shuffle::{
    join_impl, read_pair_impl, read_values_impl, write_pair_impl, write_values_impl, Fetched, Key,
    PairKey, PairValue, SampleKeys,
};
use super::text::TextSplit;
use am_core::plan::{MapOutputWriter, Partitioner, ShuffleRead, StageSpec};
use std::any::{type_name, TypeId};
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};

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
    /// Materializes a stream for the block cache; also returns its length and
    /// estimated bytes.
    pub(crate) materialize: fn(AnyIter) -> Materialized,
    /// Streams a cached block.
    pub(crate) read_block: fn(AnyBlock) -> Result<AnyIter, String>,
    /// `type_name::<((), T)>()`: the pair type `repartition` writes.
    pub(crate) unit_pair: fn() -> &'static str,
    /// `repartition`'s map side: the elements as `((), T)` records.
    pub(crate) write_values: WriteValuesFn,
    /// `repartition`'s reduce side: the values of fetched records.
    pub(crate) read_values: fn(Fetched<'_>, &Arc<TaskMemory>) -> Result<AnyIter, String>,
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
        write_values: write_values_impl::<T>,
        read_values: read_values_impl::<T>,
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
    /// A registration named after `N`, streaming `I` in and `O` out.
    const fn new<N, I: Data, O: Data>(kind: Kind, code: Code) -> Self {
        Self {
            kind,
            name: type_name::<N>,
            input: ElemOf::<I>::TYPE,
            output: ElemOf::<O>::TYPE,
            code,
        }
    }

    pub const fn map<F: MapFn>() -> Self {
        Self::new::<F, F::In, F::Out>(Kind::Map, Code::Transform(map_impl::<F>))
    }

    pub const fn filter<F: FilterFn>() -> Self {
        Self::new::<F, F::In, F::In>(Kind::Filter, Code::Transform(filter_impl::<F>))
    }

    pub const fn flat_map<F: FlatMapFn>() -> Self {
        Self::new::<F, F::In, F::Out>(Kind::FlatMap, Code::Transform(flat_map_impl::<F>))
    }

    pub const fn map_partitions<F: MapPartitionsFn>() -> Self {
        let code = Code::Transform(map_partitions_impl::<F>);
        Self::new::<F, F::In, F::Out>(Kind::MapPartitions, code)
    }

    pub const fn reduce<F: ReduceFn>() -> Self {
        let code = Code::Reduce(reduce_impl::<F>, combiner_impl::<F>);
        Self::new::<F, F::T, F::T>(Kind::Reduce, code)
    }

    pub const fn foreach<F: ForeachFn>() -> Self {
        Self::new::<F, F::In, F::In>(Kind::Foreach, Code::Foreach(foreach_impl::<F>))
    }

    pub const fn pair<K: Key, V: Data>() -> Self {
        let code = Code::Pair(PairOf::<K, V>::TYPE);
        Self::new::<(K, V), (K, V), (K, Vec<V>)>(Kind::Pair, code)
    }

    pub const fn join<K: Key, V: Data, W: Data>() -> Self {
        let code = Code::Join(JoinOf::<K, V, W>::TYPE);
        Self::new::<(K, (V, W)), (K, V), (K, (V, W))>(Kind::Join, code)
    }

    pub const fn data<T: Data>() -> Self {
        Self::new::<T, T, T>(Kind::Data, Code::Data)
    }
}

/// A reduce-side read: the fetched blocks → the element type and its stream.
pub(crate) type ReadFn = fn(
    Fetched<'_>,
    &ShuffleRead,
    Option<AnyCombiner>,
    &Arc<TaskMemory>,
) -> Result<(&'static ElemType, AnyIter), String>;

/// A join: the left and right blocks → a stream of `(K, (V, W))`.
pub(crate) type JoinFn = fn(Fetched<'_>, Fetched<'_>, &Arc<TaskMemory>) -> Result<AnyIter, String>;

/// A map side: the stream partitioned (and combined) into the writer; → records.
pub(crate) type WriteFn = fn(
    AnyIter,
    &Partitioner,
    u32,
    Option<AnyCombiner>,
    &Arc<TaskMemory>,
    &mut dyn MapOutputWriter,
) -> Result<u64, String>;

/// `repartition`'s map side (see [WriteFn]).
pub(crate) type WriteValuesFn = fn(
    AnyIter,
    &Partitioner,
    u32,
    &Arc<TaskMemory>,
    &mut dyn MapOutputWriter,
) -> Result<u64, String>;

/// A type parameter holder that is Send, Sync and covariant.
type Marker<T> = PhantomData<fn() -> T>;

/// The code of a registered pair type `(K, V)`.
pub(crate) struct PairType {
    pub(crate) name: fn() -> &'static str,
    /// `(K, V)`.
    pub(crate) elem: &'static ElemType,
    pub(crate) key_elem: &'static ElemType,
    pub(crate) value_elem: &'static ElemType,
    /// `(K, Vec<V>)`, what `group_by_key` produces.
    pub(crate) group_elem: &'static ElemType,
    /// Partitions (and combines) a stream of `(K, V)`.
    pub(crate) write: WriteFn,
    /// Turns the fetched blocks into a stream, as `ShuffleRead` says.
    pub(crate) read: ReadFn,
    /// The functions the typed API needs for this pair type (keys, values,
    /// the sort sampler).
    pub(crate) funcs: &'static [Registration],
}

pub(crate) struct PairOf<K, V>(PhantomData<fn() -> (K, V)>);

impl<K: Key, V: Data> PairOf<K, V> {
    pub(crate) const TYPE: &'static PairType = &PairType {
        name: type_name::<(K, V)>,
        elem: ElemOf::<(K, V)>::TYPE,
        key_elem: ElemOf::<K>::TYPE,
        value_elem: ElemOf::<V>::TYPE,
        group_elem: ElemOf::<(K, Vec<V>)>::TYPE,
        write: write_pair_impl::<K, V>,
        read: read_pair::<K, V>,
        funcs: &[
            Registration::map::<PairKey<K, V>>(),
            Registration::map::<PairValue<K, V>>(),
            Registration::map_partitions::<SampleKeys<K, V>>(),
        ],
    };
}

/// The code of a registered join `(K, V) ⋈ (K, W) → (K, (V, W))`.
pub(crate) struct JoinType {
    /// `(K, (V, W))`.
    pub(crate) name: fn() -> &'static str,
    pub(crate) left: &'static PairType,
    pub(crate) right: &'static PairType,
    pub(crate) elem: &'static ElemType,
    pub(crate) join: JoinFn,
}

pub(crate) struct JoinOf<K, V, W>(Marker<(K, V, W)>);

impl<K: Key, V: Data, W: Data> JoinOf<K, V, W> {
    pub(crate) const TYPE: &'static JoinType = &JoinType {
        name: type_name::<(K, (V, W))>,
        left: PairOf::<K, V>::TYPE,
        right: PairOf::<K, W>::TYPE,
        elem: ElemOf::<(K, (V, W))>::TYPE,
        join: join_impl::<K, V, W>,
    };
}

/// A pair type's reduce side with the element type of what it streams.
fn read_pair<K: Key, V: Data>(
    fetched: Fetched<'_>,
    read: &ShuffleRead,
    combine: Option<AnyCombiner>,
    mem: &Arc<TaskMemory>,
) -> Result<(&'static ElemType, AnyIter), String> {
    let iter = read_pair_impl::<K, V>(fetched, read, combine, mem)?;
    let elem = match read {
        ShuffleRead::Values => ElemOf::<V>::TYPE,
        ShuffleRead::GroupByKey => ElemOf::<(K, Vec<V>)>::TYPE,
        ShuffleRead::Pairs
        | ShuffleRead::ReduceByKey(_)
        | ShuffleRead::SortByKey { .. }
        | ShuffleRead::Join { .. } => ElemOf::<(K, V)>::TYPE,
    };
    Ok((elem, iter))
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
    Registration::map_partitions::<PyPipe<i64, Vec<u8>>>(),
    Registration::map_partitions::<PyPipe<String, Vec<u8>>>(),
    Registration::map_partitions::<PyPipe<Vec<u8>, Vec<u8>>>(),
    Registration::map_partitions::<PyPipe<i64, (u64, Vec<u8>)>>(),
    Registration::map_partitions::<PyPipe<String, (u64, Vec<u8>)>>(),
    Registration::map_partitions::<PyPipe<Vec<u8>, (u64, Vec<u8>)>>(),
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
    match tuple_parts(name).as_slice() {
        ["()", t] => format!(
            "element type {t} is not registered in this binary (add appmaster::register_data!({}))",
            short_type(t)
        ),
        _ => format!(
            "pair type {name} is not registered in this binary (add {})",
            pair_macro(name)
        ),
    }
}

/// A registered join, by `type_name::<(K, (V, W))>()`.
pub(crate) fn lookup_join(name: &str) -> Result<&'static JoinType, String> {
    registry().joins.get(name).copied().ok_or_else(|| {
        format!(
            "join type {name} is not registered in this binary (add {})",
            join_macro(name)
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

// ---- names in messages -------------------------------------------------------

/// A short spelling of a type name for messages and macro hints: paths are
/// cut to their last segment (`alloc::string::String` → `String`).
pub(crate) fn short_type(name: &str) -> String {
    let mut out = String::new();
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut String| {
        out.push_str(token.rsplit("::").next().unwrap_or(token));
        token.clear();
    };
    for c in name.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            token.push(c);
        } else {
            flush(&mut token, &mut out);
            out.push(c);
        }
    }
    flush(&mut token, &mut out);
    out
}

/// The top-level elements of a tuple type name: `(A, (B, C))` → `[A, (B, C)]`.
pub(crate) fn tuple_parts(name: &str) -> Vec<&str> {
    let Some(inner) = name.strip_prefix('(').and_then(|s| s.strip_suffix(')')) else {
        return vec![name];
    };
    let (mut parts, mut depth, mut start) = (Vec::new(), 0i32, 0usize);
    for (i, c) in inner.char_indices() {
        match c {
            '(' | '<' | '[' => depth += 1,
            ')' | '>' | ']' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(inner[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(inner[start..].trim());
    parts
}

/// `appmaster::register_pair!(K, V)` for a `(K, V)` type name.
pub(crate) fn pair_macro(pair_type: &str) -> String {
    format!(
        "appmaster::register_pair!({})",
        short_type(&tuple_parts(pair_type).join(", "))
    )
}

/// `appmaster::register_join!(K, V, W)` for a `(K, (V, W))` type name.
pub(crate) fn join_macro(result_type: &str) -> String {
    let parts = tuple_parts(result_type);
    let mut args = vec![parts[0]];
    if let Some(vw) = parts.get(1) {
        args.extend(tuple_parts(vw));
    }
    format!(
        "appmaster::register_join!({})",
        short_type(&args.join(", "))
    )
}
