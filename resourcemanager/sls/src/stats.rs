//! What a run measured, and the summary printed from it.

use std::fmt::Write as _;

/// One queue at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueUse {
    pub path: String,
    /// Share of the cluster it holds, percent.
    pub used_pct: f64,
    /// Its guarantee (absolute capacity), percent of the cluster.
    pub guarantee_pct: f64,
}

/// Per-queue use at one simulated time.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueSample {
    pub t_ms: u64,
    pub queues: Vec<QueueUse>,
}

#[derive(Debug, Default)]
pub struct Stats {
    /// Containers allocated, AM containers included.
    pub allocations: u64,
    /// Ask → allocation, simulated ms, one per container.
    pub latencies_ms: Vec<u64>,
    /// Real time the RM core took per node heartbeat, ns.
    pub heartbeat_ns: Vec<u64>,
    /// Containers taken back by preemption (-102 seen by AMs).
    pub preempted: u64,
    pub queue_samples: Vec<QueueSample>,
    pub apps_finished: usize,
    /// Simulated time when the last app finished.
    pub end_ms: u64,
    /// (app name, queue, submitted, finished) per app, simulated ms.
    pub apps: Vec<(String, String, u64, u64)>,
}

/// The `p`-quantile (0..=1) of `v` (reordered), or 0 when empty.
pub fn quantile(v: &mut [u64], p: f64) -> u64 {
    if v.is_empty() {
        return 0;
    }
    let i = ((v.len() - 1) as f64 * p).round() as usize;
    *v.select_nth_unstable(i).1
}

/// CPU seconds (user + system) this process has used so far.
pub fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct it is given and reads nothing else.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    if rc != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// The figures of a run, as printed.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub allocations: u64,
    pub cpu_s: f64,
    pub sim_s: f64,
    pub latency_median_ms: u64,
    pub latency_p99_ms: u64,
    pub heartbeats: usize,
    pub heartbeat_p99_ms: f64,
    pub heartbeat_median_ms: f64,
    pub preempted: u64,
    pub apps_finished: usize,
    /// Per queue: (path, guarantee %, mean use %, peak use %).
    pub queues: Vec<(String, f64, f64, f64)>,
}

impl Summary {
    pub fn new(stats: &mut Stats, cpu_s: f64) -> Self {
        let median = quantile(&mut stats.latencies_ms, 0.5);
        let p99 = quantile(&mut stats.latencies_ms, 0.99);
        let hb50 = quantile(&mut stats.heartbeat_ns, 0.5) as f64 / 1e6;
        let hb99 = quantile(&mut stats.heartbeat_ns, 0.99) as f64 / 1e6;
        let mut queues: Vec<(String, f64, f64, f64)> = Vec::new();
        if let Some(first) = stats.queue_samples.first() {
            for (i, q) in first.queues.iter().enumerate() {
                let uses: Vec<f64> = stats
                    .queue_samples
                    .iter()
                    .filter_map(|s| s.queues.get(i).map(|u| u.used_pct))
                    .collect();
                let mean = uses.iter().sum::<f64>() / uses.len().max(1) as f64;
                let peak = uses.iter().copied().fold(0.0, f64::max);
                queues.push((q.path.clone(), q.guarantee_pct, mean, peak));
            }
        }
        Self {
            allocations: stats.allocations,
            cpu_s,
            sim_s: stats.end_ms as f64 / 1000.0,
            latency_median_ms: median,
            latency_p99_ms: p99,
            heartbeats: stats.heartbeat_ns.len(),
            heartbeat_p99_ms: hb99,
            heartbeat_median_ms: hb50,
            preempted: stats.preempted,
            apps_finished: stats.apps_finished,
            queues,
        }
    }

    /// Allocations per CPU second, whole.
    pub fn allocations_per_s(&self) -> u64 {
        (self.allocations as f64 / self.cpu_s.max(1e-6)) as u64
    }

    /// The printed summary; its last two lines are the contract
    /// (`allocations/s: N`, `scheduler p99 heartbeat handling: X ms`).
    pub fn text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "simulated {:.1} s: {} applications finished, {} containers allocated, {} preempted",
            self.sim_s, self.apps_finished, self.allocations, self.preempted
        );
        let _ = writeln!(
            s,
            "ask to allocation (simulated time): median {} ms, p99 {} ms",
            self.latency_median_ms, self.latency_p99_ms
        );
        for (path, guarantee, mean, peak) in &self.queues {
            let _ = writeln!(
                s,
                "queue {path}: guarantee {guarantee:.1}%, mean use {mean:.1}%, peak {peak:.1}%"
            );
        }
        let _ = writeln!(
            s,
            "node heartbeats handled: {} (median {:.3} ms)",
            self.heartbeats, self.heartbeat_median_ms
        );
        let _ = writeln!(s, "cpu (user+system): {:.2} s", self.cpu_s);
        let _ = writeln!(s, "allocations/s: {}", self.allocations_per_s());
        let _ = writeln!(
            s,
            "scheduler p99 heartbeat handling: {:.3} ms",
            self.heartbeat_p99_ms
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_pick_from_the_sorted_order() {
        let mut v: Vec<u64> = (1..=100).rev().collect();
        assert_eq!(quantile(&mut v, 0.5), 51);
        assert_eq!(quantile(&mut v, 0.99), 99);
        assert_eq!(quantile(&mut [], 0.5), 0);
    }

    #[test]
    fn the_contract_lines_come_last() {
        let s = Summary {
            allocations: 1000,
            cpu_s: 0.5,
            sim_s: 1.0,
            latency_median_ms: 1,
            latency_p99_ms: 2,
            heartbeats: 3,
            heartbeat_p99_ms: 0.25,
            heartbeat_median_ms: 0.1,
            preempted: 0,
            apps_finished: 1,
            queues: vec![],
        };
        let text = s.text();
        let last: Vec<&str> = text.lines().rev().take(2).collect();
        assert_eq!(
            last,
            [
                "scheduler p99 heartbeat handling: 0.250 ms",
                "allocations/s: 2000"
            ]
        );
        assert!(cpu_seconds() > 0.0);
    }
}
