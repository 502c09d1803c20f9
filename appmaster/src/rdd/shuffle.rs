//! The task side of a shuffle: registered pair types, partitioners, the
//! block record format, the map-side write and the reduce-side read.
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

use super::func::{Data, Elements, MapFn, MapPartitionsFn};
use super::registry::{erase, unerase, AnyIter, ElemOf, ElemType, Registration};
use am_core::plan::{Partitioner, ShuffleRead};
use serde::{Deserialize, Serialize};
use std::any::{type_name, Any};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::marker::PhantomData;
use std::sync::Arc;

/// A key of a pair RDD: shippable and totally ordered (the order is used by
/// `sort_by_key`; grouping and hashing use the key's encoded bytes).
pub trait Key: Data + Ord {}

impl<T: Data + Ord> Key for T {}

/// A value-combining function resolved from a registered `ReduceFn`.
pub(crate) type Combiner<V> = Arc<dyn Fn(V, V) -> V + Send + Sync>;

/// A type-erased [Combiner].
pub(crate) type AnyCombiner = Box<dyn Any + Send>;

/// Encoded blocks (one per reduce partition) and the number of records written.
pub(crate) type Written = Result<(Vec<Vec<u8>>, u64), String>;

/// A reduce-side read: the fetched blocks → the element type and its stream.
pub(crate) type ReadFn = fn(
    Vec<Vec<u8>>,
    &ShuffleRead,
    Option<AnyCombiner>,
) -> Result<(&'static ElemType, AnyIter), String>;

/// A join: the left and right blocks → a stream of `(K, (V, W))`.
pub(crate) type JoinFn = fn(Vec<Vec<u8>>, Vec<Vec<u8>>) -> Result<AnyIter, String>;

/// One raw record (key bytes, value bytes), or why the block is unreadable.
pub(crate) type RawRecord<'a> = Option<Result<(&'a [u8], &'a [u8]), String>>;

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
    pub(crate) write: fn(AnyIter, &Partitioner, u32, Option<AnyCombiner>) -> Written,
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
        read: read_pair_impl::<K, V>,
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

// ---- hashing ------------------------------------------------------------------

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// MurmurHash3's 64-bit finalizer.
pub(crate) fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// The hash the `Hash` partitioner uses: 64-bit FNV-1a of the bytes, then
/// MurmurHash3's finalizer. Stable across processes, runs and platforms.
pub fn key_hash(bytes: &[u8]) -> u64 {
    fmix64(fnv1a(FNV_OFFSET, bytes))
}

/// The reduce partition the `Hash` partitioner gives a key (its postcard bytes).
pub fn hash_partition(key: &[u8], partitions: u32) -> u32 {
    (key_hash(key) % u64::from(partitions.max(1))) as u32
}

/// A fixed-seed hasher for the task's hash tables, so their iteration order
/// (and therefore the order of a reduce partition's output) is the same on
/// every run.
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(FNV_OFFSET)
    }
}

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        self.0 = fnv1a(self.0, bytes);
    }

    fn finish(&self) -> u64 {
        fmix64(self.0)
    }
}

pub(crate) type FnvMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

// ---- record format ------------------------------------------------------------

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn get_varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut n = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        n |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(n);
        }
    }
    None
}

/// Appends one record to a block.
pub(crate) fn put_record(block: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    put_varint(block, key.len() as u64);
    block.extend_from_slice(key);
    put_varint(block, value.len() as u64);
    block.extend_from_slice(value);
}

fn take_field<'a>(buf: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let len = usize::try_from(get_varint(buf, pos)?).ok()?;
    let end = pos.checked_add(len)?;
    let field = buf.get(*pos..end)?;
    *pos = end;
    Some(field)
}

/// The records of a list of blocks, in order.
pub(crate) struct Records {
    blocks: Vec<Vec<u8>>,
    block: usize,
    pos: usize,
}

impl Records {
    pub(crate) fn new(blocks: Vec<Vec<u8>>) -> Self {
        Self {
            blocks,
            block: 0,
            pos: 0,
        }
    }

    /// The next record's (key bytes, value bytes).
    pub(crate) fn next_record(&mut self) -> RawRecord<'_> {
        while self.blocks.get(self.block)?.len() <= self.pos {
            self.block += 1;
            self.pos = 0;
        }
        let buf = &self.blocks[self.block];
        let mut pos = self.pos;
        let rec = take_field(buf, &mut pos).and_then(|k| Some((k, take_field(buf, &mut pos)?)));
        match rec {
            Some(r) => {
                self.pos = pos;
                Some(Ok(r))
            }
            None => {
                let at = self.pos;
                self.pos = buf.len();
                Some(Err(format!(
                    "shuffle block {} is corrupt: a record at byte {at} runs past its end ({} bytes)",
                    self.block,
                    buf.len()
                )))
            }
        }
    }
}

/// Decodes the records of `blocks` as `(K, V)`, calling `f` on each.
fn for_each_record<K: Data, V: Data>(
    blocks: Vec<Vec<u8>>,
    mut f: impl FnMut(&[u8], K, V),
) -> Result<(), String> {
    let mut recs = Records::new(blocks);
    while let Some(r) = recs.next_record() {
        let (k, v) = r?;
        f(k, decode(k)?, decode(v)?);
    }
    Ok(())
}

pub(crate) fn decode<T: Data>(bytes: &[u8]) -> Result<T, String> {
    postcard::from_bytes(bytes).map_err(|e| {
        format!(
            "a shuffle record does not decode as a {}: {e}",
            type_name::<T>()
        )
    })
}

fn encode_into<T: Serialize>(x: &T, buf: &mut Vec<u8>) -> Result<(), String> {
    buf.clear();
    *buf = postcard::to_extend(x, std::mem::take(buf))
        .map_err(|e| format!("cannot encode a {}: {e}", type_name::<T>()))?;
    Ok(())
}

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

fn combiner_of<V: Data>(c: Option<AnyCombiner>) -> Result<Option<Combiner<V>>, String> {
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

fn write_pair_impl<K: Key, V: Data>(
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

fn read_pair_impl<K: Key, V: Data>(
    blocks: Vec<Vec<u8>>,
    read: &ShuffleRead,
    combine: Option<AnyCombiner>,
) -> Result<(&'static ElemType, AnyIter), String> {
    Ok(match read {
        ShuffleRead::Pairs => (
            ElemOf::<(K, V)>::TYPE,
            erase::<(K, V)>(Box::new(PairIter::<K, V> {
                recs: Records::new(blocks),
                _t: PhantomData,
            })),
        ),
        ShuffleRead::Values => (ElemOf::<V>::TYPE, erase::<V>(values::<V>(blocks))),
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
            (
                ElemOf::<(K, V)>::TYPE,
                erase::<(K, V)>(Box::new(out.into_iter())),
            )
        }
        ShuffleRead::GroupByKey => {
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
            let mut out = Vec::with_capacity(map.len());
            for (k, vs) in map {
                out.push((decode::<K>(&k)?, vs));
            }
            (
                ElemOf::<(K, Vec<V>)>::TYPE,
                erase::<(K, Vec<V>)>(Box::new(out.into_iter())),
            )
        }
        ShuffleRead::SortByKey { ascending } => {
            let mut out: Vec<(K, V)> = Vec::new();
            for_each_record::<K, V>(blocks, |_, k, v| out.push((k, v)))?;
            if *ascending {
                out.sort_by(|a, b| a.0.cmp(&b.0));
            } else {
                out.sort_by(|a, b| b.0.cmp(&a.0));
            }
            (
                ElemOf::<(K, V)>::TYPE,
                erase::<(K, V)>(Box::new(out.into_iter())),
            )
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
fn join_impl<K: Key, V: Data, W: Data>(
    left: Vec<Vec<u8>>,
    right: Vec<Vec<u8>>,
) -> Result<AnyIter, String> {
    let mut table: FnvMap<Vec<u8>, Vec<W>> = FnvMap::default();
    let mut recs = Records::new(right);
    while let Some(r) = recs.next_record() {
        let (k, w) = r?;
        let w = decode::<W>(w)?;
        match table.get_mut(k) {
            Some(ws) => ws.push(w),
            None => {
                table.insert(k.to_vec(), vec![w]);
            }
        }
    }
    Ok(erase::<(K, (V, W))>(Box::new(JoinIter::<K, V, W> {
        left: Records::new(left),
        table,
        pending: Vec::new().into_iter(),
        _t: PhantomData,
    })))
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

/// `keys()`: the key of a pair.
#[derive(Serialize, Deserialize)]
pub(crate) struct PairKey<K, V>(PhantomData<fn() -> (K, V)>);

impl<K, V> Default for PairKey<K, V> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<K: Key, V: Data> MapFn for PairKey<K, V> {
    type In = (K, V);
    type Out = K;
    fn call(&self, x: (K, V)) -> K {
        x.0
    }
}

/// `values()`: the value of a pair.
#[derive(Serialize, Deserialize)]
pub(crate) struct PairValue<K, V>(PhantomData<fn() -> (K, V)>);

impl<K, V> Default for PairValue<K, V> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<K: Key, V: Data> MapFn for PairValue<K, V> {
    type In = (K, V);
    type Out = V;
    fn call(&self, x: (K, V)) -> V {
        x.1
    }
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
