//! The memory-bounded structures of a shuffle (Spark's `ExternalSorter` and
//! `ExternalAppendOnlyMap`): each keeps what it holds within its task's execution
//! memory (see [super::memory]) by spilling to files (see [super::spill]) and
//! merging them back.
//!
//! - [SpillingBlocks]: encoded records by reduce partition, the map side of a
//!   shuffle without combining; spilled as one segment per partition, and written
//!   out partition by partition (spilled segments first, then memory), so the map
//!   output stays Spark's sort-shuffle layout. With one partition it holds the
//!   fetched blocks a plain reduce side (`partition_by`, `repartition`) streams.
//! - [ExternalMap]: combiners by encoded key, per partition (`reduce_by_key`'s
//!   map-side combine and reduce side, `group_by_key`, the cogroup of `join`);
//!   spilled as runs sorted by key bytes, merged with equal keys combined.
//! - [ExternalSorter]: `(K, V)` records sorted by `K` (`sort_by_key`'s reduce
//!   side); spilled as sorted runs and merged.
//!
//! Sizes are estimates: byte buffers count their capacity, fetched blocks their
//! length (their chunks share the network's buffers); a decoded value counts
//! its type's size plus its encoded length (a stand-in for what it holds on the
//! heap); a hash table entry adds its key and [ENTRY_OVERHEAD]. With nothing
//! spilled each gives what the in-memory structure would, in the same order.

use super::func::{Data, Elements};
use super::memory::{Spillable, TaskMemory};
use super::record::{decode, encode_into, put_record, FnvMap, RawRecord, Records};
use super::spill::{Combined, Merge, RunReader, Source, SpillFile, SpillWriter};
use am_core::plan::{Block, MapOutputWriter};
use std::cmp::Ordering;
use std::collections::VecDeque;
use std::mem::size_of;
use std::sync::Arc;

/// What a hash table entry costs beyond its key and value: the slot's share of the
/// table at its load factor, the control byte, the key's allocation.
const ENTRY_OVERHEAD: u64 = 48;

/// How much of a partition is handed to the map output writer at once.
const WRITE_CHUNK: usize = 1 << 20;

/// Bytes of `T` as this module estimates them: its size, plus its encoded length.
pub(crate) fn value_bytes<T>(encoded_len: usize) -> u64 {
    (size_of::<T>() + encoded_len) as u64
}

/// A structure's spill files and its memory bookkeeping.
struct Spills {
    files: Vec<SpillFile>,
    spillable: Spillable,
}

impl Spills {
    fn new(mem: Arc<TaskMemory>) -> Self {
        Self {
            files: Vec::new(),
            spillable: Spillable::new(mem),
        }
    }

    fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// A new spill file to write.
    fn writer(&self) -> Result<SpillWriter, String> {
        SpillWriter::create(self.spillable.memory())
    }

    /// `w` holds what took `memory_bytes` (estimated): kept, and the memory goes
    /// back to the pool.
    fn add(&mut self, w: SpillWriter, memory_bytes: u64) -> Result<(), String> {
        let f = w.finish()?;
        self.spillable.spilled(memory_bytes, f.len());
        self.files.push(f);
        Ok(())
    }

    /// Segment `i` of every spill, in the order spilled.
    fn segments(&self, i: usize) -> Result<Vec<RunReader>, String> {
        self.files.iter().map(|f| f.segment(i)).collect()
    }
}

// ---- encoded records by partition -------------------------------------------------

/// Encoded records by reduce partition, spilled when over budget.
pub(crate) struct SpillingBlocks {
    blocks: Vec<Vec<u8>>,
    /// Whole fetched blocks, after `blocks[0]` (a reduce side's).
    fetched: Vec<Block>,
    /// The blocks' capacity (the fetched ones' length), summed.
    bytes: u64,
    spills: Spills,
}

impl SpillingBlocks {
    pub(crate) fn new(partitions: usize, mem: Arc<TaskMemory>) -> Self {
        Self {
            blocks: vec![Vec::new(); partitions],
            fetched: Vec::new(),
            bytes: 0,
            spills: Spills::new(mem),
        }
    }

    /// Appends a record to partition `p`.
    #[inline]
    pub(crate) fn put(&mut self, p: usize, key: &[u8], value: &[u8]) -> Result<(), String> {
        let b = &mut self.blocks[p];
        let cap = b.capacity();
        put_record(b, key, value);
        self.bytes += (b.capacity() - cap) as u64;
        if self.spills.spillable.should_spill(self.bytes) {
            self.spill()?;
        }
        Ok(())
    }

    /// Appends a fetched block (records) to partition 0.
    pub(crate) fn put_block(&mut self, block: Block) -> Result<(), String> {
        // Elements count only toward a forced spill: counting costs a pass.
        let elements = if self.spills.spillable.forcing() {
            count_records(&block)
        } else {
            1
        };
        self.bytes += block.len() as u64;
        self.fetched.push(block);
        if self
            .spills
            .spillable
            .should_spill_after(elements, self.bytes)
        {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> Result<(), String> {
        let mut w = self.spills.writer()?;
        for (p, b) in self.blocks.iter_mut().enumerate() {
            w.put_raw(b)?;
            if p == 0 {
                for f in self.fetched.drain(..) {
                    for chunk in f.chunks() {
                        w.put_raw(chunk)?;
                    }
                }
            }
            w.end_segment();
            // Freed, not just cleared: the memory goes back.
            *b = Vec::new();
        }
        self.spills.add(w, std::mem::take(&mut self.bytes))
    }

    /// Writes every partition in order: its spilled segments, then memory.
    pub(crate) fn write_to(self, out: &mut dyn MapOutputWriter) -> Result<(), String> {
        for (p, block) in self.blocks.iter().enumerate() {
            let reduce = p as u32;
            for run in self.spills.segments(p)? {
                run.copy_to(&mut |bytes| out.write_partition(reduce, bytes))?;
            }
            if !block.is_empty() {
                out.write_partition(reduce, block)?;
            }
        }
        Ok(())
    }

    /// Partition 0's records, in the order put: spilled first, then memory.
    pub(crate) fn into_records(mut self) -> Result<SpilledRecords, String> {
        let runs = VecDeque::from(self.spills.segments(0)?);
        let mut memory = vec![Block::from(std::mem::take(&mut self.blocks[0]))];
        memory.append(&mut self.fetched);
        Ok(SpilledRecords {
            runs,
            memory: Records::new(memory),
            _held: self,
        })
    }
}

/// The number of whole records at the start of `block`.
fn count_records(block: &Block) -> u64 {
    let mut n = 0;
    let mut recs = Records::new(vec![block.clone()]);
    while let Some(Ok(_)) = recs.next_record() {
        n += 1;
    }
    n
}

/// The records of [SpillingBlocks::into_records].
pub(crate) struct SpilledRecords {
    runs: VecDeque<RunReader>,
    memory: Records,
    /// The spill files and the memory, kept until the records are read.
    _held: SpillingBlocks,
}

impl SpilledRecords {
    pub(crate) fn next_record(&mut self) -> RawRecord<'_> {
        loop {
            let Some(run) = self.runs.front_mut() else {
                return self.memory.next_record();
            };
            match run.advance() {
                Ok(true) => break,
                Ok(false) => {
                    self.runs.pop_front();
                }
                Err(e) => return Some(Err(e)),
            }
        }
        self.runs.front().map(|r| Ok(r.record()))
    }
}

// ---- combiners by key --------------------------------------------------------------

/// Combines two combiners of the same key (the earlier first).
pub(crate) type MergeFn<C> = Arc<dyn Fn(C, C) -> C + Send + Sync>;

/// A partition's (encoded key, combiner) pairs.
pub(crate) type Combiners<C> = Box<dyn Iterator<Item = Result<(Vec<u8>, C), String>> + Send>;

/// Combiners `C` by encoded key, per partition, spilled when over budget.
pub(crate) struct ExternalMap<C> {
    /// `None` only while a combiner is being updated.
    maps: Vec<FnvMap<Vec<u8>, Option<C>>>,
    bytes: u64,
    spills: Spills,
    merge: MergeFn<C>,
}

impl<C: Data> ExternalMap<C> {
    pub(crate) fn new(partitions: usize, mem: Arc<TaskMemory>, merge: MergeFn<C>) -> Self {
        Self {
            maps: (0..partitions).map(|_| FnvMap::default()).collect(),
            bytes: 0,
            spills: Spills::new(mem),
            merge,
        }
    }

    /// Folds `x` into the combiner of `key` in partition `p`: `fold(None, x)` makes
    /// one, `fold(Some(c), x)` adds to it; both return the combiner and the bytes
    /// they added (estimated).
    #[inline]
    pub(crate) fn upsert<X>(
        &mut self,
        p: usize,
        key: &[u8],
        x: X,
        fold: impl FnOnce(Option<C>, X) -> (C, u64),
    ) -> Result<(), String> {
        let map = &mut self.maps[p];
        match map.get_mut(key) {
            Some(slot) => {
                let (c, added) = fold(slot.take(), x);
                *slot = Some(c);
                self.bytes += added;
            }
            None => {
                let (c, added) = fold(None, x);
                self.bytes += added
                    + key.len() as u64
                    + ENTRY_OVERHEAD
                    + size_of::<(Vec<u8>, Option<C>)>() as u64;
                map.insert(key.to_vec(), Some(c));
            }
        }
        if self.spills.spillable.should_spill(self.bytes) {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> Result<(), String> {
        let mut w = self.spills.writer()?;
        let (mut value, mut scratch) = (Vec::new(), Vec::new());
        for map in &mut self.maps {
            for (k, c) in sorted(std::mem::take(map)) {
                encode_into(&c, &mut value)?;
                w.put(&k, &value, &mut scratch)?;
            }
            w.end_segment();
        }
        self.spills.add(w, std::mem::take(&mut self.bytes))
    }

    /// Partition `p`'s combiners: in the table's order when nothing spilled, else
    /// by key bytes, the runs merged. Takes the partition out of memory.
    pub(crate) fn take_partition(&mut self, p: usize) -> Result<Combiners<C>, String> {
        let map = std::mem::take(&mut self.maps[p]);
        if self.spills.is_empty() {
            return Ok(Box::new(
                map.into_iter().filter_map(|(k, c)| c.map(|c| Ok((k, c)))),
            ));
        }
        let mut sources: Vec<Source<(Vec<u8>, C)>> = Vec::new();
        for run in self.spills.segments(p)? {
            sources.push(Box::new(KeyedRun::<C> {
                run,
                _c: std::marker::PhantomData,
            }));
        }
        sources.push(Box::new(sorted(map).into_iter().map(Ok)));
        let merged = Merge::new(sources, |a: &(Vec<u8>, C), b: &(Vec<u8>, C)| a.0.cmp(&b.0));
        let merge = self.merge.clone();
        Ok(Box::new(Combined::new(merged, move |a, b| merge(a, b))))
    }

    /// Partition 0's combiners (see [Self::take_partition]), holding the spill files
    /// and the memory until they are read.
    pub(crate) fn into_combiners(mut self) -> Result<Combiners<C>, String> {
        let inner = self.take_partition(0)?;
        Ok(Box::new(Holding { inner, _held: self }))
    }

    /// Writes every partition's combiners in order, values encoded.
    pub(crate) fn write_to(mut self, out: &mut dyn MapOutputWriter) -> Result<(), String> {
        let (mut value, mut chunk) = (Vec::new(), Vec::with_capacity(WRITE_CHUNK));
        for p in 0..self.maps.len() {
            let reduce = p as u32;
            for r in self.take_partition(p)? {
                let (k, c) = r?;
                encode_into(&c, &mut value)?;
                put_record(&mut chunk, &k, &value);
                if chunk.len() >= WRITE_CHUNK {
                    out.write_partition(reduce, &chunk)?;
                    chunk.clear();
                }
            }
            if !chunk.is_empty() {
                out.write_partition(reduce, &chunk)?;
                chunk.clear();
            }
        }
        Ok(())
    }
}

/// A table's entries sorted by key bytes (keys are unique).
fn sorted<C>(map: FnvMap<Vec<u8>, Option<C>>) -> Vec<(Vec<u8>, C)> {
    let mut v: Vec<(Vec<u8>, C)> = map
        .into_iter()
        .filter_map(|(k, c)| c.map(|c| (k, c)))
        .collect();
    v.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    v
}

/// A spilled run of (key bytes, encoded combiner).
struct KeyedRun<C> {
    run: RunReader,
    _c: std::marker::PhantomData<fn() -> C>,
}

impl<C: Data> Iterator for KeyedRun<C> {
    type Item = Result<(Vec<u8>, C), String>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.run.advance() {
            Ok(true) => {
                let (k, c) = self.run.record();
                Some(decode::<C>(c).map(|c| (k.to_vec(), c)))
            }
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

/// An iterator that keeps `_held` (spill files, memory) until it is dropped.
struct Holding<I, H> {
    inner: I,
    _held: H,
}

impl<I: Iterator, H> Iterator for Holding<I, H> {
    type Item = I::Item;

    fn next(&mut self) -> Option<I::Item> {
        self.inner.next()
    }
}

// ---- sorted records ---------------------------------------------------------------

/// `(K, V)` records sorted by key, spilled as sorted runs when over budget.
pub(crate) struct ExternalSorter<K, V> {
    buf: Vec<(K, V)>,
    /// The records' estimated heap bytes.
    heap: u64,
    ascending: bool,
    spills: Spills,
}

impl<K: Data + Ord, V: Data> ExternalSorter<K, V> {
    pub(crate) fn new(ascending: bool, mem: Arc<TaskMemory>) -> Self {
        Self {
            buf: Vec::new(),
            heap: 0,
            ascending,
            spills: Spills::new(mem),
        }
    }

    fn bytes(&self) -> u64 {
        // The stable sort needs up to half the records again as scratch.
        (self.buf.capacity() * size_of::<(K, V)>() * 3 / 2) as u64 + self.heap
    }

    fn sort(&mut self) {
        let ascending = self.ascending;
        self.buf.sort_by(|a, b| key_order(ascending, &a.0, &b.0));
    }

    /// Adds a record whose encoding took `encoded_len` bytes.
    #[inline]
    pub(crate) fn insert(&mut self, k: K, v: V, encoded_len: usize) -> Result<(), String> {
        self.buf.push((k, v));
        self.heap += encoded_len as u64;
        if self.spills.spillable.should_spill(self.bytes()) {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> Result<(), String> {
        self.sort();
        let bytes = self.bytes();
        let mut w = self.spills.writer()?;
        let (mut kb, mut vb, mut scratch) = (Vec::new(), Vec::new(), Vec::new());
        for (k, v) in std::mem::take(&mut self.buf) {
            encode_into(&k, &mut kb)?;
            encode_into(&v, &mut vb)?;
            w.put(&kb, &vb, &mut scratch)?;
        }
        self.heap = 0;
        self.spills.add(w, bytes)
    }

    /// The records in order (of equal keys, the earlier added first). A spill file
    /// that cannot be read fails the task (the stream panics with why).
    pub(crate) fn into_sorted(mut self) -> Result<Elements<(K, V)>, String> {
        self.sort();
        let buf = std::mem::take(&mut self.buf);
        if self.spills.is_empty() {
            return Ok(Box::new(Holding {
                inner: buf.into_iter(),
                _held: self,
            }));
        }
        let mut sources: Vec<Source<(K, V)>> = Vec::new();
        for run in self.spills.segments(0)? {
            sources.push(Box::new(PairRun::<K, V> {
                run,
                _t: std::marker::PhantomData,
            }));
        }
        sources.push(Box::new(buf.into_iter().map(Ok)));
        let ascending = self.ascending;
        let merged = Merge::new(sources, move |a: &(K, V), b: &(K, V)| {
            key_order(ascending, &a.0, &b.0)
        });
        Ok(Box::new(Holding {
            inner: merged.map(|r| r.unwrap_or_else(|e| panic!("{e}"))),
            _held: self,
        }))
    }
}

/// A spilled run of encoded `(K, V)` records.
struct PairRun<K, V> {
    run: RunReader,
    _t: std::marker::PhantomData<fn() -> (K, V)>,
}

impl<K: Data, V: Data> Iterator for PairRun<K, V> {
    type Item = Result<(K, V), String>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.run.advance() {
            Ok(true) => {
                let (k, v) = self.run.record();
                Some(decode::<K>(k).and_then(|k| Ok((k, decode::<V>(v)?))))
            }
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

/// Compares keys as `sort_by_key` orders them.
fn key_order<K: Ord>(ascending: bool, a: &K, b: &K) -> Ordering {
    if ascending {
        a.cmp(b)
    } else {
        b.cmp(a)
    }
}
