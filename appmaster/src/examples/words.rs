//! `WordLength [WORD...]`: word statistics with flat_map, map, cache and reduce.

use crate::rdd::{FlatMapFn, ReduceFn, SparkContext};
use serde::{Deserialize, Serialize};

const TEXT: &[&str] = &[
    "It was the best of times, it was the worst of times,",
    "it was the age of wisdom, it was the age of foolishness,",
    "it was the epoch of belief, it was the epoch of incredulity,",
    "it was the season of Light, it was the season of Darkness,",
];

/// Splits a line into words (letters only, lower case).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct SplitWords;

impl FlatMapFn for SplitWords {
    type In = String;
    type Out = String;
    fn call(&self, line: String) -> Vec<String> {
        line.split(|c: char| !c.is_alphabetic())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    }
}

/// A word and its length in characters.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct WordLen;

crate::map_fn!(WordLen, |w: String| -> (String, u64) {
    let n = w.chars().count() as u64;
    (w, n)
});

/// The longer of two (word, length) pairs; ties go to the smaller word.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Longest;

impl ReduceFn for Longest {
    type T = (String, u64);
    fn call(&self, a: (String, u64), b: (String, u64)) -> (String, u64) {
        if (b.1, &a.0) > (a.1, &b.0) {
            b
        } else {
            a
        }
    }
}

crate::register_flat_map!(SplitWords);
crate::register_map!(WordLen);
crate::register_reduce!(Longest);

/// (words, total length, longest word).
pub(crate) fn compute(
    sc: &SparkContext,
    lines: Vec<String>,
) -> anyhow::Result<(u64, u64, Option<String>)> {
    let lengths = sc
        .parallelize(lines, None)
        .flat_map(SplitWords)
        .map(WordLen)
        .cache();
    let words = lengths.count()?;
    let total: u64 = lengths.collect()?.iter().map(|(_, n)| n).sum();
    let longest = lengths.reduce(Longest)?.map(|(w, _)| w);
    lengths.unpersist();
    Ok((words, total, longest))
}

pub(crate) fn run(sc: &SparkContext, args: &[String]) -> anyhow::Result<()> {
    let lines: Vec<String> = if args.is_empty() {
        TEXT.iter().map(|s| s.to_string()).collect()
    } else {
        vec![args.join(" ")]
    };
    let (words, total, longest) = compute(sc, lines)?;
    println!("words: {words}");
    println!("total length: {total}");
    println!("longest word: {}", longest.unwrap_or_default());
    Ok(())
}
