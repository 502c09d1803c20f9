//! A fetched shuffle block: its bytes as the network delivered them, a list of
//! [`Bytes`] chunks, so the fetch never copies them into one buffer.
//!
//! quinn hands a stream's data out as slices of its decrypted datagrams
//! (`RecvStream::read_chunk`, ~64 KiB each); copying them into a fresh
//! `Vec<u8>` per block was 12% of a fetch's CPU (the `shuffle_fetch` bench).
//! Here rather than in the shuffle service because the pure task core's
//! `TaskEnv::fetch` returns it too; `shuffle_service::Block` re-exports it.

use bytes::Bytes;
use std::io::{self, Write};

/// A block's bytes in one or more chunks (empty chunks are not kept).
#[derive(Clone, Default)]
pub struct Block {
    chunks: Vec<Bytes>,
    len: usize,
}

impl Block {
    /// An empty block.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a chunk.
    pub fn push(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
            self.len += chunk.len();
            self.chunks.push(chunk);
        }
    }

    /// The block's length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The chunks, in order; none is empty.
    pub fn chunks(&self) -> &[Bytes] {
        &self.chunks
    }

    /// The bytes in one buffer (a copy).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len);
        for c in &self.chunks {
            out.extend_from_slice(c);
        }
        out
    }

    /// The bytes in one buffer: not copied if they are one chunk that alone owns
    /// its buffer (a block made from a `Vec<u8>`), copied otherwise.
    pub fn into_vec(mut self) -> Vec<u8> {
        match self.chunks.len() {
            0 => Vec::new(),
            1 => Vec::from(self.chunks.pop().expect("one chunk")),
            _ => self.to_vec(),
        }
    }

    /// Writes the bytes to `w`, chunk by chunk.
    pub fn write_to(&self, w: &mut impl Write) -> io::Result<()> {
        self.chunks.iter().try_for_each(|c| w.write_all(c))
    }
}

impl From<Bytes> for Block {
    fn from(chunk: Bytes) -> Self {
        let mut b = Self::new();
        b.push(chunk);
        b
    }
}

/// One chunk, no copy.
impl From<Vec<u8>> for Block {
    fn from(bytes: Vec<u8>) -> Self {
        Self::from(Bytes::from(bytes))
    }
}

impl FromIterator<Bytes> for Block {
    fn from_iter<I: IntoIterator<Item = Bytes>>(chunks: I) -> Self {
        let mut b = Self::new();
        chunks.into_iter().for_each(|c| b.push(c));
        b
    }
}

/// Whether two runs of chunks hold the same bytes, however they are split.
fn same_bytes<'a>(
    mut a: impl Iterator<Item = &'a [u8]>,
    mut b: impl Iterator<Item = &'a [u8]>,
) -> bool {
    let (mut x, mut y): (&[u8], &[u8]) = (&[], &[]);
    loop {
        while x.is_empty() {
            match a.next() {
                Some(c) => x = c,
                None => break,
            }
        }
        while y.is_empty() {
            match b.next() {
                Some(c) => y = c,
                None => break,
            }
        }
        let n = x.len().min(y.len());
        if n == 0 {
            return x.is_empty() && y.is_empty();
        }
        if x[..n] != y[..n] {
            return false;
        }
        (x, y) = (&x[n..], &y[n..]);
    }
}

/// Equal bytes, however they are split into chunks.
impl PartialEq for Block {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len
            && same_bytes(
                self.chunks.iter().map(|c| &c[..]),
                other.chunks.iter().map(|c| &c[..]),
            )
    }
}

impl Eq for Block {}

impl PartialEq<[u8]> for Block {
    fn eq(&self, other: &[u8]) -> bool {
        self.len == other.len()
            && same_bytes(self.chunks.iter().map(|c| &c[..]), std::iter::once(other))
    }
}

impl PartialEq<Vec<u8>> for Block {
    fn eq(&self, other: &Vec<u8>) -> bool {
        *self == other[..]
    }
}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Block")
            .field("len", &self.len)
            .field("chunks", &self.chunks.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `bytes` split at `cuts` (ascending offsets).
    fn split(bytes: &[u8], cuts: &[usize]) -> Block {
        let mut at = 0;
        let mut b: Block = cuts
            .iter()
            .map(|&c| {
                let chunk = Bytes::copy_from_slice(&bytes[at..c]);
                at = c;
                chunk
            })
            .collect();
        b.push(Bytes::copy_from_slice(&bytes[at..]));
        b
    }

    #[test]
    fn a_vec_is_one_chunk_and_comes_back_without_a_copy() {
        let v = vec![1u8, 2, 3];
        let ptr = v.as_ptr();
        let b = Block::from(v);
        assert_eq!((b.len(), b.chunks().len(), b.is_empty()), (3, 1, false));
        let v = b.into_vec();
        assert_eq!(v, [1, 2, 3]);
        assert_eq!(v.as_ptr(), ptr);
        let empty = Block::from(Vec::new());
        assert!(empty.is_empty());
        assert!(empty.chunks().is_empty());
        assert_eq!(empty.into_vec(), Vec::<u8>::new());
    }

    #[test]
    fn chunks_join_and_compare_by_content() {
        let bytes: Vec<u8> = (0..=40).collect();
        let whole = Block::from(bytes.clone());
        for cuts in [&[][..], &[0], &[1], &[20], &[1, 2, 3, 39, 40], &[41]] {
            let b = split(&bytes, cuts);
            assert_eq!(b.len(), bytes.len());
            assert!(b.chunks().iter().all(|c| !c.is_empty()));
            assert_eq!(b.to_vec(), bytes);
            let mut w = Vec::new();
            b.write_to(&mut w).unwrap();
            assert_eq!(w, bytes);
            assert_eq!(b, whole, "{cuts:?}");
            assert_eq!(b, split(&bytes, &[7, 30]));
            assert_eq!(b, bytes);
            assert!(b == bytes[..]);
            assert_eq!(b.clone().into_vec(), bytes);
        }
        let mut other = bytes.clone();
        other[40] = 0;
        assert_ne!(split(&bytes, &[20]), split(&other, &[3]));
        assert_ne!(whole, Block::from(bytes[..40].to_vec()));
        assert_eq!(Block::new(), Block::from(Vec::new()));
    }
}
