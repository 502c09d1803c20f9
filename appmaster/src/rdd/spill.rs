//! Spill files and their merge: what the memory-bounded structures of
//! [super::external] write when they are over their budget, and how they read it back.
//!
//! A spill file holds records in the shuffle block format (see [super::shuffle]),
//! in segments: one per reduce partition for a map task's buffers, one for a
//! reduce-side structure. Sorted runs are read back a window at a time, and a
//! k-way [Merge] streams them (with what stayed in memory) in order; ties go to the
//! earlier run, so merged output keeps the order in which records arrived.

use super::memory::TaskMemory;
use super::record::{put_record, split_record};
use std::cmp::Ordering;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

/// The read window of a run (grown for a record larger than it).
const READ_WINDOW: usize = 64 << 10;

/// A spill file being written, segment by segment.
pub(crate) struct SpillWriter {
    path: PathBuf,
    out: BufWriter<File>,
    written: u64,
    segment_start: u64,
    segments: Vec<(u64, u64)>,
    /// Set once the file is handed over (or removed).
    done: bool,
}

impl SpillWriter {
    pub(crate) fn create(mem: &TaskMemory) -> Result<Self, String> {
        let (path, f) = mem.create_spill_file()?;
        Ok(Self {
            path,
            out: BufWriter::with_capacity(1 << 20, f),
            written: 0,
            segment_start: 0,
            segments: Vec::new(),
            done: false,
        })
    }

    fn error(&self, e: std::io::Error) -> String {
        format!("writing spill file {}: {e}", self.path.display())
    }

    /// Appends one record to the current segment.
    pub(crate) fn put(
        &mut self,
        key: &[u8],
        value: &[u8],
        scratch: &mut Vec<u8>,
    ) -> Result<(), String> {
        scratch.clear();
        put_record(scratch, key, value);
        self.put_raw(scratch)
    }

    /// Appends encoded records to the current segment.
    pub(crate) fn put_raw(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.out.write_all(bytes).map_err(|e| self.error(e))?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Ends the current segment (an empty one if nothing was put since the last).
    pub(crate) fn end_segment(&mut self) {
        self.segments
            .push((self.segment_start, self.written - self.segment_start));
        self.segment_start = self.written;
    }

    /// Flushes the file: it can be read now.
    pub(crate) fn finish(mut self) -> Result<SpillFile, String> {
        if self.segment_start < self.written || self.segments.is_empty() {
            self.end_segment();
        }
        self.out.flush().map_err(|e| self.error(e))?;
        self.done = true;
        let file = self
            .out
            .get_ref()
            .try_clone()
            .map_err(|e| format!("reopening spill file {}: {e}", self.path.display()))?;
        Ok(SpillFile {
            path: std::mem::take(&mut self.path),
            file,
            segments: std::mem::take(&mut self.segments),
            len: self.written,
        })
    }
}

impl Drop for SpillWriter {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A written spill file; removed when dropped.
#[derive(Debug)]
pub(crate) struct SpillFile {
    path: PathBuf,
    file: File,
    /// (offset, length) of each segment.
    segments: Vec<(u64, u64)>,
    len: u64,
}

impl SpillFile {
    /// Bytes written.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// A reader of segment `i` (empty if there is none).
    pub(crate) fn segment(&self, i: usize) -> Result<RunReader, String> {
        let (offset, len) = self.segments.get(i).copied().unwrap_or((0, 0));
        let file = self
            .file
            .try_clone()
            .map_err(|e| format!("reading spill file {}: {e}", self.path.display()))?;
        Ok(RunReader {
            file,
            path: self.path.clone(),
            pos: offset,
            end: offset + len,
            buf: Vec::new(),
            start: 0,
            filled: 0,
            current: None,
        })
    }
}

impl Drop for SpillFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The records of one segment of a spill file, read a window at a time.
pub(crate) struct RunReader {
    file: File,
    path: PathBuf,
    /// The file offset of the next read, and the segment's end.
    pos: u64,
    end: u64,
    buf: Vec<u8>,
    /// The unread bytes are `buf[start..filled]`.
    start: usize,
    filled: usize,
    /// The record [Self::advance] found: (key, value) ranges in `buf`.
    current: Option<(std::ops::Range<usize>, std::ops::Range<usize>)>,
}

impl RunReader {
    /// Moves to the next record; false at the segment's end.
    pub(crate) fn advance(&mut self) -> Result<bool, String> {
        self.current = None;
        loop {
            if let Some((k, v, len)) = split_record(&self.buf[self.start..self.filled]) {
                let s = self.start;
                self.current = Some((s + k.start..s + k.end, s + v.start..s + v.end));
                self.start += len;
                return Ok(true);
            }
            if self.pos >= self.end {
                if self.start < self.filled {
                    return Err(format!(
                        "spill file {} ends inside a record",
                        self.path.display()
                    ));
                }
                return Ok(false);
            }
            self.refill()?;
        }
    }

    /// The record [Self::advance] moved to: (key bytes, value bytes).
    pub(crate) fn record(&self) -> (&[u8], &[u8]) {
        let (k, v) = self.current.clone().unwrap_or((0..0, 0..0));
        (&self.buf[k], &self.buf[v])
    }

    fn refill(&mut self) -> Result<(), String> {
        self.buf.copy_within(self.start..self.filled, 0);
        self.filled -= self.start;
        self.start = 0;
        if self.buf.len() < READ_WINDOW {
            self.buf.resize(READ_WINDOW, 0);
        } else if self.filled == self.buf.len() {
            // A record larger than the window.
            self.buf.resize(self.buf.len() * 2, 0);
        }
        let room = (self.buf.len() - self.filled) as u64;
        let n = room.min(self.end - self.pos) as usize;
        let dst = &mut self.buf[self.filled..self.filled + n];
        self.file
            .read_exact_at(dst, self.pos)
            .map_err(|e| format!("reading spill file {}: {e}", self.path.display()))?;
        self.pos += n as u64;
        self.filled += n;
        Ok(())
    }

    /// Hands the rest of the segment's bytes to `out`, a window at a time.
    pub(crate) fn copy_to(
        mut self,
        out: &mut dyn FnMut(&[u8]) -> Result<(), String>,
    ) -> Result<(), String> {
        if self.start < self.filled {
            out(&self.buf[self.start..self.filled])?;
        }
        self.buf.resize(READ_WINDOW.max(self.buf.len()), 0);
        while self.pos < self.end {
            let n = (self.buf.len() as u64).min(self.end - self.pos) as usize;
            self.file
                .read_exact_at(&mut self.buf[..n], self.pos)
                .map_err(|e| format!("reading spill file {}: {e}", self.path.display()))?;
            self.pos += n as u64;
            out(&self.buf[..n])?;
        }
        Ok(())
    }
}

/// A source of a [Merge]: sorted items, or why it cannot go on.
pub(crate) type Source<T> = Box<dyn Iterator<Item = Result<T, String>> + Send>;

/// A k-way merge of sorted sources by `cmp`; of equal items, the one of the
/// earlier source comes first.
pub(crate) struct Merge<T, F> {
    sources: Vec<Source<T>>,
    heads: Vec<Option<T>>,
    /// A binary min-heap of source indexes, by their heads.
    heap: Vec<usize>,
    cmp: F,
    failed: Option<String>,
}

impl<T, F: Fn(&T, &T) -> Ordering> Merge<T, F> {
    pub(crate) fn new(mut sources: Vec<Source<T>>, cmp: F) -> Self {
        let mut heads = Vec::with_capacity(sources.len());
        let mut failed = None;
        for s in &mut sources {
            heads.push(match s.next() {
                Some(Ok(x)) => Some(x),
                Some(Err(e)) => {
                    failed.get_or_insert(e);
                    None
                }
                None => None,
            });
        }
        let mut m = Self {
            heap: Vec::with_capacity(sources.len()),
            sources,
            heads,
            cmp,
            failed,
        };
        for i in 0..m.heads.len() {
            if m.heads[i].is_some() {
                m.heap.push(i);
                m.sift_up(m.heap.len() - 1);
            }
        }
        m
    }

    fn less(&self, a: usize, b: usize) -> bool {
        match (&self.heads[a], &self.heads[b]) {
            (Some(x), Some(y)) => (self.cmp)(x, y).then(a.cmp(&b)) == Ordering::Less,
            _ => a < b,
        }
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let parent = (i - 1) / 2;
            if !self.less(self.heap[i], self.heap[parent]) {
                break;
            }
            self.heap.swap(i, parent);
            i = parent;
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut min = i;
            if l < self.heap.len() && self.less(self.heap[l], self.heap[min]) {
                min = l;
            }
            if r < self.heap.len() && self.less(self.heap[r], self.heap[min]) {
                min = r;
            }
            if min == i {
                return;
            }
            self.heap.swap(i, min);
            i = min;
        }
    }
}

impl<T, F: Fn(&T, &T) -> Ordering> Iterator for Merge<T, F> {
    type Item = Result<T, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.failed.take() {
            self.heap.clear();
            return Some(Err(e));
        }
        let &top = self.heap.first()?;
        let item = self.heads[top].take()?;
        match self.sources[top].next() {
            Some(Ok(x)) => {
                self.heads[top] = Some(x);
                self.sift_down(0);
            }
            end => {
                if let Some(Err(e)) = end {
                    self.failed = Some(e);
                }
                let last = self.heap.pop().expect("not empty");
                if !self.heap.is_empty() {
                    self.heap[0] = last;
                    self.sift_down(0);
                }
            }
        }
        Some(Ok(item))
    }
}

/// Folds runs of equal keys of a sorted stream of (key, combiner) with `merge`.
pub(crate) struct Combined<I: Iterator, C, F> {
    inner: std::iter::Peekable<I>,
    merge: F,
    _c: std::marker::PhantomData<fn() -> C>,
}

impl<I, C, F> Combined<I, C, F>
where
    I: Iterator<Item = Result<(Vec<u8>, C), String>>,
    F: FnMut(C, C) -> C,
{
    pub(crate) fn new(inner: I, merge: F) -> Self {
        Self {
            inner: inner.peekable(),
            merge,
            _c: std::marker::PhantomData,
        }
    }
}

impl<I, C, F> Iterator for Combined<I, C, F>
where
    I: Iterator<Item = Result<(Vec<u8>, C), String>>,
    F: FnMut(C, C) -> C,
{
    type Item = Result<(Vec<u8>, C), String>;

    fn next(&mut self) -> Option<Self::Item> {
        let (key, mut acc) = match self.inner.next()? {
            Ok(x) => x,
            Err(e) => return Some(Err(e)),
        };
        while let Some(Ok((k, _))) = self.inner.peek() {
            if *k != key {
                break;
            }
            let Some(Ok((_, c))) = self.inner.next() else {
                unreachable!("peeked")
            };
            acc = (self.merge)(acc, c);
        }
        Some(Ok((key, acc)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdd::memory::MemoryManager;
    use std::sync::Arc;

    fn source(v: Vec<(u32, char)>) -> Source<(u32, char)> {
        Box::new(v.into_iter().map(Ok))
    }

    #[test]
    fn merge_is_sorted_and_stable() {
        let m = Merge::new(
            vec![
                source(vec![(1, 'a'), (3, 'a'), (5, 'a')]),
                source(vec![]),
                source(vec![(1, 'b'), (2, 'b'), (5, 'b'), (9, 'b')]),
                source(vec![(0, 'c'), (5, 'c')]),
            ],
            |x: &(u32, char), y: &(u32, char)| x.0.cmp(&y.0),
        );
        let got: Vec<(u32, char)> = m.map(Result::unwrap).collect();
        assert_eq!(
            got,
            vec![
                (0, 'c'),
                (1, 'a'),
                (1, 'b'),
                (2, 'b'),
                (3, 'a'),
                (5, 'a'),
                (5, 'b'),
                (5, 'c'),
                (9, 'b')
            ]
        );
        // A failing source ends the merge with its error.
        let bad: Source<(u32, char)> =
            Box::new(vec![Ok((1, 'x')), Err("disk on fire".to_string())].into_iter());
        let mut m = Merge::new(vec![bad, source(vec![(2, 'y')])], |x, y| x.0.cmp(&y.0));
        assert_eq!(m.next(), Some(Ok((1, 'x'))));
        assert_eq!(m.next(), Some(Err("disk on fire".into())));
        assert_eq!(m.next(), None);
    }

    #[test]
    fn spill_segments_read_back_in_windows() {
        let mm = Arc::new(MemoryManager::unbounded(None));
        let t = mm.local_task();
        let mut w = SpillWriter::create(&t).unwrap();
        let mut scratch = Vec::new();
        let big = vec![7u8; 3 * READ_WINDOW];
        for i in 0..10_000u32 {
            w.put(&i.to_le_bytes(), b"v", &mut scratch).unwrap();
        }
        w.end_segment();
        w.end_segment();
        w.put(b"big", &big, &mut scratch).unwrap();
        w.put(b"after", b"", &mut scratch).unwrap();
        let f = w.finish().unwrap();
        let mut r = f.segment(0).unwrap();
        let mut n = 0u32;
        while r.advance().unwrap() {
            assert_eq!(r.record(), (&n.to_le_bytes()[..], &b"v"[..]));
            n += 1;
        }
        assert_eq!(n, 10_000);
        assert!(!f.segment(1).unwrap().advance().unwrap(), "empty segment");
        let mut r = f.segment(2).unwrap();
        assert!(r.advance().unwrap());
        assert_eq!(r.record(), (&b"big"[..], &big[..]));
        assert!(r.advance().unwrap());
        assert_eq!(r.record().0, b"after");
        assert!(!r.advance().unwrap());
        // Raw copy of a segment.
        let mut copied = Vec::new();
        f.segment(0)
            .unwrap()
            .copy_to(&mut |b| {
                copied.extend_from_slice(b);
                Ok(())
            })
            .unwrap();
        assert_eq!(copied.len() as u64, f.segments[0].1);
        let path = f.path.clone();
        assert!(path.exists());
        drop(f);
        assert!(!path.exists(), "removed with its SpillFile");
    }
}
