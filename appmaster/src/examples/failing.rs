//! `FailingTask [--message M]`: a job whose every task fails.

use super::Flags;
use crate::rdd::SparkContext;
use serde::{Deserialize, Serialize};

/// Panics with `message` on every element.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fail {
    pub message: String,
}

crate::map_fn!(Fail, |&self, _x: i64| -> i64 { panic!("{}", self.message) });

crate::register_map!(Fail);

pub(crate) fn run(sc: &SparkContext, args: &[String]) -> anyhow::Result<()> {
    let flags = Flags::parse("FailingTask", args, &["message"])?;
    let message = flags
        .get("message")
        .unwrap_or("task failed on purpose")
        .to_string();
    let n = i64::from(sc.default_parallelism());
    // One element per partition: every task fails.
    let count = sc.range(0, n).map(Fail { message }).count()?;
    anyhow::bail!("FailingTask: the job was meant to fail but counted {count} elements")
}
