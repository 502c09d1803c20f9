//! The disk health checker (YARN's `LocalDirsHandlerService`): a node whose local or
//! log dir is full or cannot be written is unhealthy, and says why. The RM places no
//! container on an unhealthy node, and `spindle node list` and REST show the reason.

use common::protocol::{ContainerState, ContainerStatus};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One check's verdict: `None` when healthy, else the reason (naming the key and dir).
pub type Health = Option<String>;

/// What the checker needs of a dir's file system (injected, so tests need no full disk).
pub trait DiskProbe: Send + Sync {
    /// Percent of the file system holding `dir` that is in use (as `df` shows it).
    fn used_percent(&self, dir: &Path) -> std::io::Result<f64>;
    /// Creates, writes, syncs and removes a small file in `dir`.
    fn write_probe(&self, dir: &Path) -> std::io::Result<()>;
}

/// The real file system.
pub struct Fs;

impl DiskProbe for Fs {
    fn used_percent(&self, dir: &Path) -> std::io::Result<f64> {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        // SAFETY: `c` is a valid C string and `st` a plain struct the call fills.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: as above; both pointers outlive the call.
        if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // As df: used / (used + available to unprivileged users).
        let used = st.f_blocks.saturating_sub(st.f_bfree) as f64;
        let avail = st.f_bavail as f64;
        if used + avail == 0.0 {
            return Ok(0.0);
        }
        Ok(100.0 * used / (used + avail))
    }

    fn write_probe(&self, dir: &Path) -> std::io::Result<()> {
        use std::io::Write;
        let p = dir.join(".spindle-disk-check");
        let r = std::fs::File::create(&p).and_then(|mut f| {
            f.write_all(b"spindle disk check\n")?;
            f.sync_all()
        });
        let _ = std::fs::remove_file(&p);
        r
    }
}

/// Checks the node's dirs against `max-disk-utilization-percent`.
pub struct DiskChecker {
    dirs: Vec<(&'static str, PathBuf)>,
    max_used_percent: f64,
    probe: Box<dyn DiskProbe>,
}

impl DiskChecker {
    pub fn new(local_dir: &Path, log_dir: &Path, max_used_percent: f64) -> Self {
        Self::with_probe(local_dir, log_dir, max_used_percent, Box::new(Fs))
    }

    pub fn with_probe(
        local_dir: &Path,
        log_dir: &Path,
        max_used_percent: f64,
        probe: Box<dyn DiskProbe>,
    ) -> Self {
        Self {
            dirs: vec![
                ("local-dir", local_dir.to_path_buf()),
                ("log-dir", log_dir.to_path_buf()),
            ],
            max_used_percent,
            probe,
        }
    }

    /// Every dir's problem, `; `-joined; `None` when all are fine.
    pub fn check(&self) -> Health {
        let problems: Vec<String> = self
            .dirs
            .iter()
            .filter_map(|(key, dir)| self.check_dir(key, dir))
            .collect();
        (!problems.is_empty()).then(|| problems.join("; "))
    }

    fn check_dir(&self, key: &str, dir: &Path) -> Option<String> {
        let d = dir.display();
        if let Err(e) = self.probe.write_probe(dir) {
            return Some(format!("{key} {d} is not writable: {e}"));
        }
        match self.probe.used_percent(dir) {
            Err(e) => Some(format!(
                "{key} {d}: cannot read its file system's usage: {e}"
            )),
            Ok(used) if used > self.max_used_percent => Some(format!(
                "{key} {d} is full: {used:.1}% used, above max-disk-utilization-percent = {}",
                self.max_used_percent
            )),
            Ok(_) => None,
        }
    }
}

/// The statuses a heartbeat reports: those of containers that failed while the node
/// is unhealthy say why the node is (the likely cause: a full or unwritable dir).
pub fn annotate(statuses: &[ContainerStatus], health: Option<&str>) -> Vec<ContainerStatus> {
    let mut out = statuses.to_vec();
    if let Some(why) = health {
        for s in out
            .iter_mut()
            .filter(|s| s.state == ContainerState::COMPLETE && s.exit_status != 0)
        {
            let sep = if s.diagnostics.is_empty() { "" } else { "; " };
            s.diagnostics = format!("{}{sep}the node is unhealthy: {why}", s.diagnostics);
        }
    }
    out
}

/// The node's latest verdict, shared by the checker task and the heartbeat.
#[derive(Clone, Default)]
pub struct DiskHealth(Arc<Mutex<Health>>);

impl DiskHealth {
    pub fn get(&self) -> Health {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Records a verdict; logs when it changes.
    fn set(&self, now: Health) {
        let mut h = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if *h != now {
            match &now {
                Some(why) => tracing::warn!(reason = %why, "node unhealthy: disks"),
                None => tracing::info!("node healthy again: disks"),
            }
            *h = now;
        }
    }

    /// Checks now, then every `every`, until the task is dropped.
    pub fn spawn_checker(
        &self,
        checker: DiskChecker,
        every: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let checker = Arc::new(checker);
        let health = self.clone();
        tokio::spawn(async move {
            let mut t = tokio::time::interval(every);
            loop {
                t.tick().await;
                let c = checker.clone();
                if let Ok(h) = tokio::task::spawn_blocking(move || c.check()).await {
                    health.set(h);
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file system `used` percent full, writable or not.
    struct Fake {
        used: f64,
        writable: bool,
    }

    impl DiskProbe for Fake {
        fn used_percent(&self, _: &Path) -> std::io::Result<f64> {
            Ok(self.used)
        }
        fn write_probe(&self, _: &Path) -> std::io::Result<()> {
            if self.writable {
                Ok(())
            } else {
                Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied))
            }
        }
    }

    fn checker(used: f64, writable: bool) -> DiskChecker {
        let fake = Box::new(Fake { used, writable });
        DiskChecker::with_probe(Path::new("/l"), Path::new("/g"), 90.0, fake)
    }

    #[test]
    fn a_full_or_unwritable_dir_makes_the_node_unhealthy_and_says_which() {
        assert_eq!(checker(89.9, true).check(), None);
        let full = checker(97.25, true).check().unwrap();
        assert!(full.contains("local-dir /l is full: 97.2% used"), "{full}");
        assert!(full.contains("log-dir /g is full"), "{full}");
        assert!(full.contains("max-disk-utilization-percent = 90"), "{full}");
        let ro = checker(10.0, false).check().unwrap();
        assert!(ro.contains("local-dir /l is not writable"), "{ro}");
    }

    #[test]
    fn failed_containers_of_an_unhealthy_node_say_why() {
        let id: common::ContainerId = "container_1_0001_01_000002".parse().unwrap();
        let st = |state, exit_status| ContainerStatus {
            container_id: id,
            state,
            exit_status,
            diagnostics: "exit 1".into(),
            resource: common::Resource::new(512, 1),
        };
        let sent = [
            st(ContainerState::COMPLETE, 1),
            st(ContainerState::COMPLETE, 0),
            st(ContainerState::RUNNING, 0),
        ];
        let out = annotate(&sent, Some("log-dir /g is full"));
        assert_eq!(
            out[0].diagnostics,
            "exit 1; the node is unhealthy: log-dir /g is full"
        );
        assert_eq!(out[1].diagnostics, "exit 1");
        assert_eq!(out[2].diagnostics, "exit 1");
        assert_eq!(annotate(&sent, None), sent.to_vec());
    }

    #[tokio::test]
    async fn the_checker_task_updates_the_shared_verdict() {
        let h = DiskHealth::default();
        let task = h.spawn_checker(checker(99.0, true), Duration::from_secs(5));
        for _ in 0..50 {
            if h.get().is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(h.get().is_some_and(|w| w.contains("is full")));
        task.abort();
    }

    #[test]
    fn the_real_probe_reads_a_temp_dir() {
        let d = tempfile::tempdir().unwrap();
        let used = Fs.used_percent(d.path()).unwrap();
        assert!((0.0..=100.0).contains(&used), "{used}");
        Fs.write_probe(d.path()).unwrap();
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
        assert!(Fs.write_probe(&d.path().join("missing")).is_err());
    }
}
