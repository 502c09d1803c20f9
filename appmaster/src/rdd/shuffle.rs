//! The task side of a shuffle: pair keys, partitioners, the block record
//! format, the map-side write and the reduce-side read (the typed code that
//! the registry's pair and join tables point at).
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
use super::func::{Data, Elements, MapFn, MapPartitionsFn};
use super::record::{decode, encode_into, fmix64, for_each_record, put_record, FnvMap, Records};
use am_core::plan::{Partitioner, ShuffleRead};
use serde::{Deserialize, Serialize};
use std::any::type_name;
use std::marker::PhantomData;

pub use super::record::{hash_partition, key_hash};

/// A key of a pair RDD: shippable and totally ordered (the order is used by
/// `sort_by_key`; grouping and hashing use the key's encoded bytes).
pub trait Key: Data + Ord {}

impl<T: Data + Ord> Key for T {}

/// Encoded blocks (one per reduce partition) and the number of records written.
pub(crate) type Written = Result<(Vec<Vec<u8>>, u64), String>;

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

/// Partitions `records` into encoded blocks, folding values per key with
/// `combine` if given (map-side combine).
pub(crate) fn write_pairs<K: Key, V: Data>(
    records: impl Iterator<Item = (K, V)>,
    partitioner: &Partitioner,
    map_id: u32,
    combine: Option<Combiner<V>>,
) -> Written {
    let mut chooser = Chooser::<K>::new(partitioner, map_id)?;
    let n = partitioner.partitions() as usize;
    let mut blocks: Vec<Vec<u8>> = vec![Vec::new(); n];
    let (mut kbuf, mut vbuf) = (Vec::new(), Vec::new());
    let mut written = 0u64;
    match combine {
        None => {
            for (k, v) in records {
                written += 1;
                encode_into(&k, &mut kbuf)?;
                let p = chooser.choose(&k, &kbuf);
                encode_into(&v, &mut vbuf)?;
                put_record(&mut blocks[p], &kbuf, &vbuf);
            }
        }
        Some(f) => {
            let mut maps: Vec<FnvMap<Vec<u8>, Option<V>>> =
                (0..n).map(|_| FnvMap::default()).collect();
            for (k, v) in records {
                written += 1;
                encode_into(&k, &mut kbuf)?;
                let p = chooser.choose(&k, &kbuf);
                fold_into(&mut maps[p], &kbuf, v, &f);
            }
            for (block, map) in blocks.iter_mut().zip(maps) {
                for (k, v) in map {
                    if let Some(v) = v {
                        encode_into(&v, &mut vbuf)?;
                        put_record(block, &k, &vbuf);
                    }
                }
            }
        }
    }
    Ok((blocks, written))
}

fn fold_into<V>(map: &mut FnvMap<Vec<u8>, Option<V>>, key: &[u8], v: V, f: &Combiner<V>) {
    match map.get_mut(key) {
        Some(slot) => {
            *slot = Some(match slot.take() {
                Some(acc) => f(acc, v),
                None => v,
            })
        }
        None => {
            map.insert(key.to_vec(), Some(v));
        }
    }
}

pub(crate) fn write_pair_impl<K: Key, V: Data>(
    input: AnyIter,
    partitioner: &Partitioner,
    map_id: u32,
    combine: Option<AnyCombiner>,
) -> Written {
    let combine = combiner_of::<V>(combine)?;
    write_pairs(unerase::<(K, V)>(input)?, partitioner, map_id, combine)
}

/// `repartition`'s write: elements of T as `((), T)` records (empty keys).
pub(crate) fn write_values_impl<T: Data>(
    input: AnyIter,
    partitioner: &Partitioner,
    map_id: u32,
) -> Written {
    if matches!(partitioner, Partitioner::Range { .. }) {
        return Err("a range partitioner needs keys: it cannot partition plain values".into());
    }
    write_pairs(
        unerase::<T>(input)?.map(|x| ((), x)),
        partitioner,
        map_id,
        None,
    )
}

// ---- reduce side ------------------------------------------------------------------

/// Streams `(K, V)` records out of fetched blocks.
struct PairIter<K, V> {
    recs: Records,
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
    recs: Records,
    _t: PhantomData<fn() -> V>,
}

impl<V: Data> Iterator for ValueIter<V> {
    type Item = V;

    fn next(&mut self) -> Option<V> {
        let r = self.recs.next_record()?.and_then(|(_, v)| decode::<V>(v));
        Some(r.unwrap_or_else(|e| panic!("{e}")))
    }
}

fn values<V: Data>(blocks: Vec<Vec<u8>>) -> Elements<V> {
    Box::new(ValueIter::<V> {
        recs: Records::new(blocks),
        _t: PhantomData,
    })
}

/// `repartition`'s read.
pub(crate) fn read_values_impl<T: Data>(blocks: Vec<Vec<u8>>) -> AnyIter {
    erase::<T>(values::<T>(blocks))
}

/// A pair type's reduce side: the fetched blocks as a stream of what `read`
/// says (`(K, V)`, `V` or `(K, Vec<V>)`).
pub(crate) fn read_pair_impl<K: Key, V: Data>(
    blocks: Vec<Vec<u8>>,
    read: &ShuffleRead,
    combine: Option<AnyCombiner>,
) -> Result<AnyIter, String> {
    Ok(match read {
        ShuffleRead::Pairs => erase::<(K, V)>(Box::new(PairIter::<K, V> {
            recs: Records::new(blocks),
            _t: PhantomData,
        })),
        ShuffleRead::Values => erase::<V>(values::<V>(blocks)),
        ShuffleRead::ReduceByKey(f) => {
            let combine = combiner_of::<V>(combine)?
                .ok_or_else(|| format!("internal error: no combiner for {}", f.name))?;
            let mut map: FnvMap<Vec<u8>, Option<V>> = FnvMap::default();
            let mut recs = Records::new(blocks);
            while let Some(r) = recs.next_record() {
                let (k, v) = r?;
                fold_into(&mut map, k, decode::<V>(v)?, &combine);
            }
            let mut out = Vec::with_capacity(map.len());
            for (k, v) in map {
                if let Some(v) = v {
                    out.push((decode::<K>(&k)?, v));
                }
            }
            erase::<(K, V)>(Box::new(out.into_iter()))
        }
        ShuffleRead::GroupByKey => {
            let map = group_by_encoded_key::<V>(blocks)?;
            let mut out = Vec::with_capacity(map.len());
            for (k, vs) in map {
                out.push((decode::<K>(&k)?, vs));
            }
            erase::<(K, Vec<V>)>(Box::new(out.into_iter()))
        }
        ShuffleRead::SortByKey { ascending } => {
            let mut out: Vec<(K, V)> = Vec::new();
            for_each_record::<K, V>(blocks, |_, k, v| out.push((k, v)))?;
            if *ascending {
                out.sort_by(|a, b| a.0.cmp(&b.0));
            } else {
                out.sort_by(|a, b| b.0.cmp(&a.0));
            }
            erase::<(K, V)>(Box::new(out.into_iter()))
        }
        ShuffleRead::Join { result_type } => {
            return Err(format!(
                "internal error: a join ({result_type}) needs two shuffle dependencies"
            ))
        }
    })
}

/// The inner join of one reduce partition: a hash table of the right side,
/// then the left side streamed through it.
pub(crate) fn join_impl<K: Key, V: Data, W: Data>(
    left: Vec<Vec<u8>>,
    right: Vec<Vec<u8>>,
) -> Result<AnyIter, String> {
    Ok(erase::<(K, (V, W))>(Box::new(JoinIter::<K, V, W> {
        left: Records::new(left),
        table: group_by_encoded_key::<W>(right)?,
        pending: Vec::new().into_iter(),
        _t: PhantomData,
    })))
}

/// The values of the records in `blocks` by encoded key, in the order read.
fn group_by_encoded_key<V: Data>(blocks: Vec<Vec<u8>>) -> Result<FnvMap<Vec<u8>, Vec<V>>, String> {
    let mut map: FnvMap<Vec<u8>, Vec<V>> = FnvMap::default();
    let mut recs = Records::new(blocks);
    while let Some(r) = recs.next_record() {
        let (k, v) = r?;
        let v = decode::<V>(v)?;
        match map.get_mut(k) {
            Some(vs) => vs.push(v),
            None => {
                map.insert(k.to_vec(), vec![v]);
            }
        }
    }
    Ok(map)
}

struct JoinIter<K, V, W> {
    left: Records,
    table: FnvMap<Vec<u8>, Vec<W>>,
    pending: std::vec::IntoIter<(K, (V, W))>,
    _t: PhantomData<fn() -> V>,
}

impl<K: Key, V: Data, W: Data> Iterator for JoinIter<K, V, W> {
    type Item = (K, (V, W));

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(x) = self.pending.next() {
                return Some(x);
            }
            let (kb, vb) = match self.left.next_record()? {
                Ok(r) => r,
                Err(e) => panic!("{e}"),
            };
            let Some(ws) = self.table.get(kb) else {
                continue;
            };
            let decoded = decode::<K>(kb).and_then(|k| Ok((k, decode::<V>(vb)?)));
            let (k, v) = decoded.unwrap_or_else(|e| panic!("{e}"));
            let out: Vec<(K, (V, W))> = ws
                .iter()
                .map(|w| (k.clone(), (v.clone(), w.clone())))
                .collect();
            self.pending = out.into_iter();
        }
    }
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
