//! `Stragglers`: one stage of T tasks of MS ms each, where the last `round(F × T)` tasks
//! take K times as long on their first attempt only (a slow disk, a noisy neighbour), so
//! a speculative copy (`spark.speculation=true`) can win. The answer is the sum of the
//! task indices, whatever attempt computed each.

use super::{Flags, WorkKind};
use crate::rdd::{SparkContext, TaskContext};
use anyhow::bail;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// Works `ms` per element, `slow_factor` times as long for elements from `slow_from` on
/// when it runs as a task's first attempt; stops early once its attempt is killed.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Straggle {
    pub ms: u64,
    pub slow_from: i64,
    pub slow_factor: u64,
    pub kind: WorkKind,
}

impl Straggle {
    /// The element's work, ms, in this attempt (`attempt` 0 is the first).
    pub fn work_ms(&self, x: i64, attempt: u32) -> u64 {
        if x >= self.slow_from && attempt == 0 {
            self.ms.saturating_mul(self.slow_factor)
        } else {
            self.ms
        }
    }
}

crate::map_fn!(Straggle, |&self, x: i64| -> i64 {
    let ctx = TaskContext::get();
    let attempt = ctx.as_ref().map_or(0, TaskContext::attempt_number);
    let killed = || ctx.as_ref().is_some_and(TaskContext::is_interrupted);
    let until = Instant::now() + Duration::from_millis(self.work_ms(x, attempt));
    let mut acc = x as u64;
    loop {
        let now = Instant::now();
        if now >= until || killed() {
            break;
        }
        match self.kind {
            // In slices, so a kill is seen within 5 ms.
            WorkKind::Sleep => std::thread::sleep((until - now).min(Duration::from_millis(5))),
            WorkKind::Cpu => {
                for _ in 0..1000 {
                    acc = acc.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                }
                std::hint::black_box(acc);
            }
        }
    }
    x
});

crate::register_map!(Straggle);

const FLAGS: &[&str] = &["tasks", "task-ms", "slow-fraction", "slow-factor", "work"];

/// How many of `tasks` are slow: `round(fraction × tasks)`.
pub fn slow_tasks(tasks: u64, fraction: f64) -> u64 {
    ((fraction * tasks as f64).round() as u64).min(tasks)
}

pub(crate) fn run(sc: &SparkContext, args: &[String]) -> anyhow::Result<()> {
    let flags = Flags::parse("Stragglers", args, FLAGS)?;
    let tasks = flags.u64("tasks", 40)?;
    let task_ms = flags.u64("task-ms", 200)?;
    let fraction = match flags.get("slow-fraction").map(str::trim) {
        None => 0.05,
        Some(v) => match v.parse::<f64>() {
            Ok(f) if (0.0..=1.0).contains(&f) => f,
            _ => bail!("Stragglers: invalid value for --slow-fraction: {v:?} (expected 0 to 1)"),
        },
    };
    let slow_factor = flags.u64("slow-factor", 10)?;
    let kind = match flags.get("work").map(str::trim) {
        None | Some("sleep") => WorkKind::Sleep,
        Some("cpu") => WorkKind::Cpu,
        Some(other) => {
            bail!("Stragglers: invalid value for --work: {other:?} (expected sleep or cpu)")
        }
    };
    if tasks == 0 || tasks > u64::from(u32::MAX) {
        bail!(
            "Stragglers: invalid value for --tasks: {tasks} (expected 1 to {})",
            u32::MAX
        );
    }
    let slow = slow_tasks(tasks, fraction);
    let work = Straggle {
        ms: task_ms,
        slow_from: (tasks - slow) as i64,
        slow_factor,
        kind,
    };
    let data: Vec<i64> = (0..tasks as i64).collect();
    let expected = (0..tasks as i64).sum::<i64>();
    let started = Instant::now();
    let answer = sc.parallelize(data, Some(tasks as u32)).map(work).sum()?;
    let ms = started.elapsed().as_millis();
    println!(
        "stragglers: {tasks} tasks of {task_ms} ms, the last {slow} {slow_factor}x slower on \
         their first attempt: answer {answer} (expected {expected}) in {ms} ms"
    );
    if answer != expected {
        bail!("Stragglers: answered {answer} but the answer is {expected}");
    }
    Ok(())
}
