//! `Bursty`: bursts of short jobs separated by idle gaps (for comparing
//! static and dynamic allocation).

use super::Flags;
use crate::rdd::SparkContext;
use anyhow::bail;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WorkKind {
    /// Sleeps (holds a core without using it).
    Sleep,
    /// Busy-loops.
    Cpu,
}

/// Works for `ms` milliseconds per element and returns the element.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Work {
    pub ms: u64,
    pub kind: WorkKind,
}

crate::map_fn!(Work, |&self, x: i64| -> i64 {
    let d = Duration::from_millis(self.ms);
    match self.kind {
        WorkKind::Sleep => std::thread::sleep(d),
        WorkKind::Cpu => {
            let until = Instant::now() + d;
            let mut acc = x as u64;
            while Instant::now() < until {
                for _ in 0..1000 {
                    acc = acc.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                }
                std::hint::black_box(acc);
            }
        }
    }
    x
});

crate::register_map!(Work);

const FLAGS: &[&str] = &["jobs", "tasks", "task-ms", "gap-ms", "work"];

pub(crate) fn run(sc: &SparkContext, args: &[String]) -> anyhow::Result<()> {
    let flags = Flags::parse("Bursty", args, FLAGS)?;
    let jobs = flags.u64("jobs", 3)?;
    let tasks = flags.u64("tasks", 10)?;
    let task_ms = flags.u64("task-ms", 500)?;
    let gap_ms = flags.u64("gap-ms", 5000)?;
    let kind = match flags.get("work").map(str::trim) {
        None | Some("sleep") => WorkKind::Sleep,
        Some("cpu") => WorkKind::Cpu,
        Some(other) => bail!("Bursty: invalid value for --work: {other:?} (expected sleep or cpu)"),
    };
    if tasks == 0 || tasks > u64::from(u32::MAX) {
        bail!(
            "Bursty: invalid value for --tasks: {tasks} (expected 1 to {})",
            u32::MAX
        );
    }
    let work = Work { ms: task_ms, kind };
    let data: Vec<i64> = (0..tasks as i64).collect();
    let expected = (0..tasks as i64).sum::<i64>();
    for j in 1..=jobs {
        if j > 1 {
            std::thread::sleep(Duration::from_millis(gap_ms));
        }
        let started = Instant::now();
        let answer = sc
            .parallelize(data.clone(), Some(tasks as u32))
            .map(work)
            .sum()?;
        let ms = started.elapsed().as_millis();
        println!(
            "job {j} of {jobs}: {tasks} tasks, answer {answer} (expected {expected}) in {ms} ms"
        );
        if answer != expected {
            bail!("Bursty: job {j} answered {answer} but the answer is {expected}");
        }
    }
    Ok(())
}
