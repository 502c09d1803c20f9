//! The shuffle block format and key hashing: varints, records, the blocks'
//! reader, and the stable key hash of the `Hash` partitioner. The public
//! `shuffle` module documents the format and the partitioners.

use super::func::Data;
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
        let at = self.pos;
        match split_record(&buf[at..]) {
            Some((k, v, len)) => {
                self.pos = at + len;
                Some(Ok((
                    &buf[at + k.start..at + k.end],
                    &buf[at + v.start..at + v.end],
                )))
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
