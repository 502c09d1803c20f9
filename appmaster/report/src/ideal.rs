//! The best a run of the `Bursty` workload can do under Spark's allocation rules (or Spindle's
//! eager policy): what a measured run is compared against.
//!
//! `Bursty --jobs J --tasks T --task-ms D --gap-ms G` runs J jobs one after the other, each of
//! T tasks of D ms, the driver sleeping G ms between one job's end and the next job's start.
//! The ideal run is that workload on a cluster where everything that is not a task takes no
//! time: an executor runs from the moment the allocation manager's target asks for it, tasks
//! start the moment a slot is free, and the allocation manager's timers fire exactly when
//! they expire (Spark polls every 100 ms). What is left is what Spark's rules themselves cost.
//!
//! **Static** (`N` executors of `s` slots): the executors are there when the first job starts
//! and stay to the end; each job takes `ceil(T / (N s)) × D`, so job time is `J` times that and
//! executor-seconds are `N × (job time + (J − 1) G)`.
//!
//! **Dynamic** (Spark's `ExecutorAllocationManager`): simulated event by event with these
//! rules:
//! - the application starts with `initialExecutors` (the target stays there until the first
//!   stage is submitted);
//! - when a stage is submitted with tasks to run, the backlog timer is armed
//!   (`schedulerBacklogTimeout`); when it fires, the target becomes
//!   `max(target, executors) + toAdd`, capped by the executors the pending and running tasks
//!   could use (`ceil((pending + running) × executorAllocationRatio / s)`) and by
//!   `maxExecutors`; `toAdd` doubles after a fully granted step (1, 2, 4, ...) and the timer is
//!   re-armed with `sustainedSchedulerBacklogTimeout`. When every task of the stage has
//!   started, the timer is disarmed and `toAdd` goes back to 1;
//! - when the tasks need fewer executors than the target, the target drops to that (at least
//!   `minExecutors`);
//! - an executor that has run no task for `executorIdleTimeout` is removed, unless that would
//!   take the executors below `minExecutors` or below the target;
//! - when the last job ends the application ends, and its executors with it.
//!
//! For `--jobs 2 --tasks 32 --task-ms 500 --gap-ms 20000` with 1-slot executors, static 2
//! against dynamic min 0 / max 2 / initial 1 / idle timeout 5 s / backlog timeout 1 s this
//! gives: static, two 8 s jobs, 36 s × 2 executors = 72 executor-seconds. Dynamic, job 1:
//! one executor runs 2 tasks in the first second, then the timer adds the second and the
//! remaining 30 tasks take 7.5 s (8.5 s); both executors are removed 5 s after it. Job 2
//! starts 20 s after job 1 with no executor: one after the 1 s backlog timeout, a second one
//! second later (the sustained timeout), the first has run 2 tasks by then, and the last 30
//! take 7.5 s (9.5 s); the application ends with it. Executor-seconds: 13.5 + 12.5 + 8.5 +
//! 7.5 = 42, so 42 / 72 = 0.58 of static's at 18 / 16 = 1.125× the job time.
//!
//! **Eager** (`spindle.dynamicAllocation.policy=eager`), simulated the same way: after the
//! first stage is submitted the target is, at every event, what the pending and running tasks
//! could use (capped by `maxExecutors`, at least `minExecutors`), with no timer and no ramp;
//! an executor idle for the eager idle timeout is removed under the same floors. With zero
//! start-up cost the measured start latency is 0, so the timeout is its 100 ms minimum (or
//! `spindle.dynamicAllocation.eager.idleTimeout`). The same workload gives: each job 8 s on
//! 2 executors, both removed 100 ms after each job (the first one idle from the start until
//! the first job, 0 s here): (8.1 + 8) × 2 = 32.2 executor-seconds, 0.45 of static's at 1.0×
//! the job time.

use am_core::allocation::{AllocationConfig, AllocationPolicy};

/// The `Bursty` example's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bursty {
    pub jobs: u32,
    pub tasks: u32,
    pub task_ms: u64,
    pub gap_ms: u64,
}

impl Bursty {
    /// From `Bursty`'s arguments (`--jobs J --tasks T --task-ms D --gap-ms G`, `--flag=value`
    /// too), with its defaults for flags not given; `None` for arguments it would refuse.
    pub fn from_args(args: &[String]) -> Option<Self> {
        let mut w = Self {
            jobs: 3,
            tasks: 10,
            task_ms: 500,
            gap_ms: 5000,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let (flag, value) = match a.split_once('=') {
                Some((f, v)) => (f.to_string(), v.to_string()),
                None => (a.clone(), it.next()?.clone()),
            };
            let v = value.trim();
            match flag.as_str() {
                "--jobs" => w.jobs = v.parse().ok()?,
                "--tasks" => w.tasks = v.parse().ok()?,
                "--task-ms" => w.task_ms = v.parse().ok()?,
                "--gap-ms" => w.gap_ms = v.parse().ok()?,
                "--work" => {}
                _ => return None,
            }
        }
        (w.tasks > 0).then_some(w)
    }
}

/// The ideal run's figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ideal {
    /// First job's start → last job's end.
    pub wall_ms: u64,
    /// Sum of the jobs' durations.
    pub job_ms: u64,
    pub executor_ms: u64,
    pub idle_executor_ms: u64,
    pub peak_executors: u32,
}

impl Ideal {
    pub fn executor_s(&self) -> f64 {
        self.executor_ms as f64 / 1000.0
    }
}

/// `executors` executors of `slots` slots each, held throughout.
pub fn static_run(w: &Bursty, executors: u32, slots: u32) -> Ideal {
    let mut sim = Sim::new(*w, slots.max(1), None);
    for _ in 0..executors {
        sim.spawn(0);
    }
    sim.run()
}

/// Under dynamic allocation with these settings (Spark's rules, or the eager policy when
/// `c.policy` says so).
pub fn dynamic_run(w: &Bursty, c: &AllocationConfig) -> Ideal {
    let eager = c.policy == AllocationPolicy::Eager;
    let slots = (c.executor_cores / c.task_cpus.max(1)).max(1) as u32;
    let initial = c.initial_num_executors().max(0);
    let mut sim = Sim::new(
        *w,
        slots,
        Some(Manager {
            target: initial,
            to_add: 1,
            add_time: None,
            initializing: true,
            min: c.min_executors,
            max: c.max_executors,
            ratio: c.executor_allocation_ratio,
            backlog_ms: c.scheduler_backlog_timeout_ms.max(0) as u64,
            sustained_ms: c.sustained_scheduler_backlog_timeout_ms.max(0) as u64,
            idle_ms: if eager {
                // Zero start-up cost: a measured start latency of 0.
                Some(c.eager_executor_idle_timeout_ms(Some(0)))
            } else {
                c.executor_idle_timeout_ms.map(|v| v.max(0) as u64)
            },
            eager,
        }),
    );
    for _ in 0..initial {
        sim.spawn(0);
    }
    sim.run()
}

struct Manager {
    target: i64,
    to_add: i64,
    add_time: Option<u64>,
    initializing: bool,
    min: i64,
    max: i64,
    ratio: f64,
    backlog_ms: u64,
    sustained_ms: u64,
    idle_ms: Option<u64>,
    /// The eager policy: the target is what the tasks need at every event.
    eager: bool,
}

struct Exec {
    start: u64,
    end: Option<u64>,
    /// Each slot's task end, if busy.
    slots: Vec<Option<u64>>,
    idle_since: u64,
    busy_ms: u64,
    busy_since: Option<u64>,
}

impl Exec {
    fn running(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }
}

struct Sim {
    w: Bursty,
    slots: u32,
    mgr: Option<Manager>,
    execs: Vec<Exec>,
    pending: u32,
    running: u32,
    jobs_done: u32,
    job_start: Option<u64>,
    next_job_at: Option<u64>,
    job_ms: u64,
}

impl Sim {
    fn new(w: Bursty, slots: u32, mgr: Option<Manager>) -> Self {
        Self {
            w,
            slots,
            mgr,
            execs: Vec::new(),
            pending: 0,
            running: 0,
            jobs_done: 0,
            job_start: None,
            next_job_at: Some(0),
            job_ms: 0,
        }
    }

    fn spawn(&mut self, t: u64) {
        self.execs.push(Exec {
            start: t,
            end: None,
            slots: vec![None; self.slots as usize],
            idle_since: t,
            busy_ms: 0,
            busy_since: None,
        });
    }

    fn live(&self) -> i64 {
        self.execs.iter().filter(|e| e.end.is_none()).count() as i64
    }

    fn finish_tasks(&mut self, t: u64) {
        for e in self.execs.iter_mut().filter(|e| e.end.is_none()) {
            for s in e.slots.iter_mut() {
                if s.is_some_and(|end| end <= t) {
                    *s = None;
                    self.running -= 1;
                }
            }
            if e.running() == 0 {
                if let Some(since) = e.busy_since.take() {
                    e.busy_ms += t - since;
                    e.idle_since = t;
                }
            }
        }
    }

    fn schedule(&mut self, t: u64) {
        for e in self.execs.iter_mut().filter(|e| e.end.is_none()) {
            for s in e.slots.iter_mut() {
                if self.pending == 0 {
                    break;
                }
                if s.is_none() {
                    *s = Some(t + self.w.task_ms);
                    self.pending -= 1;
                    self.running += 1;
                    e.busy_since.get_or_insert(t);
                    if self.pending == 0 {
                        if let Some(m) = self.mgr.as_mut().filter(|m| !m.eager) {
                            // onSchedulerQueueEmpty
                            m.add_time = None;
                            m.to_add = 1;
                        }
                    }
                }
            }
        }
    }

    /// One allocation-manager round at `t`: target update, idle removals, new executors.
    fn manage(&mut self, t: u64) {
        let live = self.live();
        let needed = ((f64::from(self.pending + self.running)) * self.mgr_ratio()
            / f64::from(self.slots))
        .ceil() as i64;
        let Some(m) = self.mgr.as_mut() else {
            return;
        };
        if !m.initializing && m.eager {
            m.target = needed.min(m.max).max(m.min);
        } else if !m.initializing {
            if needed < m.target {
                m.target = needed.max(m.min);
                m.to_add = 1;
            } else if m.add_time.is_some_and(|a| t >= a) {
                let old = m.target;
                if old >= m.max {
                    m.to_add = 1;
                } else {
                    let target = (old.max(live) + m.to_add).min(needed).min(m.max).max(m.min);
                    m.target = target;
                    let delta = target - old;
                    if delta == 0 {
                        m.to_add = 1;
                    } else if delta > 0 {
                        m.to_add = if delta == m.to_add { m.to_add * 2 } else { 1 };
                        m.add_time = Some(t + m.sustained_ms);
                    }
                }
            }
        }
        if let Some(idle) = m.idle_ms {
            let mut total = live;
            for e in self.execs.iter_mut().filter(|e| e.end.is_none()) {
                if e.running() == 0 && e.idle_since + idle <= t {
                    if total - 1 < m.min || total - 1 < m.target {
                        continue;
                    }
                    e.end = Some(t);
                    total -= 1;
                }
            }
        }
        let want = m.target - self.live();
        for _ in 0..want.max(0) {
            self.spawn(t);
        }
    }

    fn mgr_ratio(&self) -> f64 {
        self.mgr.as_ref().map_or(1.0, |m| m.ratio)
    }

    fn next_time(&self, t: u64) -> Option<u64> {
        let mut next: Option<u64> = self.next_job_at.filter(|n| *n > t);
        let mut consider = |v: u64| {
            if v > t {
                next = Some(next.map_or(v, |n| n.min(v)));
            }
        };
        for e in self.execs.iter().filter(|e| e.end.is_none()) {
            for end in e.slots.iter().flatten() {
                consider(*end);
            }
            if let Some(idle) = self.mgr.as_ref().and_then(|m| m.idle_ms) {
                if e.running() == 0 {
                    consider(e.idle_since + idle);
                }
            }
        }
        if let Some(m) = &self.mgr {
            if let Some(a) = m.add_time {
                consider(a);
            }
        }
        next
    }

    fn run(mut self) -> Ideal {
        let mut t = 0u64;
        let mut end = 0u64;
        // Bounded: every step moves time forward to an event.
        for _ in 0..10_000_000u64 {
            self.finish_tasks(t);
            if self.next_job_at == Some(t) {
                self.next_job_at = None;
                self.job_start = Some(t);
                self.pending = self.w.tasks;
                if let Some(m) = self.mgr.as_mut() {
                    m.initializing = false;
                    // onSchedulerBacklogged (the eager policy has no backlog timer)
                    if !m.eager {
                        m.add_time.get_or_insert(t + m.backlog_ms);
                    }
                }
            }
            self.schedule(t);
            if let (Some(s), 0, 0) = (self.job_start, self.pending, self.running) {
                self.job_ms += t - s;
                self.job_start = None;
                self.jobs_done += 1;
                if self.jobs_done >= self.w.jobs {
                    end = t;
                    break;
                }
                self.next_job_at = Some(t + self.w.gap_ms);
            }
            self.manage(t);
            self.schedule(t);
            match self.next_time(t) {
                Some(n) => t = n,
                None => {
                    end = t;
                    break;
                }
            }
        }
        let mut ideal = Ideal {
            wall_ms: end,
            job_ms: self.job_ms,
            ..Default::default()
        };
        let mut changes: Vec<(u64, i32)> = Vec::new();
        for e in &mut self.execs {
            let stop = e.end.unwrap_or(end).min(end);
            let busy = e.busy_ms + e.busy_since.map_or(0, |s| stop.saturating_sub(s));
            let held = stop.saturating_sub(e.start);
            ideal.executor_ms += held;
            ideal.idle_executor_ms += held.saturating_sub(busy);
            if held > 0 {
                changes.push((e.start, 1));
                changes.push((stop, -1));
            }
        }
        changes.sort_by_key(|(t, d)| (*t, *d));
        let mut n = 0i32;
        for (_, d) in changes {
            n += d;
            ideal.peak_executors = ideal.peak_executors.max(n.max(0) as u32);
        }
        ideal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue_workload() -> Bursty {
        Bursty::from_args(
            &"--jobs 2 --tasks 32 --task-ms 500 --gap-ms 20000 --work sleep"
                .split(' ')
                .map(String::from)
                .collect::<Vec<_>>(),
        )
        .unwrap()
    }

    fn bursty(jobs: u32, tasks: u32, task_ms: u64, gap_ms: u64) -> Bursty {
        Bursty {
            jobs,
            tasks,
            task_ms,
            gap_ms,
        }
    }

    fn dyn_conf(min: i64, max: i64, initial: i64, idle_s: i64) -> AllocationConfig {
        AllocationConfig {
            enabled: true,
            shuffle_tracking_enabled: true,
            min_executors: min,
            max_executors: max,
            initial_executors: Some(initial),
            executor_idle_timeout_ms: Some(idle_s * 1000),
            ..AllocationConfig::default()
        }
    }

    #[test]
    fn args_parse_with_defaults() {
        assert_eq!(issue_workload(), bursty(2, 32, 500, 20000));
        let d = Bursty::from_args(&["--jobs=4".to_string()]).unwrap();
        assert_eq!((d.jobs, d.tasks, d.task_ms, d.gap_ms), (4, 10, 500, 5000));
        assert!(Bursty::from_args(&["--bogus".into(), "1".into()]).is_none());
    }

    #[test]
    fn static_holds_its_executors_throughout() {
        let i = static_run(&issue_workload(), 2, 1);
        assert_eq!(i.job_ms, 16_000);
        assert_eq!(i.wall_ms, 36_000);
        assert_eq!(i.executor_ms, 72_000);
        assert_eq!(i.idle_executor_ms, 72_000 - 32 * 500 * 2);
        assert_eq!(i.peak_executors, 2);
    }

    #[test]
    fn dynamic_matches_the_hand_derivation_in_the_docs() {
        let i = dynamic_run(&issue_workload(), &dyn_conf(0, 2, 1, 5));
        assert_eq!(i.job_ms, 8_500 + 9_500);
        assert_eq!(i.wall_ms, 8_500 + 20_000 + 9_500);
        assert_eq!(i.executor_ms, 13_500 + 12_500 + 8_500 + 7_500);
        assert_eq!(i.peak_executors, 2);
        let s = static_run(&issue_workload(), 2, 1);
        let es = i.executor_ms as f64 / s.executor_ms as f64;
        let jt = i.job_ms as f64 / s.job_ms as f64;
        assert!((es - 0.583).abs() < 0.001, "{es}");
        assert!((jt - 1.125).abs() < 0.001, "{jt}");
    }

    #[test]
    fn eager_matches_the_hand_derivation_in_the_docs() {
        let c = AllocationConfig {
            policy: AllocationPolicy::Eager,
            ..dyn_conf(0, 2, 1, 60)
        };
        let i = dynamic_run(&issue_workload(), &c);
        assert_eq!(i.job_ms, 16_000);
        assert_eq!(i.wall_ms, 8_000 + 20_000 + 8_000);
        assert_eq!(i.executor_ms, (8_100 + 8_000) * 2);
        assert_eq!(i.idle_executor_ms, 2 * 100);
        assert_eq!(i.peak_executors, 2);
        // The override is the timeout.
        let c = AllocationConfig {
            eager_idle_timeout_ms: Some(1_000),
            ..c
        };
        let i = dynamic_run(&issue_workload(), &c);
        assert_eq!(i.executor_ms, (9_000 + 8_000) * 2);
        // minExecutors stay through the gap.
        let c = AllocationConfig {
            min_executors: 1,
            ..c
        };
        let i = dynamic_run(&issue_workload(), &c);
        assert_eq!(i.executor_ms, 36_000 + 9_000 + 8_000);
    }

    #[test]
    fn ramp_doubles_and_min_executors_stay() {
        // 40 tasks, max 8: +1 at 1 s, +2 at 2 s, +4 at 3 s (capped at 8 total).
        let w = bursty(1, 400, 100, 0);
        let i = dynamic_run(&w, &dyn_conf(1, 8, 1, 60));
        assert_eq!(i.peak_executors, 8);
        // With min 1 an idle executor stays through a long gap.
        let w = bursty(2, 1, 100, 10_000);
        let i = dynamic_run(&w, &dyn_conf(1, 2, 1, 1));
        assert_eq!(i.executor_ms, i.wall_ms);
    }
}
