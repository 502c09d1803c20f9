//! `WordCount INPUT | --generate N`: Spark's word count with `reduce_by_key`.
//!
//! INPUT is a text file every executor can read at that path (read in
//! splits by the executors, `SparkContext::text_file`). `--generate N`
//! makes a text of N words on the executors instead: word `i` is `alpha`
//! when `i % 100 < 5`, `beta` when `i % 100` is 5 to 7, `gamma` when it is
//! 8 or 9, else a six-letter filler word drawn from a seeded generator; ten
//! words a line. So N = 1,000,000 has exactly 50,000 alpha, 30,000 beta and
//! 20,000 gamma.
//!
//! Prints the 20 most frequent words as `word: count` (most frequent first,
//! ties by word), then `distinct words: D` and `total words: T`.

use crate::rdd::{AddU64, Elements, MapPartitionsFn, Rdd, SparkContext};
use anyhow::{bail, Context as _};
use serde::{Deserialize, Serialize};

/// How many words `run` prints.
pub(crate) const TOP: usize = 20;

/// Words per generated line.
const LINE_WORDS: u64 = 10;

const SEED: u64 = 0x000C_0FFE_E000_5EED;

/// A word and 1.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct WordOne;

crate::map_fn!(WordOne, |w: String| -> (String, u64) { (w, 1) });

/// Line `i` of the generated text of `words` words.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct GenLine {
    pub words: u64,
    pub seed: u64,
}

crate::map_fn!(GenLine, |&self, line: i64| -> String {
    generated_line(self.seed, line as u64, self.words)
});

/// The `k` most frequent words of a partition (see [top_words]).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct TopWords {
    pub k: u32,
}

impl MapPartitionsFn for TopWords {
    type In = (String, u64);
    type Out = (String, u64);
    fn call(self, _partition: u32, input: Elements<(String, u64)>) -> Elements<(String, u64)> {
        let k = self.k as usize;
        let mut top: Vec<(String, u64)> = Vec::new();
        for wc in input {
            top.push(wc);
            if top.len() >= 2 * k.max(1) {
                top = top_words(top, k);
            }
        }
        Box::new(top_words(top, k).into_iter())
    }
}

crate::register_map!(WordOne, GenLine);

/// Splits a line on whitespace, as Spark's WordCount example does (`w42` and
/// `w43` are different words).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct SplitSpaces;

impl crate::rdd::FlatMapFn for SplitSpaces {
    type In = String;
    type Out = String;
    fn call(&self, line: String) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }
}

crate::register_flat_map!(SplitSpaces);
crate::register_map_partitions!(TopWords);

/// The `k` most frequent words, by count (descending) then word.
pub(crate) fn top_words(mut counts: Vec<(String, u64)>, k: usize) -> Vec<(String, u64)> {
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    counts.truncate(k);
    counts
}

/// Word `i` of the generated text (see the module docs).
pub(crate) fn generated_word(seed: u64, i: u64) -> String {
    match i % 100 {
        0..=4 => "alpha".into(),
        5..=7 => "beta".into(),
        8..=9 => "gamma".into(),
        _ => {
            let mut rng = super::SplitMix64::new(seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let (a, b) = (rng.next_u64() % 1000, rng.next_u64() % 1000);
            // Skewed toward small indexes: a few common fillers, a long tail.
            filler(a * b / 1000 + a % 7)
        }
    }
}

/// A six-letter word for an index (consonant-vowel syllables; never alpha,
/// beta or gamma).
fn filler(mut n: u64) -> String {
    const C: &[u8] = b"bcdfghklmnprstvz";
    const V: &[u8] = b"aeiou";
    let mut w = String::with_capacity(6);
    for _ in 0..3 {
        w.push(C[(n % 16) as usize] as char);
        n /= 16;
        w.push(V[(n % 5) as usize] as char);
        n /= 5;
    }
    w
}

/// Line `line` of the generated text of `words` words (ten a line).
pub(crate) fn generated_line(seed: u64, line: u64, words: u64) -> String {
    let start = line * LINE_WORDS;
    let end = (start + LINE_WORDS).min(words);
    (start..end)
        .map(|i| generated_word(seed, i))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The generated text of `words` words, as lines (for checking).
#[cfg(test)]
pub(crate) fn generated_text(words: u64) -> Vec<String> {
    (0..words.div_ceil(LINE_WORDS))
        .map(|l| generated_line(SEED, l, words))
        .collect()
}

/// The generated text as an RDD of lines, made on the executors.
pub(crate) fn generated_rdd(sc: &SparkContext, words: u64) -> Rdd<String> {
    let lines = words.div_ceil(LINE_WORDS) as i64;
    let parts = sc.default_parallelism().max(1);
    sc.range_with(0, lines, 1, Some(parts))
        .map(GenLine { words, seed: SEED })
}

/// What `WordCount` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WordCounts {
    pub(crate) top: Vec<(String, u64)>,
    pub(crate) distinct: u64,
    pub(crate) total: u64,
}

/// Counts the words of `lines`: `reduce_by_key` over (word, 1), then three
/// jobs over the cached counts (their shuffle's map output is reused).
pub(crate) fn count_words(lines: &Rdd<String>, top: usize) -> anyhow::Result<WordCounts> {
    let counts = lines
        .flat_map(SplitSpaces)
        .map(WordOne)
        .reduce_by_key(AddU64, None)
        .cache();
    let distinct = counts.count()?;
    let total = counts.values().sum()?;
    let best = counts
        .map_partitions(TopWords { k: top as u32 })
        .collect()?;
    counts.unpersist();
    Ok(WordCounts {
        top: top_words(best, top),
        distinct,
        total,
    })
}

pub(crate) fn run(sc: &SparkContext, args: &[String]) -> anyhow::Result<()> {
    let lines = match args {
        [flag, n] if flag == "--generate" => {
            let n: u64 = n.trim().parse().with_context(|| {
                format!("WordCount: --generate needs a number of words, not {n:?}")
            })?;
            generated_rdd(sc, n)
        }
        [flag] if flag == "--generate" => bail!("WordCount: --generate needs a number of words"),
        [path] if !path.starts_with("--") => sc.text_file(path, None),
        _ => bail!("usage: WordCount INPUT | --generate N (got {args:?})"),
    };
    let counts = count_words(&lines, TOP)?;
    for (w, n) in &counts.top {
        println!("{w}: {n}");
    }
    println!("distinct words: {}", counts.distinct);
    println!("total words: {}", counts.total);
    Ok(())
}
