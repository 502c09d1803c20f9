//! `SparkContext::text_file`: lines of a text file, read by the executors in
//! byte-range splits (Hadoop's `LineRecordReader` rule).

use super::func::{Elements, MapPartitionsFn};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};

/// Reads split `partition` of `splits` of the file at `path` (the executor
/// must be able to open it): the lines whose first byte lies in the split's
/// byte range `[len*i/n, len*(i+1)/n)`, read to their end. Line endings
/// (`\n` or `\r\n`) are removed; invalid UTF-8 is replaced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TextSplit {
    pub(crate) path: String,
    pub(crate) splits: u32,
}

impl MapPartitionsFn for TextSplit {
    type In = i64;
    type Out = String;
    fn call(self, partition: u32, _input: Elements<i64>) -> Elements<String> {
        match SplitLines::open(&self.path, partition, self.splits.max(1)) {
            Ok(lines) => Box::new(lines),
            Err(e) => panic!("cannot read {}: {e}", self.path),
        }
    }
}

struct SplitLines {
    reader: BufReader<File>,
    path: String,
    /// Offset of the next line.
    pos: u64,
    end: u64,
    buf: Vec<u8>,
}

impl SplitLines {
    fn open(path: &str, split: u32, splits: u32) -> std::io::Result<Self> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        let start = (u128::from(len) * u128::from(split) / u128::from(splits)) as u64;
        let end = (u128::from(len) * (u128::from(split) + 1) / u128::from(splits)) as u64;
        let mut reader = BufReader::with_capacity(1 << 16, file);
        let mut pos = start;
        let mut buf = Vec::new();
        if start != 0 {
            // The line that crosses `start` began in the split before.
            reader.seek(SeekFrom::Start(start - 1))?;
            let mut before = [0u8; 1];
            reader.read_exact(&mut before)?;
            if before[0] != b'\n' {
                pos += reader.read_until(b'\n', &mut buf)? as u64;
            }
        }
        Ok(Self {
            reader,
            path: path.to_string(),
            pos,
            end,
            buf,
        })
    }
}

impl Iterator for SplitLines {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        // A line belongs to the split it starts in: [start, end).
        if self.pos >= self.end {
            return None;
        }
        self.buf.clear();
        let n = match self.reader.read_until(b'\n', &mut self.buf) {
            Ok(n) => n,
            Err(e) => panic!("cannot read {}: {e}", self.path),
        };
        if n == 0 {
            return None;
        }
        self.pos += n as u64;
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
            if self.buf.last() == Some(&b'\r') {
                self.buf.pop();
            }
        }
        Some(String::from_utf8_lossy(&self.buf).into_owned())
    }
}
