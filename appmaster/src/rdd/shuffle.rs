//! The task side of a shuffle: pair keys, partitioners, the block record
//! format, the map-side write and the reduce-side read (the typed code that
//! the registry's pair and join tables point at). Both sides keep to the task's
//! execution memory with the spilling structures of [super::external].
//!
//! # Block format
//!
//! A map task writes one block per reduce partition. A block is a sequence
//! of records, nothing else (no header, no count; an empty block is empty):
//!
//! ```text
//! block  := record*
//! record := varint(len(key)) key varint(len(value)) value
//! ```
//!
//! `key` and `value` are the postcard encodings of K and V, and `varint` is
//! an unsigned LEB128 integer (postcard's own varint). The key bytes are what
//! the hash partitioner hashes and what aggregations group by, so a key is
//! decoded only when an element is produced.
//!
//! # Partitioners
//!
//! - `Hash { partitions }`: `key_hash(key bytes) % partitions`, where
//!   `key_hash` is 64-bit FNV-1a followed by the MurmurHash3 64-bit finalizer
//!   (see [key_hash]); the same on every executor and every run.
//! - `Range { partitions, bounds, ascending }`: `bounds` is a postcard `Vec<K>`
//!   of at most `partitions - 1` sorted upper bounds; a key goes to the number
//!   of bounds smaller than it (Spark's RangePartitioner), counted from the
//!   other end when descending.
//! - `RoundRobin { partitions }`: records are dealt in turn starting at
//!   `key_hash(map id as u32 little-endian) % partitions`.

use super::erased::{combiner_of, erase, unerase, AnyCombiner, AnyIter, Combiner};
use super::external::{
    value_bytes, Combiners, ExternalMap, ExternalSorter, SpilledRecords, SpillingBlocks,
};
use super::func::{Data, Elements, MapFn, MapPartitionsFn};
use super::memory::TaskMemory;
use super::record::{decode, encode_into, fmix64, Records};
use am_core::plan::{Block, MapOutputWriter, Partitioner, ShuffleRead};
use serde::{Deserialize, Serialize};
use std::any::type_name;
use std::marker::PhantomData;
use std::mem::size_of;
use std::sync::Arc;

pub use super::record::{hash_partition, key_hash};

/// A key of a pair RDD: shippable and totally ordered (the order is used by
/// `sort_by_key`; grouping and hashing use the key's encoded bytes).
pub trait Key: Data + Ord {}

impl<T: Data + Ord> Key for T {}

// ---- partitioning ---------------------------------------------------------------

enum Chooser<K> {
    Hash(u64),
    Range { bounds: Vec<K>, ascending: bool },
    RoundRobin { next: u64, n: u64 },
}

impl<K: Key> Chooser<K> {
    fn new(p: &Partitioner, map_id: u32) -> Result<Self, String> {
        let n = p.partitions();
        if n == 0 {
            return Err("a shuffle needs at least one reduce partition".into());
        }
        Ok(match p {
            Partitioner::Hash { .. } => Self::Hash(u64::from(n)),
            Partitioner::Range {
                bounds, ascending, ..
            } => {
                let bounds: Vec<K> = postcard::from_bytes(bounds).map_err(|e| {
                    format!(
                        "the range partitioner's bounds are not a Vec<{}>: {e}",
                        type_name::<K>()
                    )
                })?;
                if bounds.len() >= n as usize {
                    return Err(format!(
                        "the range partitioner has {} bounds for {n} partitions",
                        bounds.len()
                    ));
                }
                Self::Range {
                    bounds,
                    ascending: *ascending,
                }
            }
            Partitioner::RoundRobin { .. } => Self::RoundRobin {
                next: key_hash(&map_id.to_le_bytes()) % u64::from(n),
                n: u64::from(n),
            },
        })
    }

    #[inline]
    fn choose(&mut self, key: &K, key_bytes: &[u8]) -> usize {
        match self {
            Self::Hash(n) => (key_hash(key_bytes) % *n) as usize,
            Self::Range { bounds, ascending } => {
                let below = bounds.partition_point(|b| b < key);
                if *ascending {
                    below
                } else {
                    bounds.len() - below
                }
            }
            Self::RoundRobin { next, n } => {
                let p = *next;
                *next = if p + 1 == *n { 0 } else { p + 1 };
                p as usize
            }
        }
    }
}

/// Partitions `records` into `out`, one block per reduce partition, folding values
/// per key with `combine` if given (map-side combine); within the task's execution
/// memory, spilling as needed. Returns the number of records.
pub(crate) fn write_pairs<K: Key, V: Data>(
    records: impl Iterator<Item = (K, V)>,
    partitioner: &Partitioner,
    map_id: u32,
    combine: Option<Combiner<V>>,
    mem: &Arc<TaskMemory>,
    out: &mut dyn MapOutputWriter,
) -> Result<u64, String> {
    let mut chooser = Chooser::<K>::new(partitioner, map_id)?;
    let n = partitioner.partitions() as usize;
    let (mut kbuf, mut vbuf) = (Vec::new(), Vec::new());
    let mut written = 0u64;
    match combine {
        None => {
            let mut blocks = SpillingBlocks::new(n, mem.clone());
            for (k, v) in records {
                written += 1;
                encode_into(&k, &mut kbuf)?;
                let p = chooser.choose(&k, &kbuf);
                encode_into(&v, &mut vbuf)?;
                blocks.put(p, &kbuf, &vbuf)?;
            }
            blocks.write_to(out)?;
        }
        Some(f) => {
            let mut map = ExternalMap::<V>::new(n, mem.clone(), f.clone());
            for (k, v) in records {
                written += 1;
                encode_into(&k, &mut kbuf)?;
                let p = chooser.choose(&k, &kbuf);
                map.upsert(p, &kbuf, v, |acc, v| match acc {
                    Some(acc) => (f(acc, v), 0),
                    None => {
                        // Only a new key's value is encoded, to estimate its size.
                        let len = encode_into(&v, &mut vbuf).map_or(0, |()| vbuf.len());
                        (v, value_bytes::<V>(len))
                    }
                })?;
            }
            map.write_to(out)?;
        }
    }
    Ok(written)
}

pub(crate) fn write_pair_impl<K: Key, V: Data>(
    input: AnyIter,
    partitioner: &Partitioner,
    map_id: u32,
    combine: Option<AnyCombiner>,
    mem: &Arc<TaskMemory>,
    out: &mut dyn MapOutputWriter,
) -> Result<u64, String> {
    let combine = combiner_of::<V>(combine)?;
    write_pairs(
        unerase::<(K, V)>(input)?,
        partitioner,
        map_id,
        combine,
        mem,
        out,
    )
}

/// `repartition`'s write: elements of T as `((), T)` records (empty keys).
pub(crate) fn write_values_impl<T: Data>(
    input: AnyIter,
    partitioner: &Partitioner,
    map_id: u32,
    mem: &Arc<TaskMemory>,
    out: &mut dyn MapOutputWriter,
) -> Result<u64, String> {
    if matches!(partitioner, Partitioner::Range { .. }) {
        return Err("a range partitioner needs keys: it cannot partition plain values".into());
    }
    write_pairs(
        unerase::<T>(input)?.map(|x| ((), x)),
        partitioner,
        map_id,
        None,
        mem,
        out,
    )
}

// ---- reduce side ------------------------------------------------------------------

/// A reduce partition's fetched blocks, a batch at a time (at most
/// `spark.reducer.maxSizeInFlight` bytes, or one block): calling it fetches them
/// all, handing each batch to the consumer, and stops at the first error.
pub(crate) type Fetched<'a> =
    &'a mut dyn FnMut(&mut dyn FnMut(Vec<Block>) -> Result<(), String>) -> Result<(), String>;

/// Every fetched record's (key bytes, value bytes), to `f`.
fn for_each_fetched(
    fetched: Fetched<'_>,
    mut f: impl FnMut(&[u8], &[u8]) -> Result<(), String>,
) -> Result<(), String> {
    fetched(&mut |batch| {
        let mut recs = Records::new(batch);
        while let Some(r) = recs.next_record() {
            let (k, v) = r?;
            f(k, v)?;
        }
        Ok(())
    })
}

/// The fetched records, kept for streaming (spilled when over budget).
fn buffered(fetched: Fetched<'_>, mem: &Arc<TaskMemory>) -> Result<SpilledRecords, String> {
    let mut buf = SpillingBlocks::new(1, mem.clone());
    fetched(&mut |batch| {
        for b in batch.into_iter().filter(|b| !b.is_empty()) {
            buf.put_block(b)?;
        }
        Ok(())
    })?;
    buf.into_records()
}

/// Streams `(K, V)` records out of fetched blocks.
struct PairIter<K, V> {
    recs: SpilledRecords,
    _t: PhantomData<fn() -> (K, V)>,
}

impl<K: Data, V: Data> Iterator for PairIter<K, V> {
    type Item = (K, V);

    fn next(&mut self) -> Option<(K, V)> {
        let r = self
            .recs
            .next_record()?
            .and_then(|(k, v)| Ok((decode::<K>(k)?, decode::<V>(v)?)));
        Some(r.unwrap_or_else(|e| panic!("{e}")))
    }
}

/// Streams the values of records out of fetched blocks (keys are skipped).
struct ValueIter<V> {
    recs: SpilledRecords,
    _t: PhantomData<fn() -> V>,
}

impl<V: Data> Iterator for ValueIter<V> {
    type Item = V;

    fn next(&mut self) -> Option<V> {
        let r = self.recs.next_record()?.and_then(|(_, v)| decode::<V>(v));
        Some(r.unwrap_or_else(|e| panic!("{e}")))
    }
}

fn values<V: Data>(fetched: Fetched<'_>, mem: &Arc<TaskMemory>) -> Result<Elements<V>, String> {
    Ok(Box::new(ValueIter::<V> {
        recs: buffered(fetched, mem)?,
        _t: PhantomData,
    }))
}

/// `repartition`'s read.
pub(crate) fn read_values_impl<T: Data>(
    fetched: Fetched<'_>,
    mem: &Arc<TaskMemory>,
) -> Result<AnyIter, String> {
    Ok(erase::<T>(values::<T>(fetched, mem)?))
}

/// Combiners with their keys decoded; an undecodable key or unreadable spill fails
/// the task (the stream panics with why).
fn with_keys<K: Data, C: Data>(combiners: Combiners<C>) -> Elements<(K, C)> {
    Box::new(combiners.map(|r| {
        r.and_then(|(k, c)| Ok((decode::<K>(&k)?, c)))
            .unwrap_or_else(|e| panic!("{e}"))
    }))
}

/// Values by key, in the order read (`group_by_key`, each side of a join).
fn grouped<V: Data>(mem: &Arc<TaskMemory>) -> ExternalMap<Vec<V>> {
    ExternalMap::new(
        1,
        mem.clone(),
        Arc::new(|mut a: Vec<V>, b: Vec<V>| {
            a.extend(b);
            a
        }),
    )
}

/// Adds `v` (encoded in `len` bytes) to a group.
fn push<V>(group: Option<Vec<V>>, v: V, len: usize) -> (Vec<V>, u64) {
    let bytes = value_bytes::<V>(len);
    match group {
        Some(mut vs) => {
            vs.push(v);
            (vs, bytes)
        }
        None => (vec![v], bytes + size_of::<Vec<V>>() as u64),
    }
}

/// A pair type's reduce side: the fetched blocks as a stream of what `read`
/// says (`(K, V)`, `V` or `(K, Vec<V>)`), within the task's execution memory.
pub(crate) fn read_pair_impl<K: Key, V: Data>(
    fetched: Fetched<'_>,
    read: &ShuffleRead,
    combine: Option<AnyCombiner>,
    mem: &Arc<TaskMemory>,
) -> Result<AnyIter, String> {
    Ok(match read {
        ShuffleRead::Pairs => erase::<(K, V)>(Box::new(PairIter::<K, V> {
            recs: buffered(fetched, mem)?,
            _t: PhantomData,
        })),
        ShuffleRead::Values => erase::<V>(values::<V>(fetched, mem)?),
        ShuffleRead::ReduceByKey(f) => {
            let combine = combiner_of::<V>(combine)?
                .ok_or_else(|| format!("internal error: no combiner for {}", f.name))?;
            let mut map = ExternalMap::<V>::new(1, mem.clone(), combine.clone());
            for_each_fetched(fetched, |k, vb| {
                let v = decode::<V>(vb)?;
                map.upsert(0, k, v, |acc, v| match acc {
                    Some(acc) => (combine(acc, v), 0),
                    None => (v, value_bytes::<V>(vb.len())),
                })
            })?;
            erase::<(K, V)>(with_keys::<K, V>(map.into_combiners()?))
        }
        ShuffleRead::GroupByKey => {
            let mut map = grouped::<V>(mem);
            for_each_fetched(fetched, |k, vb| {
                let v = decode::<V>(vb)?;
                map.upsert(0, k, v, |g, v| push(g, v, vb.len()))
            })?;
            erase::<(K, Vec<V>)>(with_keys::<K, Vec<V>>(map.into_combiners()?))
        }
        ShuffleRead::SortByKey { ascending } => {
            let mut sorter = ExternalSorter::<K, V>::new(*ascending, mem.clone());
            for_each_fetched(fetched, |kb, vb| {
                sorter.insert(decode::<K>(kb)?, decode::<V>(vb)?, kb.len() + vb.len())
            })?;
            erase::<(K, V)>(sorter.into_sorted()?)
        }
        ShuffleRead::Join { result_type } => {
            return Err(format!(
                "internal error: a join ({result_type}) needs two shuffle dependencies"
            ))
        }
    })
}

/// Both sides' values of a key (a join's cogroup).
type Both<V, W> = (Vec<V>, Vec<W>);

/// Adds one side's fetched records to a cogroup (`side` picks its values).
fn cogroup_side<V: Data, W: Data, X: Data>(
    map: &mut ExternalMap<Both<V, W>>,
    fetched: Fetched<'_>,
    side: fn(&mut Both<V, W>) -> &mut Vec<X>,
) -> Result<(), String> {
    let empty = size_of::<Both<V, W>>() as u64;
    for_each_fetched(fetched, |k, xb| {
        let x = decode::<X>(xb)?;
        map.upsert(0, k, x, |both, x| {
            let (mut both, extra) = both.map_or((Both::default(), empty), |b| (b, 0));
            side(&mut both).push(x);
            (both, extra + value_bytes::<X>(xb.len()))
        })
    })
}

/// The inner join of one reduce partition: both sides grouped by key (Spark's
/// cogroup, spilled when over budget), then each key's pairs.
pub(crate) fn join_impl<K: Key, V: Data, W: Data>(
    left: Fetched<'_>,
    right: Fetched<'_>,
    mem: &Arc<TaskMemory>,
) -> Result<AnyIter, String> {
    let mut map = ExternalMap::<Both<V, W>>::new(
        1,
        mem.clone(),
        Arc::new(|mut a: Both<V, W>, b: Both<V, W>| {
            a.0.extend(b.0);
            a.1.extend(b.1);
            a
        }),
    );
    cogroup_side(&mut map, left, |b| &mut b.0)?;
    cogroup_side(&mut map, right, |b| &mut b.1)?;
    let pairs = with_keys::<K, Both<V, W>>(map.into_combiners()?).flat_map(|(k, (vs, ws))| {
        let mut out = Vec::with_capacity(vs.len() * ws.len());
        for v in &vs {
            for w in &ws {
                out.push((k.clone(), (v.clone(), w.clone())));
            }
        }
        out
    });
    Ok(erase::<(K, (V, W))>(Box::new(pairs)))
}

// ---- functions the typed API uses -------------------------------------------------

/// A [MapFn] from a pair to one of its fields: `Name: Out = .field`.
macro_rules! pair_field {
    ($(#[$doc:meta])* $name:ident: $out:ident = .$field:tt) => {
        $(#[$doc])*
        #[derive(Serialize, Deserialize)]
        pub(crate) struct $name<K, V>(PhantomData<fn() -> (K, V)>);

        impl<K, V> Default for $name<K, V> {
            fn default() -> Self {
                Self(PhantomData)
            }
        }

        impl<K: Key, V: Data> MapFn for $name<K, V> {
            type In = (K, V);
            type Out = $out;
            fn call(&self, x: (K, V)) -> $out {
                x.$field
            }
        }
    };
}

pair_field! {
    /// `keys()`: the key of a pair.
    PairKey: K = .0
}

pair_field! {
    /// `values()`: the value of a pair.
    PairValue: V = .1
}

/// `sort_by_key`'s sampling pass: a partition's size and a uniform sample of
/// at most `size` of its keys (reservoir sampling, seeded by the partition).
#[derive(Serialize, Deserialize)]
pub(crate) struct SampleKeys<K, V> {
    pub(crate) size: u32,
    pub(crate) seed: u64,
    #[serde(skip)]
    pub(crate) _t: PhantomData<fn() -> (K, V)>,
}

impl<K: Key, V: Data> MapPartitionsFn for SampleKeys<K, V> {
    type In = (K, V);
    type Out = (u64, Vec<K>);
    fn call(self, partition: u32, input: Elements<(K, V)>) -> Elements<(u64, Vec<K>)> {
        Box::new(std::iter::once_with(move || {
            let size = self.size as usize;
            let mut state = self.seed ^ fmix64(u64::from(partition) + 1);
            let mut sample: Vec<K> = Vec::with_capacity(size.min(1 << 16));
            let mut seen = 0u64;
            for (k, _) in input {
                if sample.len() < size {
                    sample.push(k);
                } else {
                    state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                    let j = fmix64(state) % (seen + 1);
                    if (j as usize) < size {
                        sample[j as usize] = k;
                    }
                }
                seen += 1;
            }
            (seen, sample)
        }))
    }
}

/// Spark's `RangePartitioner.determineBounds`: up to `partitions - 1` bounds
/// from weighted key candidates (a sampled key weighs its partition's size
/// over its sample's size), each bound greater than the previous.
pub(crate) fn determine_bounds<K: Ord>(mut candidates: Vec<(K, f64)>, partitions: u32) -> Vec<K> {
    candidates.sort_by(|a, b| a.0.cmp(&b.0));
    let total: f64 = candidates.iter().map(|c| c.1).sum();
    let step = total / f64::from(partitions.max(1));
    let mut bounds: Vec<K> = Vec::new();
    let (mut cum, mut target) = (0.0, step);
    for (k, w) in candidates {
        if bounds.len() + 1 >= partitions as usize {
            break;
        }
        cum += w;
        if cum >= target && bounds.last().is_none_or(|b| k > *b) {
            bounds.push(k);
            target += step;
        }
    }
    bounds
}
