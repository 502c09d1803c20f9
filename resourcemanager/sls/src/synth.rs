//! The synthetic workload: `--apps` stream applications of `--containers-per-app`
//! containers each, running uniform random durations, all at t=0 or arriving at a rate.

use crate::error::SlsError;
use crate::workload::{AmType, Job, Task};
use common::Resource;
use std::collections::BTreeMap;

/// The generator's settings (the `--apps ...` options), validated by [`Synthetic::check`].
#[derive(Debug, Clone, PartialEq)]
pub struct Synthetic {
    pub apps: u32,
    pub containers_per_app: u32,
    /// Uniform container durations, `low..=high` ms.
    pub container_ms: (u64, u64),
    pub container: Resource,
    /// Applications per second (Poisson arrivals); `None`: every app at t=0.
    pub arrival_rate: Option<f64>,
    /// Apps go to these queues in turn.
    pub queues: Vec<String>,
    pub seed: u64,
}

impl Default for Synthetic {
    fn default() -> Self {
        Self {
            apps: 100,
            containers_per_app: 10,
            container_ms: (1000, 10_000),
            container: Resource::new(1024, 1),
            arrival_rate: None,
            queues: vec!["default".into()],
            seed: 1,
        }
    }
}

/// `LOW-HIGH` milliseconds (`--container-ms 2000-20000`).
pub fn parse_range(s: &str) -> Result<(u64, u64), String> {
    let (lo, hi) = s
        .split_once('-')
        .ok_or_else(|| format!("{s:?} is not LOW-HIGH (e.g. 2000-20000)"))?;
    let num = |v: &str| {
        v.trim()
            .parse::<u64>()
            .map_err(|_| format!("{v:?} in {s:?} is not a whole number of milliseconds"))
    };
    Ok((num(lo)?, num(hi)?))
}

fn bad(option: &'static str, reason: impl Into<String>) -> SlsError {
    SlsError::Option {
        option,
        reason: reason.into(),
    }
}

impl Synthetic {
    pub fn check(&self) -> Result<(), SlsError> {
        if self.apps == 0 {
            return Err(bad("apps", "must be at least 1"));
        }
        if self.containers_per_app == 0 {
            return Err(bad("containers-per-app", "must be at least 1"));
        }
        let (lo, hi) = self.container_ms;
        if lo == 0 || hi < lo {
            return Err(bad(
                "container-ms",
                format!("{lo}-{hi}: LOW must be above 0 and HIGH at least LOW"),
            ));
        }
        if self.container.memory_mb == 0 {
            return Err(bad("container-mb", "must be above 0"));
        }
        if self.container.vcores == 0 {
            return Err(bad("container-vcores", "must be above 0"));
        }
        if let Some(r) = self.arrival_rate {
            if !(r.is_finite() && r > 0.0) {
                return Err(bad("arrival-rate", format!("{r} is not above 0")));
            }
        }
        if self.queues.is_empty() || self.queues.iter().any(|q| q.is_empty()) {
            return Err(bad("queue", "names a queue (repeatable)"));
        }
        Ok(())
    }

    /// The jobs, in submission order.
    pub fn jobs(&self) -> Vec<Job> {
        let mut rng = SplitMix(self.seed);
        let mut t = 0.0f64;
        (0..self.apps)
            .map(|i| {
                if let Some(rate) = self.arrival_rate {
                    // Exponential gaps: a Poisson stream of arrivals.
                    t += -(1.0 - rng.unit()).ln() / rate * 1000.0;
                }
                let (lo, hi) = self.container_ms;
                let tasks = (0..self.containers_per_app)
                    .map(|_| Task {
                        duration_ms: lo + rng.below(hi - lo + 1),
                        resource: self.container,
                        host: None,
                        priority: 20,
                        reduce: false,
                    })
                    .collect();
                Job {
                    name: format!("synthetic-{i}"),
                    am_type: AmType::Stream,
                    start_ms: t as u64,
                    queue: self.queues[i as usize % self.queues.len()].clone(),
                    user: "sls".into(),
                    tasks,
                    spark_conf: BTreeMap::new(),
                }
            })
            .collect()
    }
}

/// A small deterministic generator (SplitMix64): the same seed, the same workload.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix(pub(crate) u64);

impl SplitMix {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// In `0..n` (n > 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// In `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_bad_ones_are_named() {
        assert_eq!(parse_range("2000-20000"), Ok((2000, 20000)));
        assert!(parse_range("2000").unwrap_err().contains("LOW-HIGH"));
        assert!(parse_range("a-3").unwrap_err().contains("\"a\""));
    }

    #[test]
    fn durations_stay_in_range_and_the_seed_decides() {
        let s = Synthetic {
            apps: 5,
            containers_per_app: 50,
            container_ms: (100, 200),
            arrival_rate: Some(2.0),
            queues: vec!["a".into(), "b".into()],
            ..Synthetic::default()
        };
        let jobs = s.jobs();
        assert_eq!(jobs.len(), 5);
        assert!(jobs
            .iter()
            .flat_map(|j| &j.tasks)
            .all(|t| (100..=200).contains(&t.duration_ms)));
        assert_eq!(jobs[1].queue, "b");
        assert!(jobs.windows(2).all(|w| w[0].start_ms <= w[1].start_ms));
        assert!(jobs[4].start_ms > 0, "arrivals spread out");
        assert_eq!(jobs, s.jobs());
        let other = Synthetic {
            seed: 2,
            ..s.clone()
        };
        assert_ne!(jobs, other.jobs());
    }

    #[test]
    fn bad_settings_name_their_option() {
        let cases = [
            (
                Synthetic {
                    container_ms: (10, 5),
                    ..Synthetic::default()
                },
                "--container-ms",
            ),
            (
                Synthetic {
                    arrival_rate: Some(0.0),
                    ..Synthetic::default()
                },
                "--arrival-rate",
            ),
            (
                Synthetic {
                    apps: 0,
                    ..Synthetic::default()
                },
                "--apps",
            ),
        ];
        for (s, option) in cases {
            let e = s.check().unwrap_err().to_string();
            assert!(e.starts_with(option), "{e}");
        }
        assert!(Synthetic::default().check().is_ok());
    }
}
