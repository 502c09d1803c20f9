//! Execution memory: what a task's shuffle writes, aggregations, sorts and joins
//! may hold before they spill (Spark's `UnifiedMemoryManager` and `Spillable`).
//!
//! An executor has one [MemoryManager]: Spark's unified region, (executor memory −
//! 300 MiB) × `spark.memory.fraction`, shared by storage (the cached partitions, which
//! are never evicted here, so execution gets what they leave) and the execution memory
//! of the tasks running at once. As in Spark's `ExecutionMemoryPool`, a task may hold
//! at most 1/N of what is left for execution when N tasks hold memory, and an asking
//! task that would have less than 1/2N waits for others to release some.
//!
//! Each task has a [TaskMemory]: its share of the pool, its spill directory (removed
//! when the task ends, whatever state it ends in) and its spill metrics. Each of its
//! memory-hungry structures is a [Spillable] consumer: it starts with a small
//! threshold taken for free (Spark's `spark.shuffle.spill.initialMemoryThreshold`, 5
//! MiB), asks for twice its size whenever it outgrows what it holds, and spills when
//! the pool says no; `spark.shuffle.spill.numElementsForceSpillThreshold` makes it
//! spill after that many elements whatever the memory.

use am_core::plan::SpillMetrics;
use common::resource::ExecutorMemory;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Spark's `spark.shuffle.spill.initialMemoryThreshold`.
const INITIAL_THRESHOLD: u64 = 5 << 20;

/// How often a consumer checks its size against its threshold (Spark: every 32
/// elements), so the check costs nothing per element.
const CHECK_EVERY: u64 = 32;

/// The longest a task waits for its 1/2N share before it takes what is free (which
/// makes its consumers spill): a bound against a pool that storage keeps full.
const MAX_WAIT: Duration = Duration::from_secs(5);

/// Spark's `spark.reducer.maxSizeInFlight` default.
const DEFAULT_IN_FLIGHT: u64 = 48 << 20;

/// An executor's unified memory region and the execution memory its tasks hold.
#[derive(Debug)]
pub struct MemoryManager {
    /// The unified region's bytes (execution and storage).
    size: u64,
    /// Bytes of the cached partitions (kept by the block cache).
    storage: Arc<AtomicU64>,
    /// Execution bytes held, by task attempt.
    tasks: Mutex<HashMap<u64, u64>>,
    released: Condvar,
    force_spill_elements: Option<u64>,
    max_bytes_in_flight: u64,
    /// Where tasks make their spill directories.
    spill_root: PathBuf,
    /// Task ids for runners that have none (local runs and tests).
    next_local_task: AtomicU64,
}

impl MemoryManager {
    /// An executor's manager under `settings`; spill files go under `spill_root`;
    /// `storage` is the block cache's byte count.
    pub fn new(settings: ExecutorMemory, spill_root: PathBuf, storage: Arc<AtomicU64>) -> Self {
        Self {
            size: settings.unified_pool_bytes,
            storage,
            tasks: Mutex::default(),
            released: Condvar::new(),
            force_spill_elements: settings.force_spill_elements,
            max_bytes_in_flight: settings.max_bytes_in_flight.max(1),
            spill_root,
            next_local_task: AtomicU64::new(1 << 62),
        }
    }

    /// No limit (the forced-spill threshold aside): for in-process runs that did not
    /// say otherwise. Spills, if forced, go under the system's temp dir.
    pub fn unbounded(force_spill_elements: Option<u64>) -> Self {
        let settings = ExecutorMemory {
            unified_pool_bytes: u64::MAX / 4,
            force_spill_elements,
            max_bytes_in_flight: DEFAULT_IN_FLIGHT,
        };
        Self::new(
            settings,
            std::env::temp_dir().join("spindle-spill"),
            Arc::default(),
        )
    }

    /// The unified region's bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Execution bytes held by all tasks.
    pub fn execution_used(&self) -> u64 {
        self.lock().values().sum()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, u64>> {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What execution may use: the region less the cached partitions.
    fn execution_pool(&self) -> u64 {
        self.size
            .saturating_sub(self.storage.load(Ordering::Relaxed))
    }

    /// The memory of task attempt `task_id` (unique among the executor's tasks).
    pub fn task(self: &Arc<Self>, task_id: u64) -> Arc<TaskMemory> {
        Arc::new(TaskMemory {
            manager: self.clone(),
            task: task_id,
            dir: self
                .spill_root
                .join(format!("task-{task_id}-{}", std::process::id())),
            dir_made: AtomicBool::new(false),
            next_file: AtomicU64::new(0),
            metrics: Mutex::default(),
        })
    }

    /// The memory of a task that has no id of its own (in-process runs).
    pub fn local_task(self: &Arc<Self>) -> Arc<TaskMemory> {
        let id = self.next_local_task.fetch_add(1, Ordering::Relaxed);
        self.task(id)
    }

    /// Spark's `ExecutionMemoryPool.acquireMemory`: up to `want` bytes for `task`,
    /// never more than 1/N of the pool; waits while the task would have less than 1/2N.
    fn acquire(&self, task: u64, want: u64) -> u64 {
        let mut tasks = self.lock();
        if let std::collections::hash_map::Entry::Vacant(e) = tasks.entry(task) {
            e.insert(0);
            // A new task changes everyone's share.
            self.released.notify_all();
        }
        let mut waited = Duration::ZERO;
        loop {
            let active = tasks.len() as u64;
            let pool = self.execution_pool();
            let used: u64 = tasks.values().sum();
            let held = tasks[&task];
            let free = pool.saturating_sub(used);
            let max_grant = want.min((pool / active).saturating_sub(held));
            let grant = max_grant.min(free);
            if grant < want && held + grant < pool / (2 * active) && waited < MAX_WAIT {
                let step = Duration::from_millis(50);
                tasks = self
                    .released
                    .wait_timeout(tasks, step)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
                waited += step;
                continue;
            }
            *tasks.get_mut(&task).expect("registered above") += grant;
            return grant;
        }
    }

    fn release(&self, task: u64, bytes: u64) {
        let mut tasks = self.lock();
        if let Some(held) = tasks.get_mut(&task) {
            *held = held.saturating_sub(bytes);
        }
        self.released.notify_all();
    }

    fn release_all(&self, task: u64) {
        self.lock().remove(&task);
        self.released.notify_all();
    }
}

/// One task attempt's memory, spill directory and spill metrics. Dropping it (the
/// task ended) gives its memory back and removes its spill files.
#[derive(Debug)]
pub struct TaskMemory {
    manager: Arc<MemoryManager>,
    task: u64,
    dir: PathBuf,
    dir_made: AtomicBool,
    next_file: AtomicU64,
    metrics: Mutex<SpillMetrics>,
}

impl TaskMemory {
    /// Asks for `bytes` of execution memory; returns how many were granted.
    pub(crate) fn acquire(&self, bytes: u64) -> u64 {
        self.manager.acquire(self.task, bytes)
    }

    /// Gives back `bytes` acquired earlier.
    pub(crate) fn release(&self, bytes: u64) {
        if bytes > 0 {
            self.manager.release(self.task, bytes);
        }
    }

    pub(crate) fn force_spill_elements(&self) -> Option<u64> {
        self.manager.force_spill_elements
    }

    /// How many shuffle bytes a reduce task fetches at once.
    pub(crate) fn max_bytes_in_flight(&self) -> u64 {
        self.manager.max_bytes_in_flight
    }

    /// A new spill file in the task's directory, open for writing.
    pub(crate) fn create_spill_file(&self) -> Result<(PathBuf, File), String> {
        if !self.dir_made.swap(true, Ordering::AcqRel) {
            std::fs::create_dir_all(&self.dir)
                .map_err(|e| format!("cannot make spill dir {}: {e}", self.dir.display()))?;
        }
        let n = self.next_file.fetch_add(1, Ordering::Relaxed);
        let path = self.dir.join(format!("spill-{n}"));
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(&path)
            .map_err(|e| format!("cannot create spill file {}: {e}", path.display()))?;
        Ok((path, f))
    }

    /// Counts one spill: its estimated in-memory size and the bytes written.
    pub(crate) fn record_spill(&self, memory_bytes: u64, disk_bytes: u64) {
        let mut m = self.metrics.lock().unwrap_or_else(|e| e.into_inner());
        m.spills += 1;
        m.memory_bytes_spilled += memory_bytes;
        m.disk_bytes_spilled += disk_bytes;
    }

    /// What the task spilled so far.
    pub fn metrics(&self) -> SpillMetrics {
        *self.metrics.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The task's spill directory (made on the first spill).
    pub fn spill_dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for TaskMemory {
    fn drop(&mut self) {
        self.manager.release_all(self.task);
        if self.dir_made.load(Ordering::Acquire) {
            if let Err(e) = std::fs::remove_dir_all(&self.dir) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(dir = %self.dir.display(), error = %e, "removing spill dir");
                }
            }
        }
    }
}

/// A memory-hungry structure's bookkeeping (Spark's `Spillable`): when to spill, and
/// the memory it holds from the pool.
#[derive(Debug)]
pub(crate) struct Spillable {
    mem: Arc<TaskMemory>,
    /// The size it may grow to before asking for more.
    threshold: u64,
    /// What it holds from the pool (the threshold less the free initial part).
    acquired: u64,
    /// Elements since the last spill.
    elements: u64,
    initial: u64,
}

impl Spillable {
    pub(crate) fn new(mem: Arc<TaskMemory>) -> Self {
        // A small region gets a smaller free start, so that it is still what bounds.
        let initial = INITIAL_THRESHOLD.min(mem.manager.size / 8).max(1);
        Self {
            mem,
            threshold: initial,
            acquired: 0,
            elements: 0,
            initial,
        }
    }

    pub(crate) fn memory(&self) -> &Arc<TaskMemory> {
        &self.mem
    }

    /// One more element, the structure now `current` bytes: whether to spill now.
    #[inline]
    pub(crate) fn should_spill(&mut self, current: u64) -> bool {
        self.elements += 1;
        if self.forced() {
            return true;
        }
        if !self.elements.is_multiple_of(CHECK_EVERY) || current < self.threshold {
            return false;
        }
        self.grow(current)
    }

    /// `n` more elements at once (a fetched block), the structure now `current`
    /// bytes: whether to spill now.
    pub(crate) fn should_spill_after(&mut self, n: u64, current: u64) -> bool {
        self.elements += n;
        self.forced() || self.grow(current)
    }

    /// Whether spills are forced by element count (so elements must be counted).
    pub(crate) fn forcing(&self) -> bool {
        self.mem.force_spill_elements().is_some()
    }

    fn forced(&self) -> bool {
        self.mem
            .force_spill_elements()
            .is_some_and(|n| self.elements > n)
    }

    /// Asks the pool for room for `current` bytes (twice, as Spark); whether it
    /// must spill instead.
    pub(crate) fn grow(&mut self, current: u64) -> bool {
        if current < self.threshold {
            return false;
        }
        let want = 2 * current - self.threshold;
        let got = self.mem.acquire(want);
        self.threshold += got;
        self.acquired += got;
        current >= self.threshold
    }

    /// The structure spilled `memory_bytes` (estimated) into `disk_bytes`: its memory
    /// goes back to the pool.
    pub(crate) fn spilled(&mut self, memory_bytes: u64, disk_bytes: u64) {
        self.mem.record_spill(memory_bytes, disk_bytes);
        self.mem.release(self.acquired);
        self.acquired = 0;
        self.threshold = self.initial;
        self.elements = 0;
    }
}

impl Drop for Spillable {
    fn drop(&mut self) {
        self.mem.release(self.acquired);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manager(pool: u64) -> Arc<MemoryManager> {
        let dir = tempfile::tempdir().unwrap().keep();
        Arc::new(MemoryManager::new(
            ExecutorMemory {
                unified_pool_bytes: pool,
                force_spill_elements: None,
                max_bytes_in_flight: 1 << 20,
            },
            dir,
            Arc::default(),
        ))
    }

    #[test]
    fn tasks_share_the_pool_and_storage_comes_first() {
        let m = manager(1000);
        let a = m.task(1);
        assert_eq!(a.acquire(600), 600, "alone, a task may take it all");
        let b = m.task(2);
        // b's 1/2N (250) is free: granted at once, but never past 1/N (500).
        assert_eq!(b.acquire(300), 300);
        assert_eq!(b.acquire(300), 100, "only what is free");
        a.release(600);
        assert_eq!(b.acquire(300), 100, "capped at 1/N");
        assert_eq!(m.execution_used(), 500);
        drop(b);
        assert_eq!(m.execution_used(), 0);
        // Cached partitions are not evicted: execution gets what they leave.
        m.storage.store(900, Ordering::Relaxed);
        assert_eq!(a.acquire(500), 100);
    }

    #[test]
    fn a_task_below_its_half_share_waits_for_a_release() {
        let m = manager(1000);
        let a = m.task(1);
        assert_eq!(a.acquire(1000), 1000);
        let b = m.task(2);
        let waiter = std::thread::spawn(move || b.acquire(200));
        std::thread::sleep(Duration::from_millis(100));
        a.release(400);
        assert_eq!(waiter.join().unwrap(), 200);
    }

    #[test]
    fn consumers_ask_for_double_and_spill_when_refused() {
        let m = manager(64 << 20);
        let t = m.task(7);
        let mut s = Spillable::new(t.clone());
        assert_eq!(s.initial, 5 << 20);
        // Under the free start: no asking.
        assert!(!s.grow(4 << 20));
        assert_eq!(m.execution_used(), 0);
        // 6 MiB: asks for 2 × 6 − 5 = 7 MiB, gets it.
        assert!(!s.grow(6 << 20));
        assert_eq!(m.execution_used(), 7 << 20);
        // 100 MiB: the pool has 57 MiB more, not enough.
        assert!(s.grow(100 << 20));
        assert_eq!(m.execution_used(), 64 << 20);
        s.spilled(100 << 20, 10);
        assert_eq!(m.execution_used(), 0);
        assert_eq!(
            t.metrics(),
            SpillMetrics {
                spills: 1,
                memory_bytes_spilled: 100 << 20,
                disk_bytes_spilled: 10,
            }
        );
    }

    #[test]
    fn spill_files_go_with_the_task() {
        let m = manager(1 << 20);
        let t = m.task(3);
        let (path, _f) = t.create_spill_file().unwrap();
        assert!(path.starts_with(t.spill_dir()));
        assert!(path.exists());
        let dir = t.spill_dir().to_path_buf();
        drop(t);
        assert!(!dir.exists());
    }
}
