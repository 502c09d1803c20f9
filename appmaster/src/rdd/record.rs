//! The shuffle block format and key hashing: varints, records, the blocks'
//! reader, and the stable key hash of the `Hash` partitioner. The public
//! `shuffle` module documents the format and the partitioners.

use super::func::Data;
use am_core::plan::Block;
use serde::Serialize;
use std::any::type_name;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Range;

/// One raw record (key bytes, value bytes), or why the block is unreadable.
pub(crate) type RawRecord<'a> = Option<Result<(&'a [u8], &'a [u8]), String>>;

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

/// The byte ranges of the record at the start of `buf`: (key, value, record length),
/// or `None` if `buf` does not hold a whole record.
#[inline]
pub(crate) fn split_record(buf: &[u8]) -> Option<(Range<usize>, Range<usize>, usize)> {
    let mut pos = 0;
    let klen = usize::try_from(get_varint(buf, &mut pos)?).ok()?;
    let key = pos..pos.checked_add(klen)?;
    pos = key.end;
    let vlen = usize::try_from(get_varint(buf, &mut pos)?).ok()?;
    let value = pos..pos.checked_add(vlen)?;
    (value.end <= buf.len()).then_some((key, value.clone(), value.end))
}

/// How long the record at the start of `buf` is, as far as `buf` tells: its
/// length once `buf` holds both varints (the record may run past `buf`), else
/// more than `buf.len()`; `usize::MAX` if a varint is malformed. Agrees with
/// [split_record]: a length within `buf` means `buf` holds the whole record.
fn record_len(buf: &[u8]) -> usize {
    let mut pos = 0;
    // The key's length and bytes, then the value's.
    for _ in 0..2 {
        let n = match get_varint(buf, &mut pos) {
            Some(n) => n,
            // `buf` ends before or inside this varint (`pos` is past the end if
            // the key is).
            None if pos >= buf.len() => return pos.saturating_add(1),
            None => return usize::MAX,
        };
        pos = match usize::try_from(n).ok().and_then(|n| pos.checked_add(n)) {
            Some(end) => end,
            None => return usize::MAX,
        };
    }
    pos
}

/// The records of a list of blocks, in order. A record inside one chunk of a
/// block comes out borrowed from it; one split across chunks (a fetched block
/// is the chunks the network delivered) is first copied into `scratch`.
pub(crate) struct Records {
    blocks: Vec<Block>,
    block: usize,
    /// The chunk of `blocks[block]` read, and the position in it.
    chunk: usize,
    pos: usize,
    /// Where that chunk starts in its block (errors give offsets in the block).
    chunk_start: usize,
    /// The last record that straddled chunks.
    scratch: Vec<u8>,
}

impl Records {
    pub(crate) fn new(blocks: Vec<Block>) -> Self {
        Self {
            blocks,
            block: 0,
            chunk: 0,
            pos: 0,
            chunk_start: 0,
            scratch: Vec::new(),
        }
    }

    /// The next record's (key bytes, value bytes).
    pub(crate) fn next_record(&mut self) -> RawRecord<'_> {
        loop {
            let chunks = self.blocks.get(self.block)?.chunks();
            match chunks.get(self.chunk) {
                Some(c) if self.pos < c.len() => break,
                Some(c) => {
                    self.chunk_start += c.len();
                    self.chunk += 1;
                    self.pos = 0;
                }
                None => {
                    self.block += 1;
                    (self.chunk, self.pos, self.chunk_start) = (0, 0, 0);
                }
            }
        }
        let at = self.pos;
        match split_record(&self.blocks[self.block].chunks()[self.chunk][at..]) {
            Some((k, v, len)) => {
                self.pos = at + len;
                let buf = &self.blocks[self.block].chunks()[self.chunk][at..];
                Some(Ok((&buf[k], &buf[v])))
            }
            None => self.straddling(),
        }
    }

    /// The record at the read position, which runs past its chunk: copied into
    /// `scratch` from as many chunks as it spans. Or the block is corrupt: the
    /// rest of it is skipped.
    #[cold]
    fn straddling(&mut self) -> RawRecord<'_> {
        let block = &self.blocks[self.block];
        let start = self.chunk_start + self.pos;
        let left = block.len() - start;
        self.scratch.clear();
        loop {
            let need = record_len(&self.scratch);
            if need <= self.scratch.len() {
                break;
            }
            if need > left {
                self.chunk = block.chunks().len();
                return Some(Err(format!(
                    "shuffle block {} is corrupt: a record at byte {start} runs past its end ({} bytes)",
                    self.block,
                    block.len()
                )));
            }
            // Only what the record needs, so the position stays on its end.
            let chunk = &block.chunks()[self.chunk];
            let take = (need - self.scratch.len()).min(chunk.len() - self.pos);
            self.scratch
                .extend_from_slice(&chunk[self.pos..self.pos + take]);
            self.pos += take;
            if self.pos == chunk.len() {
                self.chunk_start += chunk.len();
                self.chunk += 1;
                self.pos = 0;
            }
        }
        let (k, v, _) = split_record(&self.scratch).expect("record_len agrees with split_record");
        Some(Ok((&self.scratch[k], &self.scratch[v])))
    }
}

pub(crate) fn decode<T: Data>(bytes: &[u8]) -> Result<T, String> {
    postcard::from_bytes(bytes).map_err(|e| {
        format!(
            "a shuffle record does not decode as a {}: {e}",
            type_name::<T>()
        )
    })
}

pub(crate) fn encode_into<T: Serialize>(x: &T, buf: &mut Vec<u8>) -> Result<(), String> {
    buf.clear();
    *buf = postcard::to_extend(x, std::mem::take(buf))
        .map_err(|e| format!("cannot encode a {}: {e}", type_name::<T>()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use proptest::prelude::*;

    type Got = Vec<Result<(Vec<u8>, Vec<u8>), String>>;

    /// Every record (or error) of `blocks`, owned.
    fn read_all(blocks: Vec<Block>) -> Got {
        let mut recs = Records::new(blocks);
        let mut out = Vec::new();
        while let Some(r) = recs.next_record() {
            out.push(r.map(|(k, v)| (k.to_vec(), v.to_vec())));
        }
        out
    }

    /// `bytes` as chunks ending at `cuts` (ascending; the end is added).
    fn split(bytes: &[u8], cuts: impl IntoIterator<Item = usize>) -> Block {
        let mut at = 0;
        let ends = cuts.into_iter().chain([bytes.len()]);
        ends.map(|end| {
            let c = Bytes::copy_from_slice(&bytes[at..end]);
            at = end;
            c
        })
        .collect()
    }

    fn encode(records: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
        let mut block = Vec::new();
        for (k, v) in records {
            put_record(&mut block, k, v);
        }
        block
    }

    /// Records around the varints' 1- and 2-byte lengths, and empty ones.
    fn sample() -> Vec<(Vec<u8>, Vec<u8>)> {
        [
            (0, 0),
            (1, 5),
            (127, 128),
            (300, 0),
            (0, 1),
            (2, 200),
            (3, 3),
        ]
        .iter()
        .enumerate()
        .map(|(i, &(k, v))| (vec![i as u8; k], vec![!(i as u8); v]))
        .collect()
    }

    #[test]
    fn records_come_out_the_same_however_the_block_is_chunked() {
        let records = sample();
        let bytes = encode(&records);
        let want: Got = records.iter().cloned().map(Ok).collect();
        assert_eq!(read_all(vec![bytes.clone().into()]), want);
        for i in 0..=bytes.len() {
            assert_eq!(read_all(vec![split(&bytes, [i])]), want, "cut at {i}");
        }
        for size in 1..=4 {
            let cuts = (size..bytes.len()).step_by(size);
            assert_eq!(
                read_all(vec![split(&bytes, cuts)]),
                want,
                "{size}-byte chunks"
            );
        }
        // Several blocks, empty ones among them, each chunked its own way.
        let blocks = vec![
            Block::new(),
            split(&bytes, [1, 2, 150]),
            Block::new(),
            split(&bytes, (3..bytes.len()).step_by(3)),
        ];
        let twice: Got = want.iter().chain(&want).cloned().collect();
        assert_eq!(read_all(blocks), twice);
    }

    #[test]
    fn a_record_inside_a_chunk_is_borrowed_from_it() {
        let bytes = encode(&sample());
        let block = split(&bytes, [150]);
        let chunk = block.chunks()[0].as_ptr_range();
        let mut recs = Records::new(vec![block]);
        let (k, v) = recs.next_record().unwrap().unwrap();
        assert!(chunk.contains(&k.as_ptr()) || k.is_empty());
        assert!(chunk.contains(&v.as_ptr()) || v.is_empty());
        let (k, v) = recs.next_record().unwrap().unwrap();
        assert!(chunk.contains(&k.as_ptr()) && chunk.contains(&v.as_ptr()));
    }

    #[test]
    fn a_corrupt_record_is_reported_at_its_offset_in_the_block_however_chunked() {
        let good = encode(&sample());
        let mut bytes = good.clone();
        bytes.truncate(bytes.len() - 2);
        let last = good.len() - (1 + 3 + 1 + 3);
        let err = format!(
            "shuffle block 1 is corrupt: a record at byte {last} runs past its end ({} bytes)",
            bytes.len()
        );
        let mut want: Got = sample().into_iter().map(Ok).collect();
        want.pop();
        want.push(Err(err.clone()));
        // The corrupt block's rest is skipped; the next block is read.
        want.extend(sample().into_iter().map(Ok));
        for i in 0..=bytes.len() {
            let blocks = vec![Block::new(), split(&bytes, [i]), good.clone().into()];
            assert_eq!(read_all(blocks), want, "cut at {i}");
        }
        let tiny = split(&bytes, 1..bytes.len());
        assert_eq!(read_all(vec![Block::new(), tiny, good.into()]), want);
        // A malformed varint (more than ten bytes), however split, and a length
        // past the end.
        for bad in [vec![0xff; 12], vec![0x80, 0x80], vec![5, 1, 2, 0, 9]] {
            let err = format!(
                "shuffle block 0 is corrupt: a record at byte 0 runs past its end ({} bytes)",
                bad.len()
            );
            for i in 0..=bad.len() {
                assert_eq!(read_all(vec![split(&bad, [i])]), vec![Err(err.clone())]);
            }
        }
    }

    proptest! {
        #[test]
        fn any_chunking_reads_the_records_of_the_contiguous_block(
            records in prop::collection::vec(
                (prop::collection::vec(any::<u8>(), 0..40), prop::collection::vec(any::<u8>(), 0..300)),
                0..20,
            ),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..30),
        ) {
            let bytes = encode(&records);
            let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
            cuts.sort_unstable();
            let want: Got = records.into_iter().map(Ok).collect();
            prop_assert_eq!(read_all(vec![split(&bytes, cuts)]), want);
        }
    }
}
