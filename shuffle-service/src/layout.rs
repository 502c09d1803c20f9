//! Spark's sort-shuffle files: per map task one data file holding every
//! reduce partition back to back, and one index file of `num_reduce + 1`
//! big-endian u64 offsets into it (`shuffle_<s>_<m>_0.data` / `.index`, the
//! `0` being Spark's NOOP reduce id).
//!
//! Writes are atomic: both files are written under temporary names and
//! renamed, data first, so a reader that finds the index finds the matching
//! data. As in Spark, when a complete output of the same map already exists
//! (another attempt committed first) it is kept and the new one discarded.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

pub fn data_file_name(shuffle_id: u32, map_id: u64) -> String {
    format!("shuffle_{shuffle_id}_{map_id}_0.data")
}

pub fn index_file_name(shuffle_id: u32, map_id: u64) -> String {
    format!("shuffle_{shuffle_id}_{map_id}_0.index")
}

pub fn data_path(dir: &Path, shuffle_id: u32, map_id: u64) -> PathBuf {
    dir.join(data_file_name(shuffle_id, map_id))
}

pub fn index_path(dir: &Path, shuffle_id: u32, map_id: u64) -> PathBuf {
    dir.join(index_file_name(shuffle_id, map_id))
}

/// An error that names the file it is about, keeping the kind.
fn at(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

fn invalid(path: &Path, what: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {what}", path.display()),
    )
}

/// Opens a shuffle file for reading without following a symlink in its last
/// component (the service must not be pointed elsewhere by a planted link).
pub fn open_nofollow(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| at(path, e))
}

fn temp_path(dir: &Path, name: &str) -> PathBuf {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

/// Writes one map task's output: `partitions` in reduce order. Returns the
/// bytes per reduce partition.
pub fn write_map_output<I, P>(
    dir: &Path,
    shuffle_id: u32,
    map_id: u64,
    partitions: I,
) -> io::Result<Vec<u64>>
where
    I: IntoIterator<Item = P>,
    P: AsRef<[u8]>,
{
    let parts: Vec<P> = partitions.into_iter().collect();
    let mut w = MapOutputWriter::create(dir, shuffle_id, map_id, parts.len() as u32)?;
    for (r, p) in parts.iter().enumerate() {
        w.write_partition(r as u32, p.as_ref())?;
    }
    w.commit()
}

/// Streams one map task's output, partition by partition in reduce order.
///
/// `write_partition` may be called several times for the same reduce id
/// (appending) and may skip ids (empty partitions); going back is an error.
/// Dropping the writer without `commit` removes what it wrote.
pub struct MapOutputWriter {
    dir: PathBuf,
    shuffle_id: u32,
    map_id: u64,
    tmp_data: PathBuf,
    data: Option<BufWriter<File>>,
    lengths: Vec<u64>,
    current: u32,
}

impl MapOutputWriter {
    pub fn create(
        dir: &Path,
        shuffle_id: u32,
        map_id: u64,
        num_partitions: u32,
    ) -> io::Result<Self> {
        let tmp_data = temp_path(dir, &data_file_name(shuffle_id, map_id));
        let f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(&tmp_data)
            .map_err(|e| at(&tmp_data, e))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            shuffle_id,
            map_id,
            tmp_data,
            data: Some(BufWriter::with_capacity(1 << 20, f)),
            lengths: vec![0; num_partitions as usize],
            current: 0,
        })
    }

    pub fn num_partitions(&self) -> u32 {
        self.lengths.len() as u32
    }

    /// Appends `bytes` to reduce partition `reduce_id`.
    pub fn write_partition(&mut self, reduce_id: u32, bytes: &[u8]) -> io::Result<()> {
        if reduce_id as usize >= self.lengths.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "reduce partition {reduce_id} of map {} in shuffle {}: there are only {}",
                    self.map_id,
                    self.shuffle_id,
                    self.lengths.len()
                ),
            ));
        }
        if reduce_id < self.current {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "reduce partition {reduce_id} written after {}: partitions go in order",
                    self.current
                ),
            ));
        }
        self.current = reduce_id;
        let data = self.data.as_mut().expect("open until commit");
        data.write_all(bytes).map_err(|e| at(&self.tmp_data, e))?;
        self.lengths[reduce_id as usize] += bytes.len() as u64;
        Ok(())
    }

    /// Writes the index and makes both files visible; returns the bytes per
    /// reduce partition (those of an earlier complete output of the same map
    /// if there is one: it is kept, as in Spark).
    pub fn commit(mut self) -> io::Result<Vec<u64>> {
        let data = self.data.take().expect("open until commit");
        let f = data
            .into_inner()
            .map_err(|e| at(&self.tmp_data, e.into_error()))?;
        drop(f);
        let index = index_path(&self.dir, self.shuffle_id, self.map_id);
        let dest = data_path(&self.dir, self.shuffle_id, self.map_id);
        if let Ok(existing) = read_lengths(&self.dir, self.shuffle_id, self.map_id) {
            if existing.len() == self.lengths.len() {
                let _ = std::fs::remove_file(&self.tmp_data);
                return Ok(existing);
            }
        }
        let tmp_index = temp_path(&self.dir, &index_file_name(self.shuffle_id, self.map_id));
        let result = (|| {
            let mut buf = Vec::with_capacity(8 * (self.lengths.len() + 1));
            let mut offset = 0u64;
            buf.extend_from_slice(&offset.to_be_bytes());
            for l in &self.lengths {
                offset += l;
                buf.extend_from_slice(&offset.to_be_bytes());
            }
            std::fs::write(&tmp_index, &buf).map_err(|e| at(&tmp_index, e))?;
            std::fs::rename(&self.tmp_data, &dest).map_err(|e| at(&dest, e))?;
            std::fs::rename(&tmp_index, &index).map_err(|e| at(&index, e))
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp_index);
            let _ = std::fs::remove_file(&self.tmp_data);
            return Err(e);
        }
        Ok(std::mem::take(&mut self.lengths))
    }
}

impl Drop for MapOutputWriter {
    fn drop(&mut self) {
        if self.data.is_some() {
            let _ = std::fs::remove_file(&self.tmp_data);
        }
    }
}

/// A map output's index, checked against its data file.
#[derive(Debug)]
pub struct MapOutput {
    pub data: File,
    pub data_path: PathBuf,
    /// `num_reduce + 1` offsets, the first 0, the last the data file's length.
    pub offsets: Vec<u64>,
}

impl MapOutput {
    /// Opens `shuffle_<s>_<m>_0.{index,data}` in `dir` and checks that they agree.
    pub fn open(dir: &Path, shuffle_id: u32, map_id: u64) -> io::Result<Self> {
        let ipath = index_path(dir, shuffle_id, map_id);
        let mut index = open_nofollow(&ipath)?;
        let ilen = index.metadata().map_err(|e| at(&ipath, e))?.len();
        if ilen < 8 || ilen % 8 != 0 || ilen > (1 << 30) {
            return Err(invalid(&ipath, format!("{ilen} bytes is not an index")));
        }
        let mut raw = Vec::with_capacity(ilen as usize);
        index.read_to_end(&mut raw).map_err(|e| at(&ipath, e))?;
        let offsets: Vec<u64> = raw
            .chunks_exact(8)
            .map(|c| u64::from_be_bytes(c.try_into().expect("8 bytes")))
            .collect();
        if offsets[0] != 0 || offsets.windows(2).any(|w| w[1] < w[0]) {
            return Err(invalid(&ipath, "offsets are not ascending from 0".into()));
        }
        let data_path = data_path(dir, shuffle_id, map_id);
        let data = open_nofollow(&data_path)?;
        let dlen = data.metadata().map_err(|e| at(&data_path, e))?.len();
        let end = *offsets.last().expect("at least one offset");
        if dlen != end {
            return Err(invalid(
                &data_path,
                format!("{dlen} bytes, but its index says {end}"),
            ));
        }
        Ok(Self {
            data,
            data_path,
            offsets,
        })
    }

    pub fn num_partitions(&self) -> u32 {
        (self.offsets.len() - 1) as u32
    }

    /// `(offset, len)` of reduce partition `reduce_id`.
    pub fn range(&self, reduce_id: u32) -> Option<(u64, u64)> {
        let r = reduce_id as usize;
        if r + 1 >= self.offsets.len() {
            return None;
        }
        Some((self.offsets[r], self.offsets[r + 1] - self.offsets[r]))
    }

    pub fn lengths(&self) -> Vec<u64> {
        self.offsets.windows(2).map(|w| w[1] - w[0]).collect()
    }
}

/// Bytes per reduce partition of a committed map output.
pub fn read_lengths(dir: &Path, shuffle_id: u32, map_id: u64) -> io::Result<Vec<u64>> {
    Ok(MapOutput::open(dir, shuffle_id, map_id)?.lengths())
}

/// Reads one block: looks its range up in the index, then reads the data file there.
pub fn read_block(dir: &Path, shuffle_id: u32, map_id: u64, reduce_id: u32) -> io::Result<Vec<u8>> {
    let out = MapOutput::open(dir, shuffle_id, map_id)?;
    let (offset, len) = out.range(reduce_id).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "map {map_id} of shuffle {shuffle_id} has {} reduce partitions, not {}",
                out.num_partitions(),
                reduce_id + 1
            ),
        )
    })?;
    let mut buf = vec![0u8; len as usize];
    out.data
        .read_exact_at(&mut buf, offset)
        .map_err(|e| at(&out.data_path, e))?;
    Ok(buf)
}

/// Whether `name` is one of shuffle `shuffle_id`'s files (or any shuffle's,
/// with `None`), committed or temporary.
fn is_shuffle_file(name: &str, shuffle_id: Option<u32>) -> bool {
    let name = name.strip_prefix('.').unwrap_or(name);
    let Some(rest) = name.strip_prefix("shuffle_") else {
        return false;
    };
    let mut parts = rest.splitn(3, '_');
    let (Some(s), Some(m), Some(tail)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let numeric = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
    if !numeric(s) || !numeric(m) || !(tail.starts_with("0.data") || tail.starts_with("0.index")) {
        return false;
    }
    shuffle_id.is_none_or(|id| s.parse::<u32>().ok() == Some(id))
}

fn remove_matching(dir: &Path, shuffle_id: Option<u32>) -> io::Result<u64> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(at(dir, e)),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(|e| at(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !is_shuffle_file(name, shuffle_id) {
            continue;
        }
        // Only files (or links) are removed; never follow into a directory.
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(true);
        if is_dir {
            continue;
        }
        match std::fs::remove_file(entry.path()) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(at(&entry.path(), e)),
        }
    }
    Ok(removed)
}

/// Deletes every file of shuffle `shuffle_id` in `dir`; returns how many.
pub fn remove_shuffle(dir: &Path, shuffle_id: u32) -> io::Result<u64> {
    remove_matching(dir, Some(shuffle_id))
}

/// Deletes every shuffle file in `dir`; returns how many.
pub fn remove_all_shuffles(dir: &Path) -> io::Result<u64> {
    remove_matching(dir, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn writes_spark_layout_and_reads_blocks_back() {
        let d = tempfile::tempdir().unwrap();
        let parts: Vec<Vec<u8>> = vec![b"aaa".to_vec(), vec![], b"hello world".to_vec()];
        let sizes = write_map_output(d.path(), 2, 5, &parts).unwrap();
        assert_eq!(sizes, vec![3, 0, 11]);
        assert_eq!(
            files(d.path()),
            ["shuffle_2_5_0.data", "shuffle_2_5_0.index"]
        );
        let index = std::fs::read(d.path().join("shuffle_2_5_0.index")).unwrap();
        let want: Vec<u8> = [0u64, 3, 3, 14]
            .iter()
            .flat_map(|o| o.to_be_bytes())
            .collect();
        assert_eq!(
            index, want,
            "index is (num_reduce + 1) big-endian u64 offsets"
        );
        assert_eq!(
            std::fs::read(d.path().join("shuffle_2_5_0.data")).unwrap(),
            b"aaahello world"
        );
        for (r, p) in parts.iter().enumerate() {
            assert_eq!(&read_block(d.path(), 2, 5, r as u32).unwrap(), p);
        }
        let e = read_block(d.path(), 2, 5, 3).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        let e = read_block(d.path(), 2, 6, 0).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(e.to_string().contains("shuffle_2_6_0.index"), "{e}");
        // Slices work as partitions too.
        let sizes = write_map_output(d.path(), 2, 7, [&b"x"[..], &b"yz"[..]]).unwrap();
        assert_eq!(sizes, vec![1, 2]);
    }

    #[test]
    fn streaming_writer_appends_skips_and_keeps_order() {
        let d = tempfile::tempdir().unwrap();
        let mut w = MapOutputWriter::create(d.path(), 0, 1, 4).unwrap();
        w.write_partition(0, b"ab").unwrap();
        w.write_partition(0, b"c").unwrap();
        w.write_partition(2, b"dd").unwrap();
        assert!(w.write_partition(1, b"late").is_err());
        assert!(w.write_partition(4, b"beyond").is_err());
        let sizes = w.commit().unwrap();
        assert_eq!(sizes, vec![3, 0, 2, 0]);
        assert_eq!(read_block(d.path(), 0, 1, 0).unwrap(), b"abc");
        assert_eq!(read_block(d.path(), 0, 1, 1).unwrap(), b"");
        assert_eq!(read_block(d.path(), 0, 1, 2).unwrap(), b"dd");
        assert_eq!(files(d.path()).len(), 2, "no temp files left");
    }

    #[test]
    fn uncommitted_writer_leaves_nothing_and_first_commit_wins() {
        let d = tempfile::tempdir().unwrap();
        let mut w = MapOutputWriter::create(d.path(), 0, 1, 2).unwrap();
        w.write_partition(0, b"partial").unwrap();
        drop(w);
        assert!(files(d.path()).is_empty());
        write_map_output(d.path(), 0, 1, [b"first".as_slice(), b"!"]).unwrap();
        // A second attempt of the same map: the committed output stays.
        let sizes = write_map_output(d.path(), 0, 1, [b"second".as_slice(), b"?"]).unwrap();
        assert_eq!(sizes, vec![5, 1]);
        assert_eq!(read_block(d.path(), 0, 1, 0).unwrap(), b"first");
        assert_eq!(files(d.path()).len(), 2);
    }

    #[test]
    fn corrupt_index_or_data_is_refused() {
        let d = tempfile::tempdir().unwrap();
        write_map_output(d.path(), 1, 1, [b"abc".as_slice()]).unwrap();
        std::fs::write(d.path().join("shuffle_1_1_0.data"), b"ab").unwrap();
        let e = read_block(d.path(), 1, 1, 0).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
        std::fs::write(d.path().join("shuffle_1_1_0.index"), b"short").unwrap();
        let e = read_block(d.path(), 1, 1, 0).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
        let desc: Vec<u8> = [0u64, 5, 2].iter().flat_map(|o| o.to_be_bytes()).collect();
        std::fs::write(d.path().join("shuffle_1_1_0.index"), desc).unwrap();
        assert!(read_block(d.path(), 1, 1, 0).is_err());
    }

    #[test]
    fn symlinked_files_are_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        write_map_output(other.path(), 1, 1, [b"secret".as_slice()]).unwrap();
        for name in ["shuffle_1_1_0.data", "shuffle_1_1_0.index"] {
            std::os::unix::fs::symlink(other.path().join(name), d.path().join(name)).unwrap();
        }
        assert!(read_block(d.path(), 1, 1, 0).is_err());
    }

    #[test]
    fn remove_shuffle_takes_only_that_shuffle() {
        let d = tempfile::tempdir().unwrap();
        for (s, m) in [(1, 0), (1, 1), (12, 0), (2, 0)] {
            write_map_output(d.path(), s, m, [b"x".as_slice()]).unwrap();
        }
        std::fs::write(d.path().join(".shuffle_1_9_0.data.1.2.tmp"), b"").unwrap();
        std::fs::write(d.path().join("unrelated"), b"").unwrap();
        std::fs::create_dir(d.path().join("shuffle_1_5_0.data")).unwrap();
        assert_eq!(remove_shuffle(d.path(), 1).unwrap(), 5);
        assert_eq!(
            files(d.path()),
            [
                "shuffle_12_0_0.data",
                "shuffle_12_0_0.index",
                "shuffle_1_5_0.data",
                "shuffle_2_0_0.data",
                "shuffle_2_0_0.index",
                "unrelated"
            ]
        );
        assert_eq!(remove_all_shuffles(d.path()).unwrap(), 4);
        assert_eq!(remove_shuffle(&d.path().join("gone"), 1).unwrap(), 0);
    }
}
