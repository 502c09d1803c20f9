//! Where RDDs come from: the `SparkContext` methods that make an [Rdd] from
//! a source (`range`, `parallelize`, `text_file`).
//!
//! They live apart from the context itself so that the context does not
//! depend on the typed RDD (an `Rdd` holds its context).

use super::context::SparkContext;
use super::func::Data;
use super::registry;
use super::text::TextSplit;
use super::typed::Rdd;
use am_core::plan::Source;
use std::any::type_name;

impl SparkContext {
    /// `range(start, end)` with step 1 and the default parallelism.
    pub fn range(&self, start: i64, end: i64) -> Rdd<i64> {
        self.range_with(start, end, 1, None)
    }

    /// `range(start, end, step, numSlices)`: `num_partitions` contiguous slices,
    /// as even as possible, as Spark's `SparkContext.range`.
    ///
    /// # Panics
    /// If `step` is 0 or `num_partitions` is `Some(0)` (Spark's
    /// IllegalArgumentException).
    pub fn range_with(
        &self,
        start: i64,
        end: i64,
        step: i64,
        num_partitions: Option<u32>,
    ) -> Rdd<i64> {
        assert!(step != 0, "step cannot be 0");
        let num_partitions = self.partitions_or_default(num_partitions);
        Rdd::from_source(
            self.clone(),
            Source::Range {
                start,
                end,
                step,
                num_partitions,
            },
        )
    }

    /// `parallelize(data, numSlices)`: `data` split into contiguous slices as
    /// Spark does (`[i*len/n, (i+1)*len/n)`), default the default parallelism.
    ///
    /// # Panics
    /// If `num_slices` is `Some(0)`, or if `T` is not a known element type:
    /// built-in types and the input/output types of registered functions are;
    /// others need `appmaster::register_data!(T)`.
    pub fn parallelize<T: Data>(&self, data: Vec<T>, num_slices: Option<u32>) -> Rdd<T> {
        assert!(
            registry::is_data_registered::<T>(),
            "element type {} is not registered in this binary: add appmaster::register_data!({})",
            type_name::<T>(),
            type_name::<T>()
        );
        let n = self.partitions_or_default(num_slices) as usize;
        let len = data.len();
        let mut partitions = Vec::with_capacity(n);
        let mut it = data.into_iter();
        for i in 0..n {
            let (lo, hi) = (i * len / n, (i + 1) * len / n);
            partitions.push(it.by_ref().take(hi - lo).collect());
        }
        self.parallelize_partitions(partitions)
    }

    /// An RDD whose partitions are the given ones, as they are (a front end
    /// that slices its data itself, e.g. the Python API's pickled batches).
    ///
    /// # Panics
    /// As [SparkContext::parallelize].
    pub fn parallelize_partitions<T: Data>(&self, partitions: Vec<Vec<T>>) -> Rdd<T> {
        assert!(
            registry::is_data_registered::<T>(),
            "element type {} is not registered in this binary: add appmaster::register_data!({})",
            type_name::<T>(),
            type_name::<T>()
        );
        let partitions = partitions
            .iter()
            .map(|p| postcard::to_stdvec(p).expect("postcard encodes into a Vec"))
            .collect();
        Rdd::from_source(
            self.clone(),
            Source::Parallelize {
                type_name: type_name::<T>().to_string(),
                partitions,
            },
        )
    }

    /// `textFile(path, minPartitions)`: the lines of a text file that every
    /// executor can read at `path` (a shared or identical local path), in
    /// `num_partitions` byte-range splits (default: the default
    /// parallelism). Each split holds the lines that start in it, without
    /// their line ending; invalid UTF-8 is replaced. A file that cannot be
    /// read fails the tasks (and the job) with the reason.
    ///
    /// # Panics
    /// If `num_partitions` is `Some(0)`.
    pub fn text_file(&self, path: &str, num_partitions: Option<u32>) -> Rdd<String> {
        let splits = self.partitions_or_default(num_partitions);
        self.range_with(0, i64::from(splits), 1, Some(splits))
            .map_partitions(TextSplit {
                path: path.to_string(),
                splits,
            })
    }

    fn partitions_or_default(&self, n: Option<u32>) -> u32 {
        match n {
            Some(0) => panic!("Positive number of partitions required"),
            Some(n) => n,
            None => self.default_parallelism(),
        }
    }
}
